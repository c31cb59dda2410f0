"""``verify``: grade hand-worked answers against the exact solution.

For a notebook::

    from backcheck import verify
    report = verify("problems/sheets/ai_by_hand_3layer/relu_not_zeroed.yaml")
    report.counts          # {'correct': 97, 'carried': 8, 'wrong': 1, 'missing': 0}
    report.first           # the entry to look at first: dL/dz1[2]
    for item in report.items: print(item.element, item.verdict, item.diagnosis)

How an entry is graded (FORMAT §4):

1. **correct** when it agrees with the exact value to the precision it is written in
   (:class:`Tolerance`). Decided exactly (rationals, or 50 digits): a float64 pre-check
   only settles cases a million times farther from the boundary than its own error.
2. Otherwise the graph is evaluated again with every answered element put in as an
   override (:func:`backcheck.evaluate.evaluate`), so each node computes what follows from
   the student's *own* earlier answers. An entry that agrees with that (allowing for the
   rounding of those earlier numbers: :class:`BallArray`) is **correct** when it also
   follows from the answers graded correct alone, allowing for *their* rounding only, and
   they explain it as well as all the answers do (honest rounding carried along);
   otherwise **carried**, naming the nearest earlier answer that is not right and the
   original slip. Softmax + cross-entropy (sigmoid + BCE) also try dL/dzN = (aN − t)/N
   from the student's own aN (:meth:`_Sheet._fused_route`); a class with target 0 adds
   nothing to the loss whatever probability is written (0·log 0 = 0).
3. Anything else is **wrong**, and the known mistakes of :mod:`backcheck.mistakes` are
   tried as buggy rules, from the truth and from the student's own answers (allowing
   for values they looked up rounded: :class:`LookupRoundingBall`); the one that
   reproduces the entry (and most of the answer's other wrong entries) is named. A
   number right only to fewer digits than its tolerance asks says so instead.

Work is linear in the number of wrong entries: everything that is the same for every
entry of a quantity (transforms, contradiction checks, cause summaries) is done once per
quantity (tests/test_verify.py counts it).

Speed: each distinct problem is solved once per :class:`Grader`, the buggy rules are
evaluated from the truth once per problem, and per-sheet evaluations only happen where a
sheet has entries that do not match the truth.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from .backends import EXACT, FLOAT
from .errors import BackcheckError, quoted
from .evaluate import EvaluationError, evaluate
from .exact import Exact
from .exact import _ctx as MP
from .graph import Quantity
from .literals import Document, is_integer_text, load_yaml, parse_number_text, written_decimals
from .mistakes import BY_NAME, Base, Finding, Structure, Variant, fmt, variants
from .problem import Problem, _check_keys, did_you_mean, problem_from_document
from .solution import Solution, solve

VERDICTS = ("correct", "carried", "wrong", "missing")
SYMBOLS = {"correct": "✓", "carried": "↻", "wrong": "✗", "missing": "·"}
SHEET_KEYS = ("problem", "answers", "tolerance", "tolerances", "student", "title", "notes",
              "points")
TOLERANCE_HINT = "tolerance: auto (the default), exact, {abs: 0.01}, {rel: 0.001} or {sig: 3}"
#: a whole number (no point) is also right when it agrees to this many significant digits
INTEGER_SIGNIFICANT = 4
#: the precision assumed for whole numbers on a sheet that writes no decimals at all
DEFAULT_WORKING_DECIMALS = 2
#: above this ``exact_work`` (one exact pass of a problem, see :mod:`backcheck.problem`)
#: verify works to a budget: buggy rules are screened in float64 first and run exactly
#: only where the screen matches a wrong entry, within ``LARGE_EXACT_BUDGET`` work units
#: per sheet (at least one run; a network at ``MAX_EXACT_WORK`` takes about a second per
#: exact pass, so a sheet of the largest problem grades in about 4 s)
LARGE_WORK = 20_000
LARGE_EXACT_BUDGET = 500_000
SKIPPED_DIAGNOSIS = "diagnosis skipped: network too large for exhaustive mistake search"
#: the rounding-reach evaluation keeps one sensitivity column per written number; above
#: this many cells (columns × the largest node) the columns of answers already graded
#: correct are folded into the remainder (a slightly wider, still safe, reach)
MAX_BALL_CELLS = 400_000


# ============================================================================ tolerance


@dataclass(frozen=True)
class Tolerance:
    """How close an answer must be: ``auto`` (its written precision), ``exact``,
    ``abs`` (|given − exact| ≤ amount), ``rel`` (≤ amount·|exact|) or ``sig`` (agrees to
    ``amount`` significant digits: ≤ ½ unit in the exact value's ``amount``-th digit)."""

    kind: str = "auto"
    amount: Fraction | None = None

    def describe(self) -> str:
        if self.kind in ("auto", "exact"):
            return self.kind
        return f"{self.kind} {self.amount}"


AUTO = Tolerance()


def parse_tolerance(doc: Document, value: Any, path: tuple) -> Tolerance:
    if value is None or value == "auto":
        return AUTO
    if value == "exact":
        return Tolerance("exact")
    if isinstance(value, dict) and len(value) == 1:
        (kind, amount), = value.items()
        if kind in ("abs", "rel", "sig"):
            article = "an" if kind[:1] in "aeiou" else "a"
            number = doc.number(amount, path + (kind,), f"{article} {kind} tolerance")
            if number < 0:
                raise doc.error("a tolerance cannot be negative", path + (kind,))
            if kind == "sig" and (number.denominator != 1 or not 1 <= number <= 40):
                raise doc.error("sig takes a whole number of significant digits, 1 to 40",
                                path + (kind,))
            return Tolerance(kind, number)
        known = ("abs", "rel", "sig")
        close = [k for k in known if str(kind).lower().startswith(k)]
        suggestion = f"; did you mean {close[0]!r}?" if close else did_you_mean(kind, known)
        raise doc.error(f"unknown tolerance {kind!r}{suggestion}", path, hint=TOLERANCE_HINT)
    shown = doc.texts.get(path, value if isinstance(value, str) else type(value).__name__)
    if isinstance(value, (list, dict)):
        shown = "a list" if isinstance(value, list) else "a mapping"
    raise doc.error(f"cannot read the tolerance {shown!r}", path, hint=TOLERANCE_HINT)


def _decimal_exponent(value: Fraction) -> int:
    """e with 10**e ≤ |value| < 10**(e + 1), exactly (value ≠ 0)."""
    value = abs(value)
    e = len(str(value.numerator)) - len(str(value.denominator))
    while Fraction(10) ** e > value:
        e -= 1
    while Fraction(10) ** (e + 1) <= value:
        e += 1
    return e


def _exponent_of(target: Any) -> int | None:
    if isinstance(target, Exact):
        if target.q is not None:
            return None if target.q == 0 else _decimal_exponent(target.q)
        v = abs(target.approx)
        e = int(MP.floor(MP.log10(v)))
        while MP.mpf(10) ** e > v:
            e -= 1
        while MP.mpf(10) ** (e + 1) <= v:
            e += 1
        return e
    if isinstance(target, Fraction):
        return None if target == 0 else _decimal_exponent(target)
    number = abs(float(target))
    return None if number == 0 else int(np.floor(np.log10(number)))


def bound(given: Fraction, text: str | None, tolerance: Tolerance, working: int,
          target: Any) -> tuple[Fraction | None, Fraction | None]:
    """(absolute bound, relative bound) for |given − target|; (None, None) = exactly."""
    kind = tolerance.kind
    if kind == "abs":
        return tolerance.amount, None
    if kind == "rel":
        return None, tolerance.amount
    if kind == "sig":
        e = _exponent_of(target)
        if e is None:
            e = None if given == 0 else _decimal_exponent(given)
        if e is None:
            return None, None
        return Fraction(1, 2) * Fraction(10) ** (e - int(tolerance.amount) + 1), None
    if kind == "exact" or text is None:
        return None, None
    decimals = written_decimals(text)
    if decimals is None:  # a fraction such as 1/3 is exact
        return None, None
    if is_integer_text(text):
        limit = _half_unit(working)
        if given != 0:
            significant = Fraction(1, 2) * Fraction(10) ** (
                _decimal_exponent(given) - INTEGER_SIGNIFICANT + 1)
            limit = max(limit, significant)
        return limit, None
    return _half_unit(decimals), None


_HALF_UNITS: dict[int, Fraction] = {}


def _half_unit(decimals: int) -> Fraction:
    """½·10^-decimals (cached: the grader asks for it for every entry)."""
    value = _HALF_UNITS.get(decimals)
    if value is None:
        value = _HALF_UNITS[decimals] = Fraction(1, 2) * Fraction(10) ** -decimals
    return value


def is_exactly(given: Fraction | None, target: Any) -> bool:
    """Is a written number exactly the true value (nothing was rounded)?"""
    if given is None:
        return False
    q = target.q if isinstance(target, Exact) else target
    return q is not None and given == q


def agrees(given: Fraction, text: str | None, target: Any, tolerance: Tolerance = AUTO,
           working: int = DEFAULT_WORKING_DECIMALS, slack: float = 0.0) -> bool:
    """Does the written answer agree with ``target`` (an :class:`Exact`, exactly)?

    ``slack`` widens the bound (the rounding of the student's own earlier numbers, when
    ``target`` is what follows from them)."""
    if target is None:
        return False
    absolute, relative = bound(given, text, tolerance, working, target)
    return within(given, target, absolute, relative, float(slack))


#: |given − value| below this (relative) is equality for a value known only to its ~50
#: digits: no short fraction or decimal is that close to a different number
EQUAL_DIGITS_SCALE = MP.mpf(10) ** -40


def within(given: Fraction, target: Any, absolute: Fraction | None,
           relative: Fraction | None, slack: float = 0.0, target_float: float | None = None
           ) -> bool:
    """|given − target| ≤ absolute (or relative·|target|) + slack, exactly (the slack,
    itself an estimate, is added at 60 digits)."""
    if not isinstance(target, Exact):
        target = Exact.of(target)
    # a certified float64 filter first: decide only when the margin is a million times
    # larger than float64's own error; otherwise (and near every boundary) exactly
    g = given.numerator / given.denominator
    t = float(target) if target_float is None else target_float
    if relative is not None:
        limit = float(relative) * abs(t)
    else:
        limit = float(absolute) if absolute is not None else 0.0
    limit += slack
    gap = abs(g - t) - limit
    if abs(gap) > 1e-9 * max(abs(g), abs(t), limit, 1e-300) and np.isfinite(gap):
        return gap < 0
    q = target.q
    if q is not None and not slack:
        gn, gd, qn, qd = given.numerator, given.denominator, q.numerator, q.denominator
        difference = abs(gn * qd - qn * gd)  # |given − q| = difference / (gd·qd)
        if relative is not None:
            return difference * relative.denominator <= relative.numerator * abs(qn) * gd
        if absolute is None:
            return difference == 0
        return difference * absolute.denominator <= absolute.numerator * gd * qd
    v = target.approx
    difference = abs(MP.mpf(given.numerator) / given.denominator - v)
    if relative is not None:
        limit = MP.mpf(relative.numerator) / relative.denominator * abs(v)
    elif absolute is not None:
        limit = MP.mpf(absolute.numerator) / absolute.denominator
    else:
        limit = MP.mpf(0)
    if slack:
        limit += MP.mpf(slack)
    elif not limit:
        # exactness asked for (a fraction, ``exact``) of a value known to ~50 digits and
        # not as a rational (softmax of equal inputs is 1/3 through exp): equal when
        # they agree far beyond any number a person writes
        return difference <= EQUAL_DIGITS_SCALE * max(abs(v), MP.mpf(1))
    return difference <= limit


def agrees_float(given: float, text: str | None, target: float, tolerance: Tolerance,
                 working: int, given_exact: Fraction, slack: float = 0.0) -> bool:
    """A generous float64 screen for :func:`agrees` (confirmed exactly afterwards)."""
    if not np.isfinite(target):
        return False
    absolute, relative = bound(given_exact, text, tolerance, working, target)
    limit = float(absolute or 0) if relative is None else float(relative) * abs(target)
    limit += slack
    return abs(given - target) <= limit * (1 + 1e-6) + 1e-9 * max(1.0, abs(target))


# ============================================================================ rounding


class BallArray(np.lib.mixins.NDArrayOperatorsMixin):
    """How far each value can move when the numbers a student wrote move within their
    rounding: a float64 midpoint ``m``, its first-order sensitivities ``j`` to each
    written number (scaled by that number's half unit, one column each: so shared
    inputs cancel as they should, a(1 − a) is not counted twice), and a remainder ``r``
    for second-order terms and for intermediate values the student may have rounded.
    The rules of :mod:`backcheck.ops` run on it unchanged through numpy's protocols.
    Used only for the slack of "follows from your own answers"; verdicts themselves are
    decided exactly."""

    __array_priority__ = 1000

    def __init__(self, m: Any, j: Any = None, r: Any = 0.0) -> None:
        self.m = m if type(m) is np.ndarray and m.dtype == float else np.asarray(m, dtype=float)
        if j is None:
            j = np.zeros(self.m.shape + (1,))
        self.j = j
        if type(r) is np.ndarray and r.shape == self.m.shape and r.dtype == float:
            self.r = r
        else:
            self.r = np.broadcast_to(np.asarray(r, dtype=float), self.m.shape).copy()

    @staticmethod
    def of(value: Any) -> BallArray:
        if isinstance(value, BallArray):
            return value
        array = np.asarray(value)
        if array.dtype == object:
            array = np.asarray(np.frompyfunc(float, 1, 1)(array), dtype=float) if (
                array.size) else np.zeros(array.shape)
        return BallArray(array)

    @property
    def radius(self) -> np.ndarray:
        return np.abs(self.j).sum(axis=-1) + self.r

    # numpy protocol ------------------------------------------------------------------
    shape = property(lambda self: self.m.shape)
    ndim = property(lambda self: self.m.ndim)
    size = property(lambda self: self.m.size)

    @property
    def T(self) -> BallArray:  # noqa: N802 - numpy's name
        axes = list(reversed(range(self.m.ndim)))
        return BallArray(self.m.T, np.transpose(self._jac(), axes + [self.m.ndim]), self.r.T)

    def _jac(self) -> np.ndarray:
        j = self.j
        if j.shape[:-1] != self.m.shape:
            j = np.broadcast_to(j, self.m.shape + (j.shape[-1],))
        return j

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.m if dtype is None else self.m.astype(dtype)

    def __getitem__(self, index: Any) -> BallArray:
        return BallArray(self.m[index], self._jac()[index], self.r[index])

    def reshape(self, *shape: Any) -> BallArray:
        m = self.m.reshape(*shape)
        j = self._jac()
        return BallArray(m, j.reshape(m.shape + (j.shape[-1],)), self.r.reshape(m.shape))

    def sum(self, axis: Any = None, dtype: Any = None, out: Any = None,
            keepdims: bool = False) -> BallArray:
        j = self._jac()
        if axis is None:
            jsum = j.reshape(-1, j.shape[-1]).sum(axis=0)
            if keepdims:
                jsum = jsum.reshape((1,) * self.m.ndim + (j.shape[-1],))
        else:
            axes = (axis,) if isinstance(axis, int) else tuple(axis)
            axes = tuple(a % self.m.ndim for a in axes)
            jsum = j.sum(axis=axes, keepdims=keepdims)
        return BallArray(self.m.sum(axis=axis, keepdims=keepdims), jsum,
                         self.r.sum(axis=axis, keepdims=keepdims))

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        if func is np.where:
            condition, x, y = args
            x, y = BallArray.of(x), BallArray.of(y)
            condition = np.asarray(condition)
            m = np.where(condition, x.m, y.m)
            xj, yj = x._jac(), y._jac()
            width = max(xj.shape[-1], yj.shape[-1])
            xj = np.broadcast_to(xj, x.m.shape + (width,)) if xj.shape[-1] != width else xj
            yj = np.broadcast_to(yj, y.m.shape + (width,)) if yj.shape[-1] != width else yj
            return BallArray(m, np.where(condition[..., None], xj, yj),
                             np.where(condition, x.r, y.r))
        if func is np.sum:
            return BallArray.of(args[0]).sum(*args[1:], **kwargs)
        if func is np.shape:
            return self.m.shape
        if func is np.ndim:
            return self.m.ndim
        if func is np.reshape:
            return BallArray.of(args[0]).reshape(*args[1:], **kwargs)
        return NotImplemented

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if method != "__call__" or kwargs.get("out") is not None:
            return NotImplemented
        if ufunc in (np.greater, np.greater_equal, np.less, np.less_equal, np.equal,
                     np.not_equal):
            return ufunc(*(BallArray.of(x).m for x in inputs))
        balls = [BallArray.of(x) for x in inputs]
        a = balls[0]
        with np.errstate(all="ignore"):
            if ufunc is np.add:
                b = balls[1]
                return BallArray(a.m + b.m, a.j + b.j, a.r + b.r)
            if ufunc is np.subtract:
                b = balls[1]
                return BallArray(a.m - b.m, a.j - b.j, a.r + b.r)
            if ufunc is np.multiply:
                b = balls[1]
                return BallArray(a.m * b.m, a.j * b.m[..., None] + b.j * a.m[..., None],
                                 np.abs(a.m) * b.r + np.abs(b.m) * a.r + a.radius * b.radius)
            if ufunc is np.true_divide:
                b = balls[1]
                m = a.m / b.m
                tb = b.radius
                room = np.abs(b.m) - tb
                second = np.where(room > 0, tb * (a.radius + np.abs(m) * tb)
                                  / np.where(room > 0, room * np.abs(b.m), 1), np.inf)
                return BallArray(m, (a.j - m[..., None] * b.j) / b.m[..., None],
                                 (a.r + np.abs(m) * b.r) / np.abs(b.m) + second)
            if ufunc is np.matmul:
                b = balls[1]
                aj, bj = a._jac(), b._jac()
                j = (np.moveaxis(a.m @ np.moveaxis(bj, -1, 0), 0, -1)
                     + np.moveaxis(np.moveaxis(aj, -1, 0) @ b.m, 0, -1))
                r = np.abs(a.m) @ b.r + a.r @ np.abs(b.m) + a.radius @ b.radius
                return BallArray(a.m @ b.m, j, r)
            if ufunc is np.negative:
                return BallArray(-a.m, -a.j, a.r)
            if ufunc is np.positive:
                return a
            if ufunc is np.absolute:
                return BallArray(np.abs(a.m), a.j * np.sign(a.m)[..., None], a.r)
            if ufunc is np.power:
                exponent = balls[1].m
                return a.smooth(lambda v: np.power(v, exponent),
                                lambda v: exponent * np.power(v, exponent - 1))
        return NotImplemented

    def smooth(self, f: Any, derivative: Any) -> BallArray:
        """f, its sensitivities by the chain rule, and a remainder bounding the rest
        (f's change over the whole reach, beyond the first-order part)."""
        with np.errstate(all="ignore"):
            m = f(self.m)
            d = derivative(self.m)
            t = self.radius
            spread = np.maximum(np.abs(f(self.m + t) - m), np.abs(f(self.m - t) - m))
            remainder = np.maximum(spread - np.abs(d) * (t - self.r), 0.0)
            remainder = np.where(np.isfinite(remainder), remainder, np.inf)
        return BallArray(m, self.j * d[..., None], remainder)


def _ball_function(f: Any, derivative: Any) -> Any:
    def apply(x: Any) -> BallArray:
        return BallArray.of(x).smooth(f, derivative)

    return apply


def _derivative_of(name: str, function: Any) -> Any:
    """f′ for the ball backend: the record's vjp with g = 1 (run on float64)."""
    from .backends import FLOAT
    from .ops import OPS

    op = OPS.get(name)
    if op is not None and op.elementwise and len(op.vjps) == 1:
        defaults = op.param_defaults()

        def derivative(v: np.ndarray) -> np.ndarray:
            ans = op.forward(FLOAT, v, **defaults)
            return op.vjps[0](FLOAT, np.ones_like(v), ans, v, **defaults)

        return derivative

    def central(v: np.ndarray) -> np.ndarray:
        h = 1e-6 * np.maximum(1.0, np.abs(v))
        return (function(v + h) - function(v - h)) / (2 * h)

    return central


def _safe(f: Any, ok: Any) -> Any:
    return lambda v: f(np.where(ok(v), v, np.nan))


class BallBackend:
    """The backend the rules run on for rounding reach (see :class:`BallArray`)."""

    name = "ball"
    objects = True
    where = staticmethod(np.where)
    exp = staticmethod(_ball_function(lambda v: np.exp(np.minimum(v, 700.0)),
                                      lambda v: np.exp(np.minimum(v, 700.0))))
    log = staticmethod(_ball_function(_safe(np.log, lambda v: v > 0),
                                      _safe(lambda v: 1 / v, lambda v: v > 0)))
    sqrt = staticmethod(_ball_function(_safe(np.sqrt, lambda v: v >= 0),
                                       _safe(lambda v: 0.5 / np.sqrt(v), lambda v: v > 0)))

    @staticmethod
    def sign(x: Any) -> BallArray:
        return BallArray(np.sign(BallArray.of(x).m))

    @staticmethod
    def power(x: Any, y: Any) -> BallArray:
        return np.power(BallArray.of(x), BallArray.of(y))

    @staticmethod
    def matmul(a: Any, b: Any) -> BallArray:
        return np.matmul(BallArray.of(a), BallArray.of(b))

    @staticmethod
    def sum(x: Any, axis: Any = None, keepdims: bool = False) -> BallArray:
        return BallArray.of(x).sum(axis=axis, keepdims=keepdims)

    @staticmethod
    def softmax(x: Any) -> BallArray:
        e = BallBackend.exp(x)
        return e / e.sum(axis=-1, keepdims=True)

    @staticmethod
    def asarray(values: Any) -> BallArray:
        return BallArray.of(values)


def _functions_from_records() -> None:
    """Every other function of the backends (tanh, sigmoid, sin, erf, softplus, …):
    float64's own, its derivative from the op record's vjp (or, for a function no record
    names, a central difference: it only sizes the slack)."""
    from .backends import FloatBackend

    for name in list(vars(FloatBackend)):
        function = getattr(FloatBackend, name)
        if name.startswith("_") or name in vars(BallBackend) or not callable(function):
            continue
        setattr(BallBackend, name, staticmethod(_ball_function(
            function, _derivative_of(name, function))))


_functions_from_records()
BALL = BallBackend()


class LookupRoundingBall(BallBackend):
    """:class:`BallBackend` for diagnosis: every value a person looks up or keys into a
    calculator (σ, tanh, exp, log, √) may come back rounded by ``r``, also inside a
    buggy rule (σ(a) rounded to 3 decimals before σ′(a) = σ(a)(1 − σ(a)))."""

    def __init__(self, r: float) -> None:
        self.r = r

    def _rounded(self, value: BallArray) -> BallArray:
        return BallArray(value.m, value.j, value.r + self.r)

    def sigmoid(self, x: Any) -> BallArray:  # type: ignore[override]
        return self._rounded(BallBackend.sigmoid(x))

    def tanh(self, x: Any) -> BallArray:  # type: ignore[override]
        return self._rounded(BallBackend.tanh(x))

    def exp(self, x: Any) -> BallArray:  # type: ignore[override]
        return self._rounded(BallBackend.exp(x))

    def log(self, x: Any) -> BallArray:  # type: ignore[override]
        return self._rounded(BallBackend.log(x))

    def sqrt(self, x: Any) -> BallArray:  # type: ignore[override]
        return self._rounded(BallBackend.sqrt(x))


def _widened(rule: Any, r: float) -> Any:
    def widened(B: Any, *args: Any, **kwargs: Any) -> Any:
        out = BallArray.of(rule(B, *args, **kwargs))
        scaled = out.m / (2 * r)
        short = (out.radius == 0) & (np.abs(scaled - np.round(scaled))
                                     < 1e-9 * np.maximum(1.0, np.abs(scaled)))
        return BallArray(out.m, out.j, np.where(short, out.r, out.r + r))

    return widened


def _rounding_swaps(graph: Any, r: float, answered: set[tuple[str, int]] = frozenset()) -> dict:
    """Every node's rules, with the result widened by ``r``: the student may have
    rounded any value or gradient they did not write down to the sheet's precision.
    ``answered`` holds ("value"|"grad", node) for what they did write (not widened:
    those numbers are taken as written, with their own rounding)."""
    from .ops import OPS

    swaps: dict = {}
    for node in graph.nodes:
        if node.is_leaf:
            continue
        op = OPS[node.op]
        entry: dict = {}
        if ("value", node.id) not in answered:
            entry["forward"] = _widened(op.forward, r)
        for k in range(len(node.inputs)):
            if ("grad", node.inputs[k]) not in answered:
                entry[k] = _widened(op.vjp(k), r)
        if entry:
            swaps[node.id] = entry
    return swaps




# ============================================================================ results


@dataclass
class Item:
    """One answered element and its verdict."""

    quantity: str
    flat: int  # position in the quantity, flat, layout order
    index: tuple[int, ...]  # 1-based, in the problem's layout; () for a scalar
    expected: Exact
    given: Fraction | None
    text: str | None  # as written
    tolerance: Tolerance = AUTO
    verdict: str = ""
    diagnosis: str | None = None
    mistake: str | None = None
    cause: str | None = None  # carried: the nearest earlier answer it follows from
    origin: str | None = None  # carried: the original slip
    follows: Any = None  # what follows from the student's own earlier answers
    mistake_code: str | None = None  # the named mistake's stable code at its variant

    @property
    def code(self) -> str | None:
        """A stable code for the verdict's diagnosis, for gradebooks and analytics: the
        mistake's code (``relu-mask-missing``, ``transposed``, …), ``carried``,
        ``wrong-shape`` or ``unexplained``; None for correct and missing entries."""
        if self.verdict in ("correct", "missing", ""):
            return None
        if self.mistake_code is not None:
            return self.mistake_code
        if self.mistake is not None and self.mistake in BY_NAME:
            return BY_NAME[self.mistake].code_for()
        if self.verdict == "carried":
            return "carried"
        if self.diagnosis and ", but it is " in self.diagnosis and "you wrote" in self.diagnosis:
            return "wrong-shape"
        return "unexplained"

    @property
    def element(self) -> str:
        if not self.index:
            return self.quantity
        return f"{self.quantity}[{','.join(map(str, self.index))}]"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.quantity,
            "index": list(self.index),
            "element": self.element,
            "expected": float(self.expected),
            "given": None if self.given is None else float(self.given),
            "written": self.text,
            "verdict": self.verdict,
            "diagnosis": self.diagnosis,
            "mistake": self.mistake,
            "code": self.code,
            "cause": self.cause,
            "origin": self.origin,
            "exact": _exact_text(self.expected),
        }


def _exact_text(value: Exact) -> str:
    if value.q is not None:
        return str(value.q)
    return "≈" + value.nstr(20)


@dataclass
class QuantityResult:
    name: str
    quantity: Quantity
    items: list[Item]
    written_as: str  # the key as the student wrote it
    finding: str | None = None  # one finding for the whole answer (its shape)

    def count(self, verdict: str) -> int:
        return sum(1 for item in self.items if item.verdict == verdict)


@dataclass
class Report:
    """The graded sheet (or, with ``error``, why it could not be graded)."""

    sheet: str
    problem_file: str | None = None
    title: str | None = None
    student: str | None = None
    results: list[QuantityResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: BackcheckError | None = None
    order: dict[str, int] = field(default_factory=dict, repr=False)  # working order
    points: Any = field(default=None, repr=False)  # the sheet's own points: (scoring.py)

    @property
    def items(self) -> list[Item]:
        return [item for result in self.results for item in result.items]

    @property
    def counts(self) -> dict[str, int]:
        counts = Counter(item.verdict for item in self.items)
        return {verdict: counts.get(verdict, 0) for verdict in VERDICTS}

    @property
    def total(self) -> int:
        return len(self.items)

    @property
    def ok(self) -> bool:
        return self.error is None and not (self.counts["carried"] or self.counts["wrong"])

    @property
    def exit_code(self) -> int:
        if self.error is not None:
            return 2
        return 0 if self.ok else 1

    @property
    def first(self) -> Item | None:
        """The entry to look at first: the earliest slip, in the order the work is done
        (forward pass, then backward from the loss, then the update)."""
        for verdict in ("wrong", "carried"):
            found = [item for item in self.items if item.verdict == verdict]
            if found:
                return min(found, key=lambda item: (self.order.get(item.quantity, 0),
                                                    item.flat))
        return None

    def summary(self) -> str:
        if self.error is not None:
            return f"not graded: {self.error.message}"
        c = self.counts
        parts = [f"{c['correct']}/{self.total} correct"]
        for verdict in ("carried", "wrong", "missing"):
            if c[verdict]:
                parts.append(f"{c[verdict]} {verdict}")
        return " · ".join(parts)

    def to_json(self) -> dict[str, Any]:
        if self.error is not None:
            return {"sheet": self.sheet, "error": str(self.error)}
        c = self.counts
        first = self.first
        return {
            "sheet": self.sheet,
            "problem": self.problem_file,
            "student": self.student,
            "correct": c["correct"],
            "carried": c["carried"],
            "wrong": c["wrong"],
            "missing": c["missing"],
            "total": self.total,
            "first": None if first is None else first.element,
            "items": [item.to_json() for item in self.items],
            "findings": {r.name: r.finding for r in self.results if r.finding},
            "notes": list(self.notes),
        }

    def __repr__(self) -> str:
        return f"<Report {self.sheet}: {self.summary()}>"

    def _repr_html_(self) -> str | None:
        """A table in Jupyter (element, exact, yours, verdict, diagnosis), drawn by the
        render layer (``backcheck.display``)."""
        from .display import html

        return html(self)


# ============================================================================ problems


class ProblemContext:
    """A problem solved once, with its buggy-rule evaluations cached."""

    def __init__(self, problem: Problem, solution: Solution | None = None) -> None:
        self.problem = problem
        self.solution = solution or solve(problem)
        self.graph = self.solution.graph
        self.structure = Structure.of(self.graph)
        if self.solution.exact_evaluation is not None:
            self.structure.values = self.solution.exact_evaluation.values
        if self.solution.exact_evaluation is None:
            raise BackcheckError("verify needs the exact solution", file=problem.file)
        self.truth = Base(self.graph, self.solution.exact_evaluation, "truth")
        self.truth_flat = {name: self.truth.flat(name) for name in self.graph.quantities}
        self.truth_float = {name: [float(v) for v in values]
                            for name, values in self.truth_flat.items()}
        self.indices = {name: [_layout_index(q, i) for i in range(len(self.truth_flat[name]))]
                        for name, q in self.graph.quantities.items()}
        self.variants = variants(self.graph, self.structure)
        self.large = int(getattr(problem, "exact_work", 0) or 0) > LARGE_WORK
        self.boundary = _log_boundary(self.graph)
        self.loss_swaps = _zero_weight_swaps(self.graph)
        self.fused = _fused_output(self.graph)
        self._buggy: dict[str, Base | None] = {}
        self._buggy_float: dict[str, Base | None] = {}
        self._truth_float_base: Base | None = None
        self._transformed: dict[tuple[str, str], list[Any] | None] = {}

    def buggy(self, variant: Variant, name: str) -> list[Any] | None:
        """What ``variant`` gives for quantity ``name`` when worked from the truth."""
        if variant.transform is not None:
            key = (variant.key, name)
            if key not in self._transformed:
                self._transformed[key] = variant.transform(self.graph.quantities[name],
                                                           self.truth)
            return self._transformed[key]
        if variant.key not in self._buggy:
            self._buggy[variant.key] = _run(self.graph, EXACT, {},
                                            variant.swaps(self.truth), "truth")
        base = self._buggy[variant.key]
        return None if base is None else base.flat(name)

    def has_buggy(self, variant: Variant) -> bool:
        """Has ``variant`` already been worked exactly from the truth (cached)?"""
        return variant.transform is not None or variant.key in self._buggy

    def buggy_float(self, variant: Variant, name: str) -> list[Any] | None:
        """:meth:`buggy` in float64 (a cheap screen for large problems)."""
        if variant.transform is not None:
            return self.buggy(variant, name)
        if variant.key not in self._buggy_float:
            if self._truth_float_base is None:
                self._truth_float_base = Base(self.graph, self.solution.float_evaluation,
                                              "truth")
            try:
                swaps = variant.swaps(self._truth_float_base)  # type: ignore[misc]
            except (ArithmeticError, ValueError, KeyError, IndexError, TypeError):
                swaps = None
            self._buggy_float[variant.key] = None if swaps is None else _run(
                self.graph, FLOAT, {}, swaps, "truth")
        base = self._buggy_float[variant.key]
        return None if base is None else base.flat(name)


#: a probability written 0 (or 1) where the target gives its log no weight stands, in
#: evaluations from the student's own numbers, for this far from the boundary: the
#: 0·log 0 = 0 of cross-entropy and BCE, with every rule of the op table unchanged (the
#: difference, 1e-60, is far below any precision a sheet is written to)
BOUNDARY_NUDGE = Fraction(1, 10**60)


def _log_boundary(graph: Any) -> tuple[str, list[Any], bool] | None:
    """(the loss's input quantity, the target flat, does 1 count as a boundary too) for
    losses with a log of the probability (cross-entropy, BCE); None otherwise."""
    loss = graph.nodes[graph.output]
    if loss.op != "loss" or loss.attrs.get("kind") not in ("cross_entropy", "bce"):
        return None
    prediction, target = loss.inputs[0], loss.inputs[1]
    names = [name for name, q in graph.quantities.items()
             if q.kind == "value" and q.node == prediction]
    if not names:
        return None
    if target not in graph.leaves:
        return None
    flat = list(np.ravel(np.asarray(graph.leaves[target], dtype=object)))
    return names[0], flat, loss.attrs["kind"] == "bce"


def _zero_weight_swaps(graph: Any) -> dict:
    """Cross-entropy as a person works it: −Σ t·log p over the classes with t ≠ 0 only
    (0·log p = 0, whatever the student wrote for p there); BCE with 0/1 targets as
    −log p or −log(1 − p) per class, the other log never taken. The op table's own loss
    rules (p read as 1 where the target is 0; BCE through the cross-entropy record), for
    evaluations from the student's numbers."""
    from .ops import OPS

    loss = graph.nodes[graph.output]
    if loss.op != "loss" or loss.attrs.get("kind") not in ("cross_entropy", "bce"):
        return {}
    op = OPS[loss.op]
    forward, vjp = op.forward, op.vjps[0]
    if loss.attrs["kind"] == "bce":
        # binary targets: each class is −log p (t = 1) or −log(1 − p) (t = 0), the
        # cross-entropy record at p or at 1 − p; the other log never enters
        target = np.ravel(np.asarray(graph.leaves.get(loss.inputs[1]), dtype=object))
        if not all(v in (0, 1) for v in target):
            return {}

        def side(B: Any, p: Any, t: Any) -> Any:
            ones = np.asarray(t == 1, dtype=bool)
            return ones, B.asarray(np.where(ones, p, 1 - p)), B.asarray(np.where(ones, t, 1 - t))

        def bce_forward(B: Any, p: Any, t: Any, **kw: Any) -> Any:
            _, q, ones = side(B, p, t)
            return forward(B, q, ones, **{**kw, "kind": "cross_entropy"})

        def bce_vjp(B: Any, g: Any, ans: Any, p: Any, t: Any, **kw: Any) -> Any:
            mask, q, ones = side(B, p, t)
            d = vjp(B, g, ans, q, ones, **{**kw, "kind": "cross_entropy"})
            return B.asarray(np.where(mask, d, -d))

        return {loss.id: {"forward": bce_forward, 0: bce_vjp}}

    def masked(p: Any, t: Any) -> Any:
        return np.where(np.asarray(t == 0, dtype=bool), 1, p)

    return {loss.id: {
        "forward": lambda B, p, t, **kw: forward(B, B.asarray(masked(p, t)), t, **kw),
        0: lambda B, g, ans, p, t, **kw: vjp(B, g, ans, B.asarray(masked(p, t)), t, **kw)}}


def _fused_output(graph: Any) -> tuple[str, str] | None:
    """(dL/dzN, dL/daN) when the last activation and the loss are the pair taught as one
    step (softmax + cross-entropy, sigmoid + BCE: dL/dzN = (aN − t)/N)."""
    loss = graph.nodes[graph.output]
    if loss.op != "loss":
        return None
    activation = graph.nodes[loss.inputs[0]]
    from .ops import LOSSES

    record = LOSSES.get(loss.attrs.get("kind", ""))
    if record is None or record.cancels_with != activation.op or not activation.inputs:
        return None
    source = graph.nodes[activation.inputs[0]]
    by_node = {(q.kind, q.node): name for name, q in graph.quantities.items()}
    dz = by_node.get(("grad", source.id))
    da = by_node.get(("grad", activation.id))
    return (dz, da) if dz is not None and da is not None else None


def _run(graph: Any, backend: Any, overrides: dict, swaps: dict, origin: str) -> Base | None:
    try:
        with np.errstate(all="ignore"):
            return Base(graph, evaluate(graph, backend, overrides=overrides, swaps=swaps), origin)
    except (EvaluationError, ArithmeticError, ValueError, TypeError, IndexError):
        return None


class Grader:
    """Grades sheets; solves each distinct problem once (keyed by its real path)."""

    def __init__(self) -> None:
        self._contexts: dict[str, ProblemContext | BackcheckError] = {}

    def context(self, path: str, document: Document | None = None) -> ProblemContext:
        key = os.path.realpath(path)
        cached = self._contexts.get(key)
        if cached is None:
            try:
                doc = document if document is not None else load_yaml(path)
                problem = problem_from_document(doc)
                if getattr(problem, "symbols", None):  # FORMAT §8: numbers at at:
                    from .formulas import numeric_point

                    cached = ProblemContext(numeric_point(problem))
                    cached.written = problem  # type: ignore[attr-defined]
                else:
                    cached = ProblemContext(problem)
            except BackcheckError as error:
                cached = error
            self._contexts[key] = cached
        if isinstance(cached, BackcheckError):
            raise cached
        return cached

    def grade(self, path: str) -> Report:
        """Grade one sheet; a problem with it raises :class:`BackcheckError`."""
        return _grade_sheet(self, str(path))

    def grade_or_error(self, path: str) -> Report:
        """Grade one sheet; a problem with it becomes ``report.error`` (class runs)."""
        try:
            return self.grade(path)
        except BackcheckError as error:
            return Report(sheet=str(path), error=error)
        except (RecursionError, MemoryError):
            return Report(sheet=str(path), error=BackcheckError(
                "the input is too deeply nested or too large to process", file=str(path)))
        except Exception as error:  # noqa: BLE001 - one sheet never stops a class run
            return Report(sheet=str(path), error=BackcheckError(
                f"could not be graded: internal error ({type(error).__name__}: {error}); "
                "this is a bug in backcheck", file=str(path)))


def verify(sheet_path: str, *, grader: Grader | None = None) -> Report:
    """Grade one answers file (or a problem file with ``answers:``)."""
    return (grader or Grader()).grade(str(sheet_path))


# ============================================================================ sheets


@dataclass
class Entry:
    """One answered quantity: the student's numbers, flat in the problem's layout."""

    name: str
    quantity: Quantity
    written_as: str
    path: tuple
    given: list[Fraction | None]
    texts: list[str | None]
    answered: list[bool]
    tolerances: list[Tolerance]
    finding: str | None = None
    finding_mistake: str | None = None
    unreadable: bool = False  # wrong shape, not mapped: graded wrong, not carried forward


def _grade_sheet(grader: Grader, path: str) -> Report:
    doc = load_yaml(path)
    data = doc.data
    if not isinstance(data, dict):
        raise doc.error("expected an answers file: a mapping with problem: and answers:")
    report = Report(sheet=path)
    if "problem" in data:
        _check_keys(doc, data, SHEET_KEYS, (), "an answers file")
        reference = data["problem"]
        if not isinstance(reference, str) or not reference.strip():
            raise doc.error("problem: must be the path of a problem file, relative to this "
                            "file", ("problem",))
        if "\x00" in reference:
            raise doc.error("problem: a file name cannot contain a NUL byte", ("problem",))
        problem_path = os.path.normpath(
            os.path.join(os.path.dirname(os.path.abspath(path)), reference.strip()))
        if os.path.realpath(problem_path) == os.path.realpath(path):
            raise doc.error("problem: points to this answers file itself", ("problem",),
                            hint="give the path of the problem file (net.yaml), relative to "
                                 "this file")
        if not os.path.lexists(problem_path):  # a dangling link or a loop: read_text says
            raise doc.error(f"problem file {reference!r} not found (looked for {problem_path})",
                            ("problem",))
        if os.path.isdir(problem_path):
            raise doc.error(f"problem: {reference!r} is a directory, not a problem file",
                            ("problem",))
        try:
            ctx = grader.context(problem_path)
        except BackcheckError as error:
            if error.hint is None:
                mark = doc.mark(("problem",))
                where = f"{path}:{mark.line}" if mark else path
                error.hint = f"the problem of the answers file {where}"
            raise
        answers = data.get("answers")
        answers_path: tuple = ("answers",)
        sheet_tolerance = parse_tolerance(doc, data.get("tolerance"), ("tolerance",))
        tolerances_spec = data.get("tolerances")
        tolerances_path: tuple = ("tolerances",)
        student = data.get("student")
        report.title = data.get("title") if isinstance(data.get("title"), str) else None
        if data.get("points") is not None:
            from .scoring import read_points

            report.points = read_points(doc, data["points"], ("points",))
    elif "layers" in data or "steps" in data or "values" in data:
        ctx = grader.context(path, doc)
        answers = data.get("answers")
        answers_path = ("answers",)
        if answers is None:
            raise doc.error("this problem file has no answers: to grade, add answers: to it, "
                            "or write an answers file", hint="an answers file: problem: "
                            f"{os.path.basename(path)}, then answers: with your numbers")
        sheet_tolerance, tolerances_spec, tolerances_path = AUTO, None, ("answers", "tolerances")
        if isinstance(answers, dict):
            answers = dict(answers)
            known = ctx.graph.quantities
            if "tolerance" in answers and "tolerance" not in known:
                sheet_tolerance = parse_tolerance(doc, answers.pop("tolerance"),
                                                  ("answers", "tolerance"))
            if "tolerances" in answers and "tolerances" not in known:
                tolerances_spec = answers.pop("tolerances")
        student = None
        report.title = ctx.problem.title
    else:
        raise doc.error("not an answers file: expected problem: (the problem file) and "
                        "answers:", hint="see FORMAT.md §4; a problem file with answers: "
                                         "can be verified directly")
    if answers is None:
        raise doc.error("missing key 'answers' (the numbers you worked out)")
    if not isinstance(answers, dict) or not answers:
        raise doc.error("answers: must be a mapping of quantity names to numbers, "
                        "e.g. z1: [5, -1, 2]", answers_path)
    report.problem_file = ctx.problem.file
    report.student = student if isinstance(student, (str, Fraction)) else None
    if isinstance(report.student, Fraction):
        report.student = doc.texts.get(("student",))
    from .formulas import is_formula_value

    formulas = {k: v for k, v in answers.items() if is_formula_value(v)}
    if formulas:  # FORMAT §8: graded as functions of the inputs (backcheck.formulas)
        answers = {k: v for k, v in answers.items() if k not in formulas}
    entries = _read_answers(doc, ctx, answers, answers_path, sheet_tolerance,
                            tolerances_spec, tolerances_path)
    report.results, report.notes = _grade(ctx, entries, _working_decimals(entries, ctx))
    if formulas:
        from .formulas import grade_sheet_formulas

        report.results = report.results + grade_sheet_formulas(ctx, doc, formulas,
                                                               answers_path)
    report.order = ctx.structure.position
    return report


def _read_number(doc: Document, value: Any, path: tuple) -> tuple[Fraction | None, str | None]:
    if value is None:
        return None, None
    if isinstance(value, Fraction):
        return value, doc.texts.get(path)
    if isinstance(value, str):
        text = value.strip().replace("−", "-").replace("–", "-")
        try:
            number = parse_number_text(text)
        except BackcheckError as error:
            raise error.located(doc.file, doc.mark(path)) from None
        if number is not None:
            return number, text
        from .literals import not_a_number_reason

        found = not_a_number_reason(value) or quoted(value)
        raise doc.error(f"expected a number, found {found}", path,
                        hint="write numbers as 0.25, -1, 1e-3 or \"1/3\"; ~ for not attempted")
    if isinstance(value, bool):
        raise doc.error(f"expected a number, found {str(value).lower()}", path)
    raise doc.error("expected a number, found a mapping", path)


def _read_array(doc: Document, value: Any, path: tuple) -> tuple[np.ndarray, np.ndarray]:
    """Nested lists of numbers → (object array of Fraction/None, array of texts)."""
    if not isinstance(value, list):
        number, text = _read_number(doc, value, path)
        return np.array(number, dtype=object), np.array(text, dtype=object)
    if not value:
        raise doc.error("an empty list: write the numbers, or ~ for not attempted", path)
    if all(isinstance(v, list) for v in value):
        rows = [_read_array(doc, v, path + (i,)) for i, v in enumerate(value)]
        shapes = {r[0].shape for r in rows}
        if len(shapes) != 1:
            lengths = [r[0].shape[0] if r[0].ndim else 1 for r in rows]
            raise doc.error(f"ragged: the rows have {', '.join(map(str, lengths))} entries",
                            path)
        given = np.empty((len(rows),) + rows[0][0].shape, dtype=object)
        texts = np.empty(given.shape, dtype=object)
        for i, (g, t) in enumerate(rows):
            given[i] = g
            texts[i] = t
        return given, texts
    if any(isinstance(v, list) for v in value):
        raise doc.error("mixes numbers and lists: write a vector [1, 2] or rows [[1, 2], "
                        "[3, 4]]", path)
    given = np.empty(len(value), dtype=object)
    texts = np.empty(len(value), dtype=object)
    for i, v in enumerate(value):
        given[i], texts[i] = _read_number(doc, v, path + (i,))
    return given, texts


def _squeezed(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(s for s in shape if s != 1)


def _written_shape(shape: tuple[int, ...]) -> str:
    if not shape:
        return "one number"
    if len(shape) == 1:
        return f"a list of {shape[0]} number{'s' if shape[0] != 1 else ''}"
    return " × ".join(map(str, shape))


def _shape_text(shape: tuple[int, ...]) -> str:
    return "one number" if not shape else " × ".join(map(str, shape))


def _read_answers(doc: Document, ctx: ProblemContext, answers: dict, answers_path: tuple,
                  sheet_tolerance: Tolerance, tolerances_spec: Any,
                  tolerances_path: tuple) -> list[Entry]:
    from .names import answer_name

    graph = ctx.graph
    per_name: dict[str, Tolerance] = {}
    per_element: dict[tuple[str, int], Tolerance] = {}
    if tolerances_spec is not None:
        if not isinstance(tolerances_spec, dict):
            raise doc.error("tolerances: must map quantity names to tolerances, e.g. "
                            "{dL/dW1: {abs: 0.01}}", tolerances_path)
        for key, spec in tolerances_spec.items():
            where = tolerances_path + (key,)
            try:
                name, index = answer_name(str(key), graph)
            except BackcheckError as error:
                raise error.located(doc.file, doc.mark(where)) from None
            tolerance = parse_tolerance(doc, spec, where)
            if index is None:
                per_name[name] = tolerance
            else:
                per_element[(name, _flat_index(doc, graph.quantities[name], index, where))] = (
                    tolerance)

    entries: dict[str, Entry] = {}
    for key, value in answers.items():
        path = answers_path + (key,)
        tolerance = None
        if isinstance(value, dict):
            extra = [k for k in value if k not in ("value", "tolerance")]
            if extra or "value" not in value:
                raise doc.error(
                    "an answer is a number, a list, or {value: ..., tolerance: ...}"
                    + (f"; unknown key {extra[0]!r}" if extra else "; value: is missing"), path)
            tolerance = parse_tolerance(doc, value.get("tolerance"), path + ("tolerance",))
            value = value["value"]
            path = path + ("value",)
        try:
            name, index = answer_name(str(key), graph, scalar=not isinstance(value, list))
        except BackcheckError as error:
            raise error.located(doc.file, doc.mark(answers_path + (key,))) from None
        quantity = graph.quantities[name]
        entry = entries.get(name)
        if entry is None:
            size = int(np.prod(quantity.shape)) if quantity.shape else 1
            default = per_name.get(name, sheet_tolerance)
            entry = Entry(name, quantity, str(key), path, [None] * size, [None] * size,
                          [False] * size, [default] * size)
            entries[name] = entry
        if index is not None:
            if isinstance(value, list):
                raise doc.error(f"{key} is one element: give one number", path)
            flat = _flat_index(doc, quantity, index, answers_path + (key,))
            if entry.answered[flat]:
                raise doc.error(f"{_element_name(name, quantity, flat)} is answered twice",
                                answers_path + (key,))
            given, text = _read_number(doc, value, path)
            entry.given[flat], entry.texts[flat], entry.answered[flat] = given, text, True
            if tolerance is not None:
                entry.tolerances[flat] = tolerance
            continue
        if any(entry.answered):
            raise doc.error(f"{name} is answered twice (also as {entry.written_as})",
                            answers_path + (key,))
        entry.written_as, entry.path = str(key), path
        if value is None:  # the whole quantity not attempted
            entry.answered = [True] * len(entry.given)
            continue
        given, texts = _read_array(doc, value, path)
        _fit(ctx, entry, given, texts, entries)
        if tolerance is not None:
            entry.tolerances = [tolerance] * len(entry.given)
    for entry in entries.values():
        for (name, flat), tolerance in per_element.items():
            if name == entry.name:
                entry.tolerances[flat] = tolerance
    return list(entries.values())  # in the order the sheet gives them


def _flat_index(doc: Document, quantity: Quantity, index: tuple[int, ...], path: tuple) -> int:
    shape = quantity.shape
    dims = list(range(len(shape)))
    if len(index) != len(shape):
        dims = [d for d in dims if shape[d] != 1]
        if len(index) != len(dims):
            example = f"{quantity.name}[{','.join('1' * len(shape))}]"
            raise doc.error(f"{quantity.name} is {_shape_text(shape)}: an element needs "
                            f"{len(shape)} indices, e.g. {example}", path)
    full = [0] * len(shape)
    for d, i in zip(dims, index, strict=True):
        if not 1 <= i <= shape[d]:
            raise doc.error(f"index {i} is outside {quantity.name} ({_shape_text(shape)}; "
                            f"indices start at 1)", path)
        full[d] = i - 1
    return int(np.ravel_multi_index(full, shape)) if shape else 0


def _element_name(name: str, quantity: Quantity, flat: int) -> str:
    if not quantity.shape:
        return name
    index = np.unravel_index(flat, quantity.shape)
    return f"{name}[{','.join(str(int(i) + 1) for i in index)}]"


def _fit(ctx: ProblemContext, entry: Entry, given: np.ndarray, texts: np.ndarray,
         entries: dict[str, Entry]) -> None:
    """Put a whole answer into the quantity's layout, or record one finding about its
    shape (naming the transpose, or a known mistake, when that is what it is)."""
    q = entry.quantity
    size = len(entry.given)
    if given.shape != q.shape and not (given.size == size
                                       and _squeezed(given.shape) == _squeezed(q.shape)):
        theirs = {name: np.asarray(e.given, dtype=object).reshape(e.quantity.shape)
                  for name, e in entries.items() if any(e.answered)}
        for mistake in BY_NAME.values():
            if mistake.shape is None:
                continue
            message = mistake.shape(q, given, ctx.truth, theirs)
            if message is not None:
                entry.finding, entry.finding_mistake = message, mistake.name
                break
        else:
            entry.finding = (f"{q.name}: you wrote {_written_shape(given.shape)}, but it is "
                             f"{_shape_text(q.shape)} ({q.description or q.name})")
        if entry.finding_mistake == "transposed":
            given, texts = given.T, texts.T
        else:
            entry.unreadable = True
            entry.answered = [True] * size
            return
    entry.given = list(given.reshape(-1))
    entry.texts = list(texts.reshape(-1))
    entry.answered = [True] * size


def _working_decimals(entries: list[Entry], ctx: ProblemContext | None = None) -> int:
    """The precision a sheet works to: the number of decimals its rounded answers use
    most often (answers that are exactly the true value, like 0.5, don't count)."""
    counts: Counter[int] = Counter()
    for entry in entries:
        truth = ctx.truth_flat[entry.name] if ctx is not None else None
        for i, text in enumerate(entry.texts):
            if text is None or is_integer_text(text):
                continue
            decimals = written_decimals(text)
            if decimals is None or decimals <= 0:
                continue
            if truth is not None and not entry.unreadable and is_exactly(entry.given[i],
                                                                          truth[i]):
                continue
            counts[decimals] += 1
    if not counts:
        return DEFAULT_WORKING_DECIMALS
    best = max(counts.values())
    return max(d for d, c in counts.items() if c == best)


# ============================================================================ grading


class _Sheet:
    """Per-sheet grading state: the student's numbers as overrides, evaluations."""

    def __init__(self, ctx: ProblemContext, entries: list[Entry], working: int) -> None:
        self.ctx = ctx
        self.graph = ctx.graph
        self.entries = {e.name: e for e in entries}
        self.working = working
        self.items: dict[str, list[Item | None]] = {}
        self.notes: list[str] = []
        self._float_base: Base | None = None
        self._float_perturbed: dict[str, Base | None] = {}
        self._student_buggy: dict[str, Base | None] = {}
        self._float_buggy: dict[str, Base | None] = {}
        # per (variant, quantity), never per entry: grading stays linear in the number
        # of wrong entries (one all-wrong 80 × 80 answer is 6,400 of them)
        self._student_transformed: dict[tuple[str, str], list[Any] | None] = {}
        self._contradictions: dict[tuple[str, str], bool] = {}
        self._upstream_off: dict[str, bool] = {}
        self._jacobians: dict[str, np.ndarray] = {}
        self._candidates: dict[str, list[str]] = {}
        self._fused: tuple[Base | None, Any] | None = None
        self._fused_columns: list[tuple[str, int, float]] = []
        self._last_columns: list[tuple[str, int, float]] = []
        self._variant_reaches: dict[str, tuple[Base | None, dict]] = {}
        self._by_route: set[int] = set()  # entries that follow by the fused route
        self._cause_summaries: dict[str, tuple[list[Item], str, str, str]] = {}
        self._balls: Base | None | bool = False
        self._radii: dict[str, np.ndarray] = {}
        self._columns: list[tuple[str, int, float]] = []
        self._bounds: dict[int, tuple[Fraction | None, Fraction | None]] = {}
        # exact buggy-rule runs this sheet may still make (budgeted for large problems)
        work = int(getattr(ctx.problem, "exact_work", 0) or 0)
        self._exact_runs_left = (max(1, LARGE_EXACT_BUDGET // max(work, 1))
                                 if LARGE_EXACT_BUDGET > 0 else 0)
        self._skipped: set[int] = set()  # items whose mistake search was cut short

    # ----- overrides -------------------------------------------------------------
    def overrides(self, keep: Any = None, backend: Any = EXACT,
                  replace: dict[str, set[int]] | None = None) -> dict:
        """The student's answers as evaluator overrides. ``keep(name, flat)`` filters
        elements; ``replace`` puts the truth in place of some elements (float screens)."""
        result = {}
        for name, entry in self.entries.items():
            q = entry.quantity
            if q.kind == "update" or entry.unreadable:
                continue
            items = self.items[name]
            mask = np.zeros(len(entry.given), dtype=bool)
            values = np.empty(len(entry.given), dtype=object)
            truth = self.ctx.truth_flat[name]
            swapped = (replace or {}).get(name, set())
            for i, given in enumerate(entry.given):
                if given is None or items[i] is None:
                    continue
                if keep is not None and not keep(name, i):
                    continue
                mask[i] = True
                values[i] = truth[i] if i in swapped else self.usable(name, i, given)
            if not mask.any():
                continue
            if backend is FLOAT:
                values = np.array([0.0 if v is None else float(v) for v in values])
            else:
                values = np.array([Fraction(0) if v is None else v for v in values],
                                  dtype=object)
            result[(q.kind, q.node)] = (q.to_internal(mask), q.to_internal(values))
        return result

    def swaps(self, swaps: dict | None = None) -> dict:
        """Rules for evaluations from the student's numbers: ``swaps`` (a buggy rule)
        over the problem's zero-weight loss rules (:func:`_zero_weight_swaps`)."""
        merged = {node: dict(rules) for node, rules in self.ctx.loss_swaps.items()}
        for node, rules in (swaps or {}).items():
            merged.setdefault(node, {}).update(rules)
        return merged

    def usable(self, name: str, flat: int, given: Fraction) -> Fraction:
        """The student's number as the rules take it: for BCE, a probability of exactly 0
        (or 1) where the target gives its log no weight is moved off the boundary by
        :data:`BOUNDARY_NUDGE` (0·log 0 = 0: the class adds nothing to the loss; for
        cross-entropy :func:`_zero_weight_swaps` does it in the loss rule itself)."""
        boundary = self.ctx.boundary
        if boundary is None or name != boundary[0] or given not in (0, 1) or not boundary[2]:
            return given
        target = boundary[1][flat]
        if given == 0 and target == 0:
            return BOUNDARY_NUDGE
        if given == 1 and target == 1:
            return 1 - BOUNDARY_NUDGE
        return given

    def evaluate(self, overrides: dict, backend: Any = EXACT, swaps: dict | None = None
                 ) -> Base | None:
        """Evaluate with the student's numbers; numbers the rules can't take (log of 0)
        are dropped one node at a time, with a note."""
        overrides = dict(overrides)
        for _ in range(len(overrides) + 1):
            try:
                with np.errstate(all="ignore"):
                    evaluation = evaluate(self.graph, backend, overrides=overrides,
                                          swaps=self.swaps(swaps))
                return Base(self.graph, evaluation, "yours")
            except EvaluationError as error:
                if swaps:
                    return None
                node = error.node
                suspects = {node.id} | self.ctx.structure.ancestors[node.id]
                drop = [k for k in overrides if k[0] == "value" and k[1] in suspects]
                if not drop:
                    drop = list(overrides)
                if not drop:
                    return None
                for key in drop:
                    overrides.pop(key)
                    name = self.graph.nodes[key[1]].name
                    note = (f"{name}: your values cannot be carried forward "
                            f"({error.reason} at {node.name or node.label})")
                    if backend is EXACT and note not in self.notes:
                        self.notes.append(note)
            except (ArithmeticError, ValueError, TypeError, IndexError):
                return None
        return None

    # ----- grading ---------------------------------------------------------------
    def grade(self) -> list[QuantityResult]:
        ctx = self.ctx
        pending: list[Item] = []
        for name, entry in self.entries.items():
            truth = ctx.truth_flat[name]
            floats = ctx.truth_float[name]
            indices = ctx.indices[name]
            row: list[Item | None] = []
            for i, answered in enumerate(entry.answered):
                if not answered:
                    row.append(None)
                    continue
                item = Item(name, i, indices[i], truth[i], entry.given[i], entry.texts[i],
                            entry.tolerances[i])
                if entry.unreadable:
                    item.verdict = "wrong"
                elif item.given is None:
                    item.verdict = "missing"
                elif within(item.given, truth[i], *self.bounds(item, truth[i]),
                            target_float=floats[i]):
                    item.verdict = "correct"
                else:
                    pending.append(item)
                row.append(item)
            self.items[name] = row
        if pending:
            self._carry_forward(pending)
        results = []
        for name, entry in self.entries.items():
            items = [item for item in self.items[name] if item is not None]
            if entry.finding:
                self._apply_finding(entry, items)
            results.append(QuantityResult(name, entry.quantity, items, entry.written_as,
                                          entry.finding))
        return results

    def agrees(self, item: Item, target: Any, *, slack: bool = False, reach: Any = None
               ) -> bool:
        """Agreement at the written precision; with ``slack``, also allowing for how far
        the student's own earlier numbers may move within their rounding."""
        if target is None:
            return False
        absolute, relative = self.bounds(item, target)
        if within(item.given, target, absolute, relative):
            return True
        if not slack or item.tolerance.kind == "exact":
            return False
        # far beyond any rounding the student's earlier numbers could account for?
        g, t = float(item.given), float(target)
        limit = float(absolute or 0) if relative is None else float(relative) * abs(t)
        # (rounding moves a value by a few units of the digits written, or by a fair
        # part of itself where it is ill-conditioned, never more: a slack wider than
        # that, from a first-order reach through huge values such as −t/p of a tiny p,
        # would call any number honest)
        near = min(1000 * max(limit, 0.5 * 10.0 ** -self.working),
                   20 * max(limit, 0.5 * 10.0 ** -self.working) + 0.25 * abs(t))
        near += 1e-6 * abs(g)
        if not abs(g - t) <= near:
            return False
        extra = self.radius(item, reach)
        return bool(extra) and within(item.given, target, absolute, relative, extra)

    def bounds(self, item: Item, target: Any) -> tuple[Fraction | None, Fraction | None]:
        if item.tolerance.kind == "sig":
            return bound(item.given, item.text, item.tolerance, self.working, target)
        cached = self._bounds.get(id(item))
        if cached is None:
            cached = bound(item.given, item.text, item.tolerance, self.working, target)
            self._bounds[id(item)] = cached
        return cached

    def half_unit(self, item: Item) -> float:
        """How far the number as written may be from what the student had: half a unit
        in its last written digit (whatever tolerance the marker grades it with); none
        for a number that is exactly the true value (nothing was rounded)."""
        if is_exactly(item.given, item.expected):
            return 0.0
        absolute, _ = bound(item.given, item.text, AUTO, self.working, item.expected)
        return float(absolute or 0)

    def radius(self, item: Item, reach: Any = None) -> float:
        """First-order reach of the rounding in the student's earlier answers here
        (``reach``: a :meth:`_ball_evaluation` of only some of them, with its radii)."""
        if reach is None:
            if self._balls is False:
                self._balls = self._ball_evaluation()
            balls, cache = self._balls, self._radii
        else:
            balls, cache = reach
        if not isinstance(balls, Base):
            return 0.0
        radii = cache.get(item.quantity)
        if radii is None:
            radii = cache[item.quantity] = np.ravel(
                BallArray.of(balls.internal(item.quantity)).radius)
        r = float(radii[item.flat])
        if not np.isfinite(r) or r <= 0:
            return 0.0
        return r * 1.05 + 1e-15

    def _ball_evaluation(self, correct_only: bool = False, skip: str | None = None,
                         variant: Variant | None = None) -> Base | None:
        """The graph once more, on :class:`BallArray`: every written number gets its own
        column (its half unit), every number not written may have been rounded.

        ``correct_only``: only the answers graded correct are put in (the reach of
        "follows from your correct answers"); an answer that is not right gives no
        allowance, and the value in its place (the truth) is not widened either.
        ``skip``: a quantity left out (its value is computed, as the route that does not
        use it computes it). ``variant``: a buggy rule swapped in, run with values looked
        up inside rules rounded too (:class:`LookupRoundingBall`; for diagnosis only)."""
        columns: list[tuple[str, int, float]] = []
        written: set[tuple[str, int]] = set()
        for name, entry in self.entries.items():
            if entry.quantity.kind == "update":
                continue
            if any(given is not None for given in entry.given):
                written.add((entry.quantity.kind, entry.quantity.node))
            if entry.unreadable or name == skip:
                continue
            for i, item in enumerate(self.items[name]):
                if correct_only and (item is None or item.verdict != "correct"):
                    continue
                if item is not None and item.given is not None:
                    # a tiny scale for exact numbers keeps their column, which also
                    # records what each value rests on (for naming what is carried)
                    half = self.half_unit(item)
                    if self.usable(name, i, item.given) != item.given:
                        half = 0.0  # at the log's boundary: its rounding reaches past it
                    columns.append((name, i, half or 1e-30))
        folded: list[tuple[str, int, float]] = []
        largest = max((int(np.prod(q.internal_shape)) for q in self.graph.quantities.values()),
                      default=1)
        if len(columns) * max(largest, 1) > MAX_BALL_CELLS:
            # too many columns to carry: keep those of answers not (yet) graded correct
            # (what a carried entry may rest on), fold the rest into the remainder
            room = max(MAX_BALL_CELLS // max(largest, 1), 1)
            kept: list[tuple[str, int, float]] = []
            for column in columns:
                item = self.items[column[0]][column[1]]
                if item.verdict != "correct" and len(kept) < room:
                    kept.append(column)
                else:
                    folded.append(column)
            columns = kept
        self._last_columns = columns
        if not correct_only and skip is None and variant is None:
            self._columns = columns
        width = max(len(columns), 1)
        overrides = {}
        start = 0
        for name, entry in self.entries.items():
            q = entry.quantity
            if q.kind == "update" or entry.unreadable or name == skip:
                continue
            size = len(entry.given)
            mask = np.zeros(size, dtype=bool)
            mids = np.zeros(size)
            jac = np.zeros((size, width))
            while start < len(columns) and columns[start][0] == name:
                _, i, half = columns[start]
                mask[i] = True
                mids[i] = float(self.usable(name, i, self.items[name][i].given))
                jac[i, start] = half
                start += 1
            rest = np.zeros(size)
            for other, i, half in folded:
                if other == name:
                    mask[i] = True
                    mids[i] = float(self.usable(name, i, self.items[name][i].given))
                    rest[i] = half
            if mask.any():
                shape = q.internal_shape
                overrides[(q.kind, q.node)] = (
                    q.to_internal(mask),
                    BallArray(q.to_internal(mids), jac.reshape(tuple(shape) + (width,)),
                              q.to_internal(rest) if folded else 0.0))
        exact_in = correct_only or skip is not None
        answered = set(overrides) | written if exact_in else set(overrides)
        r = 0.5 * 10.0 ** -self.working
        swaps = _rounding_swaps(self.graph, r, answered)
        for node, rules in self.ctx.loss_swaps.items():
            for key, rule in rules.items():
                swaps.setdefault(node, {})[key] = (
                    _widened(rule, r) if key in swaps.get(node, {}) else rule)
        backend: Any = BALL
        if variant is not None:
            reference = self._float()
            if reference is None or variant.swaps is None:
                return None
            try:
                buggy = variant.swaps(reference)
            except (ArithmeticError, ValueError, KeyError, IndexError, TypeError):
                return None
            for node, rules in buggy.items():
                entry = swaps.setdefault(node, {})
                for key, rule in rules.items():
                    entry[key] = _widened(rule, r)
            # a looked-up value rounded one digit short of the sheet's precision
            backend = LookupRoundingBall(10 * r)
        return _run(self.graph, backend, overrides, swaps, "yours")

    def _carry_forward(self, pending: list[Item]) -> None:
        base = self.evaluate(self.overrides())
        honest: list[Item] = []
        wrong: list[Item] = []
        for item in pending:
            follows = None if base is None else base.flat(item.quantity)[item.flat]
            item.follows = follows
            if follows is not None and self.agrees(item, follows, slack=True):
                honest.append(item)
            elif self._fused_route(item):
                honest.append(item)
            else:
                wrong.append(item)
        for item in wrong:
            item.verdict = "wrong"
        unresolved = honest
        if wrong:
            # which of the entries that follow from their own answers rest only on
            # correct ones? evaluate with just the correct answers put in, until stable
            while unresolved:
                confirmed = self._rest_on_correct(unresolved)
                if not confirmed:
                    break
                for item in confirmed:
                    item.verdict = "correct"
                unresolved = [item for item in unresolved if item.verdict != "correct"]
        for item in unresolved:
            item.verdict = "carried" if wrong else "correct"
        if any(item.verdict == "carried" for item in honest):
            self._name_causes(base)
        if wrong and base is not None:
            self._diagnose(wrong, base)

    def _fused_route(self, item: Item) -> bool:
        """Softmax + cross-entropy (sigmoid + BCE) as taught: dL/dzN = (aN − t)/N from
        the student's own aN, whatever their dL/daN (wrong, or not written). Tried by
        leaving their dL/daN out: the op table's rules then give exactly that route."""
        fused = self.ctx.fused
        if fused is None or item.quantity != fused[0] or fused[1] not in self.entries:
            return False
        if self._fused is None:
            keep = (lambda name, i: name != fused[1])
            self._fused = (self.evaluate(self.overrides(keep=keep)),
                           (self._ball_evaluation(skip=fused[1]), {}))
            self._fused_columns = self._last_columns
        route, reach = self._fused
        if route is None:
            return False
        value = route.flat(item.quantity)[item.flat]
        if not self.agrees(item, value, slack=True, reach=reach):
            return False
        item.follows = value
        self._by_route.add(id(item))
        return True

    def _rest_on_correct(self, unresolved: list[Item]) -> list[Item]:
        """The entries that also follow when only the correct answers are put in.
        A float64 run decides where its margin is a million times its own error; an
        exact run decides the rest (if any)."""
        keep = (lambda name, i: self.items[name][i].verdict == "correct")
        screen = self.evaluate(self.overrides(keep=keep, backend=FLOAT), FLOAT)
        # the allowance counts the rounding of the correct answers only: a carried
        # input written short must not widen it (issue 9)
        reach = (self._ball_evaluation(correct_only=True), {})
        confirmed: list[Item] = []
        undecided: list[Item] = []
        for item in unresolved:
            decision = None
            if screen is not None:
                value = float(screen.flat(item.quantity)[item.flat])
                decision = self._float_decision(item, value, reach)
                if decision and not self._explained_as_well(item, value):
                    decision = False
            if decision is None:
                undecided.append(item)
            elif decision:
                confirmed.append(item)
        if undecided:
            exact = self.evaluate(self.overrides(keep=keep))
            for item in undecided:
                value = None if exact is None else exact.flat(item.quantity)[item.flat]
                if value is not None and self.agrees(item, value, slack=True, reach=reach) and (
                        self._explained_as_well(item, float(value))):
                    confirmed.append(item)
        return confirmed

    def _explained_as_well(self, item: Item, value: float) -> bool:
        """Does ``value`` (from the correct answers only) explain the entry about as well
        as what follows from all the student's answers? When the answers that are not
        right explain it better, by more than its own rounding, it carries them (even if
        the rounding of the correct ones could also reach it)."""
        if item.follows is None:
            return True
        g = float(item.given)
        absolute, relative = self.bounds(item, item.expected)
        half = float(absolute or 0) if relative is None else float(relative) * abs(value)
        return abs(g - value) <= abs(g - float(item.follows)) + half * (1 + 1e-9)

    def _float_decision(self, item: Item, value: float, reach: Any = None) -> bool | None:
        """True/False when a float64 value settles agreement (with slack) beyond doubt."""
        if not np.isfinite(value):
            return None
        absolute, relative = self.bounds(item, item.expected)
        g = float(item.given)
        limit = float(absolute or 0) if relative is None else float(relative) * abs(value)
        scale = max(abs(g), abs(value), limit, 1e-300)
        gap = abs(g - value) - limit
        if gap <= -1e-9 * scale:
            return True
        slack = self.radius(item, reach) if item.tolerance.kind != "exact" else 0.0
        gap -= slack
        if abs(gap) > 1e-9 * max(scale, slack):
            return gap < 0
        return None

    # ----- carried: which earlier answer --------------------------------------------
    def _float(self) -> Base | None:
        if self._float_base is None:
            self._float_base = self.evaluate(self.overrides(backend=FLOAT), FLOAT)
        return self._float_base

    def _perturbed(self, name: str, only: int | None = None) -> Base | None:
        """Float evaluation with the not-right elements of ``name`` (or just element
        ``only``) put back to the truth: what would change had they been right."""
        key = name if only is None else f"{name}#{only}"
        if key not in self._float_perturbed:
            bad = {i for i, item in enumerate(self.items[name])
                   if item is not None and item.verdict in ("wrong", "carried")}
            if only is not None:
                bad &= {only}
            self._float_perturbed[key] = self.evaluate(
                self.overrides(backend=FLOAT, replace={name: bad}), FLOAT)
        return self._float_perturbed[key]

    def _moves(self, base: Base | None, item: Item, here: float) -> bool:
        if base is None:
            return False
        there = float(base.flat(item.quantity)[item.flat])
        return abs(there - here) > 1e-9 * max(1.0, abs(here))

    def _resting_on(self, item: Item) -> list[tuple[str, int]] | None:
        """The written numbers an entry's value was computed from (first order), read
        off the rounding-reach evaluation's sensitivities."""
        if self._balls is False:
            self._balls = self._ball_evaluation()
        balls, columns, key = self._balls, self._columns, item.quantity
        if id(item) in self._by_route and self._fused is not None:
            balls, columns, key = self._fused[1][0], self._fused_columns, "route:" + key
        if not isinstance(balls, Base):
            return None
        jac = self._jacobians.get(key)
        if jac is None:
            jac = BallArray.of(balls.internal(item.quantity))._jac()
            jac = self._jacobians[key] = jac.reshape(-1, jac.shape[-1])
        row = jac[item.flat]
        return [columns[k][:2] for k in np.flatnonzero(row) if k < len(columns)]

    def _name_causes(self, base: Base | None) -> None:
        structure = self.ctx.structure
        order = sorted(self.entries, key=lambda n: structure.position[n])
        for name in order:
            for item in self.items[name]:
                if item is None or item.verdict != "carried":
                    continue
                culprits: list[Item] = []
                resting = self._resting_on(item)
                if resting is not None:
                    found = [self.items[d][i] for d, i in resting]
                    found = [other for other in found
                             if other is not None and other.verdict in ("wrong", "carried")]
                    if found:
                        nearest = max(structure.position[o.quantity] for o in found)
                        culprits = sorted((o for o in found
                                           if structure.position[o.quantity] == nearest),
                                          key=lambda o: o.flat)
                if culprits:
                    self._describe_carried(item, culprits[0].quantity, culprits)
                    continue
                cause = self._cause_by_perturbation(item)
                if cause is None:
                    item.diagnosis = (f"{item.element}: carried — it follows from your own "
                                      f"earlier answers, some of which are not right")
                    continue
                self._describe_carried(item, cause, [])

    def _cause_by_perturbation(self, item: Item) -> str | None:
        """Fallback: the nearest earlier answer that, put right, moves this entry."""
        structure = self.ctx.structure
        name = item.quantity
        candidates = self._candidates.get(name)
        if candidates is None:  # once per quantity (verdicts are settled by now)
            candidates = self._candidates[name] = sorted(
                (d for d in structure.deps[name] if d in self.entries and any(
                    other is not None and other.verdict in ("wrong", "carried")
                    for other in self.items[d])),
                key=lambda d: -structure.position[d])
        reference = self._float()
        if reference is None:
            return candidates[0] if candidates else None
        here = float(reference.flat(name)[item.flat])
        for candidate in candidates:
            if self._moves(self._perturbed(candidate), item, here):
                return candidate
        return candidates[0] if candidates else None

    def _describe_carried(self, item: Item, cause: str, culprits: list[Item]) -> None:
        if culprits:
            bad, cause_text, item.cause, item.origin = self._summary(culprits)
        else:
            # every not-right entry of ``cause``: the same for each entry resting on it,
            # so summarised once per quantity (linear in the number of carried entries)
            summary = self._cause_summaries.get(cause)
            if summary is None:
                summary = self._cause_summaries[cause] = self._summary(
                    [other for other in self.items[cause]
                     if other is not None and other.verdict in ("wrong", "carried")],
                    cause)
            bad, cause_text, item.cause, item.origin = summary
        text = (f"{item.element}: carried — you wrote {item.text}, which is what follows "
                f"from your own {cause_text}")
        if all(other.verdict == "wrong" for other in bad):
            text += ", which is wrong" if len(bad) == 1 else ", which are wrong"
        else:
            text += f", which carries the slip in your {item.origin}"
        text += f"; the method here is right (the right value is {fmt(item.expected)})."
        item.diagnosis = text

    @staticmethod
    def _summary(bad: list[Item], cause: str | None = None) -> tuple[list[Item], str, str, str]:
        """(the entries, how to name them, ``cause`` and ``origin`` for the item)."""
        if len(bad) == 1:
            cause_text = bad[0].element
        elif len(bad) <= 3:
            cause_text = ", ".join(other.element for other in bad)
        else:
            cause_text = f"{cause or bad[0].quantity} ({len(bad)} entries)"
        origins: list[str] = []
        for other in bad:
            origin = other.element if other.verdict == "wrong" else (other.origin or other.element)
            for part in origin.split(", "):
                if part not in origins:
                    origins.append(part)
                    if len(origins) > 3:
                        break
            if len(origins) > 3:
                break
        cause_names = ", ".join(other.element for other in bad[:8])
        origin = ", ".join(origins[:3]) + (" …" if len(origins) > 3 else "")
        return bad, cause_text, cause_names, origin

    # ----- wrong: which known mistake ------------------------------------------------
    def _diagnose(self, wrong: list[Item], base: Base) -> None:
        """Name the known mistake behind each wrong entry. Within one answer, the
        mistake that explains the most of its wrong entries wins (a transposed matrix is
        transposed everywhere, even where another slip would give the same number)."""
        ctx = self.ctx
        by_quantity: dict[str, list[Item]] = {}
        for item in sorted(wrong, key=lambda it: ctx.structure.position[it.quantity]):
            if not self.entries[item.quantity].unreadable:
                by_quantity.setdefault(item.quantity, []).append(item)
        order = {variant.key: i for i, variant in enumerate(ctx.variants)}
        for items in by_quantity.values():
            found = {id(item): self._explain(item, base) for item in items}
            votes = Counter(f.variant.key for fs in found.values() for f in fs)
            for item in items:
                short = None
                whole = item.text is not None and is_integer_text(item.text)
                if not whole or (not found[id(item)] and item.given != 0):
                    # a whole number may be a slip (0 where a unit is not blocked): then
                    # a known mistake comes first, and 0 is never "short"
                    short = self._too_few_digits(item)
                if short is not None:
                    # right as far as it goes: precision, not arithmetic
                    item.diagnosis, item.mistake_code = short, "too-few-digits"
                    continue
                findings = found[id(item)]
                if not findings:
                    item.diagnosis = self._unexplained(item, id(item) in self._skipped)
                    continue
                best = min(findings, key=lambda f: (-votes[f.variant.key],
                                                    order.get(f.variant.key, 0)))
                item.mistake = best.variant.name
                item.mistake_code = best.variant.code
                item.diagnosis = best.variant.mistake.explain(best)

    def _too_few_digits(self, item: Item) -> str | None:
        """"right to 3 decimals; this sheet asks for 4": a number written to fewer digits
        than the sheet's tolerance asks for, and right to the digits it has (against the
        truth, or what follows from the student's own earlier answers)."""
        text, tolerance = item.text, item.tolerance
        if text is None or item.given is None:
            return None
        written = written_decimals(text)
        if written is None:  # a fraction: exact, never short
            return None
        targets = [(item.expected, "")]
        if item.follows is not None:
            targets.append((item.follows, " (from your own earlier answers)"))
        if tolerance.kind == "sig":
            asked = int(tolerance.amount)  # type: ignore[arg-type]
            digits = _significant_written(text)
            if digits is None or digits >= asked:
                return None
            unit, asks = Tolerance("sig", Fraction(digits)), f"{asked} significant digits"
            right = f"right to {digits} significant digit{'s' if digits != 1 else ''}"
        else:
            asked_decimals = self._asked_decimals(item, text)
            if asked_decimals is None or written >= asked_decimals:
                return None
            unit = Tolerance("abs", _half_unit(written))
            asks = ("the exact value" if asked_decimals == EXACT_DECIMALS
                    else f"{asked_decimals} decimals")
            right = (f"right to {written} decimal{'s' if written != 1 else ''}"
                     if written > 0 else "right as a whole number")
        for target, how in targets:
            absolute, relative = bound(item.given, text, unit, self.working, target)
            if within(item.given, target, absolute, relative):
                return (f"{item.element}: you wrote {text}, {right}{how}; this sheet "
                        f"asks for {asks} ({item.element} = {fmt(item.expected)}).")
        return None

    def _asked_decimals(self, item: Item, text: str) -> int | None:
        """How many decimals the tolerance asks of this entry (None: not a fixed number)."""
        kind, amount = item.tolerance.kind, item.tolerance.amount
        if kind == "auto":
            return self.working if is_integer_text(text) else None
        if kind == "exact":
            return EXACT_DECIMALS
        limit = amount if kind == "abs" else (
            None if amount is None else amount * abs(Fraction(float(item.expected))))
        if not limit:
            return EXACT_DECIMALS
        decimals = 0
        while _half_unit(decimals) > limit and decimals < 40:
            decimals += 1
        return decimals

    def _unexplained(self, item: Item, skipped: bool = False) -> str:
        text = f"{item.element}: you wrote {item.text}; it is {fmt(item.expected)}"
        if item.follows is not None:
            follows = fmt(item.follows)
            if follows != fmt(item.expected):
                text += f", or {follows} from your own earlier answers"
        if skipped:
            return text + f" ({SKIPPED_DIAGNOSIS}: check the arithmetic)."
        return text + " (no known mistake gives your number: check the arithmetic)."

    # ----- the budget of large problems ---------------------------------------------
    def _screened(self, item: Item, values: list[Any] | None) -> bool:
        """A float64 buggy value close enough to the entry to be worth an exact run."""
        if values is None:
            return False
        value = float(values[item.flat])
        return agrees_float(float(item.given), item.text, value, item.tolerance,
                            self.working, item.given,
                            self.radius(item) + 1e-6 * max(1.0, abs(value)))

    def _spend(self, item: Item) -> bool:
        """One exact buggy-rule run on a large problem, if the sheet's budget allows."""
        if self._exact_runs_left <= 0:
            if not self._skipped:
                self.notes.append(f"some wrong entries: {SKIPPED_DIAGNOSIS}.")
            self._skipped.add(id(item))
            return False
        self._exact_runs_left -= 1
        return True

    def _finding(self, item: Item, variant: Variant, buggy: Any, base: Base) -> Finding:
        q = self.graph.quantities[item.quantity]
        right = item.expected if base.origin == "truth" else item.follows
        text = item.text if item.text is not None else fmt(item.given)
        return Finding(variant, q, item.flat, item.element, text, buggy, right, base,
                       self.ctx.structure)

    def _explain(self, item: Item, base: Base) -> list[Finding]:
        ctx = self.ctx
        name = item.quantity
        candidates = [v for v in ctx.variants if name in v.affects]
        found: list[Finding] = []
        for variant in candidates:  # 1. from the truth (cached per problem): every match
            if ctx.large and not ctx.has_buggy(variant):
                # a large problem: an exact run only where float64 says it may match
                if not self._screened(item, ctx.buggy_float(variant, name)):
                    continue
                if not self._spend(item):
                    continue
            values = ctx.buggy(variant, name)
            if values is None or not self.agrees(item, values[item.flat], slack=True):
                continue
            if variant.swaps is not None and self._contradicted(variant, name, ctx):
                continue
            found.append(self._finding(item, variant, values[item.flat], ctx.truth))
        if found or item.follows is None:
            return found
        # 2. from the student's own earlier answers: buggy rules need a run of their own
        # only where an earlier answer of theirs is not right (else 1. has seen it)
        # only where an earlier answer of theirs is not right, or where the rule from the
        # truth came close (their rounding may account for the rest)
        upstream_off = self._is_upstream_off(name)
        absolute, relative = self.bounds(item, item.expected)
        near = 50 * float((absolute or 0) if relative is None else relative * abs(item.given))
        near = max(near, 1e-3 * abs(float(item.given)))
        for variant in candidates:
            if variant.transform is not None:
                values = self._transformed(variant, name, base)
                if values is not None and self.agrees(item, values[item.flat], slack=True):
                    return [self._finding(item, variant, values[item.flat], base)]
                continue
            if not upstream_off:
                if ctx.large and not ctx.has_buggy(variant):
                    values = ctx.buggy_float(variant, name)
                else:
                    values = ctx.buggy(variant, name)
                if values is None or not abs(float(values[item.flat]) - float(item.given)) <= near:
                    continue
            screen = self._float_variant(variant)
            if screen is None:
                continue
            value = float(screen.flat(name)[item.flat])
            reach = None
            if not agrees_float(float(item.given), item.text, value, item.tolerance,
                                self.working, item.given, self.radius(item)):
                # close enough for rounded look-ups inside the rule to account for it?
                looked_up = 5 * 10.0 ** -(self.working - 1)
                if not abs(float(item.given) - value) <= 100 * (near / 50 + looked_up):
                    continue
                reach = self._variant_reach(variant)
                if not agrees_float(float(item.given), item.text, value, item.tolerance,
                                    self.working, item.given, self.radius(item, reach)):
                    continue
            if ctx.large and variant.key not in self._student_buggy and not self._spend(item):
                continue
            exact = self._exact_variant(variant, base)
            if exact is None:
                continue
            buggy = exact.flat(name)[item.flat]
            if self.agrees(item, buggy, slack=True) or (
                    reach is not None and self.agrees(item, buggy, slack=True, reach=reach)):
                return [self._finding(item, variant, buggy, base)]
        return []

    def _variant_reach(self, variant: Variant) -> tuple[Base | None, dict]:
        """The rounding reach of a buggy rule worked from the student's own answers,
        with the values they looked up on the way rounded too (once per variant): a
        diagnosis survives their rounding of intermediates they did not write."""
        if variant.key not in self._variant_reaches:
            self._variant_reaches[variant.key] = (self._ball_evaluation(variant=variant), {})
        return self._variant_reaches[variant.key]

    def _transformed(self, variant: Variant, name: str, base: Base) -> list[Any] | None:
        """A whole-quantity transform of the student's base (once per quantity)."""
        key = (variant.key, name)
        if key not in self._student_transformed:
            self._student_transformed[key] = variant.transform(  # type: ignore[misc]
                self.graph.quantities[name], base)
        return self._student_transformed[key]

    def _is_upstream_off(self, name: str) -> bool:
        """Is any earlier answer that ``name`` rests on not right (once per quantity)?"""
        if name not in self._upstream_off:
            self._upstream_off[name] = any(
                other is not None and other.verdict in ("wrong", "carried")
                for dep in self.ctx.structure.deps[name] if dep in self.items
                for other in self.items[dep])
        return self._upstream_off[name]

    def _contradicted(self, variant: Variant, name: str, ctx: ProblemContext) -> bool:
        """A buggy rule can't explain an entry if an earlier answer it would have changed
        was answered right (the slip would have shown there first). The same for every
        entry of ``name``: decided once per (variant, quantity)."""
        key = (variant.key, name)
        if key not in self._contradictions:
            self._contradictions[key] = self._contradicted_uncached(variant, name, ctx)
        return self._contradictions[key]

    def _contradicted_uncached(self, variant: Variant, name: str, ctx: ProblemContext
                               ) -> bool:
        for dep in ctx.structure.deps[name] & variant.affects:
            items = self.items.get(dep)
            if not items:
                continue
            values = ctx.buggy(variant, dep)
            if values is None:
                continue
            for other in items:
                if other is not None and other.verdict == "correct" and not self.agrees(
                        other, values[other.flat]):
                    return True
        return False

    def _float_variant(self, variant: Variant) -> Base | None:
        if variant.key not in self._float_buggy:
            reference = self._float()
            result = None
            if reference is not None:
                overrides = self.overrides(backend=FLOAT)
                try:
                    swaps = variant.swaps(reference)  # type: ignore[misc]
                except (ArithmeticError, ValueError, KeyError, IndexError):
                    swaps = None
                if swaps is not None:
                    result = _run(self.graph, FLOAT, overrides, self.swaps(swaps), "yours")
            self._float_buggy[variant.key] = result
        return self._float_buggy[variant.key]

    def _exact_variant(self, variant: Variant, base: Base) -> Base | None:
        if variant.key not in self._student_buggy:
            try:
                swaps = variant.swaps(base)  # type: ignore[misc]
            except (ArithmeticError, ValueError, KeyError, IndexError):
                swaps = None
            self._student_buggy[variant.key] = None if swaps is None else _run(
                self.graph, EXACT, self.overrides(), self.swaps(swaps), "yours")
        return self._student_buggy[variant.key]

    # ----- whole-answer findings ----------------------------------------------------
    def _apply_finding(self, entry: Entry, items: list[Item]) -> None:
        for item in items:
            if item.verdict == "missing":
                continue
            own = item.diagnosis
            if entry.unreadable:
                item.verdict = "wrong"
                item.diagnosis = entry.finding
            elif item.verdict in ("correct", "carried"):
                item.verdict = "wrong"
                item.diagnosis = entry.finding
            else:
                item.diagnosis = entry.finding + (f" Also: {own}" if own else "")
            if entry.finding_mistake:
                item.mistake, item.mistake_code = entry.finding_mistake, None


#: "asks for the exact value" (more decimals than any written number has)
EXACT_DECIMALS = 10**6


def _significant_written(text: str) -> int | None:
    """Significant digits a decimal number is written with (``0.0450`` → 3, ``12`` → 2)."""
    mantissa = text.strip().lstrip("+-").lower().split("e")[0]
    digits = mantissa.replace(".", "").lstrip("0")
    if "." not in mantissa:
        digits = digits.rstrip("0") or digits
    return len(digits) or None


def _layout_index(quantity: Quantity, flat: int) -> tuple[int, ...]:
    if not quantity.shape:
        return ()
    return tuple(int(i) + 1 for i in np.unravel_index(flat, quantity.shape))


def _grade(ctx: ProblemContext, entries: list[Entry], working: int
           ) -> tuple[list[QuantityResult], list[str]]:
    sheet = _Sheet(ctx, entries, working)
    results = sheet.grade()
    return results, sheet.notes


# ============================================================================ gradebook


def _cell(text: Any) -> str:
    """A CSV cell that a spreadsheet won't read as a formula, with control and bidi
    characters escaped (``backcheck.text.escape``)."""
    from .text import escape

    text = escape(text)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def gradebook_csv(reports: list[Report]) -> str:
    """One row per sheet, one column per quantity ("3 of 4" correct), then totals."""
    import csv
    import io

    quantities: list[str] = []
    for report in reports:
        for result in report.results:
            if result.name not in quantities:
                quantities.append(result.name)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["sheet", "student", "problem", *quantities, "correct", "carried", "wrong",
                     "missing", "total", "score_percent", "look_first_at", "error"])
    for report in reports:
        if report.error is not None:
            writer.writerow([_cell(report.sheet), "", "", *([""] * len(quantities)),
                             "", "", "", "", "", "", "",
                             _cell(str(report.error).replace("\n", " "))])
            continue
        by_name = {result.name: result for result in report.results}
        cells = []
        for name in quantities:
            result = by_name.get(name)
            if result is None:
                cells.append("")
                continue
            text = f"{result.count('correct')} of {len(result.items)}"
            if result.count("carried"):
                text += f" ({result.count('carried')} carried)"
            cells.append(text)
        counts = report.counts
        score = round(100 * counts["correct"] / report.total, 1) if report.total else ""
        first = report.first
        writer.writerow([_cell(report.sheet), _cell(report.student), _cell(report.problem_file),
                         *cells, counts["correct"], counts["carried"], counts["wrong"],
                         counts["missing"], report.total, score,
                         "" if first is None else _cell(first.element), ""])
    return buffer.getvalue()


def class_exit_code(reports: list[Report]) -> int:
    """2 if any sheet could not be graded, else 1 if any has a carried or wrong entry."""
    if any(report.error is not None for report in reports):
        return 2
    return 0 if all(report.ok for report in reports) else 1
