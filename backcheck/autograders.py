"""Results for the autograders courses already run: Gradescope and PrairieLearn.

* Gradescope (https://gradescope-autograders.readthedocs.io/en/latest/specs/): the
  autograder writes ``/autograder/results/results.json`` with a top-level ``score`` and
  ``output`` and one entry in ``tests`` per graded part (``name``, ``number``, ``score``,
  ``max_score``, ``output``, ``status``, ``output_format``). Here a test is a quantity of
  the sheet; outputs are ``text`` (no markup from a sheet is rendered).
* PrairieLearn external grading (docs/externalGrading.md of PrairieLearn): the grader writes
  ``/grade/results/results.json`` with ``gradable``, ``score`` from 0 to 1, and ``tests``
  (``name``, ``points``, ``max_points``, ``message``, ``output``); a submission that cannot
  be read is ``gradable: false`` with ``format_errors`` (no attempt is used up). The
  file must stay under 1 MB.

Both are plain dicts (JSON-ready); the CLI writes them with :mod:`backcheck.files`.
"""

from __future__ import annotations

from typing import Any

from .scoring import Score, points_number, points_text


def _summary(report: Any, score: Score) -> str:
    lines = [f"{report.summary()} · {points_text(score.earned)} of "
             f"{points_text(score.possible)} points"]
    if score.carried_credit != 1:
        lines.append(f"a carried entry (follows from your own earlier slip) earns "
                     f"{points_text(score.carried_credit)} of an element's credit")
    first = report.first
    if first is not None:
        from .scoring import _without_element

        lines.append(f"look first at {first.element}: "
                     f"{_without_element(first.diagnosis, first.element) or first.verdict}")
    lines += score.flags
    lines += list(report.notes)
    return "\n".join(lines)


def _test_output(quantity: Any) -> str:
    counts = quantity.counts
    head = ", ".join(f"{counts[v]} {v}" for v in ("correct", "carried", "wrong", "missing")
                     if counts.get(v))
    lines = ([head] if head else []) + quantity.lines
    return "\n".join(lines)


def _error_text(report: Any) -> str:
    return f"your answers could not be graded: {report.error}"


def gradescope_results(report: Any, score: Score | None) -> dict[str, Any]:
    """Gradescope's ``results.json`` for one graded sheet (or one that could not be read)."""
    if report.error is not None or score is None:
        return {"score": 0, "output": _error_text(report), "output_format": "text",
                "tests": []}
    tests = []
    for number, quantity in enumerate(score.quantities, start=1):
        tests.append({
            "name": quantity.label,
            "number": str(number),
            "score": points_number(quantity.earned),
            "max_score": points_number(quantity.possible),
            "status": "passed" if quantity.passed else "failed",
            "output": _test_output(quantity),
            "output_format": "text",
        })
    return {
        "score": points_number(score.earned),
        "output": _summary(report, score),
        "output_format": "text",
        "tests": tests,
        "extra_data": {"backcheck": {"counts": report.counts,
                                     "codes": _codes(report)}},
    }


def prairielearn_results(report: Any, score: Score | None) -> dict[str, Any]:
    """PrairieLearn's external-grader ``results.json`` for one sheet."""
    if report.error is not None or score is None:
        message = _error_text(report)
        return {"gradable": False, "format_errors": [message], "message": message}
    tests = []
    for quantity in score.quantities:
        counts = quantity.counts
        tests.append({
            "name": quantity.label,
            "description": f"{quantity.name}: {counts.get('correct', 0)} of "
                           f"{sum(counts.values())} entries correct",
            "points": points_number(quantity.earned),
            "max_points": points_number(quantity.possible),
            "message": quantity.lines[0] if quantity.lines and not quantity.passed else "",
            "output": _test_output(quantity),
        })
    return _within(PRAIRIELEARN_LIMIT, {
        "gradable": True,
        "score": float(score.fraction),
        "message": _summary(report, score),
        "output": "\n\n".join(_test_output(q) for q in score.quantities),
        "tests": tests,
    })


#: PrairieLearn takes results.json files up to 1 MB; this leaves room for its wrapping
PRAIRIELEARN_LIMIT = 900_000


def _within(limit: int, document: dict[str, Any]) -> dict[str, Any]:
    """The results, their long texts cut (each keeps its first lines and says how many
    more there were) until the JSON fits in ``limit`` bytes; points never change."""
    import json

    def size() -> int:
        return len(json.dumps(document).encode())

    if size() <= limit:
        return document
    document["output"] = "(the per-entry lines are in each test's output)"
    keep = 64
    while size() > limit and keep >= 1:
        for test in document["tests"]:
            lines = test["output"].split("\n")
            if len(lines) > keep:
                test["output"] = "\n".join(lines[:keep]
                                           + [f"… and {len(lines) - keep} more lines"])
        keep //= 2
    if size() > limit:
        for test in document["tests"]:
            test["output"] = test["output"][:200]
            test["message"] = test["message"][:200]
    return document


def _codes(report: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in report.items:
        if item.code:
            counts[item.code] = counts.get(item.code, 0) + 1
    return counts
