"""What agreement means: a tolerance (read from a sheet), the bound it puts on
|given − value| at the precision a number is written in, and the exact test of it.

Used for every verdict (:mod:`backcheck.grading.verdicts`) and every diagnosis; decided
exactly (rationals, or ~50 digits), with a certified float64 pre-check.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Any

import numpy as np

from ..exact import Exact
from ..exact import _ctx as MP
from ..literals import Document, is_integer_text, written_decimals
from ..problem import did_you_mean

TOLERANCE_HINT = "tolerance: auto (the default), exact, {abs: 0.01}, {rel: 0.001} or {sig: 3}"
#: a whole number (no point) is also right when it agrees to this many significant digits
INTEGER_SIGNIFICANT = 4
#: the precision assumed for whole numbers on a sheet that writes no decimals at all
DEFAULT_WORKING_DECIMALS = 2
#: "asks for the exact value" (more decimals than any written number has)
EXACT_DECIMALS = 10**6



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


def decimal_exponent(value: Fraction) -> int:
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
            return None if target.q == 0 else decimal_exponent(target.q)
        v = abs(target.approx)
        e = int(MP.floor(MP.log10(v)))
        while MP.mpf(10) ** e > v:
            e -= 1
        while MP.mpf(10) ** (e + 1) <= v:
            e += 1
        return e
    if isinstance(target, Fraction):
        return None if target == 0 else decimal_exponent(target)
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
            e = None if given == 0 else decimal_exponent(given)
        if e is None:
            return None, None
        return Fraction(1, 2) * Fraction(10) ** (e - int(tolerance.amount) + 1), None
    if kind == "exact" or text is None:
        return None, None
    decimals, integer = text_precision(text)
    if decimals is None:  # a fraction such as 1/3 is exact
        return None, None
    if integer:
        limit = half_unit(working)
        if given != 0:
            significant = Fraction(1, 2) * Fraction(10) ** (
                decimal_exponent(given) - INTEGER_SIGNIFICANT + 1)
            limit = max(limit, significant)
        return limit, None
    return half_unit(decimals), None


@lru_cache(maxsize=1 << 16)
def text_precision(text: str) -> tuple[int | None, bool]:
    """(decimals written, whole number?) of a number's text (cached: a class writes the
    same numbers on many sheets)."""
    return written_decimals(text), is_integer_text(text)


_HALF_UNITS: dict[int, Fraction] = {}


def half_unit(decimals: int) -> Fraction:
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


def significant_written(text: str) -> int | None:
    """Significant digits a decimal number is written with (``0.0450`` → 3, ``12`` → 2)."""
    mantissa = text.strip().lstrip("+-").lower().split("e")[0]
    digits = mantissa.replace(".", "").lstrip("0")
    if "." not in mantissa:
        digits = digits.rstrip("0") or digits
    return len(digits) or None
