"""What an op record is, and how ops are registered.

Every op is one :class:`Op` record that knows everything about itself: how it runs
(``forward`` and one vector-Jacobian product per input, written once against a backend
``B``), how a person writes it (``symbol``, ``definition``, ``derivative``,
``vector_rule``), its parameters (leaky_relu's slope, elu's alpha, huber's delta), the
slips students make with it (as data: alternative local rules the buggy-rule grader runs),
and, for a loss, its default reduction. Every other module reads the record; none of them
names an op.

A rule gets ``(B, *inputs, **attrs)``; a vjp gets ``(B, g, ans, *inputs, **attrs)``: ``g``
is ∂L/∂(this node's output), ``ans`` this node's output; it returns ∂L/∂(that input).
``B`` is a backend of :mod:`backcheck.backends` (exact, float64, ball, sympy).

Registering (see :func:`activation`, :func:`loss`, :func:`register`) is the whole work
of adding an op: the record is picked up by problem files, solve, verify (including its
buggy rules), explain (also ``--symbolic``), graph and new.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

Rule = Callable[..., Any]


@dataclass(frozen=True)
class Param:
    """A number an op takes from the problem file (``slope: 0.1`` on a layer)."""

    name: str
    default: Fraction
    what: str  # for messages: "the leaky_relu slope"
    positive: bool = False  # must be > 0 (huber's delta)


@dataclass(frozen=True)
class Slip:
    """A known way to get an op's local derivative wrong, as an alternative vjp.

    ``mistake`` names the entry of the mistake catalogue (:mod:`backcheck.mistakes`) that
    reports it; ``make(op)`` builds the buggy rule from the op's own record, so a slip is
    a variant of the right rule, never a second copy of the calculus. ``written`` is how
    the slipped derivative looks on paper (``{z}``, ``{a}`` stand for the input and the
    output), ``label`` tells apart several slips of one kind (relu′(0) taken as 1 or ½).
    """

    mistake: str
    make: Callable[[Op], Rule]
    written: str = ""
    label: str = ""
    forward: bool = False  # the slip replaces the forward rule, not the vjp
    code: str = ""  # its own stable mistake code, where it has one (relu-mask-missing)
    #: losses: the forward rule the slip also changes (the ½ of half_sse left out)
    make_forward: Callable[[Op], Rule] | None = None


@dataclass(frozen=True)
class Op:
    """One op: its calculus, how it is written, and its known slips.

    ``derivative`` is the element derivative ∂out/∂in with ``{z}`` for the input and
    ``{a}`` for the output (``"{a}·(1 − {a})"``), ``vector_rule`` the same for whole
    arrays with ``{g}`` for the incoming gradient (``"{g} ⊙ {a} ⊙ (1 − {a})"``),
    ``definition`` the forward rule in words a textbook uses.
    """

    name: str
    kind: str  # "activation" | "loss" | "linear" | "scalar" | "array"
    forward: Rule
    vjps: tuple[Rule, ...]
    symbol: str = ""  # how the op's name is written: "σ", "relu", "tanh"
    title: str = ""  # in prose: "ReLU", "leaky ReLU", "sigmoid"
    #: how a person writes the forward rule, with {0}, {1} for the inputs
    formula: str = ""
    definition: str = ""  # "σ(z) = 1 / (1 + exp(−z))"
    derivative: str = ""  # element derivative with {z}, {a}
    vector_rule: str = ""  # vector form with {g}, {z}, {a}
    #: local derivatives as written per input ({0}, {1} for the inputs), scalar ops
    derivatives: tuple[str, ...] = ()
    elementwise: bool = False  # one output element depends on one input element
    params: tuple[Param, ...] = ()
    slips: tuple[Slip, ...] = ()
    #: the vjp of every input past the last of ``vjps`` (ops with a variable number of
    #: inputs): ``(B, g, ans, that_input, **attrs)``
    rest_vjp: Rule | None = None
    # --- activations: what ``new`` needs to pick hand-friendly numbers
    rational: bool = False  # rational inputs give rational outputs (relu, identity)
    kinks: tuple[Fraction, ...] = ()  # inputs where the derivative is a convention
    practice_limit: Fraction | None = Fraction(5, 2)  # |z| bound for unsaturated practice
    output_only: bool = False  # only for an output layer (softmax)
    couples: bool = False  # each output depends on every input of its row (softmax)
    #: coupled ops: ∂aᵢ/∂zᵢ and ∂aᵢ/∂zⱼ as written, {a} this output, {b} the other one
    jacobian: tuple[str, str] = ()
    #: piecewise ops: why the derivative has its value above / at-or-below the kink
    #: ({z}, {value} and the op's parameters as placeholders)
    branches: tuple[str, str] = ()
    gates: bool = False  # passes the gradient only where z > 0 (relu): worth a note
    #: the output flattens to a constant for large inputs (σ, tanh): float64 rounds it to
    #: that constant and loses the small difference its derivative is made of
    saturates: bool = False
    #: its SymPy constructor, when it has a SymPy function that prints as it is written
    #: (relu(z)); ``None``: explain --symbolic runs ``forward`` on the SymPy backend
    sympy_function: Callable[[], Any] | None = None
    # --- losses
    term: Rule | None = None  # the summed term t(p, y) (elementwise or per row)
    term_vjp: Rule | None = None  # ∂term/∂p
    default_reduction: str = "mean"
    #: what a "mean" reduction divides by: "elements" (examples × outputs) or "examples"
    mean_over: str = "elements"
    sum_only: bool = False  # sse, half_sse: a sum by definition
    target: str = "any"  # "any" | "one_hot" | "probability" (0 ≤ t ≤ 1)
    output: str = "any"  # what the network must output: "any" | "probability" | "softmax"
    squared: bool = False  # a squared error: (p − t)² or ½(p − t)²
    #: the activation whose derivative folds into this loss's: ∂L/∂z = ŷ − y (softmax
    #: with cross-entropy, when the targets sum to 1)
    fused_with: str = ""
    #: the output activation whose derivative cancels into p − t (CE: softmax, BCE: sigmoid)
    cancels_with: str = ""
    #: the sum of terms written as −(Σ …) with this term inside (cross-entropy)
    negated_term: str = ""
    #: a loss in words, for generated files ("mean squared error"); its title otherwise
    description: str = ""
    attrs: dict[str, Any] = field(default_factory=dict)

    def vjp(self, k: int) -> Rule:
        """The vjp for input ``k`` (the last one repeats for variadic ops)."""
        if k < len(self.vjps):
            return self.vjps[k]
        rest = self.rest_vjp
        if rest is None:
            raise IndexError(f"{self.name} has no vjp for input {k}")
        return lambda B, g, ans, *inputs, **attrs: rest(B, g, ans, inputs[k], **attrs)

    def slip_rules(self, mistake: str) -> list[tuple[Slip, Rule]]:
        """Every slip of this op that ``mistake`` reports, with its buggy rule."""
        return [(slip, slip.make(self)) for slip in self.slips if slip.mistake == mistake]

    def param_defaults(self) -> dict[str, Fraction]:
        return {p.name: p.default for p in self.params}

    def local_derivative(self, B: Any, x: Any, ans: Any, **attrs: Any) -> Any:
        """∂out/∂in element by element (elementwise ops): the vjp with g = 1."""
        return self.vjps[0](B, B.asarray(_ones_like(x)), ans, x, **attrs)

    def vector_factor(self) -> str:
        """An elementwise op's derivative in vector form (its vector rule without g)."""
        return self.vector_rule.removeprefix("{g} ⊙ ")

    def kink_slips(self) -> tuple[str, ...]:
        """Other values texts take for the derivative at a kink (relu′(0) as 1 or ½)."""
        return tuple(s.label for s in self.slips
                     if s.mistake == "relu_derivative_at_zero" and s.label)

    @property
    def logs_output(self) -> bool:
        """A loss that takes the log of the network's output (needs it in (0, 1))."""
        return self.kind == "loss" and self.output != "any"

    def divisor(self, reduction: str, examples: int, outputs: int) -> int:
        """What the summed terms are divided by under ``reduction`` (losses)."""
        if reduction == "sum":
            return 1
        if reduction == "batch_mean" or self.mean_over == "examples":
            return examples
        return examples * outputs


def _ones_like(x: Any) -> Any:
    import numpy as np

    return np.ones(np.shape(x), dtype=object) * 1


#: every op by name (activations, losses, the affine layer, scalar functions, arrays)
OPS: dict[str, Op] = {}
#: the activations a layer may name, in the order they were registered (a live view)
ACTIVATIONS: dict[str, Op] = {}
#: the losses a problem may name (a live view)
LOSSES: dict[str, Op] = {}
REDUCTIONS = ("mean", "sum", "batch_mean")


def complement(B: Any, x: Any) -> Any:
    """1 − x, for rules. A backend that knows it better says so (float64 keeps 1 − σ(z)
    of a saturated sigmoid, see ``backends.Precise``: σ(40) is 1.0 there, σ(−40) is not
    0); any other backend computes it."""
    rule = getattr(B, "complement", None)
    return 1 - x if rule is None else rule(x)


def one_minus_square(B: Any, x: Any) -> Any:
    """1 − x², for rules, as :func:`complement` (tanh′ of a saturated tanh)."""
    rule = getattr(B, "one_minus_square", None)
    return 1 - x * x if rule is None else rule(x)


def register(op: Op) -> Op:
    """Add ``op`` to the table (an op of the same name is replaced)."""
    OPS[op.name] = op
    if op.kind == "activation":
        ACTIVATIONS[op.name] = op
    return op


def unregister(name: str) -> None:
    """Remove an op (tests that add a throwaway record clean up with this)."""
    OPS.pop(name, None)
    ACTIVATIONS.pop(name, None)
    LOSSES.pop(name, None)


# ----------------------------------------------------------------------- slips as data
def forgot_derivative(code: str = "") -> Slip:
    """dL/dz written as dL/da: the local derivative left out."""
    return Slip("forgot_activation_derivative", lambda op: lambda B, g, ans, x, **kw: g,
                written="1", code=code)


def not_applied() -> Slip:
    """a written as z: the activation not applied at all (a forward slip)."""
    return Slip("activation_not_applied", lambda op: lambda B, x, **kw: x, written="{z}",
                forward=True)


def at_output() -> Slip:
    """The derivative taken at the output a instead of the input z (σ′(a))."""
    def make(op: Op) -> Rule:
        def rule(B: Any, g: Any, ans: Any, x: Any, **kw: Any) -> Any:
            return op.vjps[0](B, g, op.forward(B, ans, **kw), ans, **kw)
        return rule

    return Slip("derivative_at_activation", make, written="{symbol}′({a})")


def output_form_fed_input(written: str) -> Slip:
    """A derivative written in terms of the output (a(1 − a)) fed the input z instead."""
    def make(op: Op) -> Rule:
        def rule(B: Any, g: Any, ans: Any, x: Any, **kw: Any) -> Any:
            return op.vjps[0](B, g, x, x, **kw)
        return rule

    return Slip("derivative_from_z", make, written=written)


def kink_taken(label: str, rule: Callable[[Op], Rule]) -> Slip:
    """At a kink (relu at 0) the derivative taken as ``label`` instead of the convention."""
    return Slip("relu_derivative_at_zero", rule, written=label, label=label)


def symfunc(name: str) -> Callable[[], Any]:
    """A record's ``sympy_function``: the class ``name`` of :mod:`backcheck.symfuncs`,
    imported when first asked for (SymPy never loads for ``solve``)."""
    def load() -> Any:
        from .. import symfuncs

        return getattr(symfuncs, name)

    return load


# ----------------------------------------------------------------------- registration
def _params_on_backend(rule: Rule, names: tuple[str, ...]) -> Rule:
    """``rule`` with its parameters (read from the file as Fractions) turned into the
    backend's own numbers first: a contributor may write ``exp(x / alpha)`` and it runs on
    every backend (a Fraction inside a float64 array makes an object array that
    ``np.exp`` refuses)."""
    def with_backend_params(B: Any, *args: Any, **attrs: Any) -> Any:
        for name in names:
            value = attrs.get(name)
            if isinstance(value, (Fraction, int)) and not isinstance(value, bool):
                attrs[name] = B.asarray(value)
        return rule(B, *args, **attrs)

    return with_backend_params


def activation(name: str, forward: Rule, vjp: Rule, *, symbol: str | None = None,
               title: str | None = None, definition: str = "", derivative: str = "",
               vector_rule: str = "", params: tuple[Param, ...] = (),
               slips: tuple[Slip, ...] = (), rational: bool = False,
               kinks: tuple[Fraction, ...] = (), practice_limit: Fraction | None = Fraction(5, 2),
               elementwise: bool = True, output_only: bool = False,
               couples: bool = False, formula: str | None = None,
               jacobian: tuple[str, str] = (), branches: tuple[str, str] = (),
               gates: bool = False, saturates: bool = False,
               sympy_function: Callable[[], Any] | None = None) -> Op:
    """Register an activation: ``forward(B, z, **params)``, ``vjp(B, g, a, z, **params)``.

    Every activation except the identity also gets the two slips any activation can
    have (not applied; its derivative left out) unless ``slips`` already lists them.
    """
    symbol = symbol or name
    if params:
        names = tuple(p.name for p in params)
        forward, vjp = _params_on_backend(forward, names), _params_on_backend(vjp, names)
    if name != "identity":
        have = {s.mistake for s in slips}
        generic = tuple(s for s in (not_applied(), forgot_derivative()) if s.mistake not in have)
        slips = generic + tuple(slips)
    return register(Op(
        name, "activation", forward, (vjp,), symbol=symbol, title=title or name,
        formula=formula or f"{symbol}({{0}})", definition=definition or f"{symbol}(z)",
        derivative=derivative or f"{symbol}′({{z}})",
        vector_rule=vector_rule or f"{{g}} ⊙ {symbol}′({{z}})",
        derivatives=(derivative or f"{symbol}′({{0}})",), elementwise=elementwise,
        params=params, slips=slips, rational=rational, kinks=kinks,
        practice_limit=practice_limit, output_only=output_only, couples=couples,
        jacobian=jacobian, branches=branches, gates=gates, saturates=saturates,
        sympy_function=sympy_function))


def loss(name: str, term: Rule, term_vjp: Rule, *, formula: str, derivative: str,
         vector_rule: str = "", default_reduction: str = "mean", mean_over: str = "elements",
         sum_only: bool = False, target: str = "any", output: str = "any",
         squared: bool = False, params: tuple[Param, ...] = (), title: str | None = None,
         slips: tuple[Slip, ...] = (), fused_with: str = "", negated_term: str = "",
         cancels_with: str = "", description: str = "") -> Op:
    """Register a loss: L = Σ term(p, t) / divisor, the divisor set by the reduction.

    ``term(B, p, t, **params)`` gives the array of terms (elementwise, or per row for a
    loss such as the multiclass hinge), ``term_vjp(B, p, t, **params)`` its derivative
    with respect to p. ``formula`` writes one term with ``{0}`` for p and ``{1}`` for t;
    ``derivative`` writes ∂term/∂p the same way.
    """
    if params:
        names = tuple(p.name for p in params)
        term, term_vjp = _params_on_backend(term, names), _params_on_backend(term_vjp, names)
    record = Op(
        name, "loss", _loss_forward, (_loss_vjp, _no_gradient), symbol=name,
        title=title or name, formula=formula, definition=formula, derivative=derivative,
        vector_rule=vector_rule or derivative, params=params, slips=slips, term=term,
        term_vjp=term_vjp, default_reduction=default_reduction, mean_over=mean_over,
        sum_only=sum_only, target=target, output=output, squared=squared, rest_vjp=_decay_vjp,
        fused_with=fused_with, negated_term=negated_term, cancels_with=cancels_with,
        description=description or title or name)
    LOSSES[name] = record
    return record


# The graph has one "loss" node: its attrs name the loss record (``kind``), its divisor,
# the loss's own parameters and the weight decay λ; its inputs are the prediction, the
# target and (with weight decay) every weight matrix.
def _loss_forward(B: Any, p: Any, t: Any, *weights: Any, kind: str, divisor: int,
                  weight_decay: Any = None, slip_scale: Any = 1, **params: Any) -> Any:
    """Σ term / divisor (+ λ/2·ΣW²); ``slip_scale`` multiplies the terms (slips only)."""
    terms = B.sum(LOSSES[kind].term(B, p, t, **params))
    value = (terms if slip_scale == 1 else slip_scale * terms) / divisor
    for W in weights:
        value = value + weight_decay * B.sum(W * W) / 2
    return value


def _loss_vjp(B: Any, g: Any, ans: Any, p: Any, t: Any, *weights: Any, kind: str,
              divisor: int, weight_decay: Any = None, slip_scale: Any = 1, **params: Any) -> Any:
    derivative = LOSSES[kind].term_vjp(B, p, t, **params)
    return g * (derivative if slip_scale == 1 else slip_scale * derivative) / divisor


def scaled_loss(scale: Any, mistake: str, written: str, forward: bool = False) -> Slip:
    """A loss slip that multiplies the term's derivative (and, with ``forward``, the term
    itself) by ``scale``: the factor 2 of (p − t)² left out, the ½ of half_sse ignored."""
    def make(op: Op) -> Rule:
        return lambda B, *args, **kw: _loss_vjp(B, *args, **{**kw, "slip_scale": scale})

    def make_forward(op: Op) -> Rule:
        return lambda B, *args, **kw: _loss_forward(B, *args, **{**kw, "slip_scale": scale})

    return Slip(mistake, make, written=written, make_forward=make_forward if forward else None)


def _no_gradient(B: Any, g: Any, ans: Any, p: Any, t: Any, *weights: Any, **attrs: Any) -> Any:
    """Targets take no gradient (never called: a target does not require one)."""
    raise ArithmeticError("the loss has no gradient with respect to its target")


def _decay_vjp(B: Any, g: Any, ans: Any, W: Any, *, weight_decay: Any = None,
               **attrs: Any) -> Any:
    """Weight decay λ/2·ΣW² (d2l's form): its gradient λ·W, for each weight input."""
    return g * weight_decay * W


#: the graph's one loss node: runs the record its ``kind`` attribute names
LOSS_NODE = "loss"
