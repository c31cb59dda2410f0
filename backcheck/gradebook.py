"""The class gradebook (CSV): one row per sheet, and reading it back for ``report``.

Columns: ``sheet, student, problem``, one per quantity ("3 of 4", "2 of 4 (1 carried,
1 wrong)"), the verdict counts, ``score_percent`` (share of entries correct),
``points, max_points`` (under the course's points and credit), ``look_first_at``,
``mistakes`` (each code with the first element it was seen at), one ``code:…`` column per
mistake code seen in the class (how many entries of the sheet carry it), then ``error``.
Cells a spreadsheet would read as a formula are quoted with a leading '.
"""

from __future__ import annotations

import re
from typing import Any

from .scoring import Score, points_number

CODE_PREFIX = "code:"
_CELL = re.compile(r"^(?P<correct>\d+) of (?P<total>\d+)(?: \((?P<rest>[^)]*)\))?$")


def _cell(text: Any) -> str:
    """A CSV cell that a spreadsheet won't read as a formula, with control and bidi
    characters escaped (:func:`backcheck.text.escape`)."""
    from .text import escape

    text = escape(text)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _uncell(text: str) -> str:
    return text[1:] if text[:1] == "'" and text[1:2] in ("=", "+", "-", "@", "\t", "\r") \
        else text


def quantity_cell(result: Any) -> str:
    return cell_text(result.count("correct"), len(result.items), result.count("carried"),
                     result.count("wrong"))


def cell_text(correct: int, total: int, carried: int, wrong: int) -> str:
    """A quantity's cell: "3 of 4", "2 of 4 (1 carried, 1 wrong)"."""
    text = f"{correct} of {total}"
    if carried or wrong:
        extra = [f"{n} {v}" for v, n in (("carried", carried), ("wrong", wrong)) if n]
        text += f" ({', '.join(extra)})"
    return text


def sheet_codes(report: Any, results: Any = None) -> dict[str, tuple[int, str]]:
    """Mistake code → (entries with it, the first element it is seen at), in sheet order
    (of ``results`` when given: those of the report that can have codes)."""
    codes: dict[str, tuple[int, str]] = {}
    items = report.items if results is None else [
        item for result in results for item in result.items]
    for item in items:
        code = item.code
        if not code or code == "carried":
            continue
        count, first = codes.get(code, (0, item.element))
        codes[code] = (count + 1, first)
    return codes


def row_parts(report: Any, tallies: Any = None
              ) -> tuple[dict[str, str], dict[str, tuple[int, str]]]:
    """What a sheet's gradebook row shows of its verdicts: quantity name → cell
    (:func:`quantity_cell`), in sheet order, and its mistake codes (:func:`sheet_codes`).
    A class run's workers make them (the parent of 10,000 sheets only writes rows), the
    cells from the report's :func:`backcheck.scoring.tally_report` when they have it."""
    if report.error is not None:
        return {result.name: quantity_cell(result) for result in report.results}, {}
    if tallies is None:
        cells = {result.name: quantity_cell(result) for result in report.results}
        return cells, sheet_codes(report)
    cells = {name: cell_text(correct, entries, carried, wrong)
             for name, _, entries, correct, carried, wrong, *_ in tallies}
    # only entries neither correct nor missing have a code
    coded = [result for result, (_, _, entries, correct, _, _, missing, *_)
             in zip(report.results, tallies, strict=True) if correct + missing < entries]
    return cells, sheet_codes(report, coded)


def gradebook_csv(reports: list[Any], scores: list[Score | None] | None = None) -> str:
    """The gradebook of a class run (``scores`` from :mod:`backcheck.scoring`, one per
    report; computed with the default course when not given)."""
    import csv
    import io

    if scores is None:
        from .scoring import Scorer

        scorer = Scorer()
        scores = [scorer.score(report) for report in reports]
    quantities: list[str] = []
    seen_quantities: set[str] = set()
    all_codes: list[str] = []
    seen_codes: set[str] = set()
    shared: dict[int, tuple[Any, Any]] = {}  # reports sharing verdicts share cells
    per_sheet = []
    for report in reports:
        parts = getattr(report, "gradebook_parts", None)  # a class run's worker made them
        if parts is None:
            key = id(report.results)
            if key in shared and shared[key][0] is report.results:
                parts = shared[key][1]
            else:
                parts = row_parts(report)
                shared[key] = (report.results, parts)
        per_sheet.append(parts)
        cells, codes = parts
        for name in cells:
            if name not in seen_quantities:
                seen_quantities.add(name)
                quantities.append(name)
        for code in codes:
            if code not in seen_codes:
                seen_codes.add(code)
                all_codes.append(code)
    all_codes.sort()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["sheet", "student", "problem", *quantities, "correct", "carried", "wrong",
                     "missing", "total", "score_percent", "points", "max_points",
                     "look_first_at", "mistakes", *(CODE_PREFIX + c for c in all_codes),
                     "error"])
    known: dict[Any, str] = {}  # the cells that repeat from row to row, made once

    def cell(text: Any) -> str:
        made = known.get(text)
        if made is None:
            made = known[text] = _cell(text)
        return made

    for report, score, (by_name, codes) in zip(reports, scores, per_sheet, strict=True):
        if report.error is not None:
            writer.writerow([_cell(report.sheet), "", "", *([""] * len(quantities)),
                             "", "", "", "", "", "", "", "", "", "",
                             *([""] * len(all_codes)),
                             _cell(str(report.error).replace("\n", " "))])
            continue
        cells = [by_name.get(name, "") for name in quantities]
        counts = report.counts
        percent = round(100 * counts["correct"] / report.total, 1) if report.total else ""
        first = report.first
        mistakes = "; ".join(f"{code}: {element}" for code, (_, element) in codes.items())
        writer.writerow([
            _cell(report.sheet), _cell(report.student), cell(report.problem_file), *cells,
            counts["correct"], counts["carried"], counts["wrong"], counts["missing"],
            report.total, percent,
            "" if score is None else points_number(score.earned),
            "" if score is None else points_number(score.possible),
            "" if first is None else cell(first.element), cell(mistakes),
            *(codes[c][0] if c in codes else 0 for c in all_codes), ""])
    return buffer.getvalue()


# ============================================================================ reading


def read_gradebook(path: str) -> list[dict[str, Any]]:
    """Rows of a gradebook written by :func:`gradebook_csv`, as plain dicts:
    ``sheet``, ``error``, ``quantities`` {name: {correct, carried, wrong, missing, total}},
    ``codes`` {code: count}, ``examples`` {code: element}. One located error if the file
    is not such a gradebook."""
    import csv
    import io

    from .errors import BackcheckError
    from .literals import read_text

    text = read_text(path)
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise BackcheckError("the gradebook is empty", file=path) from None
    except csv.Error as error:
        raise BackcheckError(f"cannot read the gradebook: {error}", file=path) from None
    needed = ("sheet", "problem", "correct", "total", "error")
    missing = [name for name in needed if name not in header]
    if missing:
        raise BackcheckError(
            f"not a backcheck gradebook: no column {missing[0]!r} in the first row",
            file=path, hint="write one with: backcheck verify SHEETS… --csv grades.csv")
    first_fixed = header.index("correct")
    quantity_columns = header[header.index("problem") + 1:first_fixed]
    rows = []
    try:
        for line, values in enumerate(reader, start=2):
            if not values:
                continue
            if len(values) != len(header):
                raise BackcheckError(f"line {line}: {len(values)} cells, the header has "
                                     f"{len(header)}", file=path)
            row = dict(zip(header, values))
            entry: dict[str, Any] = {"sheet": _uncell(row["sheet"]),
                                     "error": row["error"], "quantities": {},
                                     "codes": {}, "examples": {}}
            for name in quantity_columns:
                cell = row[name]
                if not cell:
                    continue
                match = _CELL.match(cell)
                if match is None:
                    raise BackcheckError(f"line {line}: cannot read {cell!r} under {name!r} "
                                         "(expected e.g. '3 of 4 (1 carried)')", file=path)
                counts = {"correct": int(match["correct"]), "carried": 0, "wrong": 0,
                          "total": int(match["total"])}
                for part in (match["rest"] or "").split(","):
                    bits = part.split()
                    if len(bits) == 2 and bits[0].isdigit() and bits[1] in counts:
                        counts[bits[1]] = int(bits[0])
                counts["missing"] = max(0, counts["total"] - counts["correct"]
                                        - counts["carried"] - counts["wrong"])
                entry["quantities"][name] = counts
            for column in header:
                if column.startswith(CODE_PREFIX) and row[column].isdigit() and int(
                        row[column]):
                    entry["codes"][column[len(CODE_PREFIX):]] = int(row[column])
            for part in _uncell(row.get("mistakes", "")).split("; "):
                code, _, element = part.partition(": ")
                if code and element:
                    entry["examples"][code] = element
            rows.append(entry)
    except csv.Error as error:
        raise BackcheckError(f"cannot read the gradebook: {error}", file=path) from None
    return rows
