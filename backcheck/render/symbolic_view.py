"""``solve`` of a problem with symbols (FORMAT §8): formulas as text, LaTeX or Markdown."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
from rich.console import Group
from rich.table import Table
from rich.text import Text

from ..symbolic import SymbolicSolution, formula_latex, formula_text, latex_symbol
from ..text import escape
from .numbers import format_value
from .solve_view import sections


def quantity_latex(name: str) -> str:
    if name.startswith("dL/d") or "/d" in name:
        top, _, bottom = name.partition("/d")
        return rf"\frac{{\partial {top[1:]}}}{{\partial {latex_symbol(bottom)}}}"
    if name.endswith("_new"):
        return latex_symbol(name[:-4]) + r"_{\mathrm{new}}"
    return latex_symbol(name)


def _elements(solution: SymbolicSolution, name: str) -> list[tuple[str, Any, Any]]:
    """(label, formula, value at at: or None) for each element of a quantity."""
    formulas = solution.shown(name)
    values = solution.numeric.exact(name) if solution.numeric is not None else None
    rows = []
    for index in np.ndindex(*formulas.shape):
        label = name if formulas.size == 1 and not formulas.shape else (
            f"{name}[{','.join(str(i + 1) for i in index)}]")
        if formulas.size == 1:
            label = name
        value = None if values is None else np.asarray(values, dtype=object)[index]
        if value is not None:
            value = solution.exact_at(name, index, value)
        rows.append((label, formulas[index], value))
    return rows


def _where_lines(solution: SymbolicSolution, names: list[str]) -> list[tuple[str, Any]]:
    """Pre-activations named in the shown formulas, with their definitions."""
    used: set[str] = set()
    for name in names:
        for e in np.asarray(solution.shown(name), dtype=object).flat:
            used |= {str(s) for s in getattr(e, "free_symbols", ())}
    lines = []
    for name in solution.names:
        q = solution.quantity(name)
        if q.kind != "value" or not re.fullmatch(r"z\d+", name):
            continue
        full = solution.full[name]
        for index in np.ndindex(*full.shape):
            label = name if full.size == 1 else f"{name}[{','.join(str(i + 1) for i in index)}]"
            if label in used:
                lines.append((label, full[index]))
    return lines


def symbolic_view(solution: SymbolicSolution, *, names: list[str] | None = None,
                  digits: int = 6) -> Group:
    problem = solution.problem
    names = names or solution.names
    parts: list[Any] = []
    if problem.title:
        parts.append(Text(escape(problem.title), style="bold"))
    symbols = ", ".join(problem.symbols)
    parts.append(Text(f"formulas in the symbols {escape(symbols)}"
                      + ("" if problem.at is None else "; values at at:"), style="dim"))
    for title, rows in sections(solution, names):
        table = Table(title=title, title_justify="left", title_style="bold cyan")
        table.add_column("quantity", style="bold", no_wrap=True)
        table.add_column("formula")
        if solution.numeric is not None:
            table.add_column("at at:", no_wrap=True)
        for name in rows:
            for label, formula, value in _elements(solution, name):
                cells = [escape(label), escape(formula_text(formula))]
                if solution.numeric is not None:
                    cells.append(format_value(value, digits, False))
                table.add_row(*cells)
        parts.append(table)
    where = _where_lines(solution, names)
    if where:
        parts.append(Text("where " + "; ".join(
            f"{escape(label)} = {escape(formula_text(f))}" for label, f in where), style="dim"))
    if any(solution.uses_names(n) and solution.shown(n) is solution.local[n] for n in names):
        parts.append(Text("long formulas are written with the quantities above them "
                          "(dz2 = dL/dz2, …); --json gives each in the symbols alone",
                          style="dim"))
    for note in solution.decision_notes():
        parts.append(Text(escape(note), style="yellow"))
    return Group(*parts)


def symbolic_latex(solution: SymbolicSolution, names: list[str] | None = None) -> str:
    names = names or solution.names
    lines = [r"\begin{align*}"]
    for _, rows in sections(solution, names):
        for name in rows:
            for label, formula, value in _elements(solution, name):
                base, _, index = label.partition("[")
                left = quantity_latex(base) + (f"_{{{index[:-1]}}}" if index else "")
                line = f"{left} &= {formula_latex(formula)}"
                if value is not None:
                    number = format_value(value, 6, False)
                    relation = r"\approx" if "…" in number else "="
                    line += rf" {relation} {number.replace('…', '')}"
                lines.append(line + r" \\")
    for label, formula in _where_lines(solution, names):
        lines.append(rf"\text{{where }} {latex_symbol(label)} &= {formula_latex(formula)} \\")
    lines.append(r"\end{align*}")
    return "\n".join(lines)


def symbolic_markdown(solution: SymbolicSolution, names: list[str] | None = None) -> str:
    names = names or solution.names
    out = []
    if solution.problem.title:
        out.append(f"**{escape(solution.problem.title)}**\n")
    for title, rows in sections(solution, names):
        out.append(f"### {title}\n")
        header = "| quantity | formula |" + (" at `at:` |" if solution.numeric else "")
        out.append(header)
        out.append("| --- | --- |" + (" --- |" if solution.numeric else ""))
        for name in rows:
            for label, formula, value in _elements(solution, name):
                row = f"| `{label}` | ${formula_latex(formula)}$ |"
                if solution.numeric is not None:
                    row += f" {format_value(value, 6, False)} |"
                out.append(row)
        out.append("")
    where = _where_lines(solution, names)
    if where:
        out.append("where " + ", ".join(f"${latex_symbol(label)} = {formula_latex(f)}$"
                                        for label, f in where))
    for note in solution.decision_notes():
        out.append(f"\n> {note}")
    return "\n".join(out).rstrip() + "\n"
