"""How numbers are shown: exact where short, honest decimals otherwise.

A value prints exactly when that is short (``5``, ``1/2``, ``-3/4``, ``0.125``);
otherwise as a decimal with ``digits`` significant digits followed by ``…``, so a
rounded number never looks exact. ``exact=True`` shows closed forms
(``1/(1 + exp(-1/2))``) where backcheck kept them.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from ..exact import Exact

ROUNDED = "…"
#: a value that even the highest precision tried cannot tell from 0 (solve warns)
UNDECIDED_ZERO = "≈0"
MAX_FRACTION_CHARS = 7
#: with closed forms, a cell longer than this puts one element (or row) per line
LONG_CELL = 24


def terminating_decimal(q: Fraction, digits: int) -> str | None:
    """``q`` as a decimal if that is exact within ``digits`` significant digits."""
    den = q.denominator
    twos = fives = 0
    while den % 2 == 0:
        den //= 2
        twos += 1
    while den % 5 == 0:
        den //= 5
        fives += 1
    if den != 1:
        return None
    places = max(twos, fives)
    scaled = abs(q.numerator) * (10**places // q.denominator)
    text = str(scaled).rjust(places + 1, "0")
    whole, frac = text[: len(text) - places], text[len(text) - places:]
    significant = len((whole + frac).lstrip("0"))
    if significant > digits:
        return None
    sign = "-" if q < 0 else ""
    return f"{sign}{whole}.{frac}" if places else f"{sign}{whole}"


def format_exact(value: Exact, digits: int = 6, exact: bool = False) -> str:
    if value.q is not None:
        q = value.q
        if q.denominator == 1:
            return str(q.numerator)
        decimal = terminating_decimal(q, digits)
        if decimal is not None:
            return decimal
        text = f"{q.numerator}/{q.denominator}"
        if exact:
            return text
        if len(text) <= MAX_FRACTION_CHARS:
            return f"{text} = {value.nstr(digits, strip_zeros=False)}{ROUNDED}"
        return value.nstr(digits, strip_zeros=False) + ROUNDED
    if value.undecided:
        return UNDECIDED_ZERO
    if exact and value.form is not None:
        import sympy

        return sympy.sstr(value.to_sympy())
    # trailing zeros kept: 0.200488 to 3 digits is 0.200…, and -1.9999999 is -2.00000…,
    # never a short -2.0… that reads like an exact -2
    return value.nstr(digits, strip_zeros=False) + ROUNDED


def format_float(value: float, digits: int = 6) -> str:
    text = f"{value:.{digits}g}"
    if float(text) != value:
        text = f"{value:#.{digits}g}".replace(".e", "e").rstrip(".") + ROUNDED
    return text


def format_value(value: Any, digits: int = 6, exact: bool = False) -> str:
    if isinstance(value, Exact):
        return format_exact(value, digits, exact)
    if isinstance(value, (int, Fraction)):
        return format_exact(Exact.of(value), digits, exact)
    return format_float(float(value), digits)


def _corners(n: int, limit: int | None) -> list[int | None]:
    """The positions shown along an axis of length ``n``: all of them, or (past
    ``limit``) the first and last ``limit // 2`` with ``None`` for the gap."""
    if limit is None or n <= limit:
        return list(range(n))
    half = max(limit // 2, 1)
    return [*range(half), None, *range(n - half, n)]


def is_elided(array: Any, limit: int | None) -> bool:
    """Would :func:`format_array` with ``limit`` show only the corners of ``array``?"""
    return limit is not None and any(n > limit for n in np.shape(array)[:2])


def format_array(array: Any, digits: int = 6, exact: bool = False,
                 limit: int | None = None) -> str:
    """A scalar, vector or matrix as aligned text in brackets (matrices on several lines).
    With ``limit``, a vector or matrix longer than that along an axis shows only its
    corners, ``⋯`` (and ``⋮``) standing for the rest (only the shown cells are formatted)."""
    array = np.asarray(array, dtype=object)
    if array.ndim == 0:
        return format_value(array.item(), digits, exact)

    def cell(v: Any) -> str:
        return format_value(v, digits, exact)

    if array.ndim == 1:
        cells = ["⋯" if i is None else cell(array[i]) for i in _corners(array.shape[0], limit)]
        if exact and any(len(c) > LONG_CELL for c in cells):
            return "[" + ",\n ".join(cells) + "]"  # long closed forms: one per line
        return "[" + "  ".join(cells) + "]"
    if array.ndim > 2:  # a stack of matrices (tensor problems), NumPy's layout
        blocks = ["⋮" if i is None else format_array(array[i], digits, exact, limit)
                  for i in _corners(array.shape[0], limit)]
        return "[" + "\n\n".join(block.replace("\n", "\n ") if k == 0 else
                                  " " + block.replace("\n", "\n ")
                                  for k, block in enumerate(blocks)) + "]"
    rows = _corners(array.shape[0], limit)
    cols = _corners(array.shape[1], limit)
    cells = [[("⋮" if i is None else "⋯") if i is None or j is None else cell(array[i, j])
              for j in cols] for i in rows]
    if exact and any(len(c) > LONG_CELL for row in cells for c in row):
        return "[" + ",\n ".join("[" + ", ".join(row) + "]" for row in cells) + "]"
    widths = [max(len(row[k]) for row in cells) for k in range(len(cols))]
    lines = []
    for i, row in enumerate(cells):
        body = "  ".join(c.rjust(w) for c, w in zip(row, widths))
        lines.append(("[[" if i == 0 else " [") + body + ("]]" if i == len(cells) - 1 else "]"))
    return "\n".join(lines)
