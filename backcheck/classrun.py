"""Class runs on every core: sheets graded in worker processes, reports back in order.

Each worker keeps one :class:`backcheck.grading.Grader` for its life, so each problem is
solved once per worker; a sheet's report does not depend on which worker graded it or in
what order, so a pooled run gives the same reports as a serial one.
"""

from __future__ import annotations

import copyreg
from typing import Any

from .exact import _ctx

_GRADER: Any = None
_MPF = type(_ctx.mpf(1))


def _make_mpf(value: tuple) -> Any:
    return _ctx.make_mpf(value)


def _reduce_mpf(number: Any) -> tuple:
    return _make_mpf, (number._mpf_,)


# the high-precision numbers of :mod:`backcheck.exact` belong to a private mpmath context,
# whose mpf class pickle cannot find by name: rebuild them from their (sign, man, exp, bc)
copyreg.pickle(_MPF, _reduce_mpf)


def pool_grade(paths: list[str]) -> list[Any]:
    """Grade a chunk of sheets in a worker (unreadable ones come back with ``error``)."""
    global _GRADER
    if _GRADER is None:
        from .grading import Grader

        _GRADER = Grader()
    reports = [_GRADER.grade_or_error(path) for path in paths]
    for report in reports:
        _lighten(report)
    return reports


def _lighten(report: Any) -> None:
    """Drop what only the grader needed before a report crosses to the parent process
    (the rounding-reach values are large; verdicts, diagnoses and codes are kept)."""
    for result in report.results:
        for item in result.items:
            if item.verdict != "carried":
                item.follows = None
