"""``practice``: work a problem one quantity at a time and hear at once how each went.

A tutor that checks every step as it is taken (model tracing, Andes) teaches better than
a verdict at the end. This module is the tutor's state, with no user interface: the
quantities in the order a person works them (forward pass, loss, backward pass, update:
read from the graph's own quantities, so new kinds of problem need nothing here), the
answers given so far, hints, shown answers, and the answers file (FORMAT §4) it saves.

Verdicts are never decided here. After each answer the sheet so far is written as an
answers file and graded by :class:`backcheck.grading.Grader`, exactly as ``verify``
grades a partly filled sheet; the verdicts of the quantity just answered are read off
that report. So practice and ``verify`` can never disagree.

Answers arrive as text (one line, FORMAT §9: ``~``, ``0.5``, ``[1, 2]``,
``[[1, 2], [3, 4]]``) and are read by a small bounded reader of our own: no YAML, no
``eval``; numbers through :func:`backcheck.literals.parse_number_text`.
"""

from __future__ import annotations

import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import BackcheckError, quoted
from .grading import Grader, Item, QuantityResult, Report
from .graph import Graph, Quantity
from .literals import parse_number_text

#: the longest answer line read (a 20 × 20 matrix of 8-character numbers fits easily)
MAX_LINE_CHARS = 8192
#: the most numbers one answer may hold
MAX_ANSWER_NUMBERS = 4096
#: the deepest nesting of an answer (a matrix is 2; arrays of tensor problems up to 4)
MAX_DEPTH = 4
SECTION_TITLES = {"forward": "forward pass", "backward": "backward pass",
                  "update": "one gradient-descent step"}
SECTION_ORDER = ("forward", "backward", "update")
#: words accepted on an answer line instead of numbers (FORMAT §9 extension)
COMMANDS = ("hint", "show", "skip", "back", "quit")
_PLAIN_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
_MINUSES = str.maketrans({"−": "-", "–": "-"})


class AnswerError(ValueError):
    """A line that cannot be read as an answer to the current question (one message)."""


# ============================================================================ questions


@dataclass
class Step:
    """One quantity to work: what it is, its shape, and how it is computed."""

    name: str
    quantity: Quantity
    section: str
    rule: str  # "z1 = x · W1 + b1"
    what: str  # "pre-activation of layer 1"

    @property
    def shape(self) -> tuple[int, ...]:
        return self.quantity.shape

    @property
    def size(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1

    def shape_text(self) -> str:
        return shape_text(self.shape)


def shape_text(shape: tuple[int, ...]) -> str:
    if not shape:
        return "one number"
    if len(shape) == 1:
        return f"a vector of {shape[0]}" if shape[0] != 1 else "a vector of 1"
    return " × ".join(map(str, shape)) + " matrix" if len(shape) == 2 else " × ".join(
        map(str, shape)) + " array"


def practice_order(graph: Graph) -> list[str]:
    """The quantities a person works, in the order they work them.

    Given numbers (inputs, parameters: leaf values) are not asked. Sections come in the
    order forward, backward, update (unknown sections after them, in graph order). Within
    the backward pass a gradient is asked only once every gradient it is computed from
    (those of the nodes downstream of it) has been asked, preferring the graph's own
    listing order; for a network that listing already is the order of the lesson, for a
    scalar expression it puts the output's gradient first, as micrograd does.
    """
    from .mistakes import Structure

    structure = Structure.of(graph)
    listed = [name for name, q in graph.quantities.items()
              if not (q.kind == "value" and graph.nodes[q.node].is_leaf)]
    rank = {s: i for i, s in enumerate(SECTION_ORDER)}
    sections: dict[str, list[str]] = {}
    for name in listed:
        sections.setdefault(graph.quantities[name].section, []).append(name)
    order: list[str] = []
    for section in sorted(sections, key=lambda s: rank.get(s, len(rank))):
        names = sections[section]
        if section != "backward":
            order += names
            continue
        grads = {n for n in names if graph.quantities[n].kind == "grad"}
        pending = list(names)
        done: set[str] = set()
        while pending:
            for name in pending:
                needs = structure.deps.get(name, set()) & grads
                if needs <= done | {name}:
                    break
            else:  # a cycle cannot happen in a graph; keep the listing order if it did
                name = pending[0]
            pending.remove(name)
            done.add(name)
            order.append(name)
    return order


def _rule_and_what(solution: Any, name: str) -> tuple[str, str]:
    """How a quantity is computed (``z1 = x · W1 + b1``) and what it is, from ``explain``
    (updates, which ``explain`` does not cover, from the problem's learning rate)."""
    from .explain import explain

    graph = solution.graph
    quantity = graph.quantities[name]
    what = quantity.description or ""
    node = graph.nodes[quantity.node]
    if quantity.kind == "update":
        param = name[: -len("_new")] if name.endswith("_new") else node.name or name
        rate = getattr(solution.problem, "learning_rate", None)
        from .numbers_text import format_value

        shown = format_value(rate) if rate is not None else "lr"
        return f"{name} = {param} − {shown}·{graph.grad_name(param)}", what
    if quantity.kind == "value" and node.text and "=" in node.text:
        return " ".join(node.text.split()), what or "a step of the expression"
    try:
        explanation = explain(solution, name)
    except Exception:  # noqa: BLE001 - a description only: any quantity explain does
        explanation = None  # not cover yet (new kinds of problem) is still asked
    if explanation is None:
        return _flows_back(graph, quantity) if quantity.kind == "grad" else name, what
    if explanation.equation is not None:
        rule = explanation.equation.rule.text()
        if quantity.kind == "grad" and re.search(r"\b(above|below)\b", rule):
            return _flows_back(graph, quantity), what  # explain's wording for its page
        return f"{explanation.equation.lhs} = {rule}", what
    if quantity.kind == "grad" and quantity.node == graph.output:
        return f"{name} = 1", what
    if explanation.paths and not explanation.hidden_paths:
        return f"{name} = {_consumer_sum(graph, explanation, name)}", what
    return name, what


def _flows_back(graph: Graph, quantity: Quantity) -> str:
    """A gradient as the sum of what flows back from the named steps that use the value
    (``dL/dX: back through Q = X @ Wq; K = X @ Wk``), read from the graph alone."""
    seen: set[int] = set()
    stack = [quantity.node]
    users: list[int] = []
    while stack:
        for consumer in graph.consumers(stack.pop()):
            if consumer in seen:
                continue
            seen.add(consumer)
            if graph.nodes[consumer].name is not None:
                users.append(consumer)
            else:
                stack.append(consumer)
    texts = [" ".join((graph.nodes[u].text or graph.nodes[u].name or "").split())
             for u in sorted(users)]
    texts = [t for t in texts if t]
    if not texts:
        return quantity.name
    if len(texts) == 1:
        return f"{quantity.name}: back through {texts[0]}"
    return f"{quantity.name}: the sum of what flows back through " + "; ".join(texts)


def _consumer_sum(graph: Graph, explanation: Any, name: str) -> str:
    """A scalar step's gradient as micrograd accumulates it: over the steps that use the
    value, that step's gradient times the local derivative (from ``explain``'s paths)."""
    terms: list[str] = []
    output = graph.output_name
    for path in explanation.paths:
        last = path.factors[-1]
        top = last.top
        formula = last.formula.text()
        local = formula if _simple(formula) else f"({formula})"
        term = local if top == output else f"{graph.grad_name(top)}·{local}"
        if term not in terms:
            terms.append(term)
    return " + ".join(terms)


def _simple(text: str) -> bool:
    return bool(re.fullmatch(r"[\w.′]+", text))


# ============================================================================ reading answers


@dataclass
class Answer:
    """What was written for one quantity: texts (None = ``~``), in the written shape
    (the quantity's shape, or its transpose, which the grader names)."""

    texts: np.ndarray  # object array of str | None
    tolerance: str | None = None  # a per-answer tolerance kept from a resumed sheet

    @property
    def attempted(self) -> bool:
        return any(t is not None for t in self.texts.reshape(-1))


def clean_line(raw: str) -> str:
    """A line as typed, checked for what a hostile line can hold: bounded length, no
    control or format characters. Raises :class:`AnswerError`."""
    if len(raw) > MAX_LINE_CHARS:
        raise AnswerError(f"the line is too long ({len(raw)} characters; at most "
                          f"{MAX_LINE_CHARS})")
    line = raw.rstrip("\r\n")
    for ch in line:
        if ch != "\t" and unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn"):
            raise AnswerError(f"the line holds a control character (U+{ord(ch):04X}); "
                              "write numbers, [ ], commas and ~ only")
    return line.strip()


def _tokens(line: str) -> list[str]:
    """Brackets, commas and the words between them; whitespace separates numbers too
    (NumPy prints ``[1 2 3]``), so ``1 2`` is two numbers, never 12."""
    return re.findall(r"[\[\],]|[^\[\],\s]+", line)


def _number_text(token: str) -> str | None:
    """One element: its text if it is a number, None for ``~``; AnswerError otherwise."""
    if token in ("~", "null"):
        return None
    if len(token) > 2 and token[0] == token[-1] and token[0] in "\"'":
        token = token[1:-1]  # "1/3" as a sheet writes it
    text = token.translate(_MINUSES)
    try:
        value = parse_number_text(text)
    except BackcheckError as error:
        raise AnswerError(error.message) from None
    if value is None:
        raise AnswerError(f"{quoted(token, 30)} is not a number (write 0.25, -1, 1e-3, "
                          "\"1/3\" as 1/3, or ~ for not attempted)")
    return text


def read_answer(line: str) -> Any:
    """``5`` → "5"; ``[1, ~]`` → ["1", None]; ``[[1, 2], [3, 4]]`` → nested lists.
    Commas between numbers may be left out (``[1 2]``, NumPy's ``[[1 2] [3 4]]``), and
    a bare ``1, 2, 3`` is a vector. Depth at most 2 and at most
    :data:`MAX_ANSWER_NUMBERS` numbers."""
    tokens = _tokens(line)
    if not tokens:
        raise AnswerError("an empty line: write the numbers, or ~ to skip")
    numbers = sum(1 for t in tokens if t not in "[],")
    if numbers > MAX_ANSWER_NUMBERS:
        raise AnswerError(f"too many numbers ({numbers}; at most {MAX_ANSWER_NUMBERS})")
    if tokens[0] != "[" and len(tokens) > 1:
        tokens = ["["] + tokens + ["]"]  # a bare 1, 2, 3
    position = 0

    def value(depth: int) -> Any:
        nonlocal position
        if position >= len(tokens):
            raise AnswerError("the line ends too early: a ] is missing")
        token = tokens[position]
        if token == "[":
            if depth >= MAX_DEPTH:
                raise AnswerError("too deeply nested: a vector is [1, 2], a matrix "
                                  "[[1, 2], [3, 4]]")
            position += 1
            items = [value(depth + 1)]
            while position < len(tokens) and tokens[position] != "]":
                if tokens[position] == ",":
                    position += 1
                items.append(value(depth + 1))
            if position >= len(tokens):
                raise AnswerError("the line ends too early: a ] is missing")
            position += 1
            return items
        if token in "],":
            raise AnswerError(f"unexpected {token!r}: a vector is [1, 2], a matrix "
                              "[[1, 2], [3, 4]]")
        position += 1
        return _number_text(token)

    result = value(0)
    if position != len(tokens):
        raise AnswerError("unexpected text after the answer (one answer a line; a matrix "
                          "is [[1, 2], [3, 4]])")
    return result


def _array(nested: Any) -> np.ndarray:
    """Nested lists (rectangular) → an object array of texts."""
    if not isinstance(nested, list):
        return np.array(nested, dtype=object)
    if any(isinstance(v, list) for v in nested) and not all(isinstance(v, list)
                                                            for v in nested):
        raise AnswerError("mixes numbers and lists: a vector is [1, 2], a matrix "
                          "[[1, 2], [3, 4]]")
    parts = [_array(v) for v in nested]
    shapes = [p.shape for p in parts]
    if len(set(shapes)) != 1:
        raise AnswerError("ragged: the rows have " + ", ".join(
            str(shape[0]) if shape else "1" for shape in shapes) + " numbers")
    out = np.empty((len(parts),) + shapes[0], dtype=object)
    for i, part in enumerate(parts):
        out[i] = part.item() if part.ndim == 0 else part
    return out


def _squeezed(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(s for s in shape if s != 1)


def fit_answer(nested: Any, step: Step) -> np.ndarray | None:
    """The written answer as an array the sheet can hold: the quantity's shape (or a
    shape equal but for 1s, or a matrix's transpose, which the grader then names), a
    lone ``~`` for the whole quantity, or None when ``nested`` is one row of a matrix
    (the caller collects the rows). Other shapes raise :class:`AnswerError`."""
    shape = step.shape
    if nested is None:
        return np.full(shape, None, dtype=object)
    given = _array(nested)
    if given.shape == shape:
        return given
    if given.size == step.size and _squeezed(given.shape) == _squeezed(shape):
        return given.reshape(shape)
    if len(shape) == 2 and given.ndim == 2 and given.shape == shape[::-1]:
        return given  # transposed: written as given, so verify names the slip
    if len(shape) == 2 and given.ndim == 1 and len(given) == shape[1] and shape[0] > 1 \
            and shape[1] > 1:
        return None  # one row
    raise AnswerError(f"{step.name} is {_expected(step)}; you wrote {_written(given.shape)}")


def _expected(step: Step) -> str:
    shape = step.shape
    if not shape:
        return "one number"
    if len(shape) == 1:
        return f"a vector of {shape[0]}: [{', '.join(['…'] * min(shape[0], 3))}]"
    if len(shape) == 2:
        return (f"{shape[0]} × {shape[1]}: [[…], …] with {shape[0]} rows of {shape[1]}, "
                f"or one row of {shape[1]} a line")
    return " × ".join(map(str, shape))


def _written(shape: tuple[int, ...]) -> str:
    if not shape:
        return "one number"
    if len(shape) == 1:
        return f"{shape[0]} number{'s' if shape[0] != 1 else ''}"
    return " × ".join(map(str, shape))


# ============================================================================ the session


@dataclass
class Graded:
    """The verdicts of one quantity just answered, and the whole sheet's report."""

    name: str
    result: QuantityResult | None
    report: Report | None


@dataclass
class Session:
    """One practice session on one problem (see the module docstring).

    ``problem_path`` must exist on disk (the grader reads it; a generated problem is
    written to a temporary folder first, and saved beside the sheet by :meth:`save`).
    """

    problem_path: str
    grader: Grader = field(default_factory=Grader)
    tolerance: str = "auto"  # the sheet's tolerance: line, as YAML
    student: str | None = None
    problem_text: str | None = None  # a generated problem's text (saved with the sheet)
    answers: dict[str, Answer] = field(default_factory=dict)
    shown: list[str] = field(default_factory=list)
    hints: dict[str, int] = field(default_factory=dict)
    cursor: int = 0
    extra_yaml: list[str] = field(default_factory=list)  # kept from a resumed sheet

    def __post_init__(self) -> None:
        self.problem_path = os.path.abspath(self.problem_path)
        self.context = self.grader.context(self.problem_path)
        self.solution = self.context.solution
        self.graph = self.context.graph
        self.problem = self.context.problem
        self.steps = [Step(name, self.graph.quantities[name],
                           self.graph.quantities[name].section, *_rule_and_what(
                               self.solution, name)) for name in practice_order(self.graph)]
        self.index = {step.name: i for i, step in enumerate(self.steps)}
        self._workdir = tempfile.TemporaryDirectory(prefix="backcheck-practice-")
        self.last_report: Report | None = None

    # ----- where we are
    @property
    def title(self) -> str:
        return getattr(self.problem, "title", None) or os.path.basename(self.problem_path)

    @property
    def current(self) -> Step | None:
        return self.steps[self.cursor] if self.cursor < len(self.steps) else None

    @property
    def done(self) -> bool:
        return self.cursor >= len(self.steps)

    def go_back(self) -> bool:
        if self.cursor == 0:
            return False
        self.cursor -= 1
        return True

    def advance(self) -> None:
        self.cursor = min(self.cursor + 1, len(self.steps))

    # ----- answering
    def answer_text(self, line: str) -> np.ndarray | None:
        """Read one line for the current quantity (None: one row of a matrix, see
        :func:`fit_answer`). Raises :class:`AnswerError`."""
        step = self.current
        if step is None:
            raise AnswerError("the problem is finished")
        return fit_answer(read_answer(clean_line(line)), step)

    def submit(self, texts: np.ndarray, *, advance: bool = True) -> Graded:
        """Record the current quantity's answer (replacing an earlier one) and grade."""
        step = self.current
        if step is None:
            raise AnswerError("the problem is finished")
        kept = self.answers.get(step.name)
        self.answers[step.name] = Answer(texts, kept.tolerance if kept else None)
        graded = self.grade(step.name)
        if advance:
            self.advance()
        return graded

    def skip(self) -> None:
        """Leave the current quantity not attempted (an earlier answer is kept)."""
        step = self.current
        if step is None:
            return
        if step.name not in self.answers:
            self.answers[step.name] = Answer(np.full(step.shape, None, dtype=object))
        self.advance()

    def grade(self, name: str | None = None) -> Graded:
        """Grade the sheet so far with the grader ``verify`` uses."""
        if not any(a.attempted for a in self.answers.values()):
            return Graded(name or "", None, None)
        path = os.path.join(self._workdir.name, "sheet.yaml")
        with open(path, "w", encoding="utf-8") as stream:
            stream.write(self.sheet_text(self.problem_path, only_given=True))
        report = self.grader.grade(path)
        self.last_report = report
        result = next((r for r in report.results if r.name == name), None)
        return Graded(name or "", result, report)

    def final_report(self) -> Report | None:
        """The whole sheet graded (None when nothing was answered)."""
        if not any(a.attempted for a in self.answers.values()):
            return None
        return self.grade().report

    # ----- help
    def hint(self) -> str:
        """The first hint for the current quantity: the rule; the second and later: the
        chain-rule path (or the sum of products) of one element, from ``explain``."""
        step = self.current
        if step is None:
            return "the problem is finished"
        level = self.hints.get(step.name, 0) + 1
        self.hints[step.name] = level
        return rule_hint(self, step) if level == 1 else path_hint(self, step)

    def reveal(self) -> list[str]:
        """The current quantity's exact answer, as lines (counted in the sheet's notes)."""
        step = self.current
        if step is None:
            return []
        if step.name not in self.shown:
            self.shown.append(step.name)
        return answer_lines(self, step)

    # ----- the answers file
    def sheet_text(self, problem_ref: str, *, only_given: bool = False) -> str:
        """The session as an answers file (FORMAT §4). ``only_given``: just the
        quantities answered so far (for grading); otherwise every quantity, ~ where
        nothing was given, so ``verify`` and the gradebook count what is missing."""
        lines = ["# backcheck practice session: resume it with "
                 "`backcheck practice --resume <this file>`, grade it with `backcheck verify`."]
        lines.append(f"problem: {_yaml_string(problem_ref)}")
        lines.append(f"tolerance: {self.tolerance}")
        if self.student:
            lines.append(f"student: {_yaml_string(self.student)}")
        lines += self.extra_yaml
        if self.shown and not only_given:
            lines.append("notes: " + _yaml_string(
                f"practice: answers shown for {len(self.shown)} of {len(self.steps)} "
                f"quantities ({', '.join(self.shown)})"))
        lines.append("answers:")
        section = None
        count = 0
        for step in self.steps:
            answer = self.answers.get(step.name)
            if only_given and (answer is None or not answer.attempted):
                continue
            if step.section != section and not only_given:
                section = step.section
                lines.append(f"  # ── {SECTION_TITLES.get(section, section)} ──")
            texts = answer.texts if answer is not None else np.full(step.shape, None,
                                                                    dtype=object)
            lines += _answer_yaml(step.name, texts, answer.tolerance if answer else None)
            count += 1
        if not count:
            lines.append("  {}")
        return "\n".join(lines) + "\n"

    def save(self, sheet_path: str, problem_path: str | None = None, *,
             force: bool = False) -> None:
        """Write the sheet (and, for a generated problem, the problem beside it),
        atomically. The caller has checked, with ``--force``, that it may."""
        from .files import write_atomic

        sheet_dir = os.path.dirname(os.path.abspath(sheet_path))
        if problem_path is not None and self.problem_text is not None:
            write_atomic(problem_path, self.problem_text, force=force)
            target = os.path.abspath(problem_path)
        else:
            target = self.problem_path
        reference = os.path.relpath(target, sheet_dir)
        if reference.startswith(os.path.join(os.pardir, os.pardir)):
            reference = target  # far away: the absolute path reads better
        write_atomic(sheet_path, self.sheet_text(reference), force=force)

    def close(self) -> None:
        self._workdir.cleanup()


def _yaml_string(text: str) -> str:
    from .text import yaml_string

    return yaml_string(text)


def _number_yaml(text: str | None) -> str:
    if text is None:
        return "~"
    return text if _PLAIN_NUMBER.match(text) else _yaml_string(text)


def _flow(values: Any) -> str:
    return "[" + ", ".join(_number_yaml(v) for v in values) + "]"


def _answer_yaml(name: str, texts: np.ndarray, tolerance: str | None) -> list[str]:
    if texts.ndim == 0:
        body = _number_yaml(texts.item())
    elif not any(t is not None for t in texts.reshape(-1)):
        body = "~"
    elif texts.ndim == 1:
        body = _flow(texts)
    else:
        body = "[" + ", ".join(_flow(row) for row in texts) + "]"
    if tolerance is not None:
        body = f"{{value: {body}, tolerance: {tolerance}}}"
    if texts.ndim == 2 and tolerance is None and body != "~" and len(body) > 60:
        return [f"  {name}:"] + [f"    - {_flow(row)}" for row in texts]
    return [f"  {name}: {body}"]


# ============================================================================ hints and answers


def _element_index(step: Step, session: Session) -> tuple[int, ...]:
    """The element a path hint is about: the first one not yet right, else the first."""
    report = session.last_report
    if report is not None:
        for result in report.results:
            if result.name == step.name:
                for item in result.items:
                    if item.verdict in ("wrong", "carried") and item.index:
                        return item.index
    return tuple(1 for _ in step.shape)


def rule_hint(session: Session, step: Step) -> str:
    """The rule for this quantity: what it is, how it is computed, the notes ``explain``
    adds (the ReLU mask, …)."""
    from .explain import explain

    lines = [f"{step.name}: {step.what}" if step.what else step.name, step.rule]
    if step.quantity.kind != "update":
        try:
            explanation = explain(session.solution, step.name)
        except Exception:  # noqa: BLE001 - a hint only: fall back to the rule line
            explanation = None
        if explanation is not None:
            lines[1:1] = explanation.summary[:2]
            lines += [f"note: {note}" for note in explanation.notes]
    else:
        lines.append("a gradient-descent step moves each parameter against its gradient, "
                     "by the learning rate times that gradient")
    return "\n".join(line for line in lines if line)


def path_hint(session: Session, step: Step) -> str:
    """The chain-rule path for one element, from ``explain``: the elements along each
    path and each factor's formula (no numbers: the answer stays the learner's)."""
    from .explain import explain

    if step.quantity.kind == "update":
        return rule_hint(session, step)
    index = _element_index(step, session)
    element = f"{step.name}[{','.join(map(str, index))}]" if index else step.name
    try:
        explanation = explain(session.solution, element)
    except Exception:  # noqa: BLE001 - a hint only: fall back to the rule
        return rule_hint(session, step)
    lines = [f"{element}:"] + explanation.summary[:2]
    if explanation.equation is not None:
        equation = explanation.equation
        lines.append(f"{equation.lhs} = {equation.rule.text()}")
        if equation.numbers:
            lines.append(f"  = {equation.numbers}")
    for path in explanation.paths[:4]:
        lines.append("path " + " → ".join(path.elements) + ":")
        product = " · ".join(factor.name for factor in path.factors)
        lines.append(f"  {product}")
        for factor in path.factors:
            why = f"  ({factor.why})" if factor.why else ""
            lines.append(f"    {factor.name} = {factor.formula.text()}{why}")
    if len(explanation.paths) > 4 or explanation.hidden_paths:
        more = explanation.all_paths - 4
        lines.append(f"… and {more} more path{'s' if more != 1 else ''} "
                     f"(backcheck explain shows them all)")
    lines += [f"note: {note}" for note in explanation.notes]
    return "\n".join(lines)


def answer_lines(session: Session, step: Step, digits: int = 6) -> list[str]:
    """The exact answer, as ``verify`` shows exact values (rounded ones end in …)."""
    from .numbers_text import format_exact

    values = session.solution.exact(step.name)
    if values.ndim == 0:
        return [f"{step.name} = {format_exact(values.item(), digits)}"]
    if values.ndim == 1:
        return [f"{step.name} = [" + ", ".join(format_exact(v, digits) for v in values) + "]"]
    rows = ["[" + ", ".join(format_exact(v, digits) for v in row) + "]" for row in values]
    return [f"{step.name} ="] + ["  " + row for row in rows]


# ============================================================================ verdict lines


def verdict_line(item: Item) -> str:
    """One element's verdict, as ``verify`` gives it: ``z1[2] = -1  ✓ correct``,
    ``dL/dz1[3] = 0.5  ✗ wrong: <diagnosis>``, ``↻ carried: <from which slip>``."""
    from .grading import SYMBOLS

    written = item.text if item.text is not None else "~"
    line = f"{item.element} = {written}  {SYMBOLS[item.verdict]} {item.verdict}"
    diagnosis = item.diagnosis
    if diagnosis:
        for prefix in (item.element + ": ", item.verdict + " — "):
            if diagnosis.startswith(prefix):
                diagnosis = diagnosis[len(prefix):]
        line += ": " + " ".join(diagnosis.split())
    return line


def verdict_lines(result: QuantityResult | None) -> list[str]:
    if result is None:
        return []
    lines = []
    if result.finding and not all(item.diagnosis for item in result.items):
        lines.append(f"{result.name}: ✗ {result.finding}")
    lines += [verdict_line(item) for item in result.items]
    return lines


def missing_lines(step: Step) -> list[str]:
    """A skipped quantity: every element ``missing``, as ``verify`` grades a ``~``."""
    from .grading import SYMBOLS

    if not step.shape:
        return [f"{step.name} = ~  {SYMBOLS['missing']} missing"]
    return [f"{step.name}[{','.join(str(i + 1) for i in index)}] = ~  "
            f"{SYMBOLS['missing']} missing" for index in np.ndindex(*step.shape)]


def summary_line(report: Report | None, session: Session) -> str:
    shown = f" · {len(session.shown)} answer{'s' if len(session.shown) != 1 else ''} shown" \
        if session.shown else ""
    if report is None:
        return f"practice: nothing answered{shown}"
    return f"practice: {report.summary()}{shown}"


# ============================================================================ resuming


def is_answers_file(path: str) -> bool:
    """Is ``path`` an answers file (``problem:`` and ``answers:``) rather than a problem?"""
    from .literals import load_yaml

    try:
        data = load_yaml(path).data
    except BackcheckError:
        return False
    return isinstance(data, dict) and "problem" in data and "layers" not in data \
        and "steps" not in data


def tolerance_yaml(tolerance: Any) -> str:
    """A :class:`~backcheck.grading.Tolerance` as the YAML that reads back as it."""
    if tolerance.kind in ("auto", "exact"):
        return tolerance.kind
    from .numbers_text import yaml_number

    return f"{{{tolerance.kind}: {yaml_number(tolerance.amount)}}}"


_SHOWN_NOTE = re.compile(r"answers shown for \d+ of \d+ quantities \(([^)]*)\)")


def resume_session(sheet_path: str, grader: Grader | None = None) -> Session:
    """A session from an answers file (one practice saved, or ``new``'s sheet): its
    answers read by the grader's own reader, its tolerances and student kept, the
    cursor on the first quantity with no number yet."""
    from .grading import parse_tolerance, read_answers
    from .literals import load_yaml

    doc = load_yaml(sheet_path)
    data = doc.data
    if not isinstance(data, dict) or "answers" not in data or "problem" not in data:
        raise doc.error("expected an answers file to resume: problem: and answers:")
    reference = data["problem"]
    if not isinstance(reference, str) or not reference.strip():
        raise doc.error("problem: must be the path of a problem file, relative to this "
                        "file", ("problem",))
    problem_path = os.path.normpath(os.path.join(
        os.path.dirname(os.path.abspath(sheet_path)), reference.strip()))
    if not os.path.isfile(problem_path):
        raise doc.error(f"problem file {quoted(reference)} not found (looked for "
                        f"{problem_path})", ("problem",))
    tolerance = parse_tolerance(doc, data.get("tolerance"), ("tolerance",))
    student = data.get("student") if isinstance(data.get("student"), str) else None
    session = Session(problem_path, grader=grader or Grader(),
                      tolerance=tolerance_yaml(tolerance), student=student)
    extra: list[str] = []
    if isinstance(data.get("title"), str):
        extra.append(f"title: {_yaml_string(data['title'])}")
    spec = data.get("tolerances")
    if isinstance(spec, dict) and spec:
        extra.append("tolerances:")
        for key, value in spec.items():
            parsed = parse_tolerance(doc, value, ("tolerances", key))
            extra.append(f"  {_yaml_string(str(key))}: {tolerance_yaml(parsed)}")
    session.extra_yaml = extra
    notes = data.get("notes")
    if isinstance(notes, str):
        match = _SHOWN_NOTE.search(notes)
        if match:
            session.shown = [n.strip() for n in match.group(1).split(",")
                             if n.strip() in session.index]
    answers = data.get("answers")
    if isinstance(answers, dict) and answers:
        entries = read_answers(doc, session.context, answers, ("answers",), tolerance,
                               None, ("tolerances",))
        for entry in entries:
            if entry.name not in session.index or entry.unreadable:
                continue
            texts = np.empty(len(entry.texts), dtype=object)
            for i, (text, given, answered) in enumerate(zip(entry.texts, entry.given,
                                                            entry.answered)):
                texts[i] = None if not answered or given is None else (
                    text if text is not None else str(given))
            own = set(entry.tolerances)
            kept = tolerance_yaml(own.pop()) if len(own) == 1 else None
            if kept == session.tolerance:
                kept = None
            session.answers[entry.name] = Answer(texts.reshape(entry.quantity.shape), kept)
    for i, step in enumerate(session.steps):
        answer = session.answers.get(step.name)
        if answer is None or not answer.attempted:
            session.cursor = i
            break
    else:
        session.cursor = len(session.steps)
    return session
