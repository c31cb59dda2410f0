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
#: a class table lists this many sheets (the gradebook has them all)
MAX_CLASS_ROWS = 500
STYLES = {"correct": "green", "carried": "yellow", "wrong": "bold red", "missing": "dim"}


def verdict_text(verdict: str) -> Text:
    return Text(f"{SYMBOLS[verdict]} {verdict}", style=STYLES[verdict])


def _shown(path: str | None) -> str:
    if path is None:
        return "?"
    return _shown_all([path])[path]


def _shown_all(paths: list[str]) -> dict[str, str]:
    """Each path as shown: relative to here unless that climbs two folders or more.
    One ``os.path.relpath`` per folder, not per path (a class of 10,000 sheets)."""
    folders: dict[str, str] = {}
    shown: dict[str, str] = {}
    for path in paths:
        if path in shown:
            continue
        folder, base = os.path.split(path)
        try:
            relative = folders.get(folder)
            if relative is None:
                relative = folders[folder] = os.path.relpath(folder or os.curdir)
            if base in ("", os.curdir, os.pardir) or all(
                    part == os.pardir for part in relative.split(os.sep)):
                # the folder is here or above: the path may lead back down to here
                relative = os.path.relpath(path)
            elif relative == os.curdir:
                relative = base
            else:
                relative = relative + os.sep + base
        except ValueError:
            shown[path] = escape(path)
            continue
        shown[path] = escape(relative if not relative.startswith("../../") else path)
    return shown


#: sheets with more entries (or quantities) than this end with a one-line-per-quantity
#: summary of what is not right (``--compact`` shows only that)
COMPACT_AFTER = 200
COMPACT_QUANTITIES = 12


def report_view(report: Report, *, digits: int = 6, wrong_only: bool = False,
                compact: bool = False, score: Any = None) -> Group:
    """One sheet: a table per quantity, the diagnoses under it, a closing summary.

    ``wrong_only`` lists only entries that are not correct (quantities all correct are
    named in one line); ``compact`` gives one line per quantity (the default for long
    sheets); ``score`` (:class:`backcheck.scoring.Score`) adds the points."""
    long_sheet = report.total > COMPACT_AFTER or len(report.results) > COMPACT_QUANTITIES
    parts: list[Any] = []
    if report.title:
        parts.append(Text(escape(report.title), style="bold"))
    who = f" · {escape(report.student)}" if report.student else ""
    parts.append(Text(f"answers {_shown(report.sheet)}{who} · problem "
                      f"{_shown(report.problem_file)}", style="dim"))
    all_right: list[str] = []
    for result in report.results:
        if (wrong_only or compact) and result.count("correct") == len(result.items):
            all_right.append(result.name)
            continue
        if compact:
            parts.append(quantity_line(result))
        else:
            parts.append(quantity_table(result, digits=digits, wrong_only=wrong_only))
        for line in diagnosis_lines(result):
            parts.append(line)
    if all_right:
        line = Text(f"✓ all correct ({len(all_right)}): ", style="green")
        line.append(escape(", ".join(all_right)), style="dim")
        parts.append(line)
    for note in report.notes:
        parts.append(Text("note: " + escape(note), style="yellow"))
    parts.append(Text(""))
    if long_sheet and not compact:
        lines = [quantity_line(r) for r in report.results
                 if r.count("correct") != len(r.items)]
        if lines:
            parts.append(Text("summary: quantities not all correct", style="bold"))
            parts.extend(lines)
    parts.append(summary_text(report))
    if score is not None:
        from ..scoring import points_text

        line = Text(f"points: {points_text(score.earned)} of {points_text(score.possible)}",
                    style="bold")
        parts.append(line)
        for flag in score.flags:
            parts.append(Text("  ⚠ " + escape(flag), style="yellow"))
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


def quantity_line(result: QuantityResult) -> Text:
    """One quantity in one line: its name, correct of total, the other verdicts."""
    done = result.count("correct")
    total = len(result.items)
    worst = next((v for v in ("wrong", "carried", "missing") if result.count(v)), "correct")
    line = Text(f"{SYMBOLS[worst]} ", style=STYLES[worst])
    line.append(escape(result.name), style="bold cyan")
    line.append(f"  {done}/{total}", style="green" if done == total else "bold")
    others = [f"{result.count(v)} {v}" for v in ("carried", "wrong", "missing")
              if result.count(v)]
    if others:
        line.append("  (" + ", ".join(others) + ")", style="dim")
    return line


def quantity_table(result: QuantityResult, *, digits: int = 6,
                   wrong_only: bool = False) -> Table:
    done = result.count("correct")
    total = len(result.items)
    title = Text(escape(result.name), style="bold cyan")
    if result.written_as != result.name:
        title.append(f" ({escape(result.written_as)})", style="dim")
    title.append(f"  {done}/{total}", style="green" if done == total else "bold")
    carried = any(item.verdict == "carried" for item in result.items)
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                  show_edge=False, expand=False, caption_justify="left")
    formulas = any(getattr(item, "formula", False) for item in result.items)
    # the element is what the row is about: never cut; a long exact value ("-23/300 =
    # -0.0766667…") wraps after its "=" instead when the terminal is narrow, and so does
    # a long formula answer
    table.add_column("element", no_wrap=True,
                     min_width=max((len(escape(i.element)) for i in result.items), default=7))
    table.add_column("exact", justify="right")
    table.add_column("yours", justify="right", no_wrap=not formulas)
    table.add_column("verdict", no_wrap=True)
    if carried:
        table.add_column("from your answers", justify="right", style="dim", no_wrap=True)
    shown = result.items
    if wrong_only:
        shown = [item for item in result.items if item.verdict != "correct"]
    elif total > MAX_ROWS:
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
        table.caption = Text(f"⋯ {rest} {kind} not listed (--json: all)", style="dim")
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


def _short_names(paths: list[str], shown: dict[str, str]) -> dict[str, str]:
    """Sheet paths as short as they can be: relative to here (``shown``:
    :func:`_shown_all`), without the folder they all share (or just the file names, when
    those are all different)."""
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


def fit_names(names: dict[str, str], width: int) -> dict[str, str]:
    """Names cut to ``width`` while staying told apart: the folder is shortened first
    (``ai_by…/honest_rounding.yaml``), then the middle of the name; never just the
    shared end (five ``…onest_rounding.yaml`` rows say nothing)."""
    width = max(width, 8)

    def cut_middle(text: str) -> str:
        if len(text) <= width:
            return text
        head = (width - 1) // 2
        return text[:head] + "…" + text[len(text) - (width - 1 - head):]

    def strip(text: str) -> str:
        return text.rsplit(".", 1)[0] if text.endswith((".yaml", ".yml")) else text

    def shorten(text: str) -> str:
        if len(text) <= width:
            return text
        text = strip(text)
        if len(text) <= width:
            return text
        folder, _, file = text.rpartition("/")
        room = width - len(file) - 2  # "…" and "/"
        if folder and room >= 3:
            return folder[:room] + "…/" + file
        return cut_middle(file if folder else text)

    fitted = {key: shorten(value) for key, value in names.items()}
    counts: dict[str, int] = {}
    for value in fitted.values():
        counts[value] = counts.get(value, 0) + 1
    for key, value in names.items():  # alike when shortened: keep both ends of the path
        if counts[fitted[key]] > 1:
            fitted[key] = cut_middle(strip(value))
    if len(set(fitted.values())) < len(fitted):  # still alike: number the rows
        seen: dict[str, int] = {}
        for key, value in fitted.items():
            seen[value] = seen.get(value, 0) + 1
            if seen[value] > 1:
                tag = f"#{seen[value]}"
                fitted[key] = value[:width - len(tag)] + tag
    return fitted


def class_view(reports: list[Report], *, scores: list[Any] | None = None,
               width: int | None = None) -> Group:
    """Many sheets: one row each, the unreadable ones listed under the table, totals.
    The table is as wide as ``width`` (the terminal's), the sheet column taking the rest."""
    from ..scoring import points_text

    sheets = [r.sheet for r in reports]
    shown_all = _shown_all(sheets)
    names = _short_names(sheets, shown_all)
    title = "Answer sheets"
    bases = {os.path.basename(shown) for shown in shown_all.values()}
    folders = {os.path.dirname(v) for v in names.values()}
    if len(bases) == 1 and len(reports) > 1 and len(folders) == len(set(names.values())) \
            and "" not in folders:
        # one file name in many folders (five honest_rounding.yaml): the rows are the
        # folders, the shared name is said once, in the title
        (base,) = bases
        title = f"Answer sheets (each …/{escape(base)})"
        names = {key: os.path.dirname(value) for key, value in names.items()}
    table = Table(title=title, title_justify="left", title_style="bold cyan",
                  box=box.SIMPLE_HEAD, pad_edge=False)
    students = any(r.student for r in reports)
    graded_reports = [r for r in reports if r.error is None]
    student_width = min(16, max((len(str(r.student or "")) for r in reports), default=7))
    firsts = [r.first for r in graded_reports]
    first_width = max(13, min(16, max((len(f.element) for f in firsts if f), default=0)))
    score_width = max(7, max((len(f"{r.counts['correct']}/{r.total}")
                              for r in graded_reports), default=0))
    others = score_width + 3 * 3 + first_width + (student_width if students else 0) + (
        9 if scores else 0)
    columns = 6 + bool(students) + bool(scores)
    room = (width or 100) - others - 2 * (columns - 1) - 6  # padding between, edges
    longest = max((len(v) for v in names.values()), default=5)
    sheet_width = max(12, min(longest, room))
    names = fit_names(names, sheet_width)
    table.add_column("sheet", no_wrap=True, overflow="ellipsis", min_width=min(
        sheet_width, max(len(v) for v in names.values())), max_width=sheet_width)
    if students:
        table.add_column("student", overflow="ellipsis", no_wrap=True, max_width=student_width)
    table.add_column("score", justify="right", no_wrap=True, min_width=score_width)
    if scores:
        table.add_column("points", justify="right", no_wrap=True, max_width=9)
    table.add_column("↻", justify="right", style="yellow", no_wrap=True, min_width=3)
    table.add_column("✗", justify="right", style="red", no_wrap=True, min_width=3)
    table.add_column("·", justify="right", style="dim", no_wrap=True, min_width=3)
    table.add_column("look first at", no_wrap=True, overflow="ellipsis", min_width=first_width,
                     max_width=first_width)
    score_of = dict(zip((id(r) for r in reports), scores or [None] * len(reports),
                        strict=True))
    graded = broken = perfect = 0
    errors: list[Text] = []
    rows = 0
    for report in reports:
        name = names[report.sheet]
        rows += 1
        listed = rows <= MAX_CLASS_ROWS
        if report.error is not None:
            broken += 1
            if listed:
                table.add_row(name, *([""] if students else []), Text("error", style="bold red"),
                              *([""] if scores else []), "", "", "", "")
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
        if not listed:
            continue
        table.add_row(name, *([escape(report.student or "")] if students else []),
                      Text(f"{counts['correct']}/{report.total}",
                           style="green" if report.ok else ""),
                      *([_points_cell(score_of[id(report)], points_text)] if scores else []),
                      str(counts["carried"] or ""), str(counts["wrong"] or ""),
                      str(counts["missing"] or ""),
                      "" if first is None else escape(first.element))
    total = Text(f"{len(reports)} sheet{'s' if len(reports) != 1 else ''}: ")
    total.append(f"{perfect} all correct", style="green")
    total.append(f" · {graded - perfect} with mistakes")
    if broken:
        total.append(f" · {broken} not graded", style="bold red")
    parts: list[Any] = [table]
    if len(reports) > MAX_CLASS_ROWS:
        parts.append(Text(f"⋯ {len(reports) - MAX_CLASS_ROWS} more sheets not listed (all of "
                          "them in --csv FILE or --json)", style="dim"))
    if errors:
        parts.append(Text("not graded:", style="bold red"))
        parts.extend(errors)
    parts.append(total)
    return Group(*parts)


def _points_cell(score: Any, points_text: Any) -> str:
    if score is None:
        return ""
    return f"{points_text(score.earned)}/{points_text(score.possible)}"
