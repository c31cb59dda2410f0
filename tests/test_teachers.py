"""For teachers (issue 13): mistake codes, points and credit, Gradescope and PrairieLearn
results checked against their published specs, gradebook columns, class runs on a pool.

The Gradescope checks follow https://gradescope-autograders.readthedocs.io/en/latest/specs/
(top-level ``score`` and ``output``; ``tests`` entries with ``name``, ``score``,
``max_score``, ``output``, optional ``status`` passed/failed); the PrairieLearn checks
follow PrairieLearn's docs/externalGrading.md (``gradable``, ``score`` in [0, 1],
``tests`` with ``name``, ``points``, ``max_points``; ``format_errors`` when not gradable).
Expected points are worked by hand from the verdict rules of FORMAT §4, not copied from
our output.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
PROBLEMS = ROOT / "problems"
SHEETS = PROBLEMS / "sheets"
FACTOR_TWO = SHEETS / "single_neuron/factor_two_missing.yaml"


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "backcheck.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


# ============================================================================ codes


def test_every_mistake_has_a_unique_stable_kebab_case_code() -> None:
    from backcheck.mistakes import MISTAKES

    codes = [m.code_for() for m in MISTAKES]
    codes += [code for m in MISTAKES for _, code in m.codes]
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", c) for c in codes), codes
    assert len(codes) == len(set(codes))
    assert {"relu-mask-missing", "transposed"} <= set(codes)


@pytest.mark.parametrize(("sheet", "code"), [
    ("ai_by_hand_3layer/relu_not_zeroed.yaml", "relu-mask-missing"),
    ("fastai_lin_relu_lin/forgot_relu_grad.yaml", "relu-mask-missing"),
    ("ai_by_hand_3layer/dW3_transposed.yaml", "transposed"),
    ("single_neuron/factor_two_missing.yaml", "factor-two-missing"),
    ("single_neuron/update_wrong_sign.yaml", "update-wrong-sign"),
])
def test_verify_json_carries_the_mistake_code(sheet: str, code: str) -> None:
    result = cli("verify", str(SHEETS / sheet), "--json")
    document = json.loads(result.stdout)
    wrong = [i for i in document["items"] if i["verdict"] == "wrong"]
    assert wrong and all(i["code"] == code for i in wrong)
    assert all(i["code"] == "carried" for i in document["items"] if i["verdict"] == "carried")
    assert all(i["code"] is None for i in document["items"]
               if i["verdict"] in ("correct", "missing"))


def test_an_unexplained_slip_is_coded_unexplained(tmp_path: Path) -> None:
    sheet = tmp_path / "s.yaml"
    sheet.write_text(f"problem: {PROBLEMS / 'single_neuron.yaml'}\n"
                     "answers:\n  z: [0.35]\n  y_hat: [0.9]\n")
    document = json.loads(cli("verify", str(sheet), "--json").stdout)
    item = next(i for i in document["items"] if i["verdict"] == "wrong")
    assert item["code"] == "unexplained"


# ============================================================================ points


def _course(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "course.yaml"
    path.write_text(text)
    return path


def test_points_carried_share_and_partial_credit(tmp_path: Path) -> None:
    # factor_two_missing: z1, a1, L right; dL/da1 wrong; the 9 entries after it carried
    # (dL/dz1 1, dL/dW1 3, dL/db1 1, W1_new 3, b1_new 1).
    course = _course(tmp_path, "points: {dL/dz1: 4, dw: 3, default: 1}\ncarried_credit: 1/2\n")
    result = cli("verify", str(FACTOR_TWO), "--json", "--course", str(course))
    score = json.loads(result.stdout)["score"]
    # 3 right × 1 + dL/da1 0 + dL/dz1 4·½ + dL/dW1 3·½ + dL/db1 ½ + W1_new ½ + b1_new ½
    assert score["possible"] == 3 + 1 + 4 + 3 + 1 + 1 + 1
    assert score["earned"] == 3 + 2 + 1.5 + 0.5 + 0.5 + 0.5
    whole = _course(tmp_path, "points: 2\ncarried_credit: 0\npartial_credit: false\n")
    score = json.loads(cli("verify", str(FACTOR_TWO), "--json", "--course",
                           str(whole)).stdout)["score"]
    assert score["possible"] == 18 and score["earned"] == 6


def test_points_of_only_a_default_or_of_zero_apply_to_every_quantity(tmp_path: Path) -> None:
    # factor_two_missing answers 9 quantities (FORMAT.md: default gives the points of the
    # quantities not named; a number gives every quantity that many): once these counted
    # 1 point each (default ignored, 0 read as "not given")
    for text, possible in (("points: {default: 2}\n", 18), ("points: 0\n", 0)):
        course = _course(tmp_path, text)
        score = json.loads(cli("verify", str(FACTOR_TWO), "--json", "--course",
                               str(course)).stdout)["score"]
        assert score["possible"] == possible
        assert {q["possible"] for q in score["quantities"]} == {possible // 9}


def test_partial_credit_is_per_element(tmp_path: Path) -> None:
    sheet = tmp_path / "s.yaml"
    sheet.write_text(f"problem: {PROBLEMS / 'single_neuron.yaml'}\n"
                     "points: {dL/dW1: 3}\n"
                     "answers:\n  dL/dw: [[-0.401, 0.2005, 7]]\n")
    score = json.loads(cli("verify", str(sheet), "--json").stdout)["score"]
    assert score["quantities"] == [{"name": "dL/dW1", "earned": 2, "possible": 3,
                                    "degenerate_from": []}]


def test_carried_credit_is_refused_after_an_all_zero_answer(tmp_path: Path) -> None:
    sheet = tmp_path / "zeros.yaml"
    sheet.write_text(f"problem: {PROBLEMS / 'single_neuron.yaml'}\n"
                     "answers:\n  dL/da1: [0]\n  dL/dz1: [0]\n  dL/dw: [[0, 0, 0]]\n")
    document = json.loads(cli("verify", str(sheet), "--json", "--course",
                              str(_course(tmp_path, "carried_credit: 1\n"))).stdout)
    verdicts = {i["element"]: i["verdict"] for i in document["items"]}
    assert verdicts["dL/dW1[1,1]"] == "carried"  # the verdict stands ...
    score = document["score"]
    assert score["earned"] == 0  # ... but zeros carried on earn nothing
    assert any("all-zero" in flag and "dL/da1" in flag for flag in score["flags"])


@pytest.mark.parametrize(("text", "expected"), [
    ("points: {zz9: 1}\n", "course.yaml:1:"),
    ("carried_credit: 2\n", "from 0 to 1"),
    ("pionts: 3\n", "did you mean 'points'"),
    ("points: [1, 2]\n", "found a list"),
    ("partial_credit: maybe\n", "true or false"),
])
def test_a_bad_course_file_is_one_located_message(tmp_path: Path, text: str,
                                                  expected: str) -> None:
    course = _course(tmp_path, text)
    out = tmp_path / "gs.json"
    result = cli("verify", str(FACTOR_TWO), "--course", str(course), "--gradescope", str(out))
    assert result.returncode == 2 and expected in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) <= 3
    assert not out.exists()


# ============================================================================ autograders


def _check_gradescope(document: dict) -> None:
    """Gradescope's results.json spec, field by field."""
    assert isinstance(document["score"], (int, float))
    assert isinstance(document["output"], str)
    for test in document["tests"]:
        assert set(test) >= {"name", "score", "max_score", "output"}
        assert isinstance(test["name"], str) and isinstance(test["output"], str)
        assert isinstance(test["score"], (int, float))
        assert isinstance(test["max_score"], (int, float))
        assert 0 <= test["score"] <= test["max_score"]
        assert test.get("status", "passed") in ("passed", "failed")
        assert test.get("output_format", "text") in ("text", "html", "simple_format", "md",
                                                     "ansi")
    if document["tests"]:
        assert abs(sum(t["score"] for t in document["tests"]) - document["score"]) < 1e-6


def _check_prairielearn(document: dict) -> None:
    """PrairieLearn's external-grader results spec."""
    if document.get("gradable", True) is False:
        assert document["format_errors"]
        return
    assert 0 <= document["score"] <= 1
    for test in document.get("tests", []):
        assert isinstance(test["name"], str)
        assert 0 <= test["points"] <= test["max_points"]


def test_gradescope_and_prairielearn_results_follow_their_specs(tmp_path: Path) -> None:
    gs, pl = tmp_path / "gs.json", tmp_path / "pl.json"
    course = _course(tmp_path, "points: {dL/dz1: 4, default: 1}\ncarried_credit: 1/2\n")
    result = cli("verify", str(FACTOR_TWO), "--gradescope", str(gs), "--prairielearn",
                 str(pl), "--course", str(course))
    assert result.returncode == 1, result.stderr
    grades = json.loads(gs.read_text())
    _check_gradescope(grades)
    # 3 right + dL/dz1 4·½ + 4 carried quantities × ½ = 7 of 3 + 1 + 4 + 4 = 12
    assert grades["score"] == 7
    tests = {t["name"].split(" (")[0]: t for t in grades["tests"]}
    assert tests["dL/da1"]["score"] == 0 and tests["dL/da1"]["status"] == "failed"
    assert "factor-two-missing" in tests["dL/da1"]["output"]
    assert "factor 2" in tests["dL/da1"]["output"]
    assert tests["z1"]["status"] == "passed"
    assert sum(t["max_score"] for t in grades["tests"]) == 12
    learn = json.loads(pl.read_text())
    _check_prairielearn(learn)
    assert learn["gradable"] is True and abs(learn["score"] - 7 / 12) < 1e-6
    assert sum(t["points"] for t in learn["tests"]) == 7


def test_an_unreadable_sheet_is_not_gradable_and_still_gets_results(tmp_path: Path) -> None:
    sheet = tmp_path / "answers.yaml"
    sheet.write_text("problem: missing.yaml\nanswers: {z1: [1]}\n")
    gs, pl = tmp_path / "gs.json", tmp_path / "pl.json"
    result = cli("verify", str(sheet), "--gradescope", str(gs), "--prairielearn", str(pl))
    assert result.returncode == 2 and "not found" in result.stderr
    grades, learn = json.loads(gs.read_text()), json.loads(pl.read_text())
    _check_gradescope(grades)
    _check_prairielearn(learn)
    assert grades["score"] == 0 and "not found" in grades["output"]
    assert learn["gradable"] is False and "not found" in learn["format_errors"][0]


def test_autograder_output_is_for_one_sheet_and_never_overwritten(tmp_path: Path) -> None:
    gs = tmp_path / "gs.json"
    two = cli("verify", str(FACTOR_TWO), str(FACTOR_TWO), "--gradescope", str(gs))
    assert two.returncode == 2 and "--gradescope" in two.stderr and not gs.exists()
    gs.write_text("keep")
    again = cli("verify", str(FACTOR_TWO), "--gradescope", str(gs))
    assert again.returncode == 2 and "will not overwrite" in again.stderr
    assert gs.read_text() == "keep"
    forced = cli("verify", str(FACTOR_TWO), "--gradescope", str(gs), "--force")
    assert forced.returncode == 1 and json.loads(gs.read_text())["tests"]


# ============================================================================ gradebook


def test_gradebook_has_points_and_mistake_code_columns(tmp_path: Path) -> None:
    sheets = [str(p) for p in sorted((SHEETS / "fastai_lin_relu_lin").glob("*.yaml"))]
    grades = tmp_path / "grades.csv"
    result = cli("verify", *sheets, "--csv", str(grades))
    assert result.returncode == 1, result.stderr
    rows = list(csv.DictReader(grades.open()))
    relu = next(r for r in rows if r["sheet"].endswith("forgot_relu_grad.yaml"))
    assert int(relu["code:relu-mask-missing"]) == 4
    assert relu["mistakes"].startswith("relu-mask-missing: dL/dz1[")
    right = next(r for r in rows if r["sheet"].endswith("right.yaml"))
    assert right["points"] == right["max_points"] and int(right["code:transposed"]) == 0
    from backcheck.gradebook import read_gradebook

    back = read_gradebook(str(grades))
    entry = next(r for r in back if r["sheet"].endswith("forgot_relu_grad.yaml"))
    assert entry["codes"]["relu-mask-missing"] == 4
    counts = entry["quantities"]["dL/dz1"]
    assert counts["correct"] + counts["carried"] + counts["wrong"] + counts["missing"] \
        == counts["total"]


def test_a_pooled_class_run_gives_the_serial_results(tmp_path: Path) -> None:
    sheets = [str(p) for p in sorted(SHEETS.glob("*/*.yaml"))]
    serial = cli("verify", *sheets, "--json", "--jobs", "1")
    pooled = cli("verify", *sheets, "--json", "--jobs", "2")
    assert serial.returncode == pooled.returncode == 1
    assert json.loads(serial.stdout) == json.loads(pooled.stdout)


def test_sheets_with_the_same_answers_share_verdicts_but_keep_their_names(
        tmp_path: Path) -> None:
    from backcheck.classrun import grade_class
    from backcheck.grading import Grader

    body = (SHEETS / "single_neuron/factor_two_missing.yaml").read_text()
    body = body.replace("problem: ../../single_neuron.yaml",
                        f"problem: {PROBLEMS / 'single_neuron.yaml'}")
    body = "\n".join(line for line in body.splitlines() if not line.startswith("student:"))
    paths = []
    for i, student in enumerate(["Ada", "Grace", "'Quoted'", "|\n  block"]):
        path = tmp_path / f"s{i}.yaml"
        path.write_text(f"student: {student}\ntitle: t{i}\n{body}\n")
        paths.append(str(path))
    other = tmp_path / "other.yaml"
    other.write_text("student: Ada\n" + body.replace("-0.4134", "-0.8268") + "\n")
    paths.append(str(other))
    pooled = grade_class(paths, jobs=2)
    fresh = [Grader().grade_or_error(p) for p in paths]
    for a, b in zip(pooled, fresh, strict=True):
        assert a.to_json() == b.to_json()
        assert (a.student, a.title) == (b.student, b.title)
    assert [r.student for r in pooled[:3]] == ["Ada", "Grace", "Quoted"]
    assert pooled[4].counts != pooled[0].counts


# ============================================================================ report


def test_report_counts_verdicts_and_codes_from_sheets_and_from_the_gradebook(
        tmp_path: Path) -> None:
    sheets = sorted(str(p) for p in (SHEETS / "single_neuron").glob("*.yaml"))
    direct = json.loads(cli("report", *sheets, "--json").stdout)
    # the five single_neuron sheets: right, honest_rounding (all right), factor_two_missing
    # (dL/da1 wrong), sigma_prime_at_a (dL/dz1 wrong), update_wrong_sign (W1_new, b1_new)
    assert direct["sheets"] == 5 and direct["all_correct"] == 2
    codes = {m["code"]: m for m in direct["mistakes"]}
    assert set(codes) == {"factor-two-missing", "derivative-at-activation",
                          "update-wrong-sign"}
    assert codes["update-wrong-sign"]["entries"] == 4  # W1_new 3 + b1_new 1
    assert codes["factor-two-missing"]["example"]["element"] == "dL/da1[1]"
    assert "factor 2" in codes["factor-two-missing"]["example"]["diagnosis"]
    quantities = {q["name"]: q for q in direct["quantities"]}
    assert quantities["dL/da1"]["wrong"] == 1 and quantities["dL/da1"]["correct"] == 4
    grades = tmp_path / "grades.csv"
    cli("verify", *sheets, "--csv", str(grades))
    again = json.loads(cli("report", str(grades), "--json").stdout)
    assert again["quantities"] == direct["quantities"]
    assert [(m["code"], m["sheets"], m["entries"]) for m in again["mistakes"]] == \
        [(m["code"], m["sheets"], m["entries"]) for m in direct["mistakes"]]
    shown = cli("report", *sheets)
    assert shown.returncode == 0 and "update-wrong-sign" in shown.stdout
    assert "W1_new[1,1]" in shown.stdout


def test_report_html_has_plots_and_escapes_file_text(tmp_path: Path) -> None:
    import base64
    from html.parser import HTMLParser

    import matplotlib  # noqa: F401  (the test extra has it: a missing one fails, not skips)

    sheet = tmp_path / "<b>sheet.yaml"
    sheet.write_text((SHEETS / "single_neuron/update_wrong_sign.yaml").read_text()
                     .replace("../../single_neuron.yaml", str(PROBLEMS / "single_neuron.yaml")))
    page = tmp_path / "report.html"
    result = cli("report", str(sheet), str(FACTOR_TWO), "-o", str(page))
    assert result.returncode == 0, result.stderr
    text = page.read_text()
    images: list[str] = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list) -> None:
            if tag == "img":
                images.append(dict(attrs)["src"])

    Collect().feed(text)
    assert len(images) == 2
    for src in images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<b>sheet" not in text and "&lt;b&gt;sheet" in text
    again = cli("report", str(FACTOR_TWO), "-o", str(page))
    assert again.returncode == 2 and "will not overwrite" in again.stderr
    bad = cli("report", str(FACTOR_TWO), "-o", str(tmp_path / "r.txt"))
    assert bad.returncode == 2 and ".html" in bad.stderr


def test_report_of_a_file_that_is_not_a_gradebook_is_one_message(tmp_path: Path) -> None:
    table = tmp_path / "marks.csv"
    table.write_text("name,mark\nAda,3\n")
    result = cli("report", str(table))
    assert result.returncode == 2 and "not a backcheck gradebook" in result.stderr
    assert "Traceback" not in result.stderr


# ============================================================================ exports


CLOZE = re.compile(r"\{1:NUMERICAL:=([^:}]+):([^}]+)\}")


def test_moodle_xml_blanks_match_pytorch_element_by_element(tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    sys.path.insert(0, str(Path(__file__).parent))
    from reference import load, torch_reference

    quiz = tmp_path / "quiz.xml"
    result = cli("new", "--count", "3", "--seed", "40", "--difficulty", "medium", "-o",
                 str(tmp_path / "q.yaml"), "--moodle", str(quiz))
    assert result.returncode == 0, result.stderr
    root = ET.parse(quiz).getroot()
    assert root.tag == "quiz"
    questions = root.findall("question")
    assert questions[0].get("type") == "category"
    cloze = [q for q in questions if q.get("type") == "cloze"]
    assert len(cloze) == 3
    for i, question in enumerate(cloze, start=1):
        assert question.find("name/text").text
        assert question.find("questiontext").get("format") == "html"
        text = question.find("questiontext/text").text
        blanks = CLOZE.findall(text)
        problem = load(tmp_path / f"q-{i}.yaml")
        reference = torch_reference(problem)
        sheet = (tmp_path / f"q-{i}.answers.yaml").read_text()
        asked = re.findall(r"^  ([^\s#][^:]*):", sheet, re.MULTILINE)
        expected = [float(v) for name in asked for v in np.ravel(reference[name])]
        tolerance = re.search(r"tolerance: \{abs: ([0-9.]+)\}", sheet).group(1)
        assert len(blanks) == len(expected)
        for (value, tol), truth in zip(blanks, expected, strict=True):
            assert tol == tolerance
            assert abs(float(value) - truth) <= 1e-9 * max(1.0, abs(truth))


def test_prairielearn_folder_generates_variants_with_right_answers(tmp_path: Path) -> None:
    from html.parser import HTMLParser

    sys.path.insert(0, str(Path(__file__).parent))
    from reference import load, torch_reference

    folder = tmp_path / "question"
    result = cli("new", "--count", "2", "--seed", "7", "-o", str(tmp_path / "q.yaml"),
                 "--prairielearn", str(folder))
    assert result.returncode == 0, result.stderr
    info = json.loads((folder / "info.json").read_text())
    assert info["type"] == "v3" and re.fullmatch(r"[0-9a-f-]{36}", info["uuid"])
    names: list[str] = []

    class Inputs(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list) -> None:
            if tag == "pl-number-input":
                names.append(dict(attrs)["answers-name"])

    Inputs().feed((folder / "question.html").read_text())
    namespace: dict = {}
    exec(compile((folder / "server.py").read_text(), "server.py", "exec"), namespace)
    seeds = {v["seed"]: v for v in namespace["VARIANTS"]}
    assert set(seeds) == {7, 8}
    for i, seed in ((1, 7), (2, 8)):
        reference = torch_reference(load(tmp_path / f"q-{i}.yaml"))
        answers = seeds[seed]["answers"]
        assert list(answers) == names
        assert abs(answers["dL_dW1_2_1"] - float(reference["dL/dW1"][1, 0])) < 1e-9
        assert abs(answers["L"] - float(reference["L"])) < 1e-9
    data: dict = {"params": {}, "correct_answers": {}}
    namespace["generate"](data)
    assert data["params"]["seed"] in seeds and set(data["correct_answers"]) == set(names)


def test_roster_gives_each_student_a_seed_that_regenerates_the_key(tmp_path: Path) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text("name,id\nAda Lovelace,a1\nGrace Hopper,g2\n")
    result = cli("new", "--roster", "roster.csv", "--key", "-o", "hw.yaml", "--seed", "100",
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader((tmp_path / "hw.roster.csv").open()))
    assert [(r["student"], r["seed"]) for r in rows] == [("Ada Lovelace", "100"),
                                                         ("Grace Hopper", "101")]
    assert "student: Ada Lovelace" in (tmp_path / "hw-a1.answers.yaml").read_text()
    again = tmp_path / "again"
    again.mkdir()
    command = rows[1]["command"].split()
    assert command[:2] == ["backcheck", "new"]
    regenerated = cli(*command[1:], cwd=again)
    assert regenerated.returncode == 0, regenerated.stderr
    assert (again / "hw-g2.key.yaml").read_bytes() == (tmp_path / "hw-g2.key.yaml").read_bytes()


@pytest.mark.parametrize(("text", "expected"), [
    ("name,id\nAda,1\n,2\n", "roster.csv:3: no name"),
    ("name,id\nAda,1\nBob,1\n", "roster.csv:3: '1' is already on line 2"),
    ("name,id\nAda,1,extra\n", "roster.csv:2: 3 cells, the header has 2"),
    ("first,last\nAda,L\n", "no 'name'"),
    ("name\n", "lists no students"),
])
def test_a_bad_roster_is_one_message_and_nothing_is_written(tmp_path: Path, text: str,
                                                            expected: str) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text(text)
    result = cli("new", "--roster", str(roster), "-o", str(tmp_path / "hw.yaml"),
                 "--moodle", str(tmp_path / "hw.xml"))
    assert result.returncode == 2 and expected in result.stderr, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["roster.csv"]


def test_exports_never_overwrite_and_leave_nothing_half_written(tmp_path: Path) -> None:
    quiz = tmp_path / "quiz.xml"
    quiz.write_text("mine")
    result = cli("new", "--seed", "1", "-o", str(tmp_path / "p.yaml"), "--moodle", str(quiz),
                 "--prairielearn", str(tmp_path / "plq"))
    assert result.returncode == 2 and "will not overwrite" in result.stderr
    assert quiz.read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["quiz.xml"]
    missing = cli("new", "--seed", "1", "-o", str(tmp_path / "p.yaml"), "--moodle",
                  str(tmp_path / "no" / "such" / "quiz.xml"))
    assert missing.returncode == 2 and sorted(p.name for p in tmp_path.iterdir()) == [
        "quiz.xml"]


def _fake_autograder(tmp_path: Path, submission: str | None) -> dict:
    """docs/gradescope/run_autograder in a folder laid out like Gradescope's /autograder."""
    import os
    import shutil

    root = tmp_path / "autograder"
    source = root / "source"
    shutil.copytree(ROOT / "docs" / "gradescope", source)
    (root / "submission").mkdir()
    if submission is not None:
        (root / "submission" / "answers.yaml").write_text(submission)
    wrapper = tmp_path / "backcheck"
    wrapper.write_text(f"#!/bin/sh\nexec {sys.executable} -m backcheck.cli \"$@\"\n")
    wrapper.chmod(0o755)
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "BACKCHECK": str(wrapper),
           "PYTHONPATH": str(ROOT)}
    run = subprocess.run(["bash", str(source / "run_autograder")], env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    return json.loads((root / "results" / "results.json").read_text())


def test_the_sample_gradescope_autograder_grades_an_upload(tmp_path: Path) -> None:
    sheet = FACTOR_TWO.read_text().replace("../../single_neuron.yaml", "problem.yaml")
    results = _fake_autograder(tmp_path, sheet)
    _check_gradescope(results)
    names = [t["name"].split(" (")[0] for t in results["tests"]]
    assert "dL/dW1" in names
    # course.yaml: 1 point each, dL/dW1 2; carried ½: z1, a1, L right; dL/da1 wrong;
    # dL/dz1, dL/db1, W1_new, b1_new carried (½ each), dL/dW1 carried (2·½)
    assert results["score"] == 3 + 0.5 * 4 + 1
    cheat = sheet.replace("problem: problem.yaml", "problem: mine.yaml")
    assert _fake_autograder(tmp_path / "c", cheat)["score"] == 0
    empty = _fake_autograder(tmp_path / "e", None)
    assert empty["score"] == 0 and "No answers file" in empty["output"]


# ============================================================================ polish


def test_usage_lines_show_placeholders_in_capitals_and_completion_is_on() -> None:
    assert "Usage: backcheck solve [OPTIONS] FILE" in cli("solve", "--help").stdout
    assert "explain [OPTIONS] FILE QUANTITY" in cli("explain", "--help").stdout
    assert "verify [OPTIONS] SHEET..." in cli("verify", "--help").stdout
    assert "--install-completion" in cli("--help").stdout


@pytest.mark.parametrize(("name", "shown"), [
    ("w5", "W2[1,1] = 0.4"),                 # Mazur's weight numbering: the weight itself
    ("∂E_total/∂w5", "∂L/∂W2[1,1] = 0.082167"),  # Mazur: 0.082167041
    ("net_h1", "z1[1] = 0.3775"),            # Mazur: net_h1 = 0.3775
    ("out_o1", "a2[1] = 0.751365"),          # Mazur: out_o1 = 0.75136507
])
def test_explain_accepts_the_names_verify_accepts(name: str, shown: str) -> None:
    result = cli("explain", str(PROBLEMS / "mazur_2_2_2.yaml"), name)
    assert result.returncode == 0, result.stderr
    assert shown in result.stdout


def test_solve_only_accepts_verify_names_and_a_bad_one_names_the_option() -> None:
    problem = str(PROBLEMS / "mazur_2_2_2.yaml")
    result = cli("solve", problem, "--only", "net_h1,dE_total/dw5,dL/dW1[1,2]", "--json")
    assert result.returncode == 0, result.stderr
    assert list(json.loads(result.stdout)["quantities"]) == ["z1", "dL/dW2", "dL/dW1"]
    bad = cli("solve", problem, "--only", "z1,zz")
    assert bad.returncode == 2 and bad.stderr.startswith("error: --only: unknown quantity 'zz'")
    assert "<input>" not in bad.stderr
    # Mazur's w5 is a weight: given, not computed; say so and name its gradient
    given = cli("solve", problem, "--only", "w5")
    assert given.returncode == 2 and given.stderr.startswith(
        "error: --only: 'w5' is W2[1,1], given in the problem, not computed")
    assert "its gradient is dL/dW2" in given.stderr and "w5+" not in given.stderr
    # an element that does not exist is refused as explain and verify refuse it
    outside = cli("solve", problem, "--only", "dL/dW1[3,3]")
    assert outside.returncode == 2 and "out of range" in outside.stderr
    assert outside.stderr.startswith("error: --only: ")


def test_option_errors_name_the_command_never_input(tmp_path: Path) -> None:
    problem = str(PROBLEMS / "mazur_2_2_2.yaml")
    both = cli("solve", problem, "--json", "--latex")
    assert both.returncode == 2
    assert both.stderr.startswith("error: backcheck solve: choose one of")
    both = cli("explain", problem, "z1", "--latex", "--markdown")
    assert both.returncode == 2
    assert both.stderr.startswith("error: backcheck explain: choose one of")
    for command in ("explain", "graph"):
        assert "-o, --output FILE" in cli(command, "--help").stdout


def test_report_html_without_matplotlib_is_one_message_before_grading(tmp_path: Path) -> None:
    """A fresh install without the report extra: -o names the file and the extra, and
    nothing is written (the sheets are not graded first)."""
    import os

    blocker = tmp_path / "block" / "matplotlib"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('blocked for this test')\n")
    page = tmp_path / "report.html"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(tmp_path / "block"), str(ROOT), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-m", "backcheck.cli", "report", str(FACTOR_TWO),
                             "-o", str(page)], capture_output=True, text=True, timeout=600,
                            env=env)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith(f"error: {page}: the HTML report draws its plots with "
                                    "matplotlib, which is not installed")
    assert "backcheck[report]" in result.stderr and not page.exists()


def test_a_quantity_table_never_cuts_the_element_names() -> None:
    """At 80 columns with the "from your answers" column, every element is shown whole
    (a long exact value wraps instead) and the count of rows not listed reads as one line."""
    import os

    sheet = str(SHEETS / "fastai_lin_relu_lin/forgot_relu_grad.yaml")
    result = subprocess.run([sys.executable, "-m", "backcheck.cli", "verify", sheet,
                             "--wrong-only"], capture_output=True, text=True, timeout=600,
                            env={**os.environ, "COLUMNS": "80"})
    assert result.returncode == 1, result.stderr
    for element in ("dL/dW1[1,2]", "dL/dW1[3,3]", "dL/db1[3]", "dL/dz1[1,3]"):
        assert element in result.stdout
    assert not re.search(r"\[[0-9,]*…", result.stdout)  # no element cut to dL/dW1[1,…
    assert "⋯ 3 correct not listed (--json: all)" in result.stdout


def test_the_overwrite_hint_of_verify_names_its_own_options(tmp_path: Path) -> None:
    grades = tmp_path / "grades.csv"
    grades.write_text("mine")
    result = cli("verify", str(FACTOR_TWO), str(FACTOR_TWO), "--csv", str(grades))
    assert result.returncode == 2 and "--csv" in result.stderr and " -o" not in result.stderr


def test_wrong_only_and_compact_views() -> None:
    sheet = str(SHEETS / "single_neuron/factor_two_missing.yaml")
    wrong = cli("verify", sheet, "--wrong-only").stdout
    assert "dL/da1[1]" in wrong and "\nz1[1] " not in wrong and "all correct (3): z1" in wrong
    compact = cli("verify", sheet, "--compact").stdout
    assert "✗ dL/da1  0/1" in compact and "element" not in compact


def test_notebook_display_is_an_html_table_with_a_short_repr() -> None:
    from html.parser import HTMLParser

    import backcheck
    from backcheck.api import solve_file

    class Cells(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.tags: list[str] = []
            self.text: list[str] = []

        def handle_starttag(self, tag: str, attrs: list) -> None:
            self.tags.append(tag)

        def handle_data(self, data: str) -> None:
            self.text.append(data)

    solution = solve_file(str(PROBLEMS / "mazur_2_2_2.yaml"))
    assert len(repr(solution)) < 200 and "19 quantities" in repr(solution)
    parsed = Cells()
    parsed.feed(solution._repr_html_())
    assert parsed.tags.count("table") == 1 and parsed.tags.count("tr") == 20
    assert any(t.startswith("0.3775") for t in parsed.text)  # net_h1, Mazur: 0.3775
    report = backcheck.verify(str(SHEETS / "mazur_2_2_2/net_for_out.yaml"))
    assert len(repr(report)) < 200
    parsed = Cells()
    parsed.feed(report._repr_html_())
    assert parsed.tags.count("tr") == report.total + 1
    assert any("z-for-a" in t for t in parsed.text)


def test_the_class_table_tells_alike_paths_apart_at_any_width() -> None:
    from backcheck.render.verify_view import fit_names

    names = {f"k{i}": f"{folder}/honest_rounding.yaml" for i, folder in enumerate(
        ["ai_by_hand_3layer", "fastai_lin_relu_lin", "mazur_2_2_2", "padhai_sigmoid_softmax",
         "single_neuron"])}
    for width in (12, 16, 24, 40, 80):
        fitted = fit_names(names, width)
        assert len(set(fitted.values())) == 5, (width, fitted)
        assert all(len(v) <= width for v in fitted.values())
    wide = cli("verify", *sorted(str(p) for p in SHEETS.glob("*/honest_rounding.yaml")))
    lines = wide.stdout.splitlines()
    # one file name in five folders: said once in the title, the rows are the folders
    assert lines[0].startswith("Answer sheets (each …/honest_rounding.yaml)")
    rows = [line.split()[0] for line in lines[1:] if "honest rounding" in line]
    assert len(set(rows)) == 5
    assert {"ai_by_hand_3layer", "mazur_2_2_2", "single_neuron"} <= set(rows)
