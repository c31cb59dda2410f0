"""Convenience entry points shared by the CLI and notebooks."""

from __future__ import annotations

from .errors import BackcheckError
from .problem import load_problem
from .solution import Solution, solve


def solve_file(path: str, *, float_only: bool = False) -> Solution:
    """Load and solve a problem file; a network too large for exact arithmetic is
    solved in float64 only when ``float_only`` is set, and refused otherwise."""
    try:
        problem = load_problem(path)
    except BackcheckError as error:
        if float_only and getattr(error, "too_large_for_exact", False):
            problem = error.problem  # type: ignore[attr-defined]
        else:
            raise
    return solve(problem, float_only=float_only)


def problem_from_text(text: str, file: str = "<string>"):  # noqa: ANN201
    """A validated problem from YAML text (for notebooks and tests)."""
    from .literals import parse_yaml
    from .problem import problem_from_document

    return problem_from_document(parse_yaml(text, file))


def load_symbolic(path: str):  # noqa: ANN201
    """The problem at ``path`` if it declares symbols (FORMAT §8), else None (the numeric
    path loads it again with its own limits)."""
    from .literals import load_yaml
    from .problem import problem_from_document

    document = load_yaml(path)
    if not isinstance(document.data, dict) or "symbols" not in document.data:
        return None
    return problem_from_document(document)
