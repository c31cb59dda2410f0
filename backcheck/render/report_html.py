"""``backcheck report -o report.html``: the class analytics as one self-contained HTML page
with plots (matplotlib, imported here only: the optional ``report`` extra)."""

from __future__ import annotations

import base64
import html
import io
from typing import Any

from ..analytics import VERDICTS, ClassStats
from ..errors import BackcheckError

COLOURS = {"correct": "#2e7d32", "carried": "#f9a825", "wrong": "#c62828",
           "missing": "#bdbdbd"}
LABELS = {"correct": "right", "carried": "carried", "wrong": "wrong", "missing": "missing"}


def pyplot(output: str = "backcheck report") -> Any:
    try:
        import matplotlib
    except ImportError:
        raise BackcheckError(
            "the HTML report draws its plots with matplotlib, which is not installed",
            file=output,
            hint="pip install 'backcheck[report]' (or pip install matplotlib); the terminal "
                 "report needs nothing more") from None
    matplotlib.use("Agg")  # no display: files only
    import matplotlib.pyplot as plt

    return plt


def _png(figure: Any, plt: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight",
                   metadata={"Software": None})
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _quantity_plot(stats: ClassStats, plt: Any) -> str:
    names = [q.name for q in stats.quantities]
    figure, axes = plt.subplots(figsize=(8, 0.32 * len(names) + 1.2))
    left = [0.0] * len(names)
    for verdict in VERDICTS:
        shares = [100 * q.share(verdict) for q in stats.quantities]
        axes.barh(names, shares, left=left, color=COLOURS[verdict], label=LABELS[verdict])
        left = [a + b for a, b in zip(left, shares, strict=True)]
    axes.invert_yaxis()
    axes.set_xlim(0, 100)
    axes.set_xlabel("share of entries (%)")
    axes.legend(ncol=4, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    return _png(figure, plt)


def _mistake_plot(stats: ClassStats, top: int, plt: Any) -> str:
    shown = stats.mistakes[:top]
    figure, axes = plt.subplots(figsize=(8, 0.35 * len(shown) + 1.0))
    axes.barh([m.code for m in shown], [m.sheets for m in shown], color=COLOURS["wrong"])
    axes.invert_yaxis()
    axes.set_xlabel(f"sheets (of {stats.graded} graded)")
    return _png(figure, plt)


def report_html(stats: ClassStats, *, top: int = 10, title: str = "Class report") -> str:
    """The page: summary, per-quantity plot and table, mistakes plot and table with an
    example each. Every name from a file is HTML-escaped."""
    plt = pyplot()
    e = html.escape
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{e(title)}</title>",
           "<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;"
           "padding:0 1rem}table{border-collapse:collapse}td,th{padding:.2rem .6rem;"
           "border-bottom:1px solid #ddd;text-align:right}td:first-child,th:first-child"
           "{text-align:left}img{max-width:100%}code{font-size:95%}</style>",
           "</head><body>", f"<h1>{e(title)}</h1>",
           f"<p>{stats.sheets} sheets · {stats.all_correct} all correct · "
           f"{len(stats.errors)} not graded</p>"]
    if stats.quantities:
        out.append("<h2>Per quantity</h2>")
        out.append(f'<img alt="share of right, carried, wrong and missing entries per '
                   f'quantity" src="data:image/png;base64,{_quantity_plot(stats, plt)}">')
        out.append("<table><tr><th>quantity</th><th>sheets</th>"
                   + "".join(f"<th>{LABELS[v]}</th>" for v in VERDICTS) + "</tr>")
        for q in stats.quantities:
            cells = "".join(f"<td>{q.counts[v]} ({100 * q.share(v):.0f}%)</td>"
                            for v in VERDICTS)
            out.append(f"<tr><td><code>{e(q.name)}</code></td><td>{q.sheets}</td>{cells}</tr>")
        out.append("</table>")
    out.append("<h2>Most frequent mistakes</h2>")
    if stats.mistakes:
        out.append(f'<img alt="sheets per mistake code" '
                   f'src="data:image/png;base64,{_mistake_plot(stats, top, plt)}">')
        out.append("<table><tr><th>code</th><th>sheets</th><th>entries</th>"
                   "<th>example</th></tr>")
        for m in stats.mistakes[:top]:
            example = f"{e(m.example_sheet)} · <code>{e(m.example_element)}</code>"
            if m.example_diagnosis:
                example += f"<br>{e(m.example_diagnosis)}"
            out.append(f"<tr><td><code>{e(m.code)}</code></td><td>{m.sheets}</td>"
                       f"<td>{m.entries}</td><td style='text-align:left'>{example}</td></tr>")
        out.append("</table>")
    else:
        out.append("<p>No named mistakes in this class.</p>")
    if stats.errors:
        out.append("<h2>Not graded</h2><ul>")
        out.extend(f"<li>{e(sheet)}: {e(message)}</li>" for sheet, message in stats.errors)
        out.append("</ul>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
