"""Exact numbers without expression swell.

An :class:`Exact` is the truth about one number:

* ``q``: its value as a :class:`~fractions.Fraction` whenever it is rational (every
  ReLU/identity network with MSE is rational end to end, so there it is exact, full stop);
* ``approx``: otherwise, its value to ``DIGITS`` significant digits (mpmath, SymPy's own
  numeric engine), far beyond float64's 16, so "the last digit" is always right;
* ``form``: while it stays small, its closed form as a tiny expression tree
  (``σ(1/2)`` stays ``1/(1 + exp(-1/2))``), turned into SymPy only when printed.

Why not SymPy expressions all the way down: in a sigmoid network every layer nests the
previous one, and symbolic trees grow exponentially with depth (expression swell).
Numbers stay numbers here; closed forms are kept only while they are short
(``FORM_MAX_SIZE``), which is exactly when a person wants to read them.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any, Union

from mpmath.ctx_mp import MPContext
from mpmath.libmp import from_rational, round_nearest

DIGITS = 50
FORM_MAX_SIZE = 24
MAX_POWER_BITS = 200_000  # an exact power larger than this is refused, not computed
#: a rational whose numerator and denominator together need more bits than this (about
#: 3,600 digits) is kept as a DIGITS-digit value instead: repeated squaring would otherwise
#: grow without bound, and Python refuses to print integers over 4,300 digits
MAX_RATIONAL_BITS = 12_000
#: exp, sigmoid, tanh, sin and cos refuse arguments beyond 2**MAX_ARGUMENT_BITS (about
#: 1e1000): far outside float64 (so no solve could use them), and mpmath's argument
#: reduction for a number with a million-digit exponent would take minutes
MAX_ARGUMENT_BITS = 3322

_ctx = MPContext()
_ctx.dps = DIGITS + 10

Form = tuple  # ("q", Fraction) | (op, *args)


class ExactDomainError(ArithmeticError):
    """An operation outside its domain (log of 0, division by 0, a huge power)."""


Number = Union["Exact", int, Fraction]


def _to_exact(value: Any) -> Exact:
    if isinstance(value, Exact):
        return value
    if isinstance(value, (int, Fraction)):
        return Exact(Fraction(value))
    if hasattr(value, "item") and not isinstance(value, float):  # numpy scalar or 0-d array
        return _to_exact(value.item())
    raise TypeError(f"cannot make an exact number from {type(value).__name__}")


def _is_array(value: Any) -> bool:
    return getattr(value, "ndim", 0) > 0


class Exact:
    """A real number: rational exactly, or a high-precision value with a short closed form."""

    __slots__ = ("q", "_v", "form", "size")

    def __init__(
        self,
        q: Fraction | None = None,
        v: Any = None,
        form: Form | None = None,
        size: int = 1,
    ) -> None:
        self.q = q
        self._v = v
        self.form = form
        self.size = size

    # ----- construction helpers -------------------------------------------------
    @staticmethod
    def of(value: Any) -> Exact:
        return _to_exact(value)

    @staticmethod
    def _rational(q: Fraction) -> Exact:
        """A rational result, demoted to a high-precision value when it grows too large."""
        if q.numerator.bit_length() + q.denominator.bit_length() <= MAX_RATIONAL_BITS:
            return Exact(q)
        return Exact(None, _ctx.mpf(q.numerator) / q.denominator, None, FORM_MAX_SIZE + 1)

    @staticmethod
    def _irrational(v: Any, op: str, *args: Exact) -> Exact:
        """A non-rational result; keeps a closed form only while it is small."""
        size = 1 + sum(a.size for a in args)
        form = None
        if size <= FORM_MAX_SIZE and all(a.has_form for a in args):
            form = (op, *(a.closed_form for a in args))
        else:
            size = FORM_MAX_SIZE + 1
        return Exact(None, v, form, size)

    @property
    def has_form(self) -> bool:
        return self.q is not None or self.form is not None

    @property
    def closed_form(self) -> Form | None:
        if self.q is not None:
            return ("q", self.q)
        return self.form

    @property
    def approx(self) -> Any:
        """The value as an mpmath number with ``DIGITS`` significant digits."""
        if self._v is None:
            self._v = _ctx.make_mpf(
                from_rational(self.q.numerator, self.q.denominator, _ctx.prec, round_nearest)
            )
        return self._v

    @property
    def is_rational(self) -> bool:
        return self.q is not None

    def sign(self) -> int:
        if self.q is not None:
            return (self.q > 0) - (self.q < 0)
        v = self.approx
        return int(v > 0) - int(v < 0)

    def __float__(self) -> float:
        if self.q is not None:
            try:
                return float(self.q)
            except OverflowError:  # beyond float64: ±inf, as float64 arithmetic gives
                return float(self.approx)
        return float(self.approx)

    def __repr__(self) -> str:
        if self.q is not None:
            return f"Exact({self.q})"
        return f"Exact(≈{_ctx.nstr(self.approx, 20)})"

    # ----- arithmetic ----------------------------------------------------------
    def __add__(self, other: Number) -> Exact:
        if _is_array(other):
            return NotImplemented
        other = _to_exact(other)
        if self.q is not None and other.q is not None:
            return Exact._rational(self.q + other.q)
        if self.q == 0:
            return other
        if other.q == 0:
            return self
        return Exact._irrational(self.approx + other.approx, "add", self, other)

    __radd__ = __add__

    def __neg__(self) -> Exact:
        if self.q is not None:
            return Exact(-self.q)
        return Exact._irrational(-self.approx, "mul", Exact(Fraction(-1)), self)

    def __pos__(self) -> Exact:
        return self

    def __sub__(self, other: Number) -> Exact:
        if _is_array(other):
            return NotImplemented
        return self + (-_to_exact(other))

    def __rsub__(self, other: Number) -> Exact:
        if _is_array(other):
            return NotImplemented
        return _to_exact(other) + (-self)

    def __mul__(self, other: Number) -> Exact:
        if _is_array(other):
            return NotImplemented
        other = _to_exact(other)
        if self.q is not None and other.q is not None:
            return Exact._rational(self.q * other.q)
        if self.q == 0 or other.q == 0:
            return Exact(Fraction(0))
        if self.q == 1:
            return other
        if other.q == 1:
            return self
        return Exact._irrational(self.approx * other.approx, "mul", self, other)

    __rmul__ = __mul__

    def reciprocal(self) -> Exact:
        if self.sign() == 0:
            raise ExactDomainError("division by zero")
        if self.q is not None:
            return Exact(1 / self.q)
        return Exact._irrational(1 / self.approx, "pow", self, Exact(Fraction(-1)))

    def __truediv__(self, other: Number) -> Exact:
        if _is_array(other):
            return NotImplemented
        return self * _to_exact(other).reciprocal()

    def __rtruediv__(self, other: Number) -> Exact:
        if _is_array(other):
            return NotImplemented
        return _to_exact(other) * self.reciprocal()

    def __pow__(self, other: Number) -> Exact:
        if _is_array(other):
            return NotImplemented
        exponent = _to_exact(other)
        if exponent.q is not None and exponent.q.denominator == 1:
            n = exponent.q.numerator
            if n == 0:
                return Exact(Fraction(1))
            if self.sign() == 0:
                if n < 0:
                    raise ExactDomainError("zero raised to a negative power")
                return Exact(Fraction(0))
            if self.q is not None and abs(self.q) == 1:
                return Exact(Fraction(1) if self.q == 1 or n % 2 == 0 else Fraction(-1))
            if self.q is not None:
                bits = abs(n) * max(self.q.numerator.bit_length(), self.q.denominator.bit_length())
                if bits > MAX_POWER_BITS:
                    raise ExactDomainError(
                        f"power too large to compute exactly (exponent {n})"
                    )
                return Exact._rational(self.q**n)
            if abs(n) > 10_000:
                raise ExactDomainError(f"power too large (exponent {n})")
            return Exact._irrational(self.approx**n, "pow", self, exponent)
        if self.sign() < 0:
            raise ExactDomainError("a negative number raised to a non-integer power")
        if self.sign() == 0:
            if exponent.sign() <= 0:
                raise ExactDomainError("zero raised to a non-positive power")
            return Exact(Fraction(0))
        if self.q is not None and exponent.q is not None:
            root = _rational_root(self.q, exponent.q.denominator)
            if root is not None and abs(exponent.q.numerator) <= 10_000:
                n = exponent.q.numerator
                bits = abs(n) * max(root.numerator.bit_length(), root.denominator.bit_length())
                if bits > MAX_POWER_BITS:
                    raise ExactDomainError(f"power too large to compute exactly (exponent {n})")
                return Exact._rational(root**n)
        exponent_value = exponent.approx
        if abs(exponent_value) > 10_000:
            raise ExactDomainError("power too large")
        return Exact._irrational(_ctx.power(self.approx, exponent_value), "pow", self, exponent)

    def __rpow__(self, other: Number) -> Exact:
        if _is_array(other):
            return NotImplemented
        return _to_exact(other) ** self

    # ----- comparisons (by exact sign of the difference) -----------------------
    def _cmp(self, other: Number) -> int:
        return (self - _to_exact(other)).sign()

    def __lt__(self, other: Number) -> bool:
        return self._cmp(other) < 0

    def __le__(self, other: Number) -> bool:
        return self._cmp(other) <= 0

    def __gt__(self, other: Number) -> bool:
        return self._cmp(other) > 0

    def __ge__(self, other: Number) -> bool:
        return self._cmp(other) >= 0

    def __eq__(self, other: object) -> bool:
        try:
            return self._cmp(other) == 0  # type: ignore[arg-type]
        except TypeError:
            return NotImplemented

    def __ne__(self, other: object) -> bool:
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    __hash__ = None  # type: ignore[assignment]

    def __bool__(self) -> bool:
        return self.sign() != 0

    # ----- elementary functions ------------------------------------------------
    def _check_argument(self, function: str) -> None:
        """Refuse an argument so large that computing the function would hang."""
        if self.q is not None:
            bits = self.q.numerator.bit_length() - self.q.denominator.bit_length()
        else:
            bits = _ctx.mag(self.approx)
        if bits > MAX_ARGUMENT_BITS:
            raise ExactDomainError(
                f"{function} of a number beyond 1e1000 in magnitude is not computed"
            )

    def exp(self) -> Exact:
        if self.q == 0:
            return Exact(Fraction(1))
        self._check_argument("exp")
        if self.approx > 100_000:
            raise ExactDomainError("exp of a number above 100000 overflows")
        return Exact._irrational(_ctx.exp(self.approx), "exp", self)

    def log(self) -> Exact:
        if self.sign() <= 0:
            raise ExactDomainError("log of a number that is not positive")
        if self.q == 1:
            return Exact(Fraction(0))
        return Exact._irrational(_ctx.log(self.approx), "log", self)

    def sqrt(self) -> Exact:
        if self.sign() < 0:
            raise ExactDomainError("square root of a negative number")
        if self.q is not None:
            root = _rational_root(self.q, 2)
            if root is not None:
                return Exact(root)
        return Exact._irrational(_ctx.sqrt(self.approx), "pow", self, Exact(Fraction(1, 2)))

    def tanh(self) -> Exact:
        if self.q == 0:
            return Exact(Fraction(0))
        self._check_argument("tanh")
        return Exact._irrational(_ctx.tanh(self.approx), "tanh", self)

    def sigmoid(self) -> Exact:
        if self.q == 0:
            return Exact(Fraction(1, 2))
        self._check_argument("sigmoid")
        v = self.approx
        return Exact._irrational(1 / (1 + _ctx.exp(-v)), "sigmoid", self)

    def sin(self) -> Exact:
        if self.q == 0:
            return Exact(Fraction(0))
        self._check_argument("sin")
        return Exact._irrational(_ctx.sin(self.approx), "sin", self)

    def cos(self) -> Exact:
        if self.q == 0:
            return Exact(Fraction(1))
        self._check_argument("cos")
        return Exact._irrational(_ctx.cos(self.approx), "cos", self)

    def erf(self) -> Exact:
        if self.q == 0:
            return Exact(Fraction(0))
        self._check_argument("erf")
        return Exact._irrational(_ctx.erf(self.approx), "erf", self)

    def __abs__(self) -> Exact:
        return -self if self.sign() < 0 else self

    # ----- output --------------------------------------------------------------
    def nstr(self, digits: int) -> str:
        """A decimal string with ``digits`` significant digits (no marker of rounding)."""
        return _ctx.nstr(self.approx, digits, strip_zeros=True, min_fixed=-4, max_fixed=digits + 1)

    def to_sympy(self) -> Any:
        """The closed form as a SymPy expression (None if it was too large to keep)."""
        form = self.closed_form
        return None if form is None else form_to_sympy(form)


def _rational_root(q: Fraction, k: int) -> Fraction | None:
    """The exact k-th root of a non-negative rational, if it is rational."""
    if q < 0 or k > 64:
        return None
    num, den = q.numerator, q.denominator
    rn, rd = _int_root(num, k), _int_root(den, k)
    if rn is None or rd is None:
        return None
    return Fraction(rn, rd)


def _int_root(n: int, k: int) -> int | None:
    if n < 2:
        return n
    guess = round(n ** (1.0 / k)) if n.bit_length() < 1000 else None
    if guess is None:
        return None
    for candidate in (guess - 1, guess, guess + 1):
        if candidate >= 0 and candidate**k == n:
            return candidate
    return None


def form_to_sympy(form: Form) -> Any:
    import sympy

    op = form[0]
    if op == "q":
        return sympy.Rational(form[1].numerator, form[1].denominator)
    args = [form_to_sympy(f) for f in form[1:]]
    if op == "add":
        return sympy.Add(*args)
    if op == "mul":
        return sympy.Mul(*args)
    if op == "pow":
        return sympy.Pow(*args)
    if op == "sigmoid":
        return 1 / (1 + sympy.exp(-args[0]))
    if op == "pi":
        return sympy.pi
    return getattr(sympy, op)(*args)


#: π with its closed form (the normal density of gelu′ needs it)
PI = Exact(None, _ctx.pi, ("pi",), 1)


def exact(value: Any) -> Exact:
    """Public helper: an :class:`Exact` from an int, a Fraction or an Exact."""
    return _to_exact(value)
