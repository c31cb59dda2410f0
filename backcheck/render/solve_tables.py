"""``solve --latex`` / ``--markdown`` of a problem without symbols: the numeric solution
as a LaTeX ``align*`` block or Markdown tables, for worked solutions in notes.

Numbers keep the terminal's rule (:mod:`backcheck.render.numbers`): exact where that is
short (``5``, ``0.125``, ``\\tfrac{1}{3}``), otherwise the certain digits followed by
``\\ldots`` (LaTeX) or ``…`` (Markdown), so a rounded number never looks exact. Vectors
and matrices are ``bmatrix`` (in Markdown inside ``$…$``); past ``MAX_SHOWN`` along an
axis only the corners are shown, as on the terminal.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..exact import Exact
from ..numbers_text import ROUNDED, UNDECIDED_ZERO, format_exact, format_float
from ..solution import Solution
from ..text import escape
from .numbers import _corners
from .solve_view import MAX_SHOWN, crosscheck_line, describe_problem, sections
from .symbolic_view import quantity_latex


def number_text(value: Any, digits: int) -> str:
    """One number as the terminal shows it (``1/3 = 0.333333…``, ``0.35``)."""
    if isinstance(value, Exact):
        return format_exact(value, digits)
    return format_float(float(value), digits)


def number_latex(value: Any, digits: int) -> str:
    """One number in LaTeX: an exact fraction as ``\\tfrac{p}{q}``, a rounded decimal
    with ``\\ldots``, a value no precision could tell from 0 as ``\\approx 0``."""
    if isinstance(value, Exact) and value.q is not None:
        q = value.q
        text = format_exact(value, digits)
        if q.denominator != 1 and "/" in text:
            sign = "-" if q < 0 else ""
            return rf"{sign}\tfrac{{{abs(q.numerator)}}}{{{q.denominator}}}"
        return text.replace(ROUNDED, r"\ldots")
    text = number_text(value, digits)
    if text == UNDECIDED_ZERO:
        return r"\approx 0"
    if "e" in text:  # 1.5e-05… → 1.5 \times 10^{-5}\ldots
        mantissa, _, exponent = text.replace(ROUNDED, "").partition("e")
        rounded = r"\ldots" if text.endswith(ROUNDED) else ""
        return rf"{mantissa}{rounded} \times 10^{{{int(exponent)}}}"
    return text.replace(ROUNDED, r"\ldots")


def array_latex(values: Any, digits: int) -> str:
    """A scalar as itself, a vector or matrix as a ``bmatrix`` (a vector as one row),
    corners only past :data:`MAX_SHOWN`."""
    array = np.asarray(values, dtype=object)
    if array.ndim == 0 or array.size == 1 and array.ndim <= 1:
        return number_latex(array.reshape(-1)[0], digits)
    if array.ndim > 2:  # 3-D and 4-D: one matrix per leading index
        inner = [array_latex(array[i], digits) for i in range(array.shape[0])]
        return r"\left[" + r",\ ".join(inner) + r"\right]"
    matrix = array.reshape(1, -1) if array.ndim == 1 else array
    rows = []
    columns = _corners(matrix.shape[1], MAX_SHOWN)
    for i in _corners(matrix.shape[0], MAX_SHOWN):
        if i is None:
            rows.append(" & ".join(r"\vdots" if j is not None else r"\ddots"
                                   for j in columns))
            continue
        rows.append(" & ".join(r"\cdots" if j is None else number_latex(matrix[i, j], digits)
                               for j in columns))
    return r"\begin{bmatrix} " + r" \\ ".join(rows) + r" \end{bmatrix}"


def _values(solution: Solution, name: str) -> Any:
    return solution.exact(name) if solution.is_exact else solution.float(name)


def solution_latex(solution: Solution, names: list[str] | None = None,
                   digits: int = 6) -> str:
    names = names or solution.names
    lines = []
    if solution.problem.title:
        lines.append(f"% {solution.problem.title}")
    lines.append(r"\begin{align*}")
    for _, rows in sections(solution, names):
        for name in rows:
            lines.append(f"{quantity_latex(name)} &= {array_latex(_values(solution, name), digits)}"
                         r" \\")
    lines.append(r"\end{align*}")
    return "\n".join(lines) + "\n"


def solution_markdown(solution: Solution, names: list[str] | None = None,
                      digits: int = 6) -> str:
    names = names or solution.names
    out = []
    if solution.problem.title:
        out.append(f"**{escape(solution.problem.title)}**\n")
    out.append(f"_{describe_problem(solution)}_\n")
    for title, rows in sections(solution, names):
        out.append(f"### {title}\n")
        out.append("| quantity | shape | value |")
        out.append("| --- | --- | --- |")
        for name in rows:
            values = _values(solution, name)
            shape = solution.quantity(name).shape
            if int(np.prod(shape or (1,))) == 1:
                cell = number_text(np.asarray(values, dtype=object).reshape(-1)[0], digits)
            else:
                cell = f"${array_latex(values, digits)}$"
            shown = " × ".join(map(str, shape)) or "scalar"
            cell = cell.replace("|", "\\|")
            out.append(f"| `{name}` | {shown} | {cell} |")
        out.append("")
    check = crosscheck_line(solution).plain
    out.append(f"> {check}")
    for warning in solution.warnings:
        out.append(f"\n> warning: {warning}")
    return "\n".join(out).rstrip() + "\n"


__all__ = ["array_latex", "number_latex", "solution_latex", "solution_markdown"]
