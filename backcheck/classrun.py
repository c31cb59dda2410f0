"""Class runs on every core: sheets graded in worker processes, reports back in order.

Each worker keeps one :class:`backcheck.grading.Grader` for its life, so each problem is
solved once per worker (and, where processes fork, once in all: the parent grades the first
sheet before the pool starts, so every worker begins with its problem solved). A sheet's
report does not depend on which worker graded it or in what order, so a pooled run gives
the same reports as a serial one.

Reports come back to the parent as plain tuples: what the class views need (counts, the
entry to look at first, the gradebook cells, the scoring tallies), made in the worker by
the same functions that make them for any report, and the report itself (:func:`pack`:
verdicts, diagnoses, codes and the numbers as written, without the exact values) as
pickled bytes. The parent keeps each as a :class:`PooledReport`, which rebuilds the full
report (:func:`unpack`, its exact values from the parent's copy of the problem) only when
something asks for its results (``--json``, class analytics); a caller that will not ask
(``verify`` without ``--json``: ``grade_class(items=False)``) has the workers skip that
part. The parent of a class run shares the cores with the workers: everything it does
per sheet is time they lose.
"""

from __future__ import annotations

import contextlib
import copyreg
import os
import re
from collections.abc import Callable, Iterator
from typing import Any

from .exact import _ctx
from .grading.report import VERDICTS

_GRADER: Any = None
#: a class run of at least this many sheets uses a process pool (when there are cores)
POOL_AFTER = 200
#: sheets handed to a worker at a time (at most)
CHUNK = 100
_MPF = type(_ctx.mpf(1))


def _make_mpf(value: tuple) -> Any:
    return _ctx.make_mpf(value)


def _reduce_mpf(number: Any) -> tuple:
    return _make_mpf, (number._mpf_,)


# the high-precision numbers of :mod:`backcheck.exact` belong to a private mpmath context,
# whose mpf class pickle cannot find by name: rebuild them from their (sign, man, exp, bc)
copyreg.pickle(_MPF, _reduce_mpf)


def grade_class(paths: list[str], *, jobs: int | None = None,
                advance: Callable[[int], None] | None = None,
                items: bool = True) -> list[Any]:
    """Grade many sheets, reports in the order given; with ``jobs`` > 1 (by default every
    core, for :data:`POOL_AFTER` sheets or more) in a pool of worker processes.

    Sheets with the same answers (:func:`answers_key`) are graded once and share the
    verdicts; the reports are the same whichever process grades which sheet.
    ``items=False`` says that the caller needs of the sheets only what the class views
    need (:class:`PooledReport`): the workers then send no report items, and the full
    report of a pooled sheet, if asked for anyway, is graded again in this process."""
    keys = _answers_keys(paths, jobs)
    first: dict[tuple[str, str], int] = {}
    todo: list[int] = []
    for i, key in enumerate(keys):
        if key is None:
            todo.append(i)
        elif key[:2] not in first:
            first[key[:2]] = i
            todo.append(i)
    if jobs is None:
        jobs = min(os.cpu_count() or 1, 8) if len(todo) >= POOL_AFTER else 1
    jobs = max(1, min(jobs, len(todo) or 1))
    graded = _grade_paths([paths[i] for i in todo], jobs, advance, items)
    reports: list[Any] = [None] * len(paths)
    for i, report in zip(todo, graded, strict=True):
        reports[i] = report
    for i, key in enumerate(keys):
        if reports[i] is not None:
            continue
        source = reports[first[key[:2]]]  # type: ignore[index]
        copy = None
        if source.error is None and source.problem_file != source.sheet:
            copy = _copy(source, paths[i], key[2])
        if copy is None:
            from .grading import Grader

            copy = Grader().grade_or_error(paths[i])
        reports[i] = copy
        if advance is not None:
            advance(1)
    return reports


def _answers_keys(paths: list[str], jobs: int | None) -> list[Any]:
    """:func:`answers_key` of every sheet; for a class that will use a pool, read on every
    core (reading 10,000 sheets is seconds of one process before any grading starts)."""
    cores = min(os.cpu_count() or 1, 8)
    if jobs is not None:
        cores = min(cores, jobs)
    if cores <= 1 or len(paths) < POOL_AFTER:
        return [answers_key(path) for path in paths]
    import multiprocessing

    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    with _pool(method, cores) as pool:
        return pool.map(answers_key, paths, chunksize=max(1, len(paths) // (4 * cores)))


def _grade_paths(paths: list[str], jobs: int,
                 advance: Callable[[int], None] | None, items: bool = True) -> list[Any]:
    if jobs == 1:
        from .grading import Grader

        grader = Grader()
        reports = []
        for path in paths:
            reports.append(grader.grade_or_error(path))
            if advance is not None:
                advance(1)
        return reports
    import multiprocessing

    global _GRADER
    from .grading import Grader

    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    results: list[Any] = []
    grader = Grader()
    if method == "fork":
        # the first sheet graded here: its problem is solved (and its buggy rules worked
        # from the truth) before the workers fork, so none of them does it again
        _GRADER = grader
        results.append(grader.grade_or_error(paths[0]))
        paths = paths[1:]
        if advance is not None:
            advance(1)
    chunk = max(1, min(CHUNK, len(paths) // (4 * jobs)))
    chunks = [paths[i:i + chunk] for i in range(0, len(paths), chunk)]
    try:
        with _pool(method, jobs) as pool:
            for packed in pool.imap(pool_grade if items else pool_grade_light, chunks):
                results.extend(receive(report, grader) for report in packed)
                if advance is not None:
                    advance(len(packed))
    finally:
        _GRADER = None
    return results


@contextlib.contextmanager
def _pool(method: str, processes: int) -> Iterator[Any]:
    """A process pool (``multiprocessing``'s) whose worker handler thread sleeps until a
    worker exits or the pool changes. The standard one also wakes whenever results wait
    in the pipe, and so loops for as long as they do: a tenth of the parent's time in a
    class run, taken from the cores the workers grade on.

    Forked workers start with this process's objects frozen (``gc.freeze``, as the gc
    module's documentation advises before a fork): no collection walks them, in a worker
    or here while the pool runs, so their pages stay shared (a worker copies fewer: 10,000
    page faults in the two workers of 2,000 sheets instead of 17,000)."""
    import gc
    import multiprocessing
    from multiprocessing.pool import Pool

    class QuietPool(Pool):
        def _get_sentinels(self) -> list[Any]:
            notifier = getattr(self, "_change_notifier", None)
            reader = getattr(notifier, "_reader", None)
            return [reader] if reader is not None else super()._get_sentinels()

    frozen = method == "fork"
    if frozen:
        gc.freeze()
    try:
        with QuietPool(processes, context=multiprocessing.get_context(method)) as pool:
            yield pool
    finally:
        if frozen:
            gc.unfreeze()


def pool_grade(paths: list[str]) -> list[Any]:
    """Grade a chunk of sheets in a worker (unreadable ones come back with ``error``),
    each report :func:`pack` ed for the trip to the parent."""
    global _GRADER
    if _GRADER is None:
        from .grading import Grader

        _GRADER = Grader()
    return [send(_GRADER.grade_or_error(path), _GRADER) for path in paths]


def pool_grade_light(paths: list[str]) -> list[Any]:
    """:func:`pool_grade` without the reports' items (``grade_class(items=False)``)."""
    global _GRADER
    if _GRADER is None:
        from .grading import Grader

        _GRADER = Grader()
    return [send(_GRADER.grade_or_error(path), _GRADER, items=False) for path in paths]


def send(report: Any, grader: Any, *, items: bool = True) -> Any:
    """A worker's report for the trip to the parent: what the class views need of it, and
    (unless not ``items``) the report :func:`pack` ed, as pickled bytes that the parent
    reads only if asked. A report that travels whole (:func:`pack`) goes as it is."""
    import pickle

    from .gradebook import row_parts
    from .scoring import tally_report

    if items:
        packed = pack(report, grader)
        if not isinstance(packed, tuple):
            return packed
        blob = pickle.dumps(packed, pickle.HIGHEST_PROTOCOL)
    elif report.error is not None:
        return report
    else:
        blob = None
    tallies = tally_report(report)[0]
    # the report's counts and total are the sums of its quantities' (VERDICTS' order)
    counts = tuple(sum(tally[i] for tally in tallies) for i in range(3, 7))
    first = report.first
    return ("pooled", report.sheet, report.problem_file, report.title, report.student,
            report.notes, report.points, counts, sum(tally[2] for tally in tallies),
            None if first is None else (first.element, first.verdict, first.diagnosis),
            row_parts(report, tallies), tallies,
            blob)


def receive(sent: Any, grader: Any) -> Any:
    """What :func:`send` sent, in the parent: a :class:`PooledReport` (or the whole report
    that travelled)."""
    if not isinstance(sent, tuple):
        return sent
    return PooledReport(sent, grader)


class PooledReport:
    """A sheet graded in a worker, as the parent of a class run keeps it: what the class
    table, the gradebook, the scores and the exit code need, read from what the worker
    sent; the full :class:`backcheck.grading.Report` (items with their exact values) is
    built the first time anything else is asked for (``results``, ``items``,
    ``to_json``, ``order``), the same report a serial run makes."""

    __slots__ = ("sheet", "problem_file", "title", "student", "notes", "points", "counts",
                 "total", "gradebook_parts", "tallies", "_first", "_blob", "_grader",
                 "_full", "_base")
    error = None

    def __init__(self, sent: tuple, grader: Any) -> None:
        (_, self.sheet, self.problem_file, self.title, self.student, self.notes,
         self.points, counts, self.total, first, self.gradebook_parts, self.tallies,
         self._blob) = sent
        #: verdict → entries (one dict, read as often as the views like)
        self.counts = dict(zip(VERDICTS, counts, strict=True))
        self._first = None if first is None else _First(self, *first)
        self._grader = grader
        self._full: Any = None
        self._base: PooledReport | None = None

    @property
    def full(self) -> Any:
        """The :class:`backcheck.grading.Report`, rebuilt once."""
        if self._full is None:
            if self._base is not None:
                from .grading import Report

                base = self._base.full
                self._full = Report(sheet=self.sheet, problem_file=self.problem_file,
                                    title=self.title, student=self.student,
                                    results=base.results, notes=base.notes, order=base.order)
            elif self._blob is None:  # sent without items (grade_class(items=False))
                self._full = self._grader.grade_or_error(self.sheet)
            else:
                import pickle

                self._full = unpack(pickle.loads(self._blob), self._grader)
        return self._full

    def renamed(self, sheet: str, title: str | None, student: str | None) -> PooledReport:
        """These verdicts as the report of another sheet with the same answers."""
        copy = PooledReport.__new__(PooledReport)
        for name in ("problem_file", "notes", "counts", "total", "gradebook_parts",
                     "tallies", "_first", "_blob", "_grader"):
            setattr(copy, name, getattr(self, name))
        copy.sheet, copy.title, copy.student, copy.points = sheet, title, student, None
        copy._full, copy._base = None, self
        if self._first is not None:
            copy._first = _First(copy, self._first.element, self._first.verdict,
                                 self._first.diagnosis)
        return copy

    @property
    def results(self) -> list[Any]:
        return self.full.results

    @property
    def items(self) -> list[Any]:
        return self.full.items

    @property
    def order(self) -> dict[str, int]:
        return self.full.order

    @property
    def first(self) -> Any:
        """The entry to look at first (:attr:`backcheck.grading.Report.first`): its
        element, verdict and diagnosis as sent, the rest of the item from the full report."""
        return self._first

    @property
    def ok(self) -> bool:
        return not (self.counts["carried"] or self.counts["wrong"])

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def summary(self) -> str:
        return self.full.summary()

    def to_json(self) -> dict[str, Any]:
        return self.full.to_json()

    def __repr__(self) -> str:
        return repr(self.full)

    def _repr_html_(self) -> str | None:
        return self.full._repr_html_()


class _First:
    """:attr:`PooledReport.first`: element, verdict and diagnosis as the worker sent them;
    any other attribute of the item read from the full report."""

    __slots__ = ("_report", "element", "verdict", "diagnosis")

    def __init__(self, report: PooledReport, element: str, verdict: str,
                 diagnosis: str | None) -> None:
        self._report, self.element, self.verdict, self.diagnosis = (report, element, verdict,
                                                                    diagnosis)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "_report":
            raise AttributeError(name)
        return getattr(self._report.full.first, name)


#: the numbers as written, shared between the reports the parent rebuilds (a class writes
#: the same numbers on many sheets; a Fraction is immutable)
_FRACTIONS: dict[tuple[int, int], Any] = {}
#: an item as it travels: (flat, given as (numerator, denominator) or None, text,
#: tolerance (None for auto), verdict, diagnosis, mistake, cause, origin, mistake code)
_ItemTuple = tuple
#: problem file as a sheet names it → (grader, its context), for :func:`pack` (the
#: grader finds a context by the file's real path: four system calls a sheet)
_PACKING: dict[str, tuple[Any, Any]] = {}


def pack(report: Any, grader: Any) -> Any:
    """``report`` as plain tuples (cheap to pickle): each result of the problem's own
    quantities keeps its items' verdicts, diagnoses and numbers as written, not the exact
    values (:func:`unpack` takes those from the parent's copy of the problem). A report
    that could not be graded, of a problem file with answers, or with results of any
    other kind travels whole. The rounding reach of each entry (``follows``) stays behind:
    the class views, the gradebook and ``--json`` never show it."""
    from .grading import AUTO

    if report.error is not None or report.problem_file in (None, report.sheet):
        return _lighten(report)
    known = _PACKING.get(report.problem_file)
    if known is not None and known[0] is grader:
        ctx = known[1]  # (any other context fails the identity test below: whole results)
    else:
        try:
            ctx = grader.context(report.problem_file)
        except Exception:  # noqa: BLE001 - whatever it is, the whole report still travels
            return _lighten(report)
        _PACKING[report.problem_file] = (grader, ctx)
    results = []
    for result in report.results:
        truth = ctx.truth_flat.get(result.name)
        quantity = ctx.graph.quantities.get(result.name)
        if truth is None or quantity is not result.quantity or any(
                item.expected is not truth[item.flat] for item in result.items):
            results.append(_lighten_result(result))  # a formula answer, …: as it is
            continue
        items = tuple(
            (item.flat, None if item.given is None else (item.given.numerator,
                                                         item.given.denominator),
             item.text, None if item.tolerance is AUTO or item.tolerance == AUTO
             else item.tolerance, item.verdict,
             item.diagnosis, item.mistake, item.cause, item.origin, item.mistake_code)
            for item in result.items)
        results.append((result.name, result.written_as, result.finding, items))
    return ("packed", report.sheet, report.problem_file, report.title, report.student,
            report.notes, report.points, results)


def _lighten(report: Any) -> Any:
    """A report that travels whole, without what only the grader needed (the rounding
    reach of entries that are not carried)."""
    for result in report.results:
        _lighten_result(result)
    return report


def _lighten_result(result: Any) -> Any:
    for item in result.items:
        if item.verdict != "carried":
            item.follows = None
    return result


def unpack(packed: Any, grader: Any) -> Any:
    """The report :func:`pack` made tuples of, its exact values from ``grader``'s problem."""
    if not isinstance(packed, tuple):
        return packed
    from fractions import Fraction

    from .grading import AUTO, Item, QuantityResult, Report

    _, sheet, problem_file, title, student, notes, points, packed_results = packed
    ctx = grader.context(problem_file)
    if len(_FRACTIONS) > 200_000:
        _FRACTIONS.clear()

    def fraction(given: tuple[int, int]) -> Fraction:
        number = _FRACTIONS.get(given)
        if number is None:
            number = _FRACTIONS[given] = Fraction(*given)
        return number

    results = []
    for result in packed_results:
        if not isinstance(result, tuple):
            results.append(result)
            continue
        name, written_as, finding, items = result
        truth, indices = ctx.truth_flat[name], ctx.indices[name]
        results.append(QuantityResult(name, ctx.graph.quantities[name], [
            Item(name, flat, indices[flat], truth[flat],
                 None if given is None else fraction(given),
                 text, AUTO if tolerance is None else tolerance, verdict, diagnosis, mistake,
                 cause, origin, None, code)
            for (flat, given, text, tolerance, verdict, diagnosis, mistake, cause, origin,
                 code) in items], written_as, finding))
    return Report(sheet=sheet, problem_file=problem_file, title=title, student=student,
                  results=results, notes=notes, order=ctx.structure.position, points=points)


# ================================================ one grading per answer set

#: top-level lines that name the sheet's author but play no part in its grading
#: (only one-line plain values: a block, flow, quoted, tagged or aliased value may span lines)
_PERSONAL = re.compile(r"^(?:student|title|notes)[ \t]*:[ \t]+[^\s|>&*!\[{\"'%@`#][^\n]*\n?",
                       re.MULTILINE)


#: a folder as sheets name it → its real path (a class's sheets share a few folders)
_FOLDERS: dict[str, str] = {}


def answers_key(path: str) -> tuple[str, str, str] | None:
    """(folder, the sheet's text without its student/title/notes lines, those lines):
    two sheets with the same first two have the same problem and the same answers as
    written, so the same verdicts. None for a sheet that cannot be read (graded on its
    own, to get its own message), a problem file with answers, or a sheet with its own
    ``points:``."""
    from .errors import BackcheckError
    from .literals import read_text

    try:
        text = read_text(path)
    except (BackcheckError, OSError):
        return None
    if re.search(r"^points[ \t]*:", text, re.MULTILINE) or not re.search(
            r"^problem[ \t]*:", text, re.MULTILINE):
        return None
    where = os.path.dirname(os.path.abspath(path))
    folder = _FOLDERS.get(where)
    if folder is None:
        if len(_FOLDERS) > 10_000:
            _FOLDERS.clear()
        folder = _FOLDERS[where] = os.path.realpath(where)
    personal = "".join(m.group(0).rstrip("\n") + "\n" for m in _PERSONAL.finditer(text))
    return folder, _PERSONAL.sub("", text), personal


def _copy(source: Any, path: str, personal: str) -> Any:
    """``source``'s verdicts as the report of the sheet at ``path`` (its own student and
    title, read from its ``personal`` lines); None if those lines do not read."""
    from fractions import Fraction

    from .errors import BackcheckError
    from .grading import Report
    from .literals import parse_yaml

    try:
        doc = parse_yaml(personal or "{}\n", path)
    except BackcheckError:
        return None
    data = doc.data if isinstance(doc.data, dict) else {}
    student = data.get("student")
    student = student if isinstance(student, (str, Fraction)) else None
    if isinstance(student, Fraction):
        student = doc.texts.get(("student",))
    title = data.get("title") if isinstance(data.get("title"), str) else None
    if isinstance(source, PooledReport):
        return source.renamed(path, title, student)
    return Report(sheet=path, problem_file=source.problem_file, title=title,
                  student=student, results=source.results, notes=source.notes,
                  order=source.order)
