"""``backcheck verify``: grade answer sheets, say which entry is wrong and why."""

from __future__ import annotations

import contextlib
from pathlib import Path

import typer

from . import options as shared

#: more sheets than this get a progress bar (on stderr, when it is a terminal)
PROGRESS_AFTER = 5


def register(app: typer.Typer) -> None:
    @app.command()
    def verify(
        sheets: list[Path] = typer.Argument(
            ..., metavar="SHEET...", parser=sheet_path,
            help="Answers files (FORMAT §4), or problem files with answers:."),
        json_output: bool = typer.Option(False, "--json", help="One JSON document on stdout."),
        csv: Path = shared.file_option("--csv", "Write a gradebook: one row per sheet."),
        gradescope: Path = shared.file_option(
            "--gradescope", "Write Gradescope's autograder results.json (one sheet)."),
        prairielearn: Path = shared.file_option(
            "--prairielearn", "Write PrairieLearn's external-grader results.json (one sheet)."),
        course: Path = shared.file_option(
            "--course", "Points and credit: points per quantity, carried_credit, "
                        "partial_credit (FORMAT.md)."),
        problem: Path = shared.file_option(
            "--problem", "The problem every sheet must be for (autograders: a sheet naming "
                         "another problem file is not graded)."),
        wrong_only: bool = typer.Option(
            False, "--wrong-only", help="List only the entries that are not correct."),
        compact: bool = typer.Option(
            False, "--compact",
            help="One line per quantity instead of a table per quantity (long sheets end "
                 "with such a summary anyway)."),
        jobs: int = typer.Option(
            None, "--jobs", "-j", min=1, max=64,
            help="Processes for a class run (default: every core, for 200 sheets or more)."),
        force: bool = typer.Option(False, "--force", "-f",
                                   help="Overwrite the files written (--csv, --gradescope, "
                                        "--prairielearn)."),
        digits: int = typer.Option(6, "--digits", "-d", min=1, max=40,
                                   help="Significant digits for exact values that are not short."),
    ) -> None:
        """Grade hand-worked answers: ✓ correct, ↻ carried (follows from your own earlier
        slip), ✗ wrong (with the known mistake that explains it), · missing.

        Exit 0 when every given answer is correct, 1 when some are carried or wrong,
        2 when a sheet can't be read (for several sheets: 2 if any could not be graded)."""
        from ..errors import BackcheckError
        from ..files import check_writable, write_files
        from ..grading import class_exit_code
        from ..render.console import stderr, stdout
        from ..scoring import Course, Scorer, load_course
        from ..text import escape, safe_json

        paths = [str(p) for p in sheets]
        outputs = [str(p) for p in (csv, gradescope, prairielearn) if p is not None]
        for option, value in (("--gradescope", gradescope), ("--prairielearn", prairielearn)):
            if value is not None and len(paths) != 1:
                raise BackcheckError(f"{option} writes the result of one sheet; got "
                                     f"{len(paths)}", file="backcheck verify",
                                     hint="a class gradebook: --csv grades.csv")
        if len(set(outputs)) != len(outputs):
            raise BackcheckError("two outputs name the same file", file="backcheck verify")
        if outputs:
            with _verify_hints():
                check_writable(outputs, force=force)
        scorer = Scorer(load_course(str(course)) if course is not None else Course())
        autograder = gradescope is not None or prairielearn is not None
        if len(paths) == 1 and not autograder:
            from ..grading import Grader

            reports = [Grader().grade(paths[0])]
        else:
            # the items of every sheet are shown only by --json: without it, the workers
            # send what the class table, the gradebook and the scores need, no more
            reports = grade_class(paths, jobs=jobs, console=stderr, items=json_output)
        if problem is not None:
            reports = [_for_problem(report, str(problem)) for report in reports]
        scored = course is not None or any(getattr(r, "points", None) for r in reports)
        scores = [scorer.score(report, detail=autograder) for report in reports]
        files: list[tuple[str, str]] = []
        if csv is not None:
            from ..gradebook import gradebook_csv

            files.append((str(csv), gradebook_csv(reports, scores)))
        if autograder:
            from ..autograders import gradescope_results, prairielearn_results

            if gradescope is not None:
                document = gradescope_results(reports[0], scores[0])
                files.append((str(gradescope), safe_json(document, indent=2) + "\n"))
            if prairielearn is not None:
                document = prairielearn_results(reports[0], scores[0])
                files.append((str(prairielearn), safe_json(document, indent=2) + "\n"))
        if len(paths) == 1 and autograder and reports[0].error is not None:
            with _verify_hints():
                write_files(files, force=force)  # the results file says so too
            raise reports[0].error  # one message, exit 2
        code = reports[0].exit_code if len(reports) == 1 else class_exit_code(reports)
        if json_output:
            if len(reports) == 1:
                document = reports[0].to_json()
                if scored and scores[0] is not None:
                    document["score"] = scores[0].to_json()
            else:
                sheets_json = []
                for report, score in zip(reports, scores, strict=True):
                    entry = report.to_json()
                    if scored and score is not None:
                        entry["score"] = score.to_json()
                    sheets_json.append(entry)
                document = {"sheets": sheets_json, "summary": _summary(reports), "exit": code}
            typer.echo(safe_json(document))
        else:
            from ..render.verify_view import class_view, report_view

            if len(reports) == 1:
                stdout.print(report_view(reports[0], digits=digits, wrong_only=wrong_only,
                                         compact=compact,
                                         score=scores[0] if scored else None))
            else:
                stdout.print(class_view(reports, scores=scores if scored else None,
                                        width=stdout.width))
        if files:  # after the grading is shown: a write error does not hide it
            with _verify_hints():
                write_files(files, force=force)  # all or nothing, never over a non-file
            if not json_output:
                for path, _ in files:
                    stdout.print(f"wrote {escape(path)}", style="dim")
        raise typer.Exit(code)


def sheet_path(value: str) -> Path:
    """A SHEET argument as typer's own Path handling makes it (the same Path, the same
    message for an existing file that cannot be read), without the validator typer builds
    for each Path argument: a fifth of a millisecond each, seconds of the parent's time
    for a class of 10,000 sheets."""
    import os

    if not os.access(value, os.R_OK) and os.path.exists(value):
        shown = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        raise typer.BadParameter(f"path {shown!r} is not readable.")
    return Path(value)


def grade_class(paths: list[str], *, jobs: int | None = None, console=None,  # type: ignore[no-untyped-def]
                items: bool = True):
    """Grade many sheets (:func:`backcheck.classrun.grade_class`), with a progress bar on a
    terminal."""
    from ..classrun import grade_class as run

    if console is None or not console.is_terminal or len(paths) <= PROGRESS_AFTER:
        return run(paths, jobs=jobs, items=items)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress("grading", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as progress:
        task = progress.add_task("grading", total=len(paths))
        return run(paths, jobs=jobs, advance=lambda n: progress.advance(task, n),
                   items=items)


@contextlib.contextmanager
def _verify_hints():  # type: ignore[no-untyped-def]
    """verify has no -o: a hint naming it names verify's own output options instead."""
    from ..errors import BackcheckError

    try:
        yield
    except BackcheckError as error:
        if error.hint and "-o" in error.hint:
            error.hint = ("pass --force (-f) to overwrite, or give --csv, --gradescope or "
                          "--prairielearn another name")
        raise


def _for_problem(report, problem: str):  # type: ignore[no-untyped-def]
    """The report, or a not-graded one when its sheet names another problem file."""
    import os

    from ..errors import BackcheckError
    from ..grading import Report

    if report.error is not None or report.problem_file is None:
        return report
    if os.path.realpath(report.problem_file) == os.path.realpath(problem):
        return report
    return Report(sheet=report.sheet, student=report.student, error=BackcheckError(
        f"this sheet is for {os.path.basename(report.problem_file)}, not for the "
        f"assignment's {os.path.basename(problem)}", file=report.sheet,
        hint=f"the sheet's problem: must name {os.path.basename(problem)}"))


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
