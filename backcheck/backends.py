"""The number systems the rules in :mod:`backcheck.ops` run on.

``FLOAT``: NumPy float64, vectorised. ``EXACT``: NumPy object arrays whose elements are
:class:`~backcheck.exact.Exact` numbers (rationals stay rationals). ``SYMPY``: object
arrays of SymPy expressions (formulas; ``--symbolic``). All expose the same few
functions (``where``, ``exp``, ``sigmoid``, ``sum``, ``asarray``, …), so every rule is
written once; the ball backend of ``verify`` (rounding reach) is a fourth.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np

from .exact import FORM_MAX_SIZE, Exact


class Precise(np.ndarray):
    """A float64 result that remembers, from how it was made, what float64 would lose
    computing from it: ``complement`` (1 − self), ``log`` (log self) and
    ``one_minus_square`` (1 − self²), each computed stably from the op's input.

    A saturated σ(40) is 1.0 in float64, but its complement σ(−40) ≈ 4.2e-18 and its log
    are kept, so BCE is log-sigmoid (as PyTorch's BCEWithLogits) and σ′ = σ·σ(−x) are
    right. Only the array an op returns carries them: views and arithmetic drop them
    (``__array_finalize__``), so nothing stale is ever used."""

    complement: np.ndarray | None
    log: np.ndarray | None
    one_minus_square: np.ndarray | None

    def __array_finalize__(self, obj: Any) -> None:
        self.complement = self.log = self.one_minus_square = None


def _precise(values: Any, **known: Any) -> Precise:
    array = np.asarray(values, dtype=np.float64).view(Precise)
    for name, value in known.items():
        setattr(array, name, value)
    return array


def _float_sigmoid(x: Any) -> Precise:
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(-np.abs(x))  # exp never sees a large positive argument
    value = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
    other = np.where(x >= 0, e / (1 + e), 1 / (1 + e))  # σ(−x)
    log_value, log_other = -np.logaddexp(0, -x), -np.logaddexp(0, x)
    complement = _precise(other, complement=value, log=log_other)
    return _precise(value, complement=complement, log=log_value,
                    one_minus_square=complement * (1 + value))


class FloatBackend:
    name = "float64"

    where = staticmethod(np.where)
    matmul = staticmethod(np.matmul)
    exp = staticmethod(np.exp)
    sqrt = staticmethod(np.sqrt)
    sin = staticmethod(np.sin)
    cos = staticmethod(np.cos)
    abs = staticmethod(np.abs)
    sign = staticmethod(np.sign)
    power = staticmethod(np.power)
    erf = staticmethod(lambda x: _float_erf(x))

    @staticmethod
    def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        return np.sum(x, axis=axis, keepdims=keepdims)

    sigmoid = staticmethod(_float_sigmoid)

    @staticmethod
    def tanh(x: Any) -> Any:
        x = np.asarray(x, dtype=np.float64)
        with np.errstate(over="ignore"):
            sech_squared = 1 / np.cosh(x) ** 2  # cosh overflows to inf: 0, as it should
        value = np.tanh(x)
        # 1 − tanh(x) = 2σ(−2x), exact where tanh rounds to 1
        return _precise(value, complement=2 * _float_sigmoid(-2 * x),
                        one_minus_square=sech_squared)

    @staticmethod
    def log(x: Any) -> Any:
        known = getattr(x, "log", None)
        return np.log(x) if known is None else known

    @staticmethod
    def complement(x: Any) -> Any:
        """1 − x, from how x was made when float64 would lose it."""
        known = getattr(x, "complement", None)
        return 1 - x if known is None else known

    @staticmethod
    def one_minus_square(x: Any) -> Any:
        """1 − x², from how x was made when float64 would lose it."""
        known = getattr(x, "one_minus_square", None)
        return 1 - x * x if known is None else known

    @staticmethod
    def softplus(x: Any) -> Any:
        return np.logaddexp(0.0, x)  # log(1 + exp(x)) without overflow

    @staticmethod
    def normal_cdf(x: Any) -> Any:
        """Φ(x) = (1 + erf(x/√2))/2."""
        return (1 + _float_erf(np.asarray(x, dtype=np.float64) / math.sqrt(2))) / 2

    @staticmethod
    def normal_pdf(x: Any) -> Any:
        """φ(x) = exp(−x²/2)/√(2π)."""
        return np.exp(-np.square(x) / 2) / math.sqrt(2 * math.pi)

    @staticmethod
    def softmax(x: Any) -> Any:
        shifted = x - np.max(x, axis=-1, keepdims=True)
        e = np.exp(shifted)
        total = np.sum(e, axis=-1, keepdims=True)
        return _precise(e / total, log=shifted - np.log(total))

    @staticmethod
    def asarray(values: Any) -> np.ndarray:
        """float64 array from Fractions, Exacts, ints or floats (any nesting)."""
        array = np.asarray(values, dtype=object) if not isinstance(values, np.ndarray) else values
        if array.dtype == object:
            return array.astype(np.float64)  # float() of each element, in C
        return np.asarray(array, dtype=np.float64)


_erf_elements = np.frompyfunc(math.erf, 1, 1)


def _float_erf(x: Any) -> Any:
    return np.asarray(_erf_elements(x), dtype=np.float64)


#: the elementary functions a backend of object arrays makes element by element; the
#: others (softplus, Φ, φ, softmax) are composed from them
ELEMENTARY = ("exp", "log", "tanh", "sqrt", "sin", "cos", "abs", "sigmoid", "erf")


def _elementwise(function: Any, names: tuple[str, ...] = ELEMENTARY) -> Any:
    """Class decorator: ``function(name)`` (a whole-array function) as the backend's
    staticmethod ``name`` for each elementary function, and softplus = log(1 + exp(x))
    composed from them, kept in that closed form. One table for the exact and the SymPy
    backends (float64 uses NumPy's own functions and a stable softplus)."""
    def decorate(cls: Any) -> Any:
        for name in names:
            setattr(cls, name, staticmethod(function(name)))
        cls.softplus = staticmethod(lambda x: cls.log(1 + cls.exp(x)))
        return cls

    return decorate


def _exact_function(method: str) -> Any:
    unbound = getattr(Exact, {"abs": "__abs__"}.get(method, method))
    vectorised = np.frompyfunc(lambda x: unbound(Exact.of(x)), 1, 1)

    def apply(x: Any) -> Any:
        return np.asarray(vectorised(x), dtype=object)

    return apply


#: softmax shifts its inputs by their maximum only when exp of them would overflow, so the
#: closed forms of ordinary problems stay exp(z₁)/(exp(z₁) + …) as a person writes them
_SOFTMAX_SHIFT_ABOVE = 100_000


@_elementwise(_exact_function)
class ExactBackend:
    name = "exact"

    where = staticmethod(np.where)

    @staticmethod
    def normal_cdf(x: Any) -> Any:
        return (1 + ExactBackend.erf(x * ExactBackend.sqrt(ExactBackend.asarray(
            Fraction(1, 2))))) / 2

    @staticmethod
    def normal_pdf(x: Any) -> Any:
        from .exact import PI

        return ExactBackend.exp(-(x * x) / 2) / ExactBackend.sqrt(ExactBackend.asarray(2 * PI))

    @staticmethod
    def sign(x: Any) -> Any:
        return np.asarray(np.frompyfunc(lambda v: Exact.of(v).sign(), 1, 1)(x), dtype=object)

    @staticmethod
    def complement(x: Any) -> Any:
        return 1 - x

    @staticmethod
    def one_minus_square(x: Any) -> Any:
        return 1 - x * x

    @staticmethod
    def power(x: Any, y: Any) -> Any:
        return np.asarray(np.frompyfunc(lambda a, b: Exact.of(a) ** b, 2, 1)(x, y), dtype=object)

    @staticmethod
    def matmul(a: Any, b: Any) -> Any:
        if a.shape[-1] == 0:
            return np.full(a.shape[:-1] + b.shape[-1:], Exact(Fraction(0)), dtype=object)
        if a.ndim != 2 or b.ndim != 2:
            return np.matmul(a, b)
        return _exact_matmul(a, b)
    @staticmethod
    def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        total = np.sum(x, axis=axis, keepdims=keepdims)
        return np.asarray(total, dtype=object)

    @staticmethod
    def softmax(x: Any) -> Any:
        if x.shape and x.shape[-1] == 1:  # one unit: exp(z)/exp(z) is 1 exactly
            return np.full(x.shape, Exact(Fraction(1)), dtype=object)
        if x.size and any(Exact.of(v) > _SOFTMAX_SHIFT_ABOVE for v in x.flat):
            # exp would overflow; softmax(x) = softmax(x − c) exactly for any c: shift by
            # the largest (by midpoint: equal inputs need no decision between them)
            rows = x.reshape(-1, x.shape[-1])
            shift = [max(row, key=lambda v: float(Exact.of(v))) for row in rows]
            x = x - np.asarray(shift, dtype=object).reshape(x.shape[:-1] + (1,))
        e = ExactBackend.exp(x)
        return e / np.sum(e, axis=-1, keepdims=True)

    @staticmethod
    def asarray(values: Any) -> np.ndarray:
        """Object array of Exact from Fractions, ints or Exacts (any nesting)."""
        array = np.asarray(values, dtype=object)
        if array.size == 0:
            return array
        return np.asarray(np.frompyfunc(Exact.of, 1, 1)(array), dtype=object).reshape(array.shape)


#: a sum of this many irrational terms can never keep a closed form (each term has size
#: at least 2 and each addition adds 1, so the size is at least 3·n − 1 > FORM_MAX_SIZE)
_FORMLESS_TERMS = FORM_MAX_SIZE // 3 + 1


def _exact_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for 2-d object arrays of :class:`Exact`, with the same results as
    NumPy's elementwise loop (left to right: ``a0·b0 + a1·b1 + …``), only faster:

    * all rational: one integer matrix product over common denominators (per row of
      ``a``, per column of ``b``), then one exact division per element;
    * otherwise, elements whose sum cannot keep a closed form (too many irrational terms,
      or a term whose factor has already lost its form) are computed as one dot product
      of the balls, the rest term by term as before.
    """
    m, n = a.shape
    p = b.shape[1]
    a_rows, b_cols = a.tolist(), b.T.tolist()
    if not all(type(x) is Exact for row in a_rows + b_cols for x in row):
        return np.matmul(a, b)
    a_q = [[x.q for x in row] for row in a_rows]
    b_q = [[x.q for x in row] for row in b_cols]  # columns of b
    a_rational = all(q is not None for row in a_q for q in row)
    b_rational = all(q is not None for row in b_q for q in row)
    if a_rational and b_rational:
        return _rational_matmul(a_q, b_q, m, p)
    a_irr = np.array([[q is None for q in row] for row in a_q], dtype=np.int64)
    b_irr = np.array([[q is None for q in row] for row in b_q], dtype=np.int64).T
    a_rnz = np.array([[q is not None and q != 0 for q in row] for row in a_q], dtype=np.int64)
    b_rnz = np.array([[q is not None and q != 0 for q in row] for row in b_q], dtype=np.int64).T
    # irrational terms per element: irrational·irrational, irrational·(nonzero rational)
    # and (nonzero rational)·irrational
    terms = a_irr @ (b_irr + b_rnz) + a_rnz @ b_irr
    # terms with a factor that has lost its closed form: the sum has none either
    a_formless = np.array([[x.form is None and x.q is None for x in row] for row in a_rows],
                          dtype=np.int64)
    b_formless = np.array([[x.form is None and x.q is None for x in row] for row in b_cols],
                          dtype=np.int64).T
    formless = (terms >= _FORMLESS_TERMS) | (
        (a_formless @ (b_irr + b_rnz) + (a_irr + a_rnz) @ b_formless) > 0)
    if not formless.any():
        return np.matmul(a, b)
    a_v = [[x.ball for x in row] for row in a_rows]
    b_v = [[x.ball for x in row] for row in b_cols]
    out = np.empty((m, p), dtype=object)
    size = FORM_MAX_SIZE + 1

    def dot(u: list, v: list) -> Any:
        total = u[0] * v[0]
        for x, y in zip(u[1:], v[1:]):
            total += x * y
        return total

    for i in range(m):
        for j in range(p):
            if formless[i, j]:
                out[i, j] = Exact(None, dot(a_v[i], b_v[j]), None, size)
            else:
                row, col = a_rows[i], b_cols[j]
                total = row[0] * col[0]
                for k in range(1, n):
                    total = total + row[k] * col[k]
                out[i, j] = total
    return out


def _rational_matmul(a_q: list, b_q: list, m: int, p: int) -> np.ndarray:
    """Exact product of rational matrices (``b_q`` given as columns) in integers."""
    row_dens = [math.lcm(*(q.denominator for q in row)) for row in a_q]
    col_dens = [math.lcm(*(q.denominator for q in col)) for col in b_q]
    a_int = np.array([[q.numerator * (d // q.denominator) for q in row]
                      for row, d in zip(a_q, row_dens, strict=True)], dtype=object)
    b_int = np.array([[q.numerator * (d // q.denominator) for q in col]
                      for col, d in zip(b_q, col_dens, strict=True)], dtype=object).T
    products = a_int.dot(b_int)
    out = np.empty((m, p), dtype=object)
    rational = Exact._rational
    for i in range(m):
        row, d = products[i], row_dens[i]
        for j in range(p):
            out[i, j] = rational(Fraction(int(row[j]), d * col_dens[j]))
    return out


FLOAT = FloatBackend()
EXACT = ExactBackend()


# ----- SymPy: formulas ------------------------------------------------------------------


def _sym(value: Any) -> Any:
    """One element as a SymPy expression (Fractions exact, Exact numbers by closed form)."""
    import sympy

    if isinstance(value, sympy.Basic):
        return value
    if isinstance(value, Fraction):
        return sympy.Rational(value.numerator, value.denominator)
    if isinstance(value, (bool, np.bool_)):
        return sympy.true if value else sympy.false
    if isinstance(value, (int, np.integer)):
        return sympy.Integer(int(value))
    if isinstance(value, Exact):
        if value.q is not None:
            return sympy.Rational(value.q.numerator, value.q.denominator)
        form = value.to_sympy()
        return form if form is not None else sympy.Float(value.approx, 50)
    if isinstance(value, (float, np.floating)):
        return sympy.Float(float(value))
    raise TypeError(f"not a number or formula: {value!r}")


class SymArray(np.ndarray):
    """A NumPy object array of SymPy expressions whose comparisons give SymPy truth values
    (``x > 0`` is a relational, not an error), so ``B.where(x > 0, …)`` in the op table
    can make a Piecewise or decide the branch at a point."""

    __array_priority__ = 20.0

    def _compare(self, other: Any, op: Any) -> Any:
        left = self.view(np.ndarray)
        right = other.view(np.ndarray) if isinstance(other, np.ndarray) else other
        result = np.frompyfunc(lambda a, b: op(_sym(a), _sym(b)), 2, 1)(left, right)
        return np.asarray(result, dtype=object).view(SymArray)

    def __gt__(self, other: Any) -> Any:  # type: ignore[override]
        return self._compare(other, lambda a, b: a > b)

    def __ge__(self, other: Any) -> Any:  # type: ignore[override]
        return self._compare(other, lambda a, b: a >= b)

    def __lt__(self, other: Any) -> Any:  # type: ignore[override]
        return self._compare(other, lambda a, b: a < b)

    def __le__(self, other: Any) -> Any:  # type: ignore[override]
        return self._compare(other, lambda a, b: a <= b)


def _sym_array(values: Any) -> SymArray:
    array = np.asarray(values, dtype=object)
    if array.size:
        converted = np.frompyfunc(_sym, 1, 1)(array)
        array = np.asarray(converted, dtype=object).reshape(array.shape)
    return array.view(SymArray)


def _sympy_function(name: str) -> Any:
    def apply(x: Any) -> Any:
        import sympy

        if name == "sigmoid":
            from .symfuncs import sigmoid as function
        else:
            function = {"abs": sympy.Abs}.get(name) or getattr(sympy, name)
        return _sym_array(np.frompyfunc(lambda v: function(_sym(v)), 1, 1)(x))

    return apply


@_elementwise(_sympy_function, ELEMENTARY + ("sign",))
class SympyBackend:
    """NumPy object arrays of SymPy expressions: the op table's rules build formulas.

    The same function names as ``EXACT`` and ``FLOAT``. ``where(cond, a, b)`` decides
    each element's branch when the condition is decidable (a number, or a sign SymPy can
    prove); otherwise, with a ``point`` (symbol → value), it decides at that point and
    records the decision in ``decisions``; without one it builds a Piecewise.
    ``sigmoid`` stays σ(z) (:class:`backcheck.symfuncs.sigmoid`).
    """

    name = "sympy"
    objects = True  # values are object arrays (evaluate.normalise keeps them)

    @staticmethod
    def normal_cdf(x: Any) -> Any:
        """Φ(x) = (1 + erf(x/√2))/2."""
        import sympy

        return (1 + SympyBackend.erf(_sym_array(x) / sympy.sqrt(2))) / 2

    @staticmethod
    def normal_pdf(x: Any) -> Any:
        """φ(x) = e^(−x²/2)/√(2π)."""
        import sympy

        x = _sym_array(x)
        return SympyBackend.exp(-x * x / 2) / sympy.sqrt(2 * sympy.pi)

    def __init__(self, point: dict[Any, Any] | None = None) -> None:
        self.point = point
        #: (condition, taken) for every branch decided at ``point``
        self.decisions: list[tuple[Any, bool]] = []

    def at(self, point: dict[Any, Any] | None) -> SympyBackend:
        """A backend that decides undecidable branches at ``point``."""
        return SympyBackend(point)

    def _pick(self, cond: Any, a: Any, b: Any) -> Any:
        import sympy

        cond = _sym(cond)
        if cond is sympy.true:
            return _sym(a)
        if cond is sympy.false:
            return _sym(b)
        if self.point is not None:
            taken = cond.subs(self.point)
            if taken in (sympy.true, sympy.false):
                taken = bool(taken)
                if (cond, taken) not in self.decisions:
                    self.decisions.append((cond, taken))
                return _sym(a) if taken else _sym(b)
        return sympy.Piecewise((_sym(a), cond), (_sym(b), True))

    def where(self, cond: Any, a: Any, b: Any) -> Any:
        return _sym_array(np.frompyfunc(self._pick, 3, 1)(cond, a, b))

    @staticmethod
    def power(x: Any, y: Any) -> Any:
        import sympy

        return _sym_array(np.frompyfunc(lambda a, b: sympy.Pow(_sym(a), _sym(b)), 2, 1)(x, y))

    @staticmethod
    def matmul(a: Any, b: Any) -> Any:
        import sympy

        a, b = np.asarray(a, dtype=object), np.asarray(b, dtype=object)
        if a.ndim != 2 or b.ndim != 2:
            return _sym_array(np.matmul(a, b) if a.shape[-1] else
                              np.zeros(a.shape[:-1] + b.shape[-1:], dtype=int))
        m, n = a.shape
        p = b.shape[1]
        out = np.empty((m, p), dtype=object)
        for i in range(m):
            for j in range(p):
                out[i, j] = sympy.Add(*[_sym(a[i, k]) * _sym(b[k, j]) for k in range(n)])
        return _sym_array(out)

    @staticmethod
    def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        import sympy

        x = np.asarray(x, dtype=object)
        if axis is None and not keepdims:
            return _sym_array(sympy.Add(*[_sym(v) for v in x.flat]))
        return _sym_array(np.sum(x, axis=axis, keepdims=keepdims))

    @staticmethod
    def softmax(x: Any) -> Any:
        e = SympyBackend.exp(x)
        return e / SympyBackend.sum(e, axis=-1, keepdims=True)

    @staticmethod
    def asarray(values: Any) -> SymArray:
        """Object array of SymPy expressions from Fractions, ints, Exacts or expressions."""
        return _sym_array(values)


#: the symbolic backend (branches on undecidable signs become Piecewise)
SYMPY = SympyBackend()
