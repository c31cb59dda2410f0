"""Class sets from ``backcheck new`` for the platforms courses run, and rosters.

* Moodle XML (https://docs.moodle.org/en/Moodle_XML_format): one ``cloze`` question per
  variant (Embedded Answers), one ``{1:NUMERICAL:=value:tolerance}`` blank per element of
  every quantity the sheet asks for, the tolerance the sheet's own (``grading_text``).
* A PrairieLearn question folder (``info.json``, ``question.html``, ``server.py``): the
  class set's variants are data in ``server.py``, whose ``generate(data)`` picks one and
  sets ``params`` and ``correct_answers``; one ``pl-number-input`` per element (absolute
  tolerance, ``comparison="relabs"`` with ``rtol="0"``). PrairieLearn needs no backcheck.
* A roster (CSV with a ``name`` or ``student`` column, optional ``id``): one seeded variant
  per student; the seeds are recorded in ``<stem>.roster.csv`` with the command that
  writes that student's problem and key again.

Every value comes from the exact solution; decimals are written exactly when they
terminate within 15 digits, otherwise to 17 significant digits (far inside any tolerance).
"""

from __future__ import annotations

import html
import json
import re
import uuid
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from .errors import BackcheckError

#: at most this many students in a roster
MAX_ROSTER = 2000
NAME_COLUMNS = ("name", "student")
ID_COLUMNS = ("id", "student_id", "email", "login")


# ============================================================================ values


def value_text(value: Any) -> str:
    """A number for a blank: exact decimal when it terminates (≤ 15 digits after the
    point), else 17 significant digits (an irrational or repeating value)."""
    q = getattr(value, "q", None) if not isinstance(value, Fraction) else value
    if isinstance(value, int):
        q = Fraction(value)
    if q is not None:
        from .numbers_text import decimal_places, decimal_text

        places = decimal_places(q)
        if places is not None and places <= 15:
            return decimal_text(q)
    return repr(float(value))


def _decimal(value: Fraction) -> str:
    return value_text(value)


def _text(text: str) -> str:
    """Text for a Moodle question or a PrairieLearn template: HTML-escaped, and its braces
    as character references, so nothing in it can open a Cloze blank (``{1:NM:…}``) or a
    mustache tag (``{{…}}``); the browser shows the braces as written."""
    return html.escape(text).replace("{", "&#123;").replace("}", "&#125;")


def _fingerprint(*parts: str) -> str:
    """A short stable hash of what a question holds: the same set gives the same id (a
    re-import updates it), another set with the same seeds gets another id."""
    import hashlib

    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


@dataclass
class Blank:
    element: str  # dL/dW1[1,2]
    value: str  # as written in the export
    float_value: float


def blanks(item: Any) -> list[tuple[str, tuple[int, ...], list[Blank]]]:
    """(quantity, its shape, its elements) for every quantity the sheet asks for."""
    import numpy as np

    solution = item.solution
    out = []
    for name in item.quantities:
        exact = solution.exact(name)
        shape = tuple(exact.shape)
        elements = []
        for index in np.ndindex(*shape) if shape else [()]:
            value = exact[index] if shape else exact[()]
            label = f"{name}[{','.join(str(i + 1) for i in index)}]" if shape else name
            elements.append(Blank(label, value_text(value), float(value)))
        out.append((name, shape, elements))
    return out


def _problem_block(item: Any) -> str:
    """The problem as its YAML data lines (no comments): what a student reads."""
    lines = [line for line in item.problem_text.splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    return "\n".join(re.sub(r"\s+#.*$", "", line) for line in lines)


# ============================================================================ Moodle


def _cloze_blank(blank: Blank, tolerance: str) -> str:
    return f"{{1:NUMERICAL:={blank.value}:{tolerance}}}"


def moodle_question_html(item: Any) -> str:
    from .generate import grading_text

    tolerance = _decimal(item.spec.tolerance)
    parts = [f"<p>{_text(item.problem.title or 'Backpropagation by hand')}</p>",
             f"<pre>{_text(_problem_block(item))}</pre>",
             f"<p>Work the forward and backward pass by hand. Grading: "
             f"{_text(grading_text(item.spec))}.</p>", "<table>"]
    for name, shape, elements in blanks(item):
        if len(shape) == 2:
            rows = [elements[r * shape[1]:(r + 1) * shape[1]] for r in range(shape[0])]
        else:
            rows = [elements]
        cells = "<br>".join(" ".join(_cloze_blank(b, tolerance) for b in row) for row in rows)
        parts.append(f"<tr><td><code>{_text(name)}</code></td><td>{cells}</td></tr>")
    parts.append("</table>")
    return "\n".join(parts)


def moodle_xml(items: list[Any], *, category: str = "backcheck") -> str:
    """A Moodle XML quiz file: a category, then one cloze question per variant."""
    import xml.etree.ElementTree as ET

    quiz = ET.Element("quiz")
    head = ET.SubElement(quiz, "question", type="category")
    ET.SubElement(ET.SubElement(head, "category"), "text").text = f"$course$/{category}"
    for item in items:
        question = ET.SubElement(quiz, "question", type="cloze")
        title = item.problem.title or "backcheck"
        ET.SubElement(ET.SubElement(question, "name"), "text").text = (
            title if f"seed {item.seed}" in title else f"{title} (seed {item.seed})")
        text = ET.SubElement(question, "questiontext", format="html")
        question_html = moodle_question_html(item)
        ET.SubElement(text, "text").text = question_html
        feedback = ET.SubElement(question, "generalfeedback", format="html")
        ET.SubElement(feedback, "text").text = (
            f"<p>Check your work with backcheck: {_text(item.command)} --key</p>")
        ET.SubElement(question, "penalty").text = "0.3333333"
        ET.SubElement(question, "hidden").text = "0"
        # unique in a category (Moodle refuses a second question with the same id number)
        ET.SubElement(question, "idnumber").text = (
            f"backcheck-{item.seed}-{_fingerprint(question_html)[:8]}")
    ET.indent(quiz)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(
        quiz, encoding="unicode") + "\n"


# ============================================================================ PrairieLearn


def _answers_name(element: str) -> str:
    """``dL/dW1[1,2]`` → ``dL_dW1_1_2`` (PrairieLearn answer names: letters, digits, _)."""
    return re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9]", "_", element)).strip("_")


def _answers_names(elements: list[str]) -> dict[str, str]:
    """Element → its ``answers-name``, unique within the question (PrairieLearn refuses a
    repeated one): a name that two elements would share gets the element's position."""
    names: dict[str, str] = {}
    used: set[str] = set()
    for position, element in enumerate(elements, start=1):
        name = _answers_name(element) or "answer"
        if name in used:
            name = f"{name}_{position}"
        used.add(name)
        names[element] = name
    return names


def prairielearn_files(items: list[Any], *, title: str | None = None) -> dict[str, str]:
    """``info.json``, ``question.html`` and ``server.py`` of one question whose variants
    are the class set (all of one shape: the same quantities and sizes)."""
    from .generate import grading_text

    first = items[0]
    layout = [(name, shape, [b.element for b in elements])
              for name, shape, elements in blanks(first)]
    answers_names = _answers_names([e for _, _, elements in layout for e in elements])
    variants = []
    for item in items:
        these = blanks(item)
        if [(n, s) for n, s, _ in these] != [(n, s) for n, s, _ in layout]:
            raise BackcheckError(
                "the class set's variants differ in shape, so they cannot be one "
                "PrairieLearn question", file="backcheck new",
                hint="fix the shape with --layers (and --batch), e.g. --layers 2,2,1")
        answers = {answers_names[b.element]: b.float_value for _, _, es in these for b in es}
        variants.append({"seed": item.seed, "problem": _problem_block(item),
                         "answers": answers})
    tolerance = float(first.spec.tolerance)
    name = title or re.sub(r",? seed \d+", "", first.problem.title or "Backpropagation by hand")
    info = {
        # stable for the same set (a re-sync updates the question), another for another
        # set even with the same seeds (PrairieLearn needs each question's uuid unique)
        "uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, "backcheck:" + _fingerprint(
            name, json.dumps(variants, sort_keys=True)))),
        "title": name,
        "topic": "Backpropagation",
        "tags": ["backcheck", first.spec.difficulty],
        "type": "v3",
    }
    question = ["<pl-question-panel>",
                f"  <p>{_text(name)}: work the forward and backward pass by hand. "
                f"Grading: {_text(grading_text(first.spec))}.</p>",
                "  <pre>{{params.problem}}</pre>",
                "</pl-question-panel>", ""]
    for quantity, _, elements in layout:
        question.append(f"<p><code>{_text(quantity)}</code></p>")
        for element in elements:
            question.append(
                f'<pl-number-input answers-name="{answers_names[element]}" '
                f'comparison="relabs" rtol="0" atol="{tolerance!r}" '
                f'label="{_text(element)} =" allow-fractions="true"></pl-number-input>')
    server = [
        '"""Written by backcheck new: the variants of this question (one per seed), each',
        "with its problem and its exact answers. Regenerate any of them with",
        f"`{first.command.split(' --seed')[0]} --seed SEED --key`.",
        '"""',
        "",
        "import random",
        "",
        f"VARIANTS = {variants!r}",
        "",
        "",
        "def generate(data):",
        "    variant = random.choice(VARIANTS)",
        '    data["params"]["seed"] = variant["seed"]',
        '    data["params"]["problem"] = variant["problem"]',
        '    for name, value in variant["answers"].items():',
        '        data["correct_answers"][name] = value',
        "",
    ]
    return {"info.json": json.dumps(info, indent=2) + "\n",
            "question.html": "\n".join(question) + "\n",
            "server.py": "\n".join(server)}


# ============================================================================ rosters


@dataclass
class Student:
    name: str
    id: str
    line: int
    slug: str = ""


def read_roster(path: str) -> list[Student]:
    """Students from a CSV roster: a header with ``name`` (or ``student``) and optionally
    ``id``/``email``; one located message for the first bad row."""
    import csv
    import io

    from .literals import read_text

    text = read_text(path)
    rows = list(csv.reader(io.StringIO(text)))
    while rows and not any(cell.strip() for cell in rows[0]):
        rows.pop(0)
    if not rows:
        raise BackcheckError("the roster is empty", file=path,
                             hint="a CSV file with a header: name,id")
    header = [cell.strip().lower() for cell in rows[0]]
    name_column = next((header.index(c) for c in NAME_COLUMNS if c in header), None)
    if name_column is None:
        raise BackcheckError("the roster has no 'name' (or 'student') column in its first "
                             "line", file=path, hint="a CSV file with a header: name,id")
    id_column = next((header.index(c) for c in ID_COLUMNS if c in header), None)
    students: list[Student] = []
    seen: dict[str, int] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        where = f"{path}:{line}"
        if len(row) != len(header):
            raise BackcheckError(f"{len(row)} cells, the header has {len(header)}",
                                 file=where)
        name = row[name_column].strip()
        ident = row[id_column].strip() if id_column is not None else ""
        if not name:
            raise BackcheckError("no name in this row", file=where)
        if len(name) > 200 or len(ident) > 200:
            raise BackcheckError("a name or id longer than 200 characters", file=where)
        key = (ident or name).casefold()
        if key in seen:
            raise BackcheckError(f"{ident or name!r} is already on line {seen[key]}",
                                 file=where, hint="each student once (ids tell apart "
                                                  "students of the same name)")
        seen[key] = line
        students.append(Student(name, ident, line))
        if len(students) > MAX_ROSTER:
            raise BackcheckError(f"more than {MAX_ROSTER} students", file=where)
    if not students:
        raise BackcheckError("the roster lists no students", file=path)
    used: set[str] = set()
    for student in students:
        slug = re.sub(r"[^a-z0-9]+", "-", (student.id or student.name).casefold()).strip("-")
        slug = slug[:40].strip("-") or f"line{student.line}"
        if slug in used:
            slug = f"{slug}-{student.line}"
        used.add(slug)
        student.slug = slug
    return students


def roster_csv(students: list[Student], items: list[Any],
               sets: list[tuple[str, str, str]], *, key: bool) -> str:
    """The record of a roster run: who got which seed and files, and the command that
    writes a student's problem and key again."""
    import csv
    import io

    from .gradebook import _cell

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["student", "id", "seed", "problem", "sheet", "key", "command"])
    for student, item, (problem, sheet, key_path) in zip(students, items, sets, strict=True):
        command = f"{item.command} -o {problem} --key"
        writer.writerow([_cell(student.name), _cell(student.id), item.seed, _cell(problem),
                         _cell(sheet), _cell(key_path if key else ""), _cell(command)])
    return buffer.getvalue()


def with_student(sheet_text: str, name: str) -> str:
    """The sheet with ``student: NAME`` after its ``problem:`` line."""
    from .text import yaml_string

    lines = sheet_text.split("\n")
    for i, line in enumerate(lines):
        if line.startswith("problem:"):
            lines.insert(i + 1, f"student: {yaml_string(name)}")
            break
    return "\n".join(lines)
