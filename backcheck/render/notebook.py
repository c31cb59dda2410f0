"""Jupyter display: :class:`~backcheck.solution.Solution`,
:class:`~backcheck.grading.Report` and :class:`~backcheck.analytics.ClassStats` as HTML
tables (``_repr_html_``, through the :mod:`backcheck.display` registry). Every name and text
from a file is HTML-escaped; numbers are shown as ``solve`` and ``verify`` show them."""

from __future__ import annotations

import html
from typing import Any

import numpy as np

from ..display import register_html
from .numbers import format_exact

#: a quantity with more elements than this is summarised by its first ones
MAX_ELEMENTS = 24
STYLE = ("<style>.backcheck td,.backcheck th{padding:2px 8px;text-align:right;"
         "font-family:monospace}.backcheck td:first-child,.backcheck th:first-child"
         "{text-align:left}</style>")
COLOURS = {"correct": "#2e7d32", "carried": "#b26a00", "wrong": "#c62828", "missing": "#777"}
SYMBOLS = {"correct": "✓", "carried": "↻", "wrong": "✗", "missing": "·"}


def _values(solution: Any, name: str) -> str:
    if solution.is_exact:
        values = np.ravel(solution.exact(name))
        shown = [format_exact(v) for v in values[:MAX_ELEMENTS]]
    else:
        values = np.ravel(solution.float(name))
        shown = [f"{float(v):.6g}" for v in values[:MAX_ELEMENTS]]
    more = f" … ({len(values)} in all)" if len(values) > MAX_ELEMENTS else ""
    return html.escape(", ".join(shown) + more)


def solution_html(solution: Any) -> str:
    """A table: quantity, shape, value(s)."""
    title = getattr(solution.problem, "title", None) or "backcheck solution"
    rows = []
    for name in solution.names:
        shape = solution.quantity(name).shape
        shape_text = " × ".join(map(str, shape)) if shape else "scalar"
        rows.append(f"<tr><td>{html.escape(name)}</td><td>{shape_text}</td>"
                    f"<td>{_values(solution, name)}</td></tr>")
    kind = "exact" if solution.is_exact else "float64 only"
    return (f'{STYLE}<div class="backcheck"><b>{html.escape(title)}</b> ({kind})'
            f"<table><tr><th>quantity</th><th>shape</th><th>value</th></tr>"
            + "".join(rows) + "</table></div>")


def report_html(report: Any) -> str:
    """A table: element, exact value, the answer as written, verdict, diagnosis."""
    if report.error is not None:
        return (f'{STYLE}<div class="backcheck"><b>{html.escape(report.sheet)}</b>: not graded: '
                f"{html.escape(str(report.error))}</div>")
    rows = []
    for item in report.items:
        colour = COLOURS.get(item.verdict, "#000")
        verdict = f"{SYMBOLS.get(item.verdict, '?')} {item.verdict}"
        code = f" [{html.escape(item.code)}]" if item.code and item.code != "carried" else ""
        diagnosis = html.escape(item.diagnosis or "") + code
        rows.append(f"<tr><td>{html.escape(item.element)}</td>"
                    f"<td>{html.escape(format_exact(item.expected))}</td>"
                    f"<td>{html.escape(item.text or '~')}</td>"
                    f'<td style="color:{colour}">{verdict}</td>'
                    f'<td style="text-align:left">{diagnosis}</td></tr>')
    who = f" · {html.escape(str(report.student))}" if report.student else ""
    return (f'{STYLE}<div class="backcheck"><b>{html.escape(report.sheet)}</b>{who}: '
            f"{html.escape(report.summary())}<table><tr><th>element</th><th>exact</th>"
            "<th>yours</th><th>verdict</th><th>diagnosis</th></tr>"
            + "".join(rows) + "</table></div>")


def class_html(stats: Any) -> str:
    """Two tables: per quantity the entries right / carried / wrong / missing (count and
    share), then the most frequent mistakes by code with an example each."""
    head = (f"{stats.sheets} sheet{'s' if stats.sheets != 1 else ''} · "
            f"{stats.all_correct} all correct")
    if stats.errors:
        head += f" · {len(stats.errors)} not graded"
    verdicts = ("correct", "carried", "wrong", "missing")
    rows = []
    for q in stats.quantities:
        cells = "".join(
            f'<td style="color:{COLOURS[v]}">{q.counts[v]} ({q.share(v) * 100:.0f}%)</td>'
            if q.counts[v] else "<td></td>" for v in verdicts)
        rows.append(f"<tr><td>{html.escape(q.name)}</td>{cells}<td>{q.total}</td></tr>")
    out = [f'{STYLE}<div class="backcheck"><b>Class report</b>: {html.escape(head)}',
           "<table><tr><th>quantity</th><th>right</th><th>carried</th><th>wrong</th>"
           "<th>missing</th><th>entries</th></tr>", *rows, "</table>"]
    if stats.mistakes:
        out.append("<table><tr><th>mistake</th><th>sheets</th><th>entries</th>"
                   "<th>example</th></tr>")
        for m in stats.mistakes:
            example = f"{m.example_sheet}: {m.example_element}"
            if m.example_diagnosis:
                example += f" ({m.example_diagnosis})"
            out.append(f"<tr><td>{html.escape(m.code)}</td><td>{m.sheets}</td>"
                       f"<td>{m.entries}</td>"
                       f'<td style="text-align:left">{html.escape(example)}</td></tr>')
        out.append("</table>")
    if stats.errors:
        out.append("<table><tr><th>not graded</th><th>why</th></tr>")
        out.extend(f"<tr><td>{html.escape(sheet)}</td>"
                   f'<td style="text-align:left">{html.escape(message)}</td></tr>'
                   for sheet, message in stats.errors)
        out.append("</table>")
    return "".join(out) + "</div>"


register_html("Solution", solution_html)
register_html("Report", report_html)
register_html("ClassStats", class_html)
