"""Reading an answer sheet (FORMAT §4): its problem, names (any spelling
:mod:`backcheck.names` accepts), tolerances, numbers as written, arrays and their shapes,
into one :class:`Entry` per answered quantity, flat in the problem's layout; and the
precision the sheet works to.

Everything a student can get wrong in the file itself is one located message here; a
whole answer of the wrong shape is kept as a finding (naming the transpose, or a known
mistake) for the verdicts.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import BackcheckError, quoted
from ..graph import Quantity
from ..literals import Document, child_paths, load_yaml, parse_number_text
from ..mistakes import BY_NAME
from ..numbers_text import element_text
from ..problem import _check_keys
from .context import ProblemContext
from .tolerance import (
    AUTO,
    DEFAULT_WORKING_DECIMALS,
    Tolerance,
    is_exactly,
    parse_tolerance,
    text_precision,
)

if TYPE_CHECKING:
    from .grader import Grader

SHEET_KEYS = ("problem", "answers", "tolerance", "tolerances", "student", "title", "notes",
              "points")


@dataclass
class Entry:
    """One answered quantity: the student's numbers, flat in the problem's layout."""

    name: str
    quantity: Quantity
    written_as: str
    path: tuple
    given: list[Fraction | None]
    texts: list[str | None]
    answered: list[bool]
    tolerances: list[Tolerance]
    finding: str | None = None
    finding_mistake: str | None = None
    unreadable: bool = False  # wrong shape, not mapped: graded wrong, not carried forward

@dataclass
class AnswerSheet:
    """A sheet as read: its problem, its number answers as entries, its formula answers
    (FORMAT §8, graded by :mod:`backcheck.formulas`), and what its report names."""

    path: str
    doc: Document
    ctx: ProblemContext
    entries: list[Entry]
    working: int  # the decimals the sheet works to (:func:`working_decimals`)
    formulas: dict[str, Any] = field(default_factory=dict)
    answers_path: tuple = ("answers",)
    title: str | None = None
    student: str | None = None
    points: Any = None  # the sheet's own points: (backcheck.scoring)


def read_sheet(grader: Grader, path: str) -> AnswerSheet:
    """Read the answers file (or problem file with ``answers:``) at ``path``; its problem
    comes from ``grader`` (solved once per problem)."""
    doc = load_yaml(path)
    data = doc.data
    if not isinstance(data, dict):
        raise doc.error("expected an answers file: a mapping with problem: and answers:")
    title: str | None = None
    points: Any = None
    if "problem" in data:
        _check_keys(doc, data, SHEET_KEYS, (), "an answers file")
        reference = data["problem"]
        if not isinstance(reference, str) or not reference.strip():
            raise doc.error("problem: must be the path of a problem file, relative to this "
                            "file", ("problem",))
        if "\x00" in reference:
            raise doc.error("problem: a file name cannot contain a NUL byte", ("problem",))
        problem_path = os.path.normpath(
            os.path.join(os.path.dirname(os.path.abspath(path)), reference.strip()))
        if _same_file(problem_path, path):
            raise doc.error("problem: points to this answers file itself", ("problem",),
                            hint="give the path of the problem file (net.yaml), relative to "
                                 "this file")
        if not os.path.lexists(problem_path):  # a dangling link or a loop: read_text says
            raise doc.error(f"problem file {reference!r} not found (looked for {problem_path})",
                            ("problem",))
        if os.path.isdir(problem_path):
            raise doc.error(f"problem: {reference!r} is a directory, not a problem file",
                            ("problem",))
        try:
            ctx = grader.context(problem_path)
        except BackcheckError as error:
            if error.hint is None:
                mark = doc.mark(("problem",))
                where = f"{path}:{mark.line}" if mark else path
                error.hint = f"the problem of the answers file {where}"
            raise
        answers = data.get("answers")
        answers_path: tuple = ("answers",)
        sheet_tolerance = parse_tolerance(doc, data.get("tolerance"), ("tolerance",))
        tolerances_spec = data.get("tolerances")
        tolerances_path: tuple = ("tolerances",)
        student = data.get("student")
        title = data.get("title") if isinstance(data.get("title"), str) else None
        if data.get("points") is not None:
            from ..scoring import read_points

            points = read_points(doc, data["points"], ("points",))
    elif "layers" in data or "steps" in data or "values" in data:
        ctx = grader.context(path, doc)
        answers = data.get("answers")
        answers_path = ("answers",)
        if answers is None:
            raise doc.error("this problem file has no answers: to grade, add answers: to it, "
                            "or write an answers file", hint="an answers file: problem: "
                            f"{os.path.basename(path)}, then answers: with your numbers")
        sheet_tolerance, tolerances_spec, tolerances_path = AUTO, None, ("answers", "tolerances")
        if isinstance(answers, dict):
            answers = dict(answers)
            known = ctx.graph.quantities
            if "tolerance" in answers and "tolerance" not in known:
                sheet_tolerance = parse_tolerance(doc, answers.pop("tolerance"),
                                                  ("answers", "tolerance"))
            if "tolerances" in answers and "tolerances" not in known:
                tolerances_spec = answers.pop("tolerances")
        student = None
        title = ctx.problem.title
    else:
        raise doc.error("not an answers file: expected problem: (the problem file) and "
                        "answers:", hint="see FORMAT.md §4; a problem file with answers: "
                                         "can be verified directly")
    if answers is None:
        raise doc.error("missing key 'answers' (the numbers you worked out)")
    if not isinstance(answers, dict) or not answers:
        raise doc.error("answers: must be a mapping of quantity names to numbers, "
                        "e.g. z1: [5, -1, 2]", answers_path)
    student = student if isinstance(student, (str, Fraction)) else None
    if isinstance(student, Fraction):
        student = doc.texts.get(("student",))
    from ..formulas import is_formula_value

    formulas = {k: v for k, v in answers.items()
                if _holds_text(v) and is_formula_value(v)}
    if formulas:  # FORMAT §8: graded as functions of the inputs (backcheck.formulas)
        answers = {k: v for k, v in answers.items() if k not in formulas}
    entries = read_answers(doc, ctx, answers, answers_path, sheet_tolerance,
                           tolerances_spec, tolerances_path)
    return AnswerSheet(path, doc, ctx, entries, working_decimals(entries, ctx), formulas,
                       answers_path, title, student, points)


def _read_number(doc: Document, value: Any, path: tuple) -> tuple[Fraction | None, str | None]:
    if value is None:
        return None, None
    if isinstance(value, Fraction):
        return value, doc.texts.get(path)
    if isinstance(value, str):
        text = value.strip().replace("−", "-").replace("–", "-")
        try:
            number = parse_number_text(text)
        except BackcheckError as error:
            raise error.located(doc.file, doc.mark(path)) from None
        if number is not None:
            return number, text
        from ..literals import not_a_number_reason

        found = not_a_number_reason(value) or quoted(value)
        raise doc.error(f"expected a number, found {found}", path,
                        hint="write numbers as 0.25, -1, 1e-3 or \"1/3\"; ~ for not attempted")
    if isinstance(value, bool):
        raise doc.error(f"expected a number, found {str(value).lower()}", path)
    raise doc.error("expected a number, found a mapping", path)


def _read_flat(doc: Document, value: Any, path: tuple
               ) -> tuple[tuple[int, ...], list[Fraction | None], list[str | None]]:
    """Nested lists of numbers → (their shape, the numbers flat in C order, their texts).

    Plain lists, not numpy arrays: a sheet's answers almost always have the right shape,
    and only a wrong one needs arrays (:func:`_fit`)."""
    if not isinstance(value, list):
        number, text = _read_number(doc, value, path)
        return (), [number], [text]
    kinds = set(map(type, value))
    if len(kinds) == 1 and Fraction in kinds:  # numbers only, the common case
        count = len(value)
        return (count,), list(value), list(map(doc.texts.get, child_paths(path, count)[:count]))
    if not value:
        raise doc.error("an empty list: write the numbers, or ~ for not attempted", path)
    if all(isinstance(v, list) for v in value):
        rows = [_read_flat(doc, v, path + (i,)) for i, v in enumerate(value)]
        shapes = {r[0] for r in rows}
        if len(shapes) != 1:
            lengths = [r[0][0] if r[0] else 1 for r in rows]
            raise doc.error(f"ragged: the rows have {', '.join(map(str, lengths))} entries",
                            path)
        given: list[Fraction | None] = []
        texts: list[str | None] = []
        for _, row_given, row_texts in rows:
            given += row_given
            texts += row_texts
        return (len(rows),) + rows[0][0], given, texts
    if any(isinstance(v, list) for v in value):
        raise doc.error("mixes numbers and lists: write a vector [1, 2] or rows [[1, 2], "
                        "[3, 4]]", path)
    given, texts = [], []
    for i, v in enumerate(value):
        number, text = _read_number(doc, v, path + (i,))
        given.append(number)
        texts.append(text)
    return (len(value),), given, texts


def _object_array(items: list, shape: tuple[int, ...]) -> np.ndarray:
    array = np.empty(len(items), dtype=object)
    for i, item in enumerate(items):
        array[i] = item
    return array.reshape(shape)


def _same_file(problem_path: str, path: str) -> bool:
    """``realpath(problem_path) == realpath(path)``, without resolving both paths one
    component at a time when their files differ (two stats say so: one real path is one
    file)."""
    try:
        a, b = os.stat(problem_path), os.stat(path)
        if (a.st_dev, a.st_ino) != (b.st_dev, b.st_ino):
            return False
    except OSError:
        pass
    return os.path.realpath(problem_path) == os.path.realpath(path)


def _squeezed(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(s for s in shape if s != 1)


def _written_shape(shape: tuple[int, ...]) -> str:
    if not shape:
        return "one number"
    if len(shape) == 1:
        return f"a list of {shape[0]} number{'s' if shape[0] != 1 else ''}"
    return " × ".join(map(str, shape))


def _shape_text(shape: tuple[int, ...]) -> str:
    return "one number" if not shape else " × ".join(map(str, shape))


_NO_TEXT_KINDS = frozenset((Fraction, type(None), bool))


def _holds_text(value: Any) -> bool:
    """Is there a string anywhere in a sheet value (only then can it be a formula)?"""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            if not _NO_TEXT_KINDS.issuperset(map(type, item)):  # numbers only: no text
                stack.extend(item)
        elif isinstance(item, str):
            return True
        elif isinstance(item, dict):
            stack.append(item.get("value"))
    return False


_NAMES: dict[int, tuple[Any, int, Any, dict]] = {}


def _answer_name(key: str, graph: Any, scalar: bool) -> tuple[str, tuple[int, ...] | None]:
    """:func:`backcheck.names.answer_name`, remembered per problem graph (a class writes
    the same keys on every sheet); errors are not remembered, so they are raised anew."""
    entry = _NAMES.get(id(graph))
    if (entry is None or entry[0] is not graph or entry[1] != len(graph.quantities)
            or entry[2] != graph.output_name):
        if len(_NAMES) > 16:
            _NAMES.clear()
        entry = _NAMES[id(graph)] = (graph, len(graph.quantities), graph.output_name, {})
    known = entry[3]
    result = known.get((key, scalar))
    if result is None:
        from ..names import answer_name

        result = known[(key, scalar)] = answer_name(key, graph, scalar=scalar)
    return result


def read_answers(doc: Document, ctx: ProblemContext, answers: dict, answers_path: tuple,
                 sheet_tolerance: Tolerance, tolerances_spec: Any,
                 tolerances_path: tuple) -> list[Entry]:
    """The ``answers:`` mapping as entries, in the order the sheet gives them."""
    graph = ctx.graph
    per_name: dict[str, Tolerance] = {}
    per_element: dict[tuple[str, int], Tolerance] = {}
    if tolerances_spec is not None:
        from ..names import answer_name

        if not isinstance(tolerances_spec, dict):
            raise doc.error("tolerances: must map quantity names to tolerances, e.g. "
                            "{dL/dW1: {abs: 0.01}}", tolerances_path)
        for key, spec in tolerances_spec.items():
            where = tolerances_path + (key,)
            try:
                name, index = answer_name(str(key), graph)
            except BackcheckError as error:
                raise error.located(doc.file, doc.mark(where)) from None
            tolerance = parse_tolerance(doc, spec, where)
            if index is None:
                per_name[name] = tolerance
            else:
                per_element[(name, flat_index(doc, graph.quantities[name], index, where))] = (
                    tolerance)

    entries: dict[str, Entry] = {}
    for key, value in answers.items():
        path = answers_path + (key,)
        tolerance = None
        if isinstance(value, dict):
            extra = [k for k in value if k not in ("value", "tolerance")]
            if extra or "value" not in value:
                raise doc.error(
                    "an answer is a number, a list, or {value: ..., tolerance: ...}"
                    + (f"; unknown key {extra[0]!r}" if extra else "; value: is missing"), path)
            tolerance = parse_tolerance(doc, value.get("tolerance"), path + ("tolerance",))
            value = value["value"]
            path = path + ("value",)
        try:
            name, index = _answer_name(str(key), graph, not isinstance(value, list))
        except BackcheckError as error:
            raise error.located(doc.file, doc.mark(answers_path + (key,))) from None
        quantity = graph.quantities[name]
        entry = entries.get(name)
        if entry is None:
            size = math.prod(quantity.shape) if quantity.shape else 1
            default = per_name.get(name, sheet_tolerance)
            entry = Entry(name, quantity, str(key), path, [None] * size, [None] * size,
                          [False] * size, [default] * size)
            entries[name] = entry
        if index is not None:
            if isinstance(value, list):
                raise doc.error(f"{key} is one element: give one number", path)
            flat = flat_index(doc, quantity, index, answers_path + (key,))
            if entry.answered[flat]:
                where = np.unravel_index(flat, quantity.shape) if quantity.shape else ()
                raise doc.error(f"{element_text(name, where)} is answered twice",
                                answers_path + (key,))
            given, text = _read_number(doc, value, path)
            entry.given[flat], entry.texts[flat], entry.answered[flat] = given, text, True
            if tolerance is not None:
                entry.tolerances[flat] = tolerance
            continue
        if any(entry.answered):
            raise doc.error(f"{name} is answered twice (also as {entry.written_as})",
                            answers_path + (key,))
        entry.written_as, entry.path = str(key), path
        if value is None:  # the whole quantity not attempted
            entry.answered = [True] * len(entry.given)
            continue
        shape, given, texts = _read_flat(doc, value, path)
        _fit(ctx, entry, shape, given, texts, entries)
        if tolerance is not None:
            entry.tolerances = [tolerance] * len(entry.given)
    for entry in entries.values():
        for (name, flat), tolerance in per_element.items():
            if name == entry.name:
                entry.tolerances[flat] = tolerance
    return list(entries.values())  # in the order the sheet gives them


def flat_index(doc: Document, quantity: Quantity, index: tuple[int, ...], path: tuple) -> int:
    shape = quantity.shape
    dims = list(range(len(shape)))
    if len(index) != len(shape):
        dims = [d for d in dims if shape[d] != 1]
        if len(index) != len(dims):
            example = f"{quantity.name}[{','.join('1' * len(shape))}]"
            raise doc.error(f"{quantity.name} is {_shape_text(shape)}: an element needs "
                            f"{len(shape)} indices, e.g. {example}", path)
    full = [0] * len(shape)
    for d, i in zip(dims, index, strict=True):
        if not 1 <= i <= shape[d]:
            raise doc.error(f"index {i} is outside {quantity.name} ({_shape_text(shape)}; "
                            f"indices start at 1)", path)
        full[d] = i - 1
    return int(np.ravel_multi_index(full, shape)) if shape else 0


def _fit(ctx: ProblemContext, entry: Entry, shape: tuple[int, ...], flat_given: list,
         flat_texts: list, entries: dict[str, Entry]) -> None:
    """Put a whole answer (its shape, numbers and texts flat) into the quantity's layout,
    or record one finding about its shape (naming the transpose, or a known mistake, when
    that is what it is)."""
    q = entry.quantity
    size = len(entry.given)
    if shape == q.shape or (len(flat_given) == size
                            and _squeezed(shape) == _squeezed(q.shape)):
        entry.given = flat_given
        entry.texts = flat_texts
        entry.answered = [True] * size
        return
    given, texts = _object_array(flat_given, shape), _object_array(flat_texts, shape)
    theirs = {name: np.asarray(e.given, dtype=object).reshape(e.quantity.shape)
              for name, e in entries.items() if any(e.answered)}
    for mistake in BY_NAME.values():
        if mistake.shape is None:
            continue
        message = mistake.shape(q, given, ctx.truth, theirs)
        if message is not None:
            entry.finding, entry.finding_mistake = message, mistake.name
            break
    else:
        entry.finding = (f"{q.name}: you wrote {_written_shape(given.shape)}, but it is "
                         f"{_shape_text(q.shape)} ({q.description or q.name})")
    if entry.finding_mistake == "transposed":
        given, texts = given.T, texts.T
    else:
        entry.unreadable = True
        entry.answered = [True] * size
        return
    entry.given = list(given.reshape(-1))
    entry.texts = list(texts.reshape(-1))
    entry.answered = [True] * size


_PRECISIONS: dict[str, int | None] = {}  # a number's text -> its decimals, when they count


def working_decimals(entries: list[Entry], ctx: ProblemContext | None = None) -> int:
    """The precision a sheet works to: the number of decimals its rounded answers use
    most often (answers that are exactly the true value, like 0.5, don't count)."""
    counts: Counter[int] = Counter()
    precisions = _PRECISIONS
    if len(precisions) > 50_000:
        precisions.clear()
    for entry in entries:
        truth = ctx.truth_flat[entry.name] if ctx is not None else None
        exact = truth is not None and not entry.unreadable
        given = entry.given
        for i, text in enumerate(entry.texts):
            if text is None:
                continue
            decimals = precisions.get(text, 0)
            if decimals == 0:  # not seen yet (0 is never stored: it does not count)
                written, integer = text_precision(text)
                decimals = None if integer or written is None or written <= 0 else written
                precisions[text] = decimals
            if decimals is None:
                continue
            if exact and is_exactly(given[i], truth[i]):  # type: ignore[index]
                continue
            counts[decimals] += 1
    if not counts:
        return DEFAULT_WORKING_DECIMALS
    best = max(counts.values())
    return max(d for d, c in counts.items() if c == best)
