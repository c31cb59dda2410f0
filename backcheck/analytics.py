"""Class analytics for ``backcheck report``: where a class goes wrong, and how.

From graded sheets (:class:`backcheck.grading.Report`) or a gradebook CSV written by
``verify --csv`` (:func:`backcheck.gradebook.read_gradebook`), the same numbers:

* per quantity, how many entries are right, carried, wrong or missing (and the shares);
* the most frequent mistakes by their stable code (:mod:`backcheck.mistakes`), counted in
  sheets and in entries, each with an example (the sheet, the element, and from sheets the
  diagnosis itself).

Plain data; the terminal and HTML views live in :mod:`backcheck.render`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

VERDICTS = ("correct", "carried", "wrong", "missing")


@dataclass
class QuantityStats:
    name: str
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(VERDICTS, 0))
    sheets: int = 0  # sheets that answered it

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def share(self, verdict: str) -> float:
        return self.counts[verdict] / self.total if self.total else 0.0


@dataclass
class MistakeStats:
    code: str
    sheets: int = 0
    entries: int = 0
    example_sheet: str = ""
    example_element: str = ""
    example_diagnosis: str | None = None


@dataclass
class ClassStats:
    sheets: int = 0
    graded: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)  # (sheet, message)
    all_correct: int = 0
    quantities: list[QuantityStats] = field(default_factory=list)
    mistakes: list[MistakeStats] = field(default_factory=list)  # most frequent first

    def to_json(self) -> dict[str, Any]:
        return {
            "sheets": self.sheets, "graded": self.graded, "all_correct": self.all_correct,
            "errors": [{"sheet": s, "error": m} for s, m in self.errors],
            "quantities": [{"name": q.name, **q.counts, "total": q.total,
                            "sheets": q.sheets} for q in self.quantities],
            "mistakes": [{"code": m.code, "sheets": m.sheets, "entries": m.entries,
                          "example": {"sheet": m.example_sheet,
                                      "element": m.example_element,
                                      "diagnosis": m.example_diagnosis}}
                         for m in self.mistakes],
        }

    def __repr__(self) -> str:
        errors = f", {len(self.errors)} not graded" if self.errors else ""
        return (f"<ClassStats {self.sheets} sheets: {self.all_correct} all correct{errors}, "
                f"{len(self.quantities)} quantities, {len(self.mistakes)} mistake codes>")

    def _repr_html_(self) -> str | None:
        """Tables in Jupyter (per quantity the verdict shares; the mistakes by code), drawn
        by the render layer (``backcheck.display``)."""
        from .display import html

        return html(self)


class _Builder:
    def __init__(self) -> None:
        self.stats = ClassStats()
        self.by_name: dict[str, QuantityStats] = {}
        self.by_code: dict[str, MistakeStats] = {}

    def quantity(self, name: str) -> QuantityStats:
        if name not in self.by_name:
            self.by_name[name] = QuantityStats(name)
            self.stats.quantities.append(self.by_name[name])
        return self.by_name[name]

    def mistake(self, code: str, sheet: str, element: str, entries: int,
                diagnosis: str | None) -> None:
        found = self.by_code.get(code)
        if found is None:
            found = self.by_code[code] = MistakeStats(code, example_sheet=sheet,
                                                      example_element=element,
                                                      example_diagnosis=diagnosis)
        found.sheets += 1
        found.entries += entries

    def finish(self) -> ClassStats:
        self.stats.mistakes = sorted(self.by_code.values(),
                                     key=lambda m: (-m.sheets, -m.entries, m.code))
        return self.stats


def from_reports(reports: list[Any], builder: _Builder | None = None) -> _Builder:
    """Add graded sheets to the statistics (unreadable ones are listed as errors)."""
    builder = builder or _Builder()
    stats = builder.stats
    for report in reports:
        stats.sheets += 1
        if report.error is not None:
            stats.errors.append((report.sheet, str(report.error)))
            continue
        stats.graded += 1
        stats.all_correct += report.ok
        for result in report.results:
            q = builder.quantity(result.name)
            q.sheets += 1
            for item in result.items:
                q.counts[item.verdict] = q.counts.get(item.verdict, 0) + 1
        seen: dict[str, list[Any]] = {}
        for item in report.items:
            code = item.code
            if code and code != "carried":
                seen.setdefault(code, []).append(item)
        for code, items in seen.items():
            builder.mistake(code, report.sheet, items[0].element, len(items),
                            items[0].diagnosis)
    return builder


def from_gradebook(rows: list[dict[str, Any]], builder: _Builder | None = None) -> _Builder:
    """Add the rows of a gradebook CSV (:func:`backcheck.gradebook.read_gradebook`)."""
    builder = builder or _Builder()
    stats = builder.stats
    for row in rows:
        stats.sheets += 1
        if row["error"]:
            stats.errors.append((row["sheet"], row["error"]))
            continue
        stats.graded += 1
        right = True
        for name, counts in row["quantities"].items():
            q = builder.quantity(name)
            q.sheets += 1
            for verdict in VERDICTS:
                q.counts[verdict] += counts[verdict]
            right = right and counts["carried"] == counts["wrong"] == 0
        stats.all_correct += right
        for code, entries in row["codes"].items():
            builder.mistake(code, row["sheet"], row["examples"].get(code, ""), entries, None)
    return builder


def class_stats(reports: list[Any] = (), rows: list[dict[str, Any]] = ()) -> ClassStats:  # type: ignore[assignment]
    """Statistics of a class from graded sheets and/or gradebook rows."""
    builder = from_reports(list(reports))
    from_gradebook(list(rows), builder)
    return builder.finish()
