"""Rich renderables for ``backcheck solve``."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from ..solution import Solution
from ..text import escape
from .numbers import format_array, is_elided

#: a vector or matrix longer than this along an axis is shown by its corners (``⋯``)
MAX_SHOWN = 12

SECTION_TITLES = {
    "forward": "Forward pass",
    "backward": "Backward pass",
    "update": "One gradient-descent step",
}


def sections(solution: Any, names: list[str]) -> list[tuple[str, list[str]]]:
    """The names grouped under their section titles, in section order (numeric or symbolic)."""
    out = []
    for section, title in SECTION_TITLES.items():
        rows = [n for n in names if solution.quantity(n).section == section]
        if rows:
            out.append((title, rows))
    return out


def shape_text(shape: tuple[int, ...]) -> str:
    return "scalar" if not shape else " × ".join(str(s) for s in shape)


def solution_view(solution: Solution, *, names: list[str] | None = None, digits: int = 6,
                  exact: bool = False) -> Group:
    problem = solution.problem
    wanted = names or solution.names
    parts: list[Any] = []
    if problem.title:
        parts.append(Text(escape(problem.title), style="bold"))
    parts.append(Text(describe_problem(solution), style="dim"))
    elided = False
    for title, rows in sections(solution, wanted):
        if solution.quantity(rows[0]).section == "update":
            title += f" (learning rate {format_array(problem.learning_rate)})"
        table = Table(title=title, title_justify="left", title_style="bold cyan",
                      show_lines=False, expand=False)
        shapes = {name: shape_text(solution.quantity(name).shape) for name in rows}
        # the name and shape columns never shrink; closed forms (--exact) can be long, so
        # there the value column wraps (one element per line, then folded) instead of
        # squeezing the other two to nothing
        table.add_column("quantity", style="bold", no_wrap=True,
                         min_width=max(len("quantity"), *(len(n) for n in rows)))
        table.add_column("shape", style="dim", no_wrap=True,
                         min_width=max(len("shape"), *(len(s) for s in shapes.values())))
        table.add_column("value", no_wrap=not exact, overflow="fold")
        for name in rows:
            values = solution.exact(name) if solution.is_exact else solution.float(name)
            elided = elided or is_elided(values, MAX_SHOWN)
            table.add_row(name, shapes[name],
                          format_array(values, digits=digits, exact=exact, limit=MAX_SHOWN))
        parts.append(table)
    if elided:
        parts.append(Text(f"arrays longer than {MAX_SHOWN} along an axis are shown by their "
                          f"corners (⋯); --json (or --only NAME --json) gives every value",
                          style="dim"))
    for warning in solution.warnings:
        parts.append(Text("warning: " + escape(warning), style="yellow"))
    parts.append(crosscheck_line(solution))
    return Group(*parts)


def describe_problem(solution: Solution) -> str:
    problem = solution.problem
    if problem.kind == "expression":
        return (f"scalar expression: {len(problem.values)} values, {len(problem.steps)} steps, "
                f"output {problem.output}")
    if problem.kind == "tensor":
        return (f"tensor problem: {len(problem.values)} values, {len(problem.steps)} steps, "
                f"output {problem.output}")
    sizes = "-".join(str(s) for s in problem.sizes)
    activations = ", ".join(layer.activation for layer in problem.layers)
    batch = "one example" if problem.single else f"batch of {problem.examples}"
    return (f"network {sizes} ({activations}), convention {problem.convention}, {batch}, "
            f"loss {problem.loss} ({problem.reduction})")


def crosscheck_line(solution: Solution) -> Text:
    check = solution.crosscheck
    if check is None:
        return Text("float64 only (--float-only): no exact values, no cross-check",
                    style="yellow")
    if not check.ok:
        return Text(
            f"! cross-check: exact and float64 differ by up to {check.max_abs:.1e} "
            f"(on {escape(check.worst)}); the warning above says why, and the exact values "
            f"are the truth",
            style="yellow",
        )
    return Text(
        f"✓ cross-check: exact and float64 agree on all {check.count} numbers "
        f"(largest difference {check.max_abs:.1e}, relative {check.max_rel:.1e})",
        style="green",
    )
