"""SymPy functions that keep formulas the way people write them.

SymPy has no sigmoid: written out, σ(z) becomes 1/(1 + e^−z) and every derivative of it
a tower of exponentials nobody writes by hand. :class:`sigmoid` stays σ(z), differentiates
to σ(z)·(1 − σ(z)), evaluates numerically, and rewrites to exp on request
(``expr.rewrite(sympy.exp)``) for anything that must be read by plain SymPy.

Imported only by the symbolic paths (this module imports sympy at the top).
"""

from __future__ import annotations

from typing import Any

import sympy


class sigmoid(sympy.Function):  # noqa: N801 - SymPy's naming for functions
    """The logistic function σ(x) = 1/(1 + e^−x)."""

    nargs = 1

    @classmethod
    def eval(cls, x: Any) -> Any:
        if x.is_zero:
            return sympy.S.Half
        if x is sympy.S.Infinity:
            return sympy.S.One
        if x is sympy.S.NegativeInfinity:
            return sympy.S.Zero
        if isinstance(x, sympy.Float):
            return 1 / (1 + sympy.exp(-x))
        return None

    def fdiff(self, argindex: int = 1) -> Any:
        return self * (1 - self)

    def _eval_rewrite_as_exp(self, x: Any, **kwargs: Any) -> Any:
        return 1 / (1 + sympy.exp(-x))

    def _eval_evalf(self, prec: int) -> Any:
        return (1 / (1 + sympy.exp(-self.args[0])))._eval_evalf(prec)

    def _eval_is_extended_real(self) -> Any:
        return self.args[0].is_extended_real

    def _eval_is_positive(self) -> Any:
        return True if self.args[0].is_extended_real else None

    def _eval_is_finite(self) -> Any:
        return True if self.args[0].is_extended_real else None

    def _latex(self, printer: Any, exp: Any = None) -> str:
        body = rf"\sigma\left({printer._print(self.args[0])}\right)"
        return body if exp is None else rf"{body}^{{{exp}}}"

    def _pretty(self, printer: Any) -> Any:
        from sympy.printing.pretty.stringpict import prettyForm

        argument = prettyForm(*printer._print(self.args[0]).parens())
        return prettyForm(*argument.left("σ"))


class relu(sympy.Function):  # noqa: N801
    """max(0, x), written relu(x); its derivative is :class:`relu_prime` (explain
    --symbolic keeps the formula the way it is taught). ``plain()``: plain SymPy."""

    nargs = 1

    def fdiff(self, argindex: int = 1) -> Any:
        return relu_prime(self.args[0])

    def plain(self) -> Any:
        return sympy.Max(self.args[0], 0)

    def _latex(self, printer: Any, exp: Any = None) -> str:
        body = rf"\operatorname{{relu}}\left({printer._print(self.args[0])}\right)"
        return body if exp is None else rf"{body}^{{{exp}}}"


class relu_prime(sympy.Function):  # noqa: N801
    """relu′(x): 1 for x > 0, else 0 (PyTorch's value at 0)."""

    nargs = 1

    def fdiff(self, argindex: int = 1) -> Any:
        return sympy.S.Zero

    def plain(self) -> Any:
        return sympy.Piecewise((1, self.args[0] > 0), (0, True))

    def _latex(self, printer: Any, exp: Any = None) -> str:
        body = rf"\operatorname{{relu}}'\left({printer._print(self.args[0])}\right)"
        return body if exp is None else rf"{body}^{{{exp}}}"

    def _sympystr(self, printer: Any) -> str:
        return f"relu′({printer._print(self.args[0])})"

    def _pretty(self, printer: Any) -> Any:
        from sympy.printing.pretty.stringpict import prettyForm

        argument = prettyForm(*printer._print(self.args[0]).parens())
        return prettyForm(*argument.left("relu′"))


def to_plain(expression: Any) -> Any:
    """The expression in plain SymPy (σ written with exp), for readers without our
    functions: ``sympy.sympify(str(to_plain(e)))`` gives ``e`` back."""
    if expression.has(sigmoid):
        return expression.replace(sigmoid, lambda x: 1 / (1 + sympy.exp(-x)))
    return expression


__all__ = ["relu", "relu_prime", "sigmoid", "to_plain"]
