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
MAX_FRACTION_CHARS = 7


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
            return f"{text} = {value.nstr(digits)}{ROUNDED}"
        return value.nstr(digits) + ROUNDED
    if exact and value.form is not None:
        import sympy

        return sympy.sstr(value.to_sympy())
    return value.nstr(digits) + ROUNDED


def format_float(value: float, digits: int = 6) -> str:
    text = f"{value:.{digits}g}"
    if float(text) != value:
        text += ROUNDED
    return text


def format_value(value: Any, digits: int = 6, exact: bool = False) -> str:
    if isinstance(value, Exact):
        return format_exact(value, digits, exact)
    if isinstance(value, (int, Fraction)):
        return format_exact(Exact.of(value), digits, exact)
    return format_float(float(value), digits)


def format_array(array: Any, digits: int = 6, exact: bool = False) -> str:
    """A scalar, vector or matrix as aligned text in brackets (matrices on several lines)."""
    array = np.asarray(array, dtype=object)
    if array.ndim == 0:
        return format_value(array.item(), digits, exact)
    cells = np.vectorize(lambda v: format_value(v, digits, exact), otypes=[object])(array)
    if array.ndim == 1:
        return "[" + "  ".join(cells.tolist()) + "]"
    widths = [max(len(c) for c in cells[:, j]) for j in range(cells.shape[1])]
    lines = []
    for i, row in enumerate(cells):
        body = "  ".join(c.rjust(w) for c, w in zip(row, widths))
        lines.append(("[[" if i == 0 else " [") + body + ("]]" if i == len(cells) - 1 else "]"))
    return "\n".join(lines)
