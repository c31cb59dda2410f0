"""``backcheck verify``: grade answer sheets, say which entry is wrong and why."""

from __future__ import annotations

from pathlib import Path

import typer

#: more sheets than this get a progress bar (on stderr, when it is a terminal)
PROGRESS_AFTER = 5


def register(app: typer.Typer) -> None:
    @app.command()
    def verify(
        sheets: list[Path] = typer.Argument(
            ..., help="Answers files (FORMAT §4), or problem files with answers:."),
        json_output: bool = typer.Option(False, "--json", help="One JSON document on stdout."),
        csv: Path = typer.Option(None, "--csv", help="Write a gradebook: one row per sheet."),
        force: bool = typer.Option(False, "--force", help="Overwrite the --csv file."),
        digits: int = typer.Option(6, "--digits", "-d", min=1, max=40,
                                   help="Significant digits for exact values that are not short."),
    ) -> None:
        """Grade hand-worked answers: ✓ correct, ↻ carried (follows from your own earlier
        slip), ✗ wrong (with the known mistake that explains it), · missing.

        Exit 0 when every given answer is correct, 1 when some are carried or wrong,
        2 when a sheet can't be read (for several sheets: 2 if any could not be graded)."""
        from ..files import check_writable, write_atomic
        from ..grading import Grader, class_exit_code, gradebook_csv
        from ..render.console import stderr, stdout
        from ..text import escape, safe_json

        paths = [str(p) for p in sheets]
        if csv is not None:
            check_writable([str(csv)], force=force)
        grader = Grader()
        if len(paths) == 1:
            reports = [grader.grade(paths[0])]
        else:
            reports = _grade_all(grader, paths, stderr)
        if csv is not None:
            write_atomic(str(csv), gradebook_csv(reports))
        code = reports[0].exit_code if len(reports) == 1 else class_exit_code(reports)
        if json_output:
            if len(reports) == 1:
                document = reports[0].to_json()
            else:
                document = {"sheets": [r.to_json() for r in reports],
                            "summary": _summary(reports), "exit": code}
            typer.echo(safe_json(document))
        else:
            from ..render.verify_view import class_view, report_view

            if len(reports) == 1:
                stdout.print(report_view(reports[0], digits=digits))
            else:
                stdout.print(class_view(reports))
            if csv is not None:
                stdout.print(f"gradebook written to {escape(csv)}", style="dim")
        raise typer.Exit(code)


def _grade_all(grader, paths, console):  # type: ignore[no-untyped-def]
    if len(paths) <= PROGRESS_AFTER or not console.is_terminal:
        return [grader.grade_or_error(p) for p in paths]
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    reports = []
    with Progress("grading", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as progress:
        task = progress.add_task("grading", total=len(paths))
        for path in paths:
            reports.append(grader.grade_or_error(path))
            progress.advance(task)
    return reports


def _summary(reports):  # type: ignore[no-untyped-def]
    graded = [r for r in reports if r.error is None]
    return {
        "sheets": len(reports),
        "graded": len(graded),
        "errors": len(reports) - len(graded),
        "all_correct": sum(1 for r in graded if r.ok),
        "correct": sum(r.counts["correct"] for r in graded),
        "carried": sum(r.counts["carried"] for r in graded),
        "wrong": sum(r.counts["wrong"] for r in graded),
        "missing": sum(r.counts["missing"] for r in graded),
        "total": sum(r.total for r in graded),
    }
