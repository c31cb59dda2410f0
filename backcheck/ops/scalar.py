"""Scalar-expression ops (micrograd style): arithmetic and the step functions.

``derivatives`` writes ∂out/∂input for each input with ``{0}``, ``{1}`` for the inputs.
"""

from __future__ import annotations

from fractions import Fraction

from .record import Op, register


def _op(name: str, forward, *vjps, formula: str, derivatives: tuple[str, ...] = (),  # noqa: ANN001
        elementwise: bool = False, symbol: str = "", kinks: tuple[Fraction, ...] = ()) -> None:
    register(Op(name, "scalar", forward, tuple(vjps), symbol=symbol or name, formula=formula,
                derivative=derivatives[0].replace("{0}", "{z}") if derivatives else "",
                derivatives=derivatives, elementwise=elementwise, kinks=kinks))


_op("add", lambda B, x, y: x + y, lambda B, g, ans, x, y: g, lambda B, g, ans, x, y: g,
    formula="{0} + {1}", derivatives=("1", "1"), symbol="+")
_op("sub", lambda B, x, y: x - y, lambda B, g, ans, x, y: g, lambda B, g, ans, x, y: -g,
    formula="{0} − {1}", derivatives=("1", "−1"), symbol="−")
_op("mul", lambda B, x, y: x * y, lambda B, g, ans, x, y: g * y, lambda B, g, ans, x, y: g * x,
    formula="{0}·{1}", derivatives=("{1}", "{0}"), symbol="·")
_op("div", lambda B, x, y: x / y, lambda B, g, ans, x, y: g / y,
    lambda B, g, ans, x, y: -(g * x) / (y * y),
    formula="{0} / {1}", derivatives=("1/{1}", "−{0}/{1}²"), symbol="/")
_op("pow", lambda B, x, y: B.power(x, y), lambda B, g, ans, x, y: g * y * B.power(x, y - 1),
    lambda B, g, ans, x, y: g * ans * B.log(x),
    formula="{0}^{1}", derivatives=("{1}·{0}^({1} − 1)", "{0}^{1}·log {0}"), symbol="^")
_op("neg", lambda B, x: -x, lambda B, g, ans, x: -g, formula="−{0}", derivatives=("−1",),
    elementwise=True, symbol="−")
_op("exp", lambda B, x: B.exp(x), lambda B, g, ans, x: g * ans, formula="exp({0})",
    derivatives=("exp({0})",), elementwise=True)
_op("log", lambda B, x: B.log(x), lambda B, g, ans, x: g / x, formula="log({0})",
    derivatives=("1/{0}",), elementwise=True)
_op("sqrt", lambda B, x: B.sqrt(x), lambda B, g, ans, x: g / (2 * ans), formula="√{0}",
    derivatives=("1/(2√{0})",), elementwise=True, symbol="√")
_op("sin", lambda B, x: B.sin(x), lambda B, g, ans, x: g * B.cos(x), formula="sin({0})",
    derivatives=("cos({0})",), elementwise=True)
_op("cos", lambda B, x: B.cos(x), lambda B, g, ans, x: -(g * B.sin(x)), formula="cos({0})",
    derivatives=("−sin({0})",), elementwise=True)
_op("abs", lambda B, x: B.abs(x), lambda B, g, ans, x: g * B.sign(x), formula="|{0}|",
    derivatives=("sign({0})",), elementwise=True, symbol="|·|", kinks=(Fraction(0),))

#: functions allowed in scalar-expression steps, mapped to their op
STEP_FUNCTIONS = ("exp", "log", "sqrt", "tanh", "sigmoid", "relu", "sin", "cos", "abs")
