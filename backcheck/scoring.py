"""Points and credit: a graded sheet (:class:`backcheck.grading.Report`) turned into a score.

Verdicts say what is right; a course also needs a number. The rules (FORMAT.md, "Points and
credit") come from a course file (``verify --course course.yaml``) or from a sheet's own
``points:``; the course file wins, since a sheet is in the student's hands:

* points per quantity (every quantity 1 point unless told otherwise);
* partial credit per element: a quantity earns its points × the mean credit of its elements
  (or, with ``partial_credit: false``, all or nothing);
* a carried entry (error carried forward) earns ``carried_credit`` of an element (1 unless
  told otherwise);
* a carried entry that rests on a *degenerate* answer (an answer written as all zeros where
  the truth is not) earns nothing, and the score says why: otherwise writing zeros for
  dL/dz2 would earn every gradient after it, all zero and all "carried".

Numbers are kept as fractions; the autograder formats round only when written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from math import lcm
from typing import Any

from .errors import BackcheckError
from .literals import Document, load_yaml

COURSE_KEYS = ("points", "carried_credit", "partial_credit", "title", "notes")
COURSE_HINT = ("a course file: points: {z1: 2, dL/dW1: 4, default: 1}, carried_credit: 1/2, "
               "partial_credit: true")
#: the name that gives the points of quantities a points mapping does not list
DEFAULT_KEY = "default"


@dataclass
class PointsSpec:
    """``points:`` as written: one number for every quantity, or per quantity names (not yet
    resolved against a problem) with a default, plus where each was written."""

    doc: Document
    path: tuple
    each: Fraction | None = None  # points: 3 → every quantity 3 points
    named: dict[str, Fraction] = field(default_factory=dict)
    default: Fraction | None = None

    def resolve(self, graph: Any) -> tuple[dict[str, Fraction], Fraction]:
        """Canonical quantity name → points for ``graph``, and the points of the rest."""
        from .names import answer_name

        if self.each is not None:
            return {}, self.each
        resolved: dict[str, Fraction] = {}
        for raw, points in self.named.items():
            try:
                name, index = answer_name(raw, graph, scalar=False)
            except BackcheckError as error:
                raise self.doc.error(f"points: {error.message}", self.path + (raw,),
                                     hint="the names of solve's output, e.g. z1, dL/dW2"
                                     ) from None
            if index:
                raise self.doc.error(f"points: {raw!r} is one element of {name}; points are "
                                     "per quantity (each element earns its share)",
                                     self.path + (raw,))
            if name in resolved:
                raise self.doc.error(f"points: {raw!r} names {name}, which already has points",
                                     self.path + (raw,))
            resolved[name] = points
        return resolved, self.default if self.default is not None else Fraction(0)


@dataclass
class Course:
    """How sheets are scored (a course file, or the built-in defaults)."""

    points: PointsSpec | None = None
    carried_credit: Fraction = Fraction(1)
    partial_credit: bool = True
    file: str | None = None


def _points_number(doc: Document, value: Any, path: tuple) -> Fraction:
    number = doc.number(value, path, "a number of points")
    if number < 0:
        raise doc.error("points cannot be negative", path)
    if number > 10**6:
        raise doc.error("at most 1000000 points per quantity", path)
    return number


def read_points(doc: Document, value: Any, path: tuple) -> PointsSpec:
    """``points:`` of a sheet or course file, checked (names are resolved later, per
    problem: :meth:`PointsSpec.resolve`)."""
    spec = PointsSpec(doc, path)
    if isinstance(value, dict):
        if not value:
            raise doc.error("points: is empty; give a number, or points per quantity",
                            path, hint=COURSE_HINT)
        for raw, amount in value.items():
            key = str(raw)
            number = _points_number(doc, amount, path + (raw,))
            if key == DEFAULT_KEY:
                spec.default = number
            else:
                spec.named[key] = number
        return spec
    if isinstance(value, list):
        raise doc.error("points: expected a number or a mapping of quantity names to "
                        "points, found a list", path, hint=COURSE_HINT)
    spec.each = _points_number(doc, value, path)
    return spec


def load_course(path: str) -> Course:
    """Read a course file (FORMAT.md, "Points and credit"); one located error if bad."""
    from .problem import did_you_mean

    doc = load_yaml(path)
    data = doc.data
    if not isinstance(data, dict):
        raise doc.error("expected a course file: a mapping with points:, carried_credit:, "
                        "partial_credit:", hint=COURSE_HINT)
    for key in data:
        if key not in COURSE_KEYS:
            raise doc.error(f"unknown key {key!r} in a course file"
                            f"{did_you_mean(str(key), COURSE_KEYS)}", (key,),
                            hint="known keys: " + ", ".join(COURSE_KEYS))
    course = Course(file=path)
    if data.get("points") is not None:
        course.points = read_points(doc, data["points"], ("points",))
    if data.get("carried_credit") is not None:
        share = doc.number(data["carried_credit"], ("carried_credit",),
                           "a share of credit from 0 to 1 (e.g. 1/2)")
        if not 0 <= share <= 1:
            raise doc.error("carried_credit must be from 0 to 1 (the share of an element's "
                            "credit a carried entry earns)", ("carried_credit",))
        course.carried_credit = share
    partial = data.get("partial_credit")
    if partial is not None:
        if not isinstance(partial, bool):
            raise doc.error("partial_credit must be true or false", ("partial_credit",))
        course.partial_credit = partial
    return course


# ============================================================================ scores


@dataclass
class QuantityScore:
    """One quantity's points: earned of possible, with the lines that say why."""

    name: str
    earned: Fraction
    possible: Fraction
    counts: dict[str, int]
    lines: list[str]
    degenerate_from: list[str] = field(default_factory=list)
    written_as: str | None = None  # the key as the sheet wrote it, when different

    @property
    def label(self) -> str:
        return f"{self.name} ({self.written_as})" if self.written_as else self.name

    @property
    def passed(self) -> bool:
        return self.earned == self.possible


@dataclass
class Score:
    """A sheet's score under a :class:`Course`."""

    earned: Fraction
    possible: Fraction
    quantities: list[QuantityScore]
    flags: list[str]
    carried_credit: Fraction
    partial_credit: bool

    @property
    def fraction(self) -> Fraction:
        """Earned over possible, 0 to 1 (1 for a sheet with nothing to score)."""
        return self.earned / self.possible if self.possible else Fraction(1)

    def to_json(self) -> dict[str, Any]:
        return {
            "earned": points_number(self.earned),
            "possible": points_number(self.possible),
            "fraction": round(float(self.fraction), 6),
            "carried_credit": points_number(self.carried_credit),
            "partial_credit": self.partial_credit,
            "quantities": [{"name": q.name, "earned": points_number(q.earned),
                            "possible": points_number(q.possible),
                            "degenerate_from": q.degenerate_from}
                           for q in self.quantities],
            "flags": list(self.flags),
        }


def points_number(value: Fraction) -> float | int:
    """Points for JSON: a whole number stays whole, others get 4 decimals."""
    if value.denominator == 1:
        return int(value)
    return round(float(value), 4)


def points_text(value: Fraction) -> str:
    number = points_number(value)
    return str(number)


def _without_element(text: str | None, element: str) -> str | None:
    """A diagnosis without its leading "element: " (the line names the element)."""
    if text and text.startswith(element + ": "):
        return text[len(element) + 2:]
    return text


def _quantity_of(element: str) -> str:
    from .names import split_element

    try:
        return split_element(element)[0]
    except BackcheckError:
        return element


def degenerate_answers(report: Any) -> set[str]:
    """Quantities answered entirely as zeros where the truth is not all zero."""
    found = set()
    for result in report.results:
        answered = slipped = False
        for item in result.items:  # stops at the first answered entry that is not 0
            if item.verdict == "missing":
                continue
            if item.given is None or item.given != 0:
                break
            answered = True
            slipped = slipped or item.verdict in ("wrong", "carried")
        else:
            if answered and slipped:
                found.add(result.name)
    return found


def _rests_on(item: Any, degenerate: set[str]) -> list[str]:
    sources = []
    for text in (item.cause, item.origin):
        for part in (text or "").replace(" …", "").split(", "):
            name = _quantity_of(part.strip())
            if name in degenerate and name not in sources:
                sources.append(name)
    return sources


#: one quantity's verdicts as scoring counts them, whatever the course: (name, the key as
#: the sheet wrote it when different else None, entries, correct, carried, wrong, missing,
#: carried entries that earn the carried share, entries that earn nothing, the all-zero
#: answers that carried entries here rest on, the finding about the whole answer). Plain
#: and hashable: a worker of a class run sends it to the parent (:mod:`backcheck.classrun`),
#: and sheets alike share a score.
QuantityTally = tuple


def _line(item: Any, symbols: dict[str, str]) -> str:
    """One entry as a score's detail says it."""
    symbol = symbols.get(item.verdict, "?")
    if item.verdict == "correct":
        return f"{symbol} {item.element} = {item.text}"
    if item.verdict == "missing":
        return f"{symbol} {item.element}: not answered"
    code = f" [{item.code}]" if item.code else ""
    return (f"{symbol} {item.element}: "
            f"{_without_element(item.diagnosis, item.element) or item.verdict}{code}")


def tally_report(report: Any, *, detail: bool = False
                 ) -> tuple[tuple[QuantityTally, ...], list[list[str]] | None]:
    """What scoring needs of a graded sheet whatever the course: a :data:`QuantityTally`
    per result, and with ``detail`` the lines that say why (one list per result)."""
    from .grading import SYMBOLS

    degenerate = degenerate_answers(report)
    tallies: list[QuantityTally] = []
    all_lines: list[list[str]] | None = [] if detail else None
    for result in report.results:
        # credit per entry: 1 (correct), the carried share (carried, not resting on an
        # all-zero answer), else 0; counted, not summed entry by entry
        verdicts = [item.verdict for item in result.items]
        correct, carried = verdicts.count("correct"), verdicts.count("carried")
        credited = carried
        sources_seen: list[str] = []
        if degenerate and carried:
            for item in result.items:
                sources = _rests_on(item, degenerate) if item.verdict == "carried" else []
                if sources:
                    sources_seen += [s for s in sources if s not in sources_seen]
                    credited -= 1
        if all_lines is not None:
            lines = [_line(item, SYMBOLS) for item in result.items]
            if result.finding and not any(result.finding in line for line in lines):
                lines.insert(0, result.finding)
            all_lines.append(lines)
        tallies.append((result.name, result.written_as if result.written_as != result.name
                        else None, len(verdicts), correct, carried, verdicts.count("wrong"),
                        verdicts.count("missing"), credited, len(verdicts) - correct - credited,
                        tuple(sources_seen), result.finding))
    return tuple(tallies), all_lines


@lru_cache(maxsize=4096)
def _earned(possible: Fraction, entries: int, correct: int, credited: int, zero: int,
            carried_credit: Fraction, partial_credit: bool) -> Fraction:
    """A quantity's points earned (one place for the rule; cached: a class repeats the
    same few cases thousands of times)."""
    if not entries:
        return Fraction(0)
    if partial_credit:
        return possible * (correct + credited * carried_credit) / entries
    present = ([Fraction(1)] if correct else []) + (
        [Fraction(0)] if zero else []) + ([carried_credit] if credited else [])
    return possible * min(present)


def exact_sum(values: list[Fraction]) -> Fraction:
    """The exact sum of fractions over one common denominator (the same value as adding
    them one by one, without a gcd per addition)."""
    denominator = 1
    for value in values:
        if denominator % value.denominator:
            denominator = lcm(denominator, value.denominator)
    return Fraction(sum(v.numerator * (denominator // v.denominator) for v in values),
                    denominator)


def score_tallies(tallies: tuple[QuantityTally, ...], course: Course,
                  named: dict[str, Fraction], rest: Fraction,
                  lines: list[list[str]] | None = None) -> Score:
    """The :class:`Score` of a sheet from its :func:`tally_report` under ``course``
    (``named``: points by quantity, ``rest``: the points of the others)."""
    quantities: list[QuantityScore] = []
    flags: list[str] = []
    seen = set()
    for position, (name, written_as, entries, correct, carried, wrong, missing, credited,
                   zero, sources, finding) in enumerate(tallies):
        seen.add(name)
        possible = named.get(name, rest)
        earned = _earned(possible, entries, correct, credited, zero, course.carried_credit,
                         course.partial_credit)
        why = lines[position] if lines is not None else [finding] if finding else []
        if sources:
            shown = ", ".join(sources)
            flag = (f"{name}: carried entries rest on an all-zero answer ({shown}); "
                    "no carried credit for them")
            flags.append(flag)
            why.insert(0, flag)
        quantities.append(QuantityScore(
            name, earned, possible, {"correct": correct, "carried": carried, "wrong": wrong,
                                     "missing": missing}, why, list(sources), written_as))
    for name, possible in named.items():
        if name not in seen:
            quantities.append(QuantityScore(name, Fraction(0), possible, {}, [
                f"{name}: not on the sheet (0 of {points_text(possible)} points)"]))
    return Score(earned=exact_sum([q.earned for q in quantities]),
                 possible=exact_sum([q.possible for q in quantities]),
                 quantities=quantities, flags=flags, carried_credit=course.carried_credit,
                 partial_credit=course.partial_credit)


def _points_of(course: Course, graph: Any, sheet_points: PointsSpec | None
               ) -> tuple[dict[str, Fraction], Fraction]:
    spec = course.points if course.points is not None else sheet_points
    if spec is None:
        return {}, Fraction(1)
    if graph is None and spec.named:
        raise BackcheckError("scoring by quantity names needs the problem's graph")
    if graph is not None:
        return spec.resolve(graph)
    # no names to resolve: one number for every quantity, or a mapping with only default:
    return {}, spec.each if spec.each is not None else spec.default or Fraction(0)


def score_report(report: Any, course: Course | None = None, graph: Any = None,
                 sheet_points: PointsSpec | None = None, *, detail: bool = True) -> Score:
    """Score a graded sheet. ``graph`` resolves the names of a points mapping; a course's
    points win over the sheet's own ``sheet_points``. ``detail`` adds the lines that say
    why (for autograder output; a class gradebook needs only the numbers)."""
    course = course or Course()
    named, rest = _points_of(course, graph, sheet_points)
    tallies, lines = tally_report(report, detail=detail)
    return score_tallies(tallies, course, named, rest, lines)


class Scorer:
    """Scores many reports under one course, resolving point names once per problem."""

    def __init__(self, course: Course | None = None) -> None:
        self.course = course or Course()
        self._graphs: dict[str, Any] = {}
        self._by_results: dict[int, tuple[Any, tuple[QuantityTally, ...]]] = {}
        self._points: dict[str | None, tuple[dict[str, Fraction], Fraction]] = {}
        self._scores: dict[tuple, Score] = {}

    def graph(self, problem_file: str | None) -> Any:
        if problem_file is None:
            return None
        if problem_file not in self._graphs:
            from .graph import build_graph
            from .problem import load_problem

            self._graphs[problem_file] = build_graph(load_problem(problem_file))
        return self._graphs[problem_file]

    def needs_graph(self, report: Any) -> bool:
        spec = self.course.points if self.course.points is not None else getattr(
            report, "points", None)
        return spec is not None and bool(spec.named)

    def score(self, report: Any, *, detail: bool = True) -> Score | None:
        """The report's score, or None for a sheet that could not be graded. Sheets scored
        alike (the same tallies, no points of their own) share one :class:`Score`."""
        if report.error is not None:
            return None
        own = getattr(report, "points", None)
        if own is not None or report.problem_file not in self._points:
            graph = self.graph(report.problem_file) if self.needs_graph(report) else None
            points = _points_of(self.course, graph, own)
            if own is not None:
                tallies, lines = tally_report(report, detail=detail)
                return score_tallies(tallies, self.course, *points, lines)
            self._points[report.problem_file] = points
        named, rest = self._points[report.problem_file]
        if detail:
            tallies, lines = tally_report(report, detail=True)
            return score_tallies(tallies, self.course, named, rest, lines)
        key = (report.problem_file, self.tallies(report))
        score = self._scores.get(key)
        if score is None:
            score = self._scores[key] = score_tallies(key[1], self.course, named, rest)
        return score

    def tallies(self, report: Any) -> tuple[QuantityTally, ...]:
        """:func:`tally_report` of ``report``: as a class run's worker counted them, or
        counted here once for the reports that share their results."""
        tallies = getattr(report, "tallies", None)
        if tallies is not None:
            return tallies
        key = id(report.results)
        known = self._by_results.get(key)
        if known is not None and known[0] is report.results:
            return known[1]
        tallies = tally_report(report)[0]
        self._by_results[key] = (report.results, tallies)
        return tallies
