"""Rich renderables for ``backcheck verify``: one sheet in detail, or a class summary."""

from __future__ import annotations

import os
from typing import Any

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from ..grading import SYMBOLS, Item, QuantityResult, Report
from ..text import escape
from .numbers import format_exact

#: a quantity with more entries than this lists only the ones that are not right
MAX_ROWS = 64
STYLES = {"correct": "green", "carried": "yellow", "wrong": "bold red", "missing": "dim"}


def verdict_text(verdict: str) -> Text:
    return Text(f"{SYMBOLS[verdict]} {verdict}", style=STYLES[verdict])


def _shown(path: str | None) -> str:
    if path is None:
        return "?"
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return escape(path)
    return escape(relative if not relative.startswith("../../") else path)


def report_view(report: Report, *, digits: int = 6) -> Group:
    """One sheet: a table per quantity, the diagnoses under it, a closing summary."""
    parts: list[Any] = []
    if report.title:
        parts.append(Text(escape(report.title), style="bold"))
    who = f" · {escape(report.student)}" if report.student else ""
    parts.append(Text(f"answers {_shown(report.sheet)}{who} · problem "
                      f"{_shown(report.problem_file)}", style="dim"))
    for result in report.results:
        parts.append(quantity_table(result, digits=digits))
        for line in diagnosis_lines(result):
            parts.append(line)
    for note in report.notes:
        parts.append(Text("note: " + escape(note), style="yellow"))
    parts.append(Text(""))
    parts.append(summary_text(report))
    first = report.first
    if first is not None:
        line = Text("look first at ", style="bold")
        line.append(escape(first.element),
                    style="bold red" if first.verdict == "wrong" else "yellow")
        if first.diagnosis:
            line.append(": " + escape(_strip_element(first.diagnosis, first.element)))
        parts.append(line)
    return Group(*parts)


def _strip_element(text: str, element: str) -> str:
    prefix = element + ": "
    return text[len(prefix):] if text.startswith(prefix) else text


def summary_text(report: Report) -> Text:
    counts = report.counts
    text = Text()
    text.append(f"{counts['correct']}/{report.total} correct", style="bold green"
                if report.ok else "bold")
    for verdict in ("carried", "wrong", "missing"):
        if counts[verdict]:
            text.append(" · ")
            text.append(f"{counts[verdict]} {verdict}", style=STYLES[verdict])
    return text


def quantity_table(result: QuantityResult, *, digits: int = 6) -> Table:
    done = result.count("correct")
    total = len(result.items)
    title = Text(escape(result.name), style="bold cyan")
    if result.written_as != result.name:
        title.append(f" ({escape(result.written_as)})", style="dim")
    title.append(f"  {done}/{total}", style="green" if done == total else "bold")
    carried = any(item.verdict == "carried" for item in result.items)
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                  show_edge=False, expand=False)
    table.add_column("element")
    table.add_column("exact", justify="right", no_wrap=True)
    table.add_column("yours", justify="right", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    if carried:
        table.add_column("from your answers", justify="right", style="dim", no_wrap=True)
    shown = result.items
    if total > MAX_ROWS:
        # a big answer: every entry that is not right, then a count of the rest
        shown = [item for item in result.items if item.verdict != "correct"][:MAX_ROWS]
    for item in shown:
        row = [escape(item.element), format_exact(item.expected, digits),
               "~" if item.given is None and item.verdict == "missing" else
               (escape(item.text) if item.text is not None else "—"),
               verdict_text(item.verdict)]
        if carried:
            row.append(format_exact(item.follows, digits)
                       if item.verdict == "carried" and item.follows is not None else "")
        table.add_row(*row)
    if len(shown) < total:
        rest = total - len(shown)
        kind = "correct" if done == rest else "more"
        table.add_row(Text(f"⋯ {rest} {kind} not listed", style="dim"),
                      "", "", Text("(--json: all)", style="dim"))
    return table


def diagnosis_lines(result: QuantityResult) -> list[Text]:
    """Diagnoses under a table: each wrong entry's (one line per mistake, naming the
    other entries it also explains), then one line per earlier answer carried here."""
    lines: list[Text] = []
    if result.finding:
        lines.append(Text("  ✗ " + escape(result.finding), style="red"))
    wrong: dict[tuple, list[Item]] = {}
    carried: dict[str, list[Item]] = {}
    for item in result.items:
        if not item.diagnosis or (result.finding and item.diagnosis.startswith(result.finding)):
            continue
        if item.verdict == "wrong":
            key = (item.mistake,) if item.mistake else (None, item.element)
            wrong.setdefault(key, []).append(item)
        elif item.verdict == "carried":
            carried.setdefault(_quantity_of(item.cause), []).append(item)
    for items in wrong.values():
        first = items[0]
        text = Text("  ✗ ", style=STYLES["wrong"])
        text.append(escape(first.diagnosis or ""))
        if len(items) > 1:
            others = ", ".join(_index_text(item) for item in items[1:6])
            more = " …" if len(items) > 6 else ""
            text.append(f" Also {others}{more} (same mistake).", style="dim")
        lines.append(text)
    for cause, items in carried.items():
        lines.append(_carried_line(result, cause, items))
    return lines


def _quantity_of(element: str | None) -> str:
    return (element or "?").split("[", 1)[0]


def _carried_line(result: QuantityResult, cause: str, items: list[Item]) -> Text:
    if len(items) == 1:
        return Text("  ↻ ", style=STYLES["carried"]).append(escape(items[0].diagnosis or ""))
    where = ", ".join(_index_text(item) for item in items[:8]) + (" …" if len(items) > 8 else "")
    causes: list[str] = []
    origins: list[str] = []
    for item in items:
        for part in (item.cause or "").split(", "):
            if part and part not in causes:
                causes.append(part)
        for part in (item.origin or "").split(", "):
            if part and part not in origins:
                origins.append(part)
    text = Text("  ↻ ", style=STYLES["carried"])
    text.append(f"{escape(result.name)}{where}: carried — each is what follows from your "
                f"own {cause}")
    indices = [c[len(cause):] for c in causes if c.startswith(cause + "[")]
    if indices:
        text.append(f" (not right at {escape(', '.join(indices[:6]))})")
    if origins and not all(o.startswith(cause) for o in origins):
        slip = ", ".join(origins[:4]) + (" …" if len(origins) > 4 else "")
        text.append(f", which carries the slip in your {escape(slip)}")
    text.append("; the method here is right.")
    return text


def _index_text(item: Item) -> str:
    return "[" + ",".join(map(str, item.index)) + "]" if item.index else item.quantity


def _short_names(paths: list[str]) -> dict[str, str]:
    """Sheet paths as short as they can be: relative to here, without the folder they
    all share (or just the file names, when those are all different)."""
    shown = {p: _shown(p) for p in paths}
    bases = [os.path.basename(p) for p in paths]
    if len(set(bases)) == len(bases):
        return {p: escape(b) for p, b in zip(paths, bases, strict=True)}
    try:
        common = os.path.commonpath([os.path.dirname(s) for s in shown.values()])
    except ValueError:
        common = ""
    if not common:
        return shown
    return {p: escape(os.path.relpath(s, common)) for p, s in shown.items()}


def class_view(reports: list[Report]) -> Group:
    """Many sheets: one row each, the unreadable ones listed under the table, totals."""
    names = _short_names([r.sheet for r in reports])
    table = Table(title="Answer sheets", title_justify="left", title_style="bold cyan",
                  box=box.SIMPLE_HEAD, pad_edge=False)
    students = any(r.student for r in reports)
    width = 20 if students else 34
    names = {k: (v if len(v) <= width else "…" + v[-(width - 1):]) for k, v in names.items()}
    table.add_column("sheet", no_wrap=True, overflow="ellipsis", max_width=width)
    if students:
        table.add_column("student", overflow="ellipsis", no_wrap=True, max_width=12)
    table.add_column("score", justify="right", no_wrap=True, min_width=7)
    table.add_column("↻", justify="right", style="yellow", no_wrap=True, min_width=3)
    table.add_column("✗", justify="right", style="red", no_wrap=True, min_width=3)
    table.add_column("·", justify="right", style="dim", no_wrap=True, min_width=3)
    table.add_column("look first at", no_wrap=True, overflow="ellipsis", max_width=12)
    graded = broken = perfect = 0
    errors: list[Text] = []
    for report in reports:
        name = names[report.sheet]
        if report.error is not None:
            broken += 1
            table.add_row(name, *([""] if students else []), Text("error", style="bold red"),
                          "", "", "", "")
            line = Text("  ✗ ", style="bold red")
            line.append(f"{name}: ", style="bold")
            line.append(escape(report.error.message))
            if report.error.file and os.path.abspath(report.error.file) != os.path.abspath(
                    report.sheet):
                line.append(f" ({_shown(report.error.file)})", style="dim")
            errors.append(line)
            continue
        graded += 1
        perfect += report.ok
        counts = report.counts
        first = report.first
        table.add_row(name, *([escape(report.student or "")] if students else []),
                      Text(f"{counts['correct']}/{report.total}",
                           style="green" if report.ok else ""),
                      str(counts["carried"] or ""), str(counts["wrong"] or ""),
                      str(counts["missing"] or ""),
                      "" if first is None else escape(first.element))
    total = Text(f"{len(reports)} sheet{'s' if len(reports) != 1 else ''}: ")
    total.append(f"{perfect} all correct", style="green")
    total.append(f" · {graded - perfect} with mistakes")
    if broken:
        total.append(f" · {broken} not graded", style="bold red")
    parts: list[Any] = [table]
    if errors:
        parts.append(Text("not graded:", style="bold red"))
        parts.extend(errors)
    parts.append(total)
    return Group(*parts)
