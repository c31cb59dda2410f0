"""Grading sheets: a :class:`Grader` solves each distinct problem once
(:class:`~backcheck.grading.context.ProblemContext`) and grades each sheet of it; a
problem with one sheet becomes its report's ``error`` in a class run, never a stop.
"""

from __future__ import annotations

import os

from ..errors import BackcheckError
from ..literals import Document, load_yaml
from ..problem import problem_from_document
from .context import ProblemContext
from .report import Report
from .sheet import read_sheet
from .verdicts import SheetGrading


class Grader:
    """Grades sheets; solves each distinct problem once (keyed by its real path)."""

    def __init__(self) -> None:
        self._contexts: dict[str, ProblemContext | BackcheckError] = {}
        self._real_paths: dict[str, str] = {}

    def context(self, path: str, document: Document | None = None) -> ProblemContext:
        key = self._real_paths.get(path)
        if key is None:  # a class names one problem file on every sheet: resolved once
            if len(self._real_paths) > 10_000:
                self._real_paths.clear()
            key = self._real_paths[path] = os.path.realpath(path)
        cached = self._contexts.get(key)
        if cached is None:
            try:
                doc = document if document is not None else load_yaml(path)
                problem = problem_from_document(doc)
                if getattr(problem, "symbols", None):  # FORMAT §8: numbers at at:
                    from ..formulas import numeric_point

                    cached = ProblemContext(numeric_point(problem))
                    cached.written = problem  # type: ignore[attr-defined]
                else:
                    cached = ProblemContext(problem)
            except BackcheckError as error:
                cached = error
            self._contexts[key] = cached
        if isinstance(cached, BackcheckError):
            raise cached
        return cached

    def grade(self, path: str) -> Report:
        """Grade one sheet; a problem with it raises :class:`BackcheckError`."""
        return grade_sheet(self, str(path))

    def grade_or_error(self, path: str) -> Report:
        """Grade one sheet; a problem with it becomes ``report.error`` (class runs)."""
        try:
            return self.grade(path)
        except BackcheckError as error:
            return Report(sheet=str(path), error=error)
        except (RecursionError, MemoryError):
            return Report(sheet=str(path), error=BackcheckError(
                "the input is too deeply nested or too large to process", file=str(path)))
        except Exception as error:  # noqa: BLE001 - one sheet never stops a class run
            return Report(sheet=str(path), error=BackcheckError(
                f"could not be graded: internal error ({type(error).__name__}: {error}); "
                "this is a bug in backcheck", file=str(path)))


def verify(sheet_path: str, *, grader: Grader | None = None) -> Report:
    """Grade one answers file (or a problem file with ``answers:``)."""
    return (grader or Grader()).grade(str(sheet_path))


def grade_sheet(grader: Grader, path: str) -> Report:
    """Read the sheet at ``path`` and grade it: verdicts for its numbers
    (:class:`~backcheck.grading.verdicts.SheetGrading`), then its formula answers."""
    sheet = read_sheet(grader, path)
    ctx = sheet.ctx
    report = Report(sheet=path, problem_file=ctx.problem.file, title=sheet.title,
                    student=sheet.student, points=sheet.points)
    grading = SheetGrading(ctx, sheet.entries, sheet.working)
    report.results, report.notes = grading.grade(), grading.notes
    if sheet.formulas:
        from ..formulas import grade_sheet_formulas

        report.results = report.results + grade_sheet_formulas(ctx, sheet.doc, sheet.formulas,
                                                               sheet.answers_path,
                                                               report.results)
    report.order = ctx.structure.position
    return report
