"""What grading a sheet produces: an :class:`Item` per answered element (its verdict,
diagnosis, mistake code), a :class:`QuantityResult` per answer, the :class:`Report` of a
sheet, and the exit code of a class run.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from ..errors import BackcheckError
from ..exact import Exact
from ..graph import Quantity
from ..mistakes import BY_NAME
from .tolerance import AUTO, Tolerance

VERDICTS = ("correct", "carried", "wrong", "missing")
SYMBOLS = {"correct": "✓", "carried": "↻", "wrong": "✗", "missing": "·"}


@dataclass
class Item:
    """One answered element and its verdict."""

    quantity: str
    flat: int  # position in the quantity, flat, layout order
    index: tuple[int, ...]  # 1-based, in the problem's layout; () for a scalar
    expected: Exact
    given: Fraction | None
    text: str | None  # as written
    tolerance: Tolerance = AUTO
    verdict: str = ""
    diagnosis: str | None = None
    mistake: str | None = None
    cause: str | None = None  # carried: the nearest earlier answer it follows from
    origin: str | None = None  # carried: the original slip
    follows: Any = None  # what follows from the student's own earlier answers
    mistake_code: str | None = None  # the named mistake's stable code at its variant

    @property
    def code(self) -> str | None:
        """A stable code for the verdict's diagnosis, for gradebooks and analytics: the
        mistake's code (``relu-mask-missing``, ``transposed``, …), ``carried``,
        ``wrong-shape`` or ``unexplained``; None for correct and missing entries."""
        if self.verdict in ("correct", "missing", ""):
            return None
        if self.mistake_code is not None:
            return self.mistake_code
        if self.mistake is not None and self.mistake in BY_NAME:
            return BY_NAME[self.mistake].code_for()
        if self.verdict == "carried":
            return "carried"
        if self.diagnosis and ", but it is " in self.diagnosis and "you wrote" in self.diagnosis:
            return "wrong-shape"
        return "unexplained"

    @property
    def element(self) -> str:
        if not self.index:
            return self.quantity
        return f"{self.quantity}[{','.join(map(str, self.index))}]"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.quantity,
            "index": list(self.index),
            "element": self.element,
            "expected": float(self.expected),
            "given": None if self.given is None else float(self.given),
            "written": self.text,
            "verdict": self.verdict,
            "diagnosis": self.diagnosis,
            "mistake": self.mistake,
            "code": self.code,
            "cause": self.cause,
            "origin": self.origin,
            "exact": _exact_text(self.expected),
        }


def _exact_text(value: Exact) -> str:
    if value.q is not None:
        return str(value.q)
    return "≈" + value.nstr(20)


@dataclass
class QuantityResult:
    name: str
    quantity: Quantity
    items: list[Item]
    written_as: str  # the key as the student wrote it
    finding: str | None = None  # one finding for the whole answer (its shape)

    def count(self, verdict: str) -> int:
        return sum(1 for item in self.items if item.verdict == verdict)


@dataclass
class Report:
    """The graded sheet (or, with ``error``, why it could not be graded)."""

    sheet: str
    problem_file: str | None = None
    title: str | None = None
    student: str | None = None
    results: list[QuantityResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: BackcheckError | None = None
    order: dict[str, int] = field(default_factory=dict, repr=False)  # working order
    points: Any = field(default=None, repr=False)  # the sheet's own points: (scoring.py)

    @property
    def items(self) -> list[Item]:
        return [item for result in self.results for item in result.items]

    @property
    def counts(self) -> dict[str, int]:
        counts = Counter(item.verdict for item in self.items)
        return {verdict: counts.get(verdict, 0) for verdict in VERDICTS}

    @property
    def total(self) -> int:
        return len(self.items)

    @property
    def ok(self) -> bool:
        return self.error is None and not (self.counts["carried"] or self.counts["wrong"])

    @property
    def exit_code(self) -> int:
        if self.error is not None:
            return 2
        return 0 if self.ok else 1

    @property
    def first(self) -> Item | None:
        """The entry to look at first: the earliest slip, in the order the work is done
        (forward pass, then backward from the loss, then the update)."""
        for verdict in ("wrong", "carried"):
            found = [item for item in self.items if item.verdict == verdict]
            if found:
                return min(found, key=lambda item: (self.order.get(item.quantity, 0),
                                                    item.flat))
        return None

    def summary(self) -> str:
        if self.error is not None:
            return f"not graded: {self.error.message}"
        c = self.counts
        parts = [f"{c['correct']}/{self.total} correct"]
        for verdict in ("carried", "wrong", "missing"):
            if c[verdict]:
                parts.append(f"{c[verdict]} {verdict}")
        return " · ".join(parts)

    def to_json(self) -> dict[str, Any]:
        if self.error is not None:
            return {"sheet": self.sheet, "error": str(self.error)}
        c = self.counts
        first = self.first
        return {
            "sheet": self.sheet,
            "problem": self.problem_file,
            "student": self.student,
            "correct": c["correct"],
            "carried": c["carried"],
            "wrong": c["wrong"],
            "missing": c["missing"],
            "total": self.total,
            "first": None if first is None else first.element,
            "items": [item.to_json() for item in self.items],
            "findings": {r.name: r.finding for r in self.results if r.finding},
            "notes": list(self.notes),
        }

    def __repr__(self) -> str:
        return f"<Report {self.sheet}: {self.summary()}>"

    def _repr_html_(self) -> str | None:
        """A table in Jupyter (element, exact, yours, verdict, diagnosis), drawn by the
        render layer (``backcheck.display``)."""
        from ..display import html

        return html(self)


def class_exit_code(reports: list[Report]) -> int:
    """2 if any sheet could not be graded, else 1 if any has a carried or wrong entry."""
    if any(report.error is not None for report in reports):
        return 2
    return 0 if all(report.ok for report in reports) else 1
