"""``backcheck report``: class analytics from answer sheets or a gradebook."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def report(
        inputs: list[Path] = typer.Argument(
            ..., metavar="SHEET_OR_CSV...",
            help="Answers files, and/or gradebooks written by verify --csv."),
        output: Path = typer.Option(
            None, "--output", "-o", metavar="FILE",
            help="Also write an HTML page with plots (needs matplotlib: the report extra)."),
        top: int = typer.Option(10, "--top", min=1, max=100,
                                help="How many mistake codes to list."),
        json_output: bool = typer.Option(False, "--json", help="One JSON document on stdout."),
        jobs: int = typer.Option(None, "--jobs", "-j", min=1, max=64,
                                 help="Processes for grading sheets (default: every core, "
                                      "for 200 sheets or more)."),
        force: bool = typer.Option(False, "--force", "-f", help="Overwrite the -o file."),
    ) -> None:
        """Where a class goes wrong: per quantity the share right / carried / wrong, and the
        most frequent mistakes by code, each with an example."""
        from ..analytics import class_stats
        from ..errors import BackcheckError
        from ..files import check_writable, write_files
        from ..gradebook import read_gradebook
        from ..render.console import stdout
        from ..text import escape, safe_json

        if output is not None:
            if output.suffix.lower() not in (".html", ".htm"):
                raise BackcheckError("report -o writes an HTML page: give a .html name",
                                     file=str(output))
            check_writable([str(output)], force=force)
            from ..render.report_html import pyplot

            pyplot(str(output))  # before any sheet is graded: one message, nothing written
        rows = []
        sheets = []
        for path in inputs:
            if path.suffix.lower() == ".csv":
                rows.extend(read_gradebook(str(path)))
            else:
                sheets.append(str(path))
        reports = []
        if sheets:
            from ..classrun import grade_class

            reports = grade_class(sheets, jobs=jobs)
        stats = class_stats(reports, rows)
        page = None
        if output is not None:
            from ..render.report_html import report_html

            page = report_html(stats, top=top)
        if json_output:
            typer.echo(safe_json(stats.to_json()))
        else:
            from ..render.report_view import report_view

            stdout.print(report_view(stats, top=top, width=stdout.width))
        if page is not None:
            write_files([(str(output), page)], force=force)
            if not json_output:
                stdout.print(f"wrote {escape(str(output))}", style="dim")
