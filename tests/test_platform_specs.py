"""Our autograder results and class-set exports, parsed and checked field by field against
the platforms' PUBLISHED specifications (read from the sources, not from memory):

* Gradescope results.json: gradescope/autograder_samples docs/specs.md ("Output format",
  "Test case status", "Output String Formatting"; the 2025-01 revision): top-level
  ``score``, ``execution_time``, ``output``, ``output_format``, ``test_output_format``,
  ``test_name_format``, ``visibility``, ``stdout_visibility``, ``extra_data``, ``tests``,
  ``leaderboard``; per test ``score``, ``max_score``, ``status`` (passed/failed),
  ``name``, ``name_format``, ``number`` (a string such as "1.1"), ``output``,
  ``output_format``, ``tags``, ``visibility``, ``extra_data``. Formats: text, html,
  simple_format, md, ansi. Visibility: hidden, after_due_date, after_published, visible.
  Unix line endings in outputs.
* PrairieLearn external grading: PrairieLearn docs/externalGrading.md ("Grading
  results"): ``score`` a number in [0, 1] (``gradable`` optional, true); not gradable:
  ``gradable: false`` and ``format_errors`` a string or a list of strings; tests with
  ``name``, ``description``, ``points``, ``max_points``, ``message``, ``output``, and
  both points fields on every test for the per-test display; the file under 1 MB.
* PrairieLearn question folder: the info.json schema
  (apps/prairielearn/src/schemas/schemas/infoQuestion.json: required uuid, type, title,
  topic; uuid as 8-4-4-4-12 hex; type one of Calculation, MultipleChoice, Checkbox, File,
  MultipleTrueFalse, v3; tags a list of strings; no other properties than those it
  lists), restated below as our own JSON Schema and checked with jsonschema; the
  ``pl-number-input`` attributes (docs/elements/pl-number-input.md and the element's
  schema: answers-name unique and not blank, comparison relabs/sigfig/decdig, rtol and
  atol non-negative numbers, booleans "true"/"false"); server.py ``generate(data)``
  filling ``data["params"]`` and ``data["correct_answers"]`` (docs/question/server.md;
  ``random`` is seeded by PrairieLearn with the variant seed).
* Moodle XML (docs.moodle.org "Moodle XML format" and "Embedded Answers (Cloze) question
  type"): ``<quiz>`` of ``<question>`` elements, a ``type="category"`` one with
  ``<category><text>$course$/…``, ``type="cloze"`` questions with ``<name><text>`` and
  ``<questiontext format="html"><text>``; a blank is ``{weight:NUMERICAL:=answer:error}``
  where answer and error are numbers (optional sign, digits with ``.`` or ``,``, an
  optional exponent) and the error is absolute (3:4 is 3 ± 4); ``}``, ``#``, ``~``,
  ``/``, ``"`` and ``\\`` are special inside a blank.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import jsonschema
import pytest

ROOT = Path(__file__).resolve().parent.parent
SHEETS = ROOT / "problems" / "sheets"

FORMATS = {"text", "html", "simple_format", "md", "ansi"}
VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}
GRADESCOPE_TOP = {"score", "execution_time", "output", "output_format", "test_output_format",
                  "test_name_format", "visibility", "stdout_visibility", "extra_data", "tests",
                  "leaderboard"}
GRADESCOPE_TEST = {"score", "max_score", "status", "name", "name_format", "number", "output",
                   "output_format", "tags", "visibility", "extra_data"}

#: PrairieLearn's info.json schema for questions, restated (same constraints, our words)
INFO_QUESTION_SCHEMA = {
    "type": "object",
    "required": ["uuid", "type", "title", "topic"],
    "additionalProperties": False,
    "properties": {
        "comment": {},
        "uuid": {"type": "string", "pattern": "^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                                              "[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$"},
        "type": {"enum": ["Calculation", "MultipleChoice", "Checkbox", "File",
                          "MultipleTrueFalse", "v3"]},
        "title": {"type": "string"},
        "topic": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "authors": {"type": "array"},
        "clientFiles": {"type": "array", "items": {"type": "string"}},
        "clientTemplates": {"type": "array", "items": {"type": "string"}},
        "template": {"type": "string"},
        "gradingMethod": {"enum": ["Internal", "External", "Manual"]},
        "singleVariant": {"type": "boolean"},
        "showCorrectAnswer": {"type": "boolean"},
        "partialCredit": {"type": "boolean"},
        "options": {"type": "object"},
        "externalGradingOptions": {"type": "object"},
        "dependencies": {"type": "object"},
        "workspaceOptions": {"type": "object"},
        "sharingSets": {"type": "array", "items": {"type": "string"}},
        "sharePublicly": {"type": "boolean"},
        "shareSourcePublicly": {"type": "boolean"},
        "preferences": {"type": "object"},
    },
}
NUMBER_INPUT_ATTRIBUTES = {
    "allow-blank", "allow-complex", "allow-fractions", "answers-name", "aria-label", "atol",
    "blank-value", "comparison", "correct-answer", "custom-format", "digits", "display",
    "initial-value", "label", "placeholder", "rtol", "show-correct-answer",
    "show-help-text", "show-placeholder", "show-score", "size", "suffix", "weight"}
BOOLEAN = {"true", "false", "t", "f", "1", "0", "yes", "no", "y", "n", "True", "False"}

#: a number as Moodle's Cloze reads it in a NUMERICAL blank (sign, digits with . or ,,
#: optional exponent), written from the documented syntax
MOODLE_NUMBER = r"-?(?:[0-9]+[.,]?[0-9]*|[.,][0-9]+)(?:[eE][-+]?[0-9]+)?"
BLANK = re.compile(r"\{([0-9]*):(NUMERICAL|NM):=(" + MOODLE_NUMBER + r"):(" + MOODLE_NUMBER
                   + r")\}")
ANY_BLANK_START = re.compile(r"\{[0-9]*:[A-Z_]+:")


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "backcheck.cli", *args],
                          capture_output=True, text=True, timeout=600)


# ============================================================================ Gradescope


def check_gradescope(document: dict) -> None:
    """Every key and value of a results.json as Gradescope's spec allows it."""
    assert set(document) <= GRADESCOPE_TOP, set(document) - GRADESCOPE_TOP
    assert "score" in document or all("score" in t for t in document.get("tests", []))
    if "score" in document:
        assert isinstance(document["score"], (int, float)) and document["score"] >= 0
    for key in ("output",):
        assert isinstance(document.get(key, ""), str) and "\r" not in document.get(key, "")
    for key in ("output_format", "test_output_format", "test_name_format"):
        assert document.get(key, "text") in FORMATS
    for key in ("visibility", "stdout_visibility"):
        assert document.get(key, "visible") in VISIBILITY
    assert isinstance(document.get("extra_data", {}), dict)
    assert isinstance(document.get("tests", []), list)
    for test in document.get("tests", []):
        assert set(test) <= GRADESCOPE_TEST, set(test) - GRADESCOPE_TEST
        assert isinstance(test.get("name", ""), str) and isinstance(test.get("output", ""), str)
        assert "\r" not in test.get("output", "")
        assert isinstance(test.get("number", ""), str)
        assert re.fullmatch(r"[0-9]+(\.[0-9]+)*", test.get("number", "1"))
        for key in ("score", "max_score"):
            if key in test:
                assert isinstance(test[key], (int, float)) and not isinstance(test[key], bool)
        if "score" in test and "max_score" in test:
            assert 0 <= test["score"] <= test["max_score"]
        assert test.get("status", "passed") in ("passed", "failed")
        assert test.get("output_format", "text") in FORMATS
        assert test.get("name_format", "text") in FORMATS
        assert test.get("visibility", "visible") in VISIBILITY
        assert all(isinstance(tag, str) for tag in test.get("tags", []))
        assert isinstance(test.get("extra_data", {}), dict)
    # the JSON is what Gradescope parses: plain JSON, no NaN or Infinity
    json.loads(json.dumps(document, allow_nan=False))


# ============================================================================ PrairieLearn


def check_prairielearn(document: dict, raw: str) -> None:
    """PrairieLearn's external-grader results: score in [0, 1] when gradable,
    format_errors when not; tests with both points fields; under 1 MB."""
    assert len(raw.encode()) < 1_000_000
    json.loads(json.dumps(document, allow_nan=False))
    if document.get("gradable", True) is False:
        errors = document["format_errors"]
        assert isinstance(errors, str) or (isinstance(errors, list) and errors
                                           and all(isinstance(e, str) for e in errors))
        return
    assert document.get("gradable", True) is True
    score = document["score"]
    assert isinstance(score, (int, float)) and not isinstance(score, bool)
    assert 0 <= score <= 1
    for key in ("message", "output"):
        assert isinstance(document.get(key, ""), str)
    tests = document.get("tests", [])
    for test in tests:
        assert isinstance(test["name"], str)
        for key in ("description", "message", "output"):
            assert isinstance(test.get(key, ""), str)
        # both on every test, or PrairieLearn disables the per-test points display
        assert isinstance(test["points"], (int, float)) and isinstance(test["max_points"],
                                                                         (int, float))
        assert 0 <= test["points"] <= test["max_points"]
    possible = sum(t["max_points"] for t in tests)
    if tests and possible:
        # points are shown to 4 decimals, so their sum is the score to that rounding
        total = sum(t["points"] for t in tests) / possible
        assert abs(total - score) <= 5e-5 * len(tests) / possible


@pytest.mark.parametrize("sheet", [
    "single_neuron/factor_two_missing.yaml",      # wrong and carried entries
    "mazur_2_2_2/right.yaml",                     # all correct
    "fastai_lin_relu_lin/forgot_relu_grad.yaml",  # an array slip
])
def test_autograder_results_follow_the_published_specs(tmp_path: Path, sheet: str) -> None:
    gs, pl = tmp_path / "gs.json", tmp_path / "pl.json"
    result = cli("verify", str(SHEETS / sheet), "--gradescope", str(gs), "--prairielearn",
                 str(pl))
    assert result.returncode in (0, 1), result.stderr
    grades = json.loads(gs.read_text())
    check_gradescope(grades)
    assert grades["tests"] and [t["number"] for t in grades["tests"]] == [
        str(i) for i in range(1, len(grades["tests"]) + 1)]
    for test in grades["tests"]:
        # the status Gradescope would infer from the points is the status we set
        assert (test["status"] == "passed") == (test["score"] == test["max_score"])
    raw = pl.read_text()
    learn = json.loads(raw)
    check_prairielearn(learn, raw)
    assert learn["gradable"] is True
    assert [t["name"] for t in learn["tests"]] == [t["name"] for t in grades["tests"]]
    for ours, theirs in zip(learn["tests"], grades["tests"], strict=True):
        assert (ours["points"], ours["max_points"]) == (theirs["score"], theirs["max_score"])
    if sheet.endswith("right.yaml"):
        assert learn["score"] == 1 and all(t["status"] == "passed" for t in grades["tests"])


@pytest.mark.parametrize("text", [
    "problem: missing.yaml\nanswers: {z1: [1]}\n",   # its problem is not there
    "problem: [1, 2\n",                               # not YAML
])
def test_an_unreadable_sheet_gives_spec_results_too(tmp_path: Path, text: str) -> None:
    sheet = tmp_path / "answers.yaml"
    sheet.write_text(text)
    gs, pl = tmp_path / "gs.json", tmp_path / "pl.json"
    result = cli("verify", str(sheet), "--gradescope", str(gs), "--prairielearn", str(pl))
    assert result.returncode == 2
    check_gradescope(json.loads(gs.read_text()))
    raw = pl.read_text()
    learn = json.loads(raw)
    check_prairielearn(learn, raw)
    assert learn["gradable"] is False


# ============================================================================ exports


class NumberInputs(HTMLParser):
    def __init__(self, page: str) -> None:
        super().__init__()
        self.inputs: list[dict[str, str]] = []
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "pl-number-input":
            self.inputs.append(dict(attrs))


@pytest.mark.parametrize("options", [
    ["--difficulty", "hard", "--learning-rate", "0.5"],
    ["--difficulty", "medium", "--batch", "2", "--convention", "xW"],
])
def test_class_set_exports_follow_the_published_formats(tmp_path: Path,
                                                        options: list[str]) -> None:
    folder, quiz = tmp_path / "question", tmp_path / "quiz.xml"
    result = cli("new", "--count", "2", "--seed", "11", *options, "-o",
                 str(tmp_path / "q.yaml"), "--prairielearn", str(folder), "--moodle",
                 str(quiz))
    assert result.returncode == 0, result.stderr
    # PrairieLearn: info.json against the schema, question.html's elements, server.py
    info = json.loads((folder / "info.json").read_text())
    jsonschema.validate(info, INFO_QUESTION_SCHEMA)
    assert info["type"] == "v3"
    inputs = NumberInputs((folder / "question.html").read_text()).inputs
    assert inputs
    names = [i["answers-name"] for i in inputs]
    assert len(set(names)) == len(names) and all(n.strip() for n in names)
    for element in inputs:
        assert set(element) <= NUMBER_INPUT_ATTRIBUTES, set(element) - NUMBER_INPUT_ATTRIBUTES
        assert element.get("comparison", "relabs") in ("relabs", "sigfig", "decdig")
        for key in ("rtol", "atol"):
            assert float(element[key]) >= 0
        for key in ("allow-fractions", "allow-blank", "show-score"):
            assert element.get(key, "true") in BOOLEAN
    namespace: dict = {}
    exec(compile((folder / "server.py").read_text(), "server.py", "exec"), namespace)
    data: dict = {"params": {}, "correct_answers": {}, "variant_seed": 1}
    namespace["generate"](data)
    assert set(data["correct_answers"]) == set(names)
    assert all(isinstance(v, float) for v in data["correct_answers"].values())
    json.dumps(data, allow_nan=False)  # PrairieLearn stores data as JSON
    # Moodle: a real XML parser, then the Cloze syntax of every blank
    root = ET.parse(quiz).getroot()
    assert root.tag == "quiz" and all(q.tag == "question" for q in root)
    category, *questions = list(root)
    assert category.get("type") == "category"
    assert category.find("category/text").text.startswith("$course$/")
    assert len(questions) == 2 and {q.get("type") for q in questions} == {"cloze"}
    ids = [q.find("idnumber").text for q in questions]
    assert len(set(ids)) == 2
    for question in questions:
        assert question.find("name/text").text.strip()
        assert question.find("questiontext").get("format") == "html"
        text = question.find("questiontext/text").text
        blanks = BLANK.findall(text)
        # every Cloze-looking start is one of our blanks, nothing else parses as one
        assert len(ANY_BLANK_START.findall(text)) == len(blanks) == len(names)
        for weight, _kind, _answer, error in blanks:
            assert weight == "1" and float(error) > 0
        # outside the blanks no brace can start or end a blank
        assert "{" not in BLANK.sub("", text) and "}" not in BLANK.sub("", text)
        assert 0 <= float(question.find("penalty").text) <= 1
        assert question.find("hidden").text in ("0", "1")


def test_tensor_kinds_refuse_class_set_options_in_one_message(tmp_path: Path) -> None:
    result = cli("new", "--kind", "attention", "--count", "2", "--moodle",
                 str(tmp_path / "q.xml"), "-o", str(tmp_path / "a.yaml"))
    assert result.returncode == 2 and result.stdout == ""
    assert "--count, --moodle are for network problems only" in result.stderr
    assert "Traceback" not in result.stderr and not list(tmp_path.iterdir())


def test_exports_keep_text_out_of_blanks_and_templates_and_ids_apart() -> None:
    """Braces and markup in a title (or any text around the blanks) cannot open a Cloze
    blank or a mustache tag; the same set keeps its ids, another set with the same seeds
    gets others (Moodle id numbers and PrairieLearn uuids must be unique)."""
    from dataclasses import replace

    from backcheck.exports import moodle_xml, prairielearn_files
    from backcheck.generate import generate

    def class_set(difficulty: str, title: str | None = None) -> list:
        items = [generate(seed=seed, difficulty=difficulty) for seed in (3, 4)]
        if title is not None:
            items = [replace(i, problem=replace(i.problem, title=title)) for i in items]
        return items

    hostile = "{1:SHORTANSWER:=x} {{params.seed}} <b>&</b> #~/\\\""
    root = ET.fromstring(moodle_xml(class_set("easy", hostile)))
    for question in root.findall("question[@type='cloze']"):
        text = question.find("questiontext/text").text
        assert len(ANY_BLANK_START.findall(text)) == len(BLANK.findall(text))
        assert "{" not in BLANK.sub("", text) and "<b>" not in text
        shown = re.sub(r"<[^>]+>", "", text)  # what a browser shows, tags dropped
        import html as html_module

        assert hostile in html_module.unescape(shown)
    files = prairielearn_files(class_set("easy", hostile))
    assert "{{" not in files["question.html"].replace("{{params.problem}}", "")
    assert "<b>" not in files["question.html"]
    easy, again, medium = (prairielearn_files(class_set(d)) for d in ("easy", "easy",
                                                                      "medium"))
    uuid = [json.loads(f["info.json"])["uuid"] for f in (easy, again, medium)]
    assert uuid[0] == uuid[1] != uuid[2]
    ids = [ET.fromstring(moodle_xml(class_set(d))).findall("question/idnumber")
           for d in ("easy", "medium")]
    assert {i.text for i in ids[0]}.isdisjoint({i.text for i in ids[1]})


def test_answer_names_stay_unique_when_elements_would_share_one() -> None:
    from backcheck.exports import _answers_names

    names = _answers_names(["a[1,12]", "a[11,2]", "a_1_12", "dL/da", "dL_da", "∂"])
    assert len(set(names.values())) == 6
    assert all(re.fullmatch(r"[A-Za-z0-9_]+", n) for n in names.values())


def test_prairielearn_results_of_a_huge_sheet_stay_under_a_megabyte(monkeypatch) -> None:
    """PrairieLearn takes results.json up to 1 MB: long outputs are cut, points kept."""
    import backcheck
    from backcheck import autograders
    from backcheck.scoring import score_report

    report = backcheck.verify(str(SHEETS / "fastai_lin_relu_lin/forgot_relu_grad.yaml"))
    score = score_report(report)
    whole = autograders.prairielearn_results(report, score)
    raw = json.dumps(whole)
    monkeypatch.setattr(autograders, "PRAIRIELEARN_LIMIT", len(raw) // 3)
    cut = autograders.prairielearn_results(report, score)
    text = json.dumps(cut)
    assert len(text) <= len(raw) // 3
    check_prairielearn(cut, text)
    assert cut["score"] == whole["score"]
    assert [(t["points"], t["max_points"]) for t in cut["tests"]] == [
        (t["points"], t["max_points"]) for t in whole["tests"]]
