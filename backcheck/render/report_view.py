"""Rich renderables for ``backcheck report``: class analytics as bar charts in the terminal."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from ..analytics import ClassStats
from ..text import escape
from .verify_view import _shown

STYLES = {"correct": "green", "carried": "yellow", "wrong": "red", "missing": "grey50"}
#: distinct shades, so the bars read without colour too
BLOCKS = {"correct": "█", "carried": "▓", "wrong": "▒", "missing": "░"}


def _bar(counts: dict[str, int], width: int) -> Text:
    """A stacked bar of ``width`` cells, each verdict's share rounded so the cells add up."""
    total = sum(counts.values())
    text = Text()
    if not total:
        return text.append("·" * width, style="dim")
    exact = {v: counts.get(v, 0) * width / total for v in STYLES}
    cells = {v: int(exact[v]) for v in STYLES}
    left = width - sum(cells.values())
    for v in sorted(STYLES, key=lambda v: exact[v] - cells[v], reverse=True)[:left]:
        cells[v] += 1
    for verdict in STYLES:
        if cells[verdict]:
            text.append(BLOCKS[verdict] * cells[verdict], style=STYLES[verdict])
    return text


def _percent(value: float) -> str:
    if value == 0:
        return ""
    if value < 0.005:
        return "<1%"
    return f"{value * 100:.0f}%"


def report_view(stats: ClassStats, *, top: int = 10, width: int = 100) -> Group:
    """Per quantity a stacked bar (right, carried, wrong, missing), then the most frequent
    mistakes by code with a bar each and an example."""
    parts: list[Any] = []
    head = Text(f"{stats.sheets} sheet{'s' if stats.sheets != 1 else ''}", style="bold")
    head.append(f" · {stats.all_correct} all correct", style="green")
    if stats.errors:
        head.append(f" · {len(stats.errors)} not graded", style="bold red")
    parts.append(head)
    names = [escape(q.name) for q in stats.quantities]
    name_width = min(18, max((len(n) for n in names), default=4))
    bar_width = max(10, min(40, width - name_width - 32))
    table = Table(title="Per quantity: █ right · ▓ carried · ▒ wrong · ░ missing",
                  title_justify="left", title_style="bold cyan", box=box.SIMPLE_HEAD,
                  pad_edge=False)
    table.add_column("quantity", no_wrap=True, overflow="ellipsis", min_width=min(8, name_width),
                     max_width=max(8, name_width))
    table.add_column("", no_wrap=True, width=bar_width)
    for verdict, symbol in (("correct", "✓"), ("carried", "↻"), ("wrong", "✗")):
        table.add_column(symbol, justify="right", style=STYLES[verdict], no_wrap=True,
                         min_width=4)
    for name, q in zip(names, stats.quantities, strict=True):
        table.add_row(name, _bar(q.counts, bar_width), _percent(q.share("correct")),
                      _percent(q.share("carried")), _percent(q.share("wrong")))
    parts.append(table)
    if stats.mistakes:
        shown = stats.mistakes[:top]
        most = max(m.sheets for m in shown)
        code_width = min(30, max(len(m.code) for m in shown))
        mistake_width = max(8, min(30, width - code_width - 24))
        mistakes = Table(title=f"Most frequent mistakes (of {stats.graded} graded sheets)",
                         title_justify="left", title_style="bold cyan", box=box.SIMPLE_HEAD,
                         pad_edge=False)
        mistakes.add_column("code", no_wrap=True, style="bold", max_width=code_width)
        mistakes.add_column("", no_wrap=True, width=mistake_width)
        mistakes.add_column("sheets", justify="right", no_wrap=True)
        mistakes.add_column("entries", justify="right", no_wrap=True, style="dim")
        for m in shown:
            cells = max(1, round(m.sheets * mistake_width / most))
            mistakes.add_row(escape(m.code), Text("█" * cells, style="red"), str(m.sheets),
                             str(m.entries))
        parts.append(mistakes)
        parts.append(Text("examples:", style="bold"))
        for m in shown:
            line = Text(f"  {escape(m.code)}: ", style="bold")
            line.append(f"{_shown(m.example_sheet)} · {escape(m.example_element)}",
                        style="dim")
            if m.example_diagnosis:
                diagnosis = m.example_diagnosis
                if diagnosis.startswith(m.example_element + ": "):
                    diagnosis = diagnosis[len(m.example_element) + 2:]
                line.append(" — " + escape(diagnosis))
            parts.append(line)
        if len(stats.mistakes) > top:
            parts.append(Text(f"  ⋯ {len(stats.mistakes) - top} more codes (--top N)",
                              style="dim"))
    else:
        parts.append(Text("no named mistakes in this class", style="green"))
    for sheet, message in stats.errors[:10]:
        parts.append(Text(f"  ✗ not graded: {_shown(sheet)}: {escape(message)}", style="red"))
    if len(stats.errors) > 10:
        parts.append(Text(f"  ⋯ {len(stats.errors) - 10} more not graded", style="red"))
    return Group(*parts)
