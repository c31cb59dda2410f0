"""THE table: every operation's forward rule and local derivative, stated once.

Each rule is written against a backend ``B`` (see :mod:`backcheck.backends`): the float
backend is NumPy itself, the exact backend is NumPy object arrays of
:class:`~backcheck.exact.Exact`. So the same line computes the float64 and the exact
answer, and a new activation is one row here; solve, verify, explain, graph and new
pick it up without change.

A vector-Jacobian product (vjp) gets ``(B, g, ans, *inputs, **attrs)``: ``g`` is
∂L/∂(this node's output), ``ans`` this node's output; it returns ∂L/∂(that input).
Internal layout: activations are (examples × units) matrices; biases are vectors;
scalar-expression values are 0-d arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Rule = Callable[..., Any]


@dataclass(frozen=True)
class Op:
    name: str
    forward: Rule
    vjps: tuple[Rule, ...]
    #: how a person writes the forward rule, with {0}, {1} for the inputs
    formula: str
    #: how a person writes each local derivative ∂out/∂input
    derivatives: tuple[str, ...] = ()
    #: True for elementwise ops (one output element depends on one input element)
    elementwise: bool = False
    attrs: dict[str, Any] = field(default_factory=dict)


OPS: dict[str, Op] = {}


def _op(name: str, forward: Rule, *vjps: Rule, formula: str, derivatives: tuple[str, ...] = (),
        elementwise: bool = False) -> None:
    OPS[name] = Op(name, forward, tuple(vjps), formula, derivatives, elementwise)


def _complement(B: Any, x: Any) -> Any:
    """1 − x. A backend that knows it better (float64 keeps 1 − σ(z) of a saturated
    sigmoid, see backends.Precise) says so; any other computes it."""
    rule = getattr(B, "complement", None)
    return 1 - x if rule is None else rule(x)


def _one_minus_square(B: Any, x: Any) -> Any:
    """1 − x², as :func:`_complement` (tanh′ of a saturated tanh)."""
    rule = getattr(B, "one_minus_square", None)
    return 1 - x * x if rule is None else rule(x)


# ----- activations (elementwise unless noted) ----------------------------------------
_op("identity", lambda B, x: x,
    lambda B, g, ans, x: g,
    formula="{0}", derivatives=("1",), elementwise=True)
_op("relu", lambda B, x: B.where(x > 0, x, 0),
    lambda B, g, ans, x: B.where(x > 0, g, 0),
    formula="relu({0})", derivatives=("relu′({0}) = 1 if {0} > 0 else 0",), elementwise=True)
_op("leaky_relu", lambda B, x, slope: B.where(x > 0, x, x * slope),
    lambda B, g, ans, x, slope: B.where(x > 0, g, g * slope),
    formula="leaky_relu({0})", derivatives=("1 if {0} > 0 else slope",), elementwise=True)
_op("sigmoid", lambda B, x: B.sigmoid(x),
    lambda B, g, ans, x: g * ans * _complement(B, ans),  # complement: 1 − ans, kept when saturated
    formula="σ({0})", derivatives=("σ({0})·(1 − σ({0}))",), elementwise=True)
_op("tanh", lambda B, x: B.tanh(x),
    lambda B, g, ans, x: g * _one_minus_square(B, ans),  # 1 − ans², kept when saturated
    formula="tanh({0})", derivatives=("1 − tanh²({0})",), elementwise=True)
_op("softmax", lambda B, x: B.softmax(x),
    lambda B, g, ans, x: ans * (g - B.sum(g * ans, axis=-1, keepdims=True)),
    formula="softmax({0})", derivatives=("softmax({0})ᵢ·(δᵢⱼ − softmax({0})ⱼ)",))

ACTIVATIONS = ("identity", "relu", "leaky_relu", "sigmoid", "tanh", "softmax")


# ----- the affine layer --------------------------------------------------------------
def _linear(B: Any, a: Any, W: Any, b: Any = None, *, convention: str) -> Any:
    z = B.matmul(a, W.T if convention == "Wx" else W)
    return z if b is None else z + b


_op("linear", _linear,
    lambda B, g, ans, a, W, b=None, *, convention: B.matmul(g, W if convention == "Wx" else W.T),
    lambda B, g, ans, a, W, b=None, *, convention: (
        B.matmul(g.T, a) if convention == "Wx" else B.matmul(a.T, g)),
    lambda B, g, ans, a, W, b=None, *, convention: B.sum(g, axis=0),
    formula="{1}·{0} + {2}",
    derivatives=("W", "a (the layer's input)", "1"))


# ----- losses --------------------------------------------------------------------------
# A loss is sum(term(p, t)) / divisor; the divisor (elements, examples or 1) comes from
# the reduction and is fixed when the graph is built.
LOSS_TERMS: dict[str, tuple[Rule, Rule, str]] = {
    # name: (term, ∂term/∂p, formula)
    "mse": (lambda B, p, t: (p - t) * (p - t), lambda B, p, t: 2 * (p - t), "(p − t)²"),
    "sse": (lambda B, p, t: (p - t) * (p - t), lambda B, p, t: 2 * (p - t), "(p − t)²"),
    "half_sse": (lambda B, p, t: (p - t) * (p - t) / 2, lambda B, p, t: p - t, "½(p − t)²"),
    "cross_entropy": (lambda B, p, t: -(t * B.log(p)), lambda B, p, t: -(t / p), "−t·log p"),
    # _complement(B, p) is 1 − p, and B.log of a sigmoid's output is its log-sigmoid: with
    # a saturated sigmoid before it float64 computes the stable (BCEWithLogits) form, and
    # p − t is taken as (1 − t) − (1 − p) where p is near 1
    "bce": (lambda B, p, t: -(t * B.log(p) + (1 - t) * B.log(_complement(B, p))),
            lambda B, p, t: B.where(2 * p > 1, (1 - t) - _complement(B, p), p - t)
            / (p * _complement(B, p)), "−(t·log p + (1 − t)·log(1 − p))"),
}
#: the default reduction of each loss (FORMAT §1)
LOSS_DEFAULT_REDUCTION = {
    "mse": "mean", "sse": "sum", "half_sse": "sum", "cross_entropy": "batch_mean", "bce": "mean",
}
REDUCTIONS = ("mean", "sum", "batch_mean")


def _loss_forward(B: Any, p: Any, t: Any, *, kind: str, divisor: int) -> Any:
    return B.sum(LOSS_TERMS[kind][0](B, p, t)) / divisor


def _loss_vjp(B: Any, g: Any, ans: Any, p: Any, t: Any, *, kind: str, divisor: int) -> Any:
    return g * LOSS_TERMS[kind][1](B, p, t) / divisor


_op("loss", _loss_forward, _loss_vjp, formula="loss({0}, {1})")


# ----- scalar expressions (micrograd style) ----------------------------------------------
_op("add", lambda B, x, y: x + y, lambda B, g, ans, x, y: g, lambda B, g, ans, x, y: g,
    formula="{0} + {1}", derivatives=("1", "1"))
_op("sub", lambda B, x, y: x - y, lambda B, g, ans, x, y: g, lambda B, g, ans, x, y: -g,
    formula="{0} − {1}", derivatives=("1", "−1"))
_op("mul", lambda B, x, y: x * y, lambda B, g, ans, x, y: g * y, lambda B, g, ans, x, y: g * x,
    formula="{0}·{1}", derivatives=("{1}", "{0}"))
_op("div", lambda B, x, y: x / y, lambda B, g, ans, x, y: g / y,
    lambda B, g, ans, x, y: -(g * x) / (y * y),
    formula="{0} / {1}", derivatives=("1/{1}", "−{0}/{1}²"))
_op("pow", lambda B, x, y: B.power(x, y), lambda B, g, ans, x, y: g * y * B.power(x, y - 1),
    lambda B, g, ans, x, y: g * ans * B.log(x),
    formula="{0}^{1}", derivatives=("{1}·{0}^({1} − 1)", "{0}^{1}·log {0}"))
_op("neg", lambda B, x: -x, lambda B, g, ans, x: -g, formula="−{0}", derivatives=("−1",),
    elementwise=True)
_op("exp", lambda B, x: B.exp(x), lambda B, g, ans, x: g * ans, formula="exp({0})",
    derivatives=("exp({0})",), elementwise=True)
_op("log", lambda B, x: B.log(x), lambda B, g, ans, x: g / x, formula="log({0})",
    derivatives=("1/{0}",), elementwise=True)
_op("sqrt", lambda B, x: B.sqrt(x), lambda B, g, ans, x: g / (2 * ans), formula="√{0}",
    derivatives=("1/(2√{0})",), elementwise=True)
_op("sin", lambda B, x: B.sin(x), lambda B, g, ans, x: g * B.cos(x), formula="sin({0})",
    derivatives=("cos({0})",), elementwise=True)
_op("cos", lambda B, x: B.cos(x), lambda B, g, ans, x: -(g * B.sin(x)), formula="cos({0})",
    derivatives=("−sin({0})",), elementwise=True)
_op("abs", lambda B, x: B.abs(x), lambda B, g, ans, x: g * B.sign(x), formula="|{0}|",
    derivatives=("sign({0})",), elementwise=True)

#: functions allowed in scalar-expression steps, mapped to their op
STEP_FUNCTIONS = ("exp", "log", "sqrt", "tanh", "sigmoid", "relu", "sin", "cos", "abs")
