"""Numbers and element names as text: the one place that decides how they read.

Core modules (messages of ``solve`` and ``verify``, explanations, practice hints, the
YAML that ``new`` writes) and the render layer print numbers the same way, so the rule
lives here, below both, and no core module needs ``render/``:

* exact where short (``5``, ``1/2``, ``-3/4``, ``0.125``), otherwise a decimal with
  ``digits`` significant digits followed by ``…``, so a rounded number never looks
  exact and an exact one never looks rounded (:func:`format_value`);
* one short form for explanations and diagrams (:func:`compact`);
* a rational as a person would write it in a file (:func:`decimal_text`,
  :func:`yaml_number`);
* an element of a quantity, 1-based as the problem files count (:func:`element_text`).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from .exact import Exact

ROUNDED = "…"
#: a value that even the highest precision tried cannot tell from 0 (solve warns)
UNDECIDED_ZERO = "≈0"
#: ``2/7 = 0.285714…``: a fraction this short is shown beside its decimal
MAX_FRACTION_CHARS = 7


def decimal_places(q: Fraction) -> int | None:
    """How many places after the point ``q`` needs as a decimal; ``None`` when its
    decimal does not terminate (a prime other than 2 and 5 divides the denominator)."""
    den = q.denominator
    twos = fives = 0
    while den % 2 == 0:
        den //= 2
        twos += 1
    while den % 5 == 0:
        den //= 5
        fives += 1
    return max(twos, fives) if den == 1 else None


def _decimal(q: Fraction, places: int) -> str:
    scaled = abs(q.numerator) * (10**places // q.denominator)
    text = str(scaled).rjust(places + 1, "0")
    whole, frac = text[: len(text) - places], text[len(text) - places:]
    sign = "-" if q < 0 else ""
    return f"{sign}{whole}.{frac}" if places else f"{sign}{whole}"


def terminating_decimal(q: Fraction, digits: int) -> str | None:
    """``q`` as a decimal if that is exact within ``digits`` significant digits."""
    places = decimal_places(q)
    if places is None:
        return None
    text = _decimal(q, places)
    if len(text.replace("-", "").replace(".", "").lstrip("0")) > digits:
        return None
    return text


def decimal_text(q: Fraction, max_places: int = 40) -> str:
    """A rational as a person writes it: a decimal when it terminates within
    ``max_places`` places (``0.125``), else ``p/q`` (``1/3``). Always exact."""
    places = decimal_places(q)
    if places is None or places > max_places:
        return f"{q.numerator}/{q.denominator}"
    return _decimal(q, places)


def yaml_number(q: Fraction | int) -> str:
    """A rational as a YAML scalar that reads back as exactly it: an integer or a
    terminating decimal plain (``0.125``), anything else a quoted fraction (``"1/3"``)."""
    q = Fraction(q)
    if q.denominator == 1:
        return str(q.numerator)
    text = terminating_decimal(q, 60)
    return text if text is not None else f'"{q.numerator}/{q.denominator}"'


def format_exact(value: Exact, digits: int = 6, exact: bool = False) -> str:
    """An :class:`Exact` as ``solve`` shows it; ``exact=True`` writes closed forms
    (``1/(1 + exp(-1/2))``) and long fractions instead of rounding them."""
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
    """A float64: as short as it is exactly, else ``digits`` significant digits and …"""
    text = f"{value:.{digits}g}"
    if float(text) != value:
        text = f"{value:#.{digits}g}".replace(".e", "e").rstrip(".") + ROUNDED
    return text


def format_value(value: Any, digits: int = 6, exact: bool = False) -> str:
    """Any number backcheck holds (``Exact``, ``int``, ``Fraction``, float)."""
    if isinstance(value, Exact):
        return format_exact(value, digits, exact)
    if isinstance(value, (int, Fraction)):
        return format_exact(Exact.of(value), digits, exact)
    return format_float(float(value), digits)


def compact(value: Any, digits: int) -> str:
    """One number, short (explanations, diagrams): an exact value when it is short
    (``1/3``, ``0.25``), otherwise a rounded decimal marked with ``…``."""
    text = format_value(value, digits)
    if " = " in text:  # "2421/98 = 24.7041…": keep one of the two
        fraction, decimal = text.split(" = ", 1)
        return fraction if len(fraction) <= 5 else decimal
    return text


def element_text(name: str, index: Any) -> str:
    """``z1[1,3]`` for the element at the 0-based ``index`` (any ints), counted from 1
    as problem files and answer sheets count; the name alone for a scalar."""
    if index is None or len(index) == 0:
        return name
    return f"{name}[{','.join(str(int(i) + 1) for i in index)}]"
