"""Convenience entry points shared by the CLI and notebooks."""

from __future__ import annotations

from typing import Any

from .errors import BackcheckError
from .problem import load_problem, problem_from_text  # noqa: F401 - part of the API
from .render import notebook as _notebook  # noqa: F401 - registers the Jupyter tables
from .solution import Solution, solve


def solve_file(path: str, *, float_only: bool = False, problem: Any = None) -> Solution:
    """Load and solve a problem file; a network too large for exact arithmetic is
    solved in float64 only when ``float_only`` is set, and refused otherwise.
    ``problem``: the file already read (a ``Problem``, or the ``BackcheckError`` reading
    it raised), so a file is parsed once."""
    try:
        if isinstance(problem, BackcheckError):
            raise problem
        problem = problem if problem is not None else load_problem(path)
    except BackcheckError as error:
        if float_only and getattr(error, "too_large_for_exact", False):
            problem = error.problem  # type: ignore[attr-defined]
        else:
            raise
    if getattr(problem, "symbols", None):  # FORMAT §8: the numbers are those at at:
        if problem.at is None:
            raise BackcheckError("this problem has symbols and no at:, so it has no numbers "
                                 "to show here", file=path,
                                 hint="add at: {symbol: number, ...}; `backcheck solve` "
                                      "prints its formulas without it")
        from .symbolic import numeric_problem

        problem = numeric_problem(problem, problem.at)
    return solve(problem, float_only=float_only)


def read_problem(path: str) -> Any:
    """The problem at ``path``, or the ``BackcheckError`` that reading it raised when the
    file is readable YAML but too large for exact arithmetic (``solve_file`` decides)."""
    from .literals import load_yaml
    from .problem import problem_from_document

    document = load_yaml(path)
    try:
        return problem_from_document(document)
    except BackcheckError as error:
        if getattr(error, "too_large_for_exact", False):
            return error
        raise


def class_report(sheets: list[str] = (), gradebooks: list[str] = (),  # type: ignore[assignment]
                 *, jobs: int | None = None) -> Any:
    """Class analytics (``backcheck report``) as a :class:`~backcheck.analytics.ClassStats`:
    grades ``sheets`` and reads ``gradebooks`` (CSV from ``verify --csv``). In Jupyter it
    displays as tables."""
    from .analytics import class_stats
    from .gradebook import read_gradebook

    rows = [row for path in gradebooks for row in read_gradebook(str(path))]
    reports = []
    if sheets:
        from .classrun import grade_class

        reports = grade_class([str(path) for path in sheets], jobs=jobs)
    return class_stats(reports, rows)
