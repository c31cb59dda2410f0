"""Exact numbers without expression swell, with certified digits.

An :class:`Exact` is the truth about one number:

* ``q``: its value as a :class:`~fractions.Fraction` whenever it is rational (every
  ReLU/identity network with MSE is rational end to end, so there it is exact, full stop);
* ``ball``: otherwise, an enclosure of it, a midpoint and a radius (Arb ball arithmetic,
  python-flint), computed at the working precision. The true value is inside the ball
  whatever the precision, so a sign or a printed digit that the ball decides is certain;
* ``form``: while it stays small, its closed form as a tiny expression tree
  (``σ(1/2)`` stays ``1/(1 + exp(-1/2))``), turned into SymPy only when printed.

Why balls and not a fixed 50 digits: ``1 − tanh(80)`` is about 6.5e-70, so 50 digits call
it 0 and a ReLU after it takes the wrong branch. Under :func:`working_precision` with
``strict=True`` a decision the ball cannot make (a sign, at a kink, a division, a log)
raises :class:`NeedsPrecision`; :func:`certified` reruns a computation at doubling
precision until every decision and every printed digit is certain, up to ``MAX_BITS``.
A value that is zero to that many bits but not provably zero (``1 − σ(x) − σ(−x)``)
is then reported as such, never taken as a number near ``2**-MAX_BITS``.

Why not SymPy expressions all the way down: in a sigmoid network every layer nests the
previous one, and symbolic trees grow exponentially with depth (expression swell).
Numbers stay numbers here; closed forms are kept only while they are short
(``FORM_MAX_SIZE``), which is exactly when a person wants to read them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from fractions import Fraction
from typing import Any, TypeVar, Union

from flint import arb, fmpq
from flint import ctx as _flint
from mpmath.ctx_mp import MPContext
from mpmath.libmp import from_man_exp

DIGITS = 50
FORM_MAX_SIZE = 24
MAX_POWER_BITS = 200_000  # an exact power larger than this is refused, not computed
#: a rational whose numerator and denominator together need more bits than this (about
#: 3,600 digits) is kept as a ball instead: repeated squaring would otherwise
#: grow without bound, and Python refuses to print integers over 4,300 digits
MAX_RATIONAL_BITS = 12_000
#: exp, sigmoid, tanh, sin and cos refuse arguments beyond 2**MAX_ARGUMENT_BITS (about
#: 1e1000): far outside float64 (so no solve could use them)
MAX_ARGUMENT_BITS = 3322

#: working precision (bits of the balls' midpoints) of the first attempt; ample for
#: ordinary problems, so they are computed once
START_BITS = 256
#: the most a computation is escalated to (about 4,900 digits)
MAX_BITS = 16_384
#: every value shown must be known to this relative accuracy (48 digits: ``--digits``
#: goes to 40, JSON and answer keys show 20)
CERTIFIED_BITS = 160

_ctx = MPContext()
_ctx.dps = DIGITS + 10
_flint.prec = START_BITS

Form = tuple  # ("q", Fraction) | (op, *args)

_strict = False  # raise NeedsPrecision on an undecided sign (inside certified())


class ExactDomainError(ArithmeticError):
    """An operation outside its domain (log of 0, division by 0, a huge power)."""


class NeedsPrecision(Exception):  # noqa: N818 — a signal, not a failure
    """A decision (the sign of ``value``) that the working precision cannot make.

    Not an ArithmeticError on purpose: evaluators turn those into domain errors."""

    def __init__(self, value: Exact, what: str) -> None:
        super().__init__(what)
        self.value = value
        self.what = what


class Undecidable(ExactDomainError):
    """A sign that even ``MAX_BITS`` of precision cannot decide: the value cannot be told
    from zero (it may be an exact zero reached through irrational numbers)."""


@contextlib.contextmanager
def working_precision(bits: int, *, strict: bool = True, final: bool = False) -> Iterator[None]:
    """Compute new balls with ``bits`` bits; with ``strict``, undecided signs raise
    :class:`NeedsPrecision` instead of being guessed from the midpoint (with ``final``,
    :class:`Undecidable`: there is no more precision to ask for)."""
    global _strict
    old_bits, old_strict = _flint.prec, _strict
    _flint.prec, _strict = bits, ("final" if final else True) if strict else False
    try:
        yield
    finally:
        _flint.prec, _strict = old_bits, old_strict


def _undecided(value: Exact, what: str) -> Exception:
    """The signal for a sign the ball does not decide (see :func:`certified`)."""
    if _strict == "final":
        bound = _ctx.nstr(_mpf_of(value.ball.abs_upper()), 2)
        return Undecidable(f"{what} a number that cannot be told from zero (|value| ≤ "
                           f"{bound} at {_decimal_bits(_flint.prec)} digits; it may be "
                           f"exactly 0)")
    return NeedsPrecision(value, what)


T = TypeVar("T")


def certified(compute: Callable[[], T], check: Callable[[T], bool] | None = None,
              *, max_bits: int = MAX_BITS) -> tuple[T, int]:
    """Run ``compute`` at doubling precision until it makes every sign decision and
    ``check(result)`` (are the shown values accurate enough?) passes.

    Returns (result, bits). At ``max_bits`` an undecided sign raises :class:`Undecidable`
    (an ExactDomainError, so evaluators report it at its node) and a failing ``check`` is
    accepted (the printer then shows only the certain digits).
    """
    bits = START_BITS
    while True:
        final = bits >= max_bits
        try:
            with working_precision(bits, final=final):
                result = compute()
                if final or check is None or check(result):
                    return result, bits
        except NeedsPrecision:
            pass
        bits = min(2 * bits, max_bits)


def _decimal_bits(bits: int) -> int:
    return int(bits * 0.30103)


Number = Union["Exact", int, Fraction]


def _to_exact(value: Any) -> Exact:
    if isinstance(value, Exact):
        return value
    if type(value) is Fraction:  # immutable: no copy needed (the grader converts many)
        return Exact(value)
    if isinstance(value, (int, Fraction)):
        return Exact(Fraction(value))
    if hasattr(value, "item") and not isinstance(value, float):  # numpy scalar or 0-d array
        return _to_exact(value.item())
    raise TypeError(f"cannot make an exact number from {type(value).__name__}")


def _is_array(value: Any) -> bool:
    return getattr(value, "ndim", 0) > 0


def _ball_of(value: Any) -> arb:
    """An arb from an arb or an mpmath number (exactly, its binary value)."""
    if isinstance(value, arb):
        return value
    sign, man, exp, _ = value._mpf_  # man_exp would drop the sign
    if not man:
        return arb(0)
    return _exact_arb(-int(man) if sign else int(man), int(exp))


class Exact:
    """A real number: rational exactly, or a certified ball with a short closed form."""

    __slots__ = ("q", "_b", "_v", "form", "size")

    def __init__(
        self,
        q: Fraction | None = None,
        v: Any = None,
        form: Form | None = None,
        size: int = 1,
    ) -> None:
        self.q = q
        self._b = None if v is None else _ball_of(v)
        self._v = None
        self.form = form
        self.size = size

    def __reduce__(self) -> tuple:
        """Picklable (class runs send solutions to worker processes): the ball as the
        exact integers of its midpoint and radius."""
        state = None
        if self._b is not None:
            (m, e), (rm, re) = self._b.mid().man_exp(), self._b.rad().man_exp()
            state = (int(m), int(e), int(rm), int(re))
        return (_rebuild, (self.q, state, self.form, self.size))

    # ----- construction helpers -------------------------------------------------
    @staticmethod
    def of(value: Any) -> Exact:
        return _to_exact(value)

    @staticmethod
    def _rational(q: Fraction) -> Exact:
        """A rational result, demoted to a ball when it grows too large."""
        if q.numerator.bit_length() + q.denominator.bit_length() <= MAX_RATIONAL_BITS:
            return Exact(q)
        return Exact(None, arb(fmpq(q.numerator, q.denominator)), None, FORM_MAX_SIZE + 1)

    @staticmethod
    def _irrational(v: arb, op: str, *args: Exact) -> Exact:
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
    def ball(self) -> arb:
        """An enclosure of the value (a rational's at the working precision)."""
        if self._b is None:
            return arb(fmpq(self.q.numerator, self.q.denominator))
        return self._b

    @property
    def approx(self) -> Any:
        """The value as an mpmath number: a rational's to ``DIGITS`` digits, a ball's
        midpoint (all its bits)."""
        if self._v is None:
            if self.q is not None:
                self._v = _ctx.mpf(self.q.numerator) / self.q.denominator
            else:
                man, exp = self._b.mid().man_exp()
                self._v = _ctx.make_mpf(from_man_exp(int(man), int(exp)))
        return self._v

    @property
    def accuracy_bits(self) -> int:
        """Bits of relative accuracy (a rational's is unlimited)."""
        if self.q is not None:
            return 1 << 30
        return int(self._b.rel_accuracy_bits())

    def sign(self) -> int:
        """-1, 0 or 1: certain for a rational or a ball away from 0. A ball that touches
        0 raises :class:`NeedsPrecision` under strict precision, else its midpoint's."""
        if self.q is not None:
            return (self.q > 0) - (self.q < 0)
        b = self._b
        if b > 0:
            return 1
        if b < 0:
            return -1
        if _strict:
            if self.is_zero_by_form():
                return 0
            raise _undecided(self, "the sign of")
        mid = b.mid()
        return int(mid > 0) - int(mid < 0)

    def is_zero_by_form(self) -> bool:
        """Is this ball around 0 exactly 0, as its closed form shows? SymPy's own
        canonical form of it is 0 (tanh(x)/10 + tanh(−x)/10: odd functions and like
        terms cancel as written), so no precision could ever decide its sign. Asked only
        of a ball the working precision leaves undecided (cached per form)."""
        if self.q is not None or self.form is None:
            return False
        known = _ZERO_FORMS.get(self.form)
        if known is None:
            if len(_ZERO_FORMS) > 10_000:
                _ZERO_FORMS.clear()
            try:
                known = bool(form_to_sympy(self.form) == 0)
            except (ArithmeticError, ValueError, TypeError, AttributeError, RecursionError):
                known = False
            _ZERO_FORMS[self.form] = known
        return known

    @property
    def undecided(self) -> bool:
        """Is this a ball that contains 0 (its sign is not known)?"""
        return self.q is None and self._b.contains(0)

    def __float__(self) -> float:
        if self.q is not None:
            try:
                return float(self.q)
            except OverflowError:  # beyond float64: ±inf, as float64 arithmetic gives
                return float("inf") if self.q > 0 else float("-inf")
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
        return Exact._irrational(self.ball + other.ball, "add", self, other)

    __radd__ = __add__

    def __neg__(self) -> Exact:
        if self.q is not None:
            return Exact(-self.q)
        return Exact._irrational(-self._b, "mul", Exact(Fraction(-1)), self)

    def __pos__(self) -> Exact:
        return self

    def __sub__(self, other: Number) -> Exact:
        if _is_array(other):
            return NotImplemented
        other = _to_exact(other)
        if self.q is None and self.form is not None and self.form == other.form:
            return Exact(Fraction(0))  # the same closed form: x − x is 0 exactly
        return self + (-other)

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
        return Exact._irrational(self.ball * other.ball, "mul", self, other)

    __rmul__ = __mul__

    def _nonzero(self, what: str) -> None:
        if self.q is not None:
            if self.q == 0:
                raise ExactDomainError(what)
        elif self.sign() == 0:  # only outside strict precision (a midpoint of 0)
            raise ExactDomainError(what)

    def reciprocal(self) -> Exact:
        if self.q is None and self._b.contains(0) and _strict:
            if self.is_zero_by_form():
                raise ExactDomainError("division by zero")
            raise _undecided(self, "division by")
        self._nonzero("division by zero")
        if self.q is not None:
            return Exact(1 / self.q)
        return Exact._irrational(1 / self._b, "pow", self, Exact(Fraction(-1)))

    def __truediv__(self, other: Number) -> Exact:
        if _is_array(other):
            return NotImplemented
        other = _to_exact(other)
        if other.q is None and self.q is None and self.form is not None \
                and self.form == other.form:
            return Exact(Fraction(1))  # the same closed form: x/x is 1 exactly
        return self * other.reciprocal()

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
            return Exact._irrational(self._b**n, "pow", self, exponent)
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
        if abs(exponent.ball) > 10_000:
            raise ExactDomainError("power too large")
        return Exact._irrational(self.ball**exponent.ball, "pow", self, exponent)

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
            bits = int(_ctx.mag(_mpf_of(self._b.abs_upper())))
        if bits > MAX_ARGUMENT_BITS:
            raise ExactDomainError(
                f"{function} of a number beyond 1e1000 in magnitude is not computed"
            )

    def exp(self) -> Exact:
        if self.q == 0:
            return Exact(Fraction(1))
        self._check_argument("exp")
        if self.ball > 100_000:
            raise ExactDomainError("exp of a number above 100000 overflows")
        return Exact._irrational(self.ball.exp(), "exp", self)

    def log(self) -> Exact:
        if self.sign() <= 0:
            raise ExactDomainError("log of a number that is not positive")
        if self.q == 1:
            return Exact(Fraction(0))
        return Exact._irrational(self.ball.log(), "log", self)

    def sqrt(self) -> Exact:
        if self.sign() < 0:
            raise ExactDomainError("square root of a negative number")
        if self.q is not None:
            root = _rational_root(self.q, 2)
            if root is not None:
                return Exact(root)
        return Exact._irrational(self.ball.sqrt(), "pow", self, Exact(Fraction(1, 2)))

    def tanh(self) -> Exact:
        if self.q == 0:
            return Exact(Fraction(0))
        self._check_argument("tanh")
        return Exact._irrational(self.ball.tanh(), "tanh", self)

    def sigmoid(self) -> Exact:
        if self.q == 0:
            return Exact(Fraction(1, 2))
        self._check_argument("sigmoid")
        return Exact._irrational(1 / (1 + (-self.ball).exp()), "sigmoid", self)

    def sin(self) -> Exact:
        if self.q == 0:
            return Exact(Fraction(0))
        self._check_argument("sin")
        return Exact._irrational(self.ball.sin(), "sin", self)

    def cos(self) -> Exact:
        if self.q == 0:
            return Exact(Fraction(1))
        self._check_argument("cos")
        return Exact._irrational(self.ball.cos(), "cos", self)

    def erf(self) -> Exact:
        if self.q == 0:
            return Exact(Fraction(0))
        self._check_argument("erf")
        return Exact._irrational(self.ball.erf(), "erf", self)

    def __abs__(self) -> Exact:
        return -self if self.sign() < 0 else self

    # ----- output --------------------------------------------------------------
    def nstr(self, digits: int, strip_zeros: bool = True, min_fixed: int = -4,
             max_fixed: int | None = None) -> str:
        """A decimal string with ``digits`` significant digits (no marker of rounding),
        or fewer if the ball does not decide them: every digit shown is certain. A ball
        around 0 that cannot be told from 0 gives ``"0"``: check :attr:`undecided`.
        Fixed notation for values from 10**min_fixed to 10**max_fixed (default: digits)."""
        fixed = (min_fixed, digits + 1 if max_fixed is None else max_fixed)
        if self.q is not None:
            return _nstr(self.approx, digits, strip_zeros, fixed)
        if self._b.contains(0):
            return "0"
        lower, upper = _mpf_of(self._b.lower()), _mpf_of(self._b.upper())
        while digits > 1:
            low = _nstr(lower, digits, strip_zeros, fixed)
            if low == _nstr(upper, digits, strip_zeros, fixed):
                return low
            digits -= 1
        return _nstr(self.approx, 1, strip_zeros, fixed)

    def to_sympy(self) -> Any:
        """The closed form as a SymPy expression (None if it was too large to keep)."""
        form = self.closed_form
        return None if form is None else form_to_sympy(form)


def _exact_arb(man: int, exp: int) -> arb:
    """man·2**exp as an exact arb, whatever the working precision."""
    old = _flint.prec
    _flint.prec = max(old, man.bit_length() + 8)
    try:
        return arb(man) * arb(2) ** exp
    finally:
        _flint.prec = old


def _rebuild(q: Fraction | None, state: tuple | None, form: Form | None, size: int) -> Exact:
    ball = None
    if state is not None:
        m, e, rm, re = state
        ball = arb(_exact_arb(m, e), _exact_arb(rm, re))
    return Exact(q, ball, form, size)


def _mpf_of(exact_arb: arb) -> Any:
    man, exp = exact_arb.man_exp()
    return _ctx.make_mpf(from_man_exp(int(man), int(exp)))


def _nstr(value: Any, digits: int, strip_zeros: bool, fixed: tuple[int, int]) -> str:
    return _ctx.nstr(value, digits, strip_zeros=strip_zeros, min_fixed=fixed[0],
                     max_fixed=fixed[1])


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


#: closed forms already asked whether they are exactly 0 (:meth:`Exact.is_zero_by_form`)
_ZERO_FORMS: dict[Form, bool] = {}


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
