"""`backcheck verify`: answer sheets, tolerances, verdicts, errors, JSON, class runs."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference import load, torch_reference  # noqa: E402

import backcheck  # noqa: E402
from backcheck.errors import BackcheckError  # noqa: E402
from backcheck.exact import Exact  # noqa: E402
from backcheck.grading import Tolerance, agrees, verify  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PROBLEMS = ROOT / "problems"
SHEETS = PROBLEMS / "sheets"


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "backcheck.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=120)


def sheet(tmp_path: Path, body: str, problem: str = "ai_by_hand_3layer",
          name: str = "sheet.yaml") -> Path:
    path = tmp_path / name
    path.write_text(f"problem: {PROBLEMS / (problem + '.yaml')}\n{body}")
    return path


def by_element(report) -> dict:  # type: ignore[no-untyped-def]
    return {item.element: item for item in report.items}


# ----------------------------------------------------------------------------- curated

CURATED = {
    # sheet: (mistake the wrong entries get, quantities they may be in) or None = all right
    "single_neuron/right.yaml": None,
    "mazur_2_2_2/formulas.yaml": None,  # FORMAT §8 formula answers
    "symbolic_neuron/slips.yaml": ("forgot_activation_derivative", {"dL/dz1"}),
    "single_neuron/honest_rounding.yaml": None,
    "single_neuron/factor_two_missing.yaml": ("factor_two_missing", {"dL/da1"}),
    "single_neuron/sigma_prime_at_a.yaml": ("derivative_at_activation", {"dL/dz1"}),
    "single_neuron/update_wrong_sign.yaml": ("update_wrong_sign", {"W1_new", "b1_new"}),
    "fastai_lin_relu_lin/right.yaml": None,
    "fastai_lin_relu_lin/honest_rounding.yaml": None,
    "fastai_lin_relu_lin/mean_forgotten.yaml": ("mean_forgotten", {"L", "dL/da2"}),
    "fastai_lin_relu_lin/forgot_relu_grad.yaml": ("forgot_activation_derivative", {"dL/dz1"}),
    "fastai_lin_relu_lin/bias_not_summed.yaml": ("bias_not_summed", {"dL/db1"}),
    "fastai_lin_relu_lin/w1_grad_transposed.yaml": ("transposed", {"dL/dW1"}),
    "mazur_2_2_2/right.yaml": None,
    "mazur_2_2_2/mazur_notation.yaml": None,
    "mazur_2_2_2/honest_rounding.yaml": None,
    "mazur_2_2_2/forgot_sigmoid_derivative.yaml": ("forgot_activation_derivative", {"dL/dz2"}),
    "mazur_2_2_2/net_for_out.yaml": ("z_for_a", {"dL/dW2"}),
    "mazur_2_2_2/factor_two_extra.yaml": ("factor_two_extra", {"L", "dL/da2"}),
    "ai_by_hand_3layer/right.yaml": None,
    "ai_by_hand_3layer/honest_rounding.yaml": None,
    "ai_by_hand_3layer/relu_not_zeroed.yaml": ("forgot_activation_derivative", {"dL/dz1"}),
    "ai_by_hand_3layer/softmax_t_minus_p.yaml": ("output_error_reversed", {"dL/dz3"}),
    "ai_by_hand_3layer/dW3_transposed.yaml": ("transposed", {"dL/dW3"}),
    "padhai_sigmoid_softmax/right.yaml": None,
    "padhai_sigmoid_softmax/honest_rounding.yaml": None,
    "padhai_sigmoid_softmax/sigma_prime_from_z.yaml": ("derivative_from_z", {"dL/dz2"}),
    "padhai_sigmoid_softmax/forgot_sigmoid_derivative.yaml": (
        "forgot_activation_derivative", {"dL/dz1"}),
    "padhai_sigmoid_softmax/W2_not_transposed.yaml": ("weights_not_transposed", {"dL/da1"}),
}


def test_every_curated_sheet_is_listed() -> None:
    from tests.test_tensor import SLIPS  # the tensor problems' sheets are graded there

    found = {str(p.relative_to(SHEETS)) for p in SHEETS.rglob("*.yaml")}
    assert found == set(CURATED) | {f"{problem}/{name}.yaml" for problem, name in SLIPS}
    for problem in ("single_neuron", "fastai_lin_relu_lin", "mazur_2_2_2",
                    "ai_by_hand_3layer", "padhai_sigmoid_softmax"):
        mine = [k for k, v in CURATED.items() if k.startswith(problem + "/")]
        assert sum(CURATED[k] is None for k in mine) >= 1
        assert sum(CURATED[k] is not None for k in mine) >= 3


@pytest.mark.parametrize("name", sorted(CURATED))
def test_curated_sheet(name: str) -> None:
    report = verify(str(SHEETS / name))
    expected = CURATED[name]
    if expected is None:
        assert report.ok, [(i.element, i.verdict, i.diagnosis) for i in report.items
                           if i.verdict != "correct"]
        assert report.counts["correct"] == report.total > 0
        assert report.exit_code == 0
        return
    mistake, quantities = expected
    wrong = [item for item in report.items if item.verdict == "wrong"]
    assert wrong
    for item in wrong:
        assert item.mistake == mistake, (item.element, item.mistake, item.diagnosis)
        assert item.quantity in quantities, item.element
    for item in report.items:
        if item.verdict == "carried":
            assert item.origin and item.cause
    assert report.exit_code == 1
    assert report.first is not None and report.first.verdict == "wrong"


@pytest.mark.parametrize("name", sorted(k for k, v in CURATED.items() if v is None
                                        and "rounding" not in k))
def test_curated_right_sheets_agree_with_pytorch(name: str) -> None:
    """Independent of backcheck's arithmetic: every number on a right sheet agrees with
    PyTorch autograd to the precision it is written in."""
    report = verify(str(SHEETS / name))
    reference = torch_reference(load(report.problem_file))
    for item in report.items:
        value = float(np.ravel(reference[item.quantity])[item.flat])
        decimals = len(item.text.split(".")[1]) if "." in item.text else 0
        assert abs(float(item.given) - value) <= 0.5 * 10**-decimals + 1e-12, item.element


def test_ai_by_hand_slip_reads_as_the_reader_caught_it() -> None:
    report = verify(str(SHEETS / "ai_by_hand_3layer/relu_not_zeroed.yaml"))
    first = report.first
    assert first.element == "dL/dz1[2]"
    assert "without the ReLU derivative" in first.diagnosis
    assert "z1[2] = -1 < 0" in first.diagnosis
    carried = [i for i in report.items if i.verdict == "carried"]
    assert {i.quantity for i in carried} == {"dL/dW1", "dL/db1", "W1_new", "b1_new"}
    assert all("dL/dz1[2]" in i.origin for i in carried)


# ----------------------------------------------------------------------------- tolerance


def _exact(text: str) -> Exact:
    return Exact.of(Fraction(text))


@pytest.mark.parametrize("written, truth, ok", [
    ("0.50", "0.5049", True), ("0.50", "0.5051", False), ("0.12", "0.125", True),
    ("0.13", "0.125", True), ("0.1", "0.15", True), ("0.1", "0.1500001", False),
    ("1e-3", "0.0014", True), ("1.5e-3", "0.00155", True), ("1.5e-3", "0.00156", False),
    ("-0.6182", "-0.61824", True), ("-0.6182", "0.6182", False),
])
def test_auto_tolerance_is_half_a_unit_in_the_last_written_digit(written: str, truth: str,
                                                                  ok: bool) -> None:
    assert agrees(Fraction(written), written, _exact(truth)) is ok


def test_a_fraction_is_exact() -> None:
    assert agrees(Fraction(1, 3), "1/3", _exact("1/3"))
    assert not agrees(Fraction(1, 3), "1/3", Exact.of(Fraction(333, 1000)))


def test_whole_numbers() -> None:
    # written `1` when the truth is 0.73: wrong; `5` for 4.9997: right; 0 is held to the
    # sheet's working precision
    assert not agrees(Fraction(1), "1", _exact("0.73"))
    assert agrees(Fraction(5), "5", _exact("4.9997"))
    assert agrees(Fraction(5), "5", _exact("4.9997"), working=4)
    assert not agrees(Fraction(5), "5", _exact("4.99"), working=4)
    assert not agrees(Fraction(0), "0", _exact("0.003"), working=4)
    assert agrees(Fraction(0), "0", _exact("0.003"), working=2)
    assert agrees(Fraction(-3), "-3", _exact("-3"))


def test_abs_rel_sig() -> None:
    t = _exact("0.2447")
    assert agrees(Fraction("0.25"), "0.25", t, Tolerance("abs", Fraction("0.01")))
    assert not agrees(Fraction("0.26"), "0.26", t, Tolerance("abs", Fraction("0.01")))
    assert agrees(Fraction("0.245"), "0.245", t, Tolerance("rel", Fraction("0.01")))
    assert not agrees(Fraction("0.25"), "0.25", t, Tolerance("rel", Fraction("0.01")))
    assert agrees(Fraction("0.245"), "0.245", t, Tolerance("sig", Fraction(2)))
    assert not agrees(Fraction("0.245"), "0.245", t, Tolerance("sig", Fraction(4)))
    assert agrees(Fraction("0.2447"), "0.2447", t, Tolerance("exact"))


def test_irrational_truth_is_compared_beyond_float64() -> None:
    # σ(1) = 0.7310585786300048792...; 17 decimals go past float64's resolution
    truth = Exact.of(Fraction(1)).sigmoid()
    assert agrees(Fraction("0.73105857863000488"), "0.73105857863000488", truth)
    assert not agrees(Fraction("0.73105857863000478"), "0.73105857863000478", truth)


def test_sheet_and_per_quantity_tolerances(tmp_path: Path) -> None:
    body = """tolerance: {abs: 0.01}
tolerances:
  dL/dz3: {abs: 0.0001}
  a3[1]: exact
answers:
  a3: [0.2447, 0.6652, 0.0900]
  dL/dz3: [0.2447, -0.3370, 0.0900]
  dL/db3: {value: [0.2, -0.3, 0.1], tolerance: {rel: 0.5}}
"""
    report = verify(str(sheet(tmp_path, body)))
    items = by_element(report)
    assert items["a3[1]"].verdict == "wrong"  # exact: 0.2447 is not softmax's value
    assert items["a3[2]"].verdict == "correct"  # within 0.01
    assert items["dL/dz3[1]"].verdict == "correct"
    assert items["dL/dz3[2]"].verdict == "wrong"  # 0.002 off, tolerance 0.0001
    assert all(items[f"dL/db3[{i}]"].verdict != "wrong" for i in (1, 2, 3))


def test_bad_tolerance_is_a_clear_error(tmp_path: Path) -> None:
    path = sheet(tmp_path, "tolerance: {absolute: 0.1}\nanswers:\n  z1: [1, -1, 2]\n")
    with pytest.raises(BackcheckError) as info:
        verify(str(path))
    assert "did you mean 'abs'" in info.value.message
    assert info.value.mark is not None


# ----------------------------------------------------------------------------- verdicts


def test_honest_rounding_carried_along_is_correct(tmp_path: Path) -> None:
    # a3 rounded to 4 decimals; L = −log(0.6652) = 0.40767..., which the student writes
    # 0.4077 although the exact L is 0.407606...: correct, it follows from their a3
    report = verify(str(sheet(tmp_path, "answers:\n  a3: [0.2447, 0.6652, 0.0900]\n"
                                        "  L: 0.4077\n")))
    assert report.ok and report.counts["correct"] == 4
    wrong_a3 = verify(str(sheet(tmp_path, "answers:\n  a3: [0.2447, 0.6552, 0.0900]\n"
                                          "  L: 0.4227\n", name="b.yaml")))
    items = by_element(wrong_a3)
    assert items["a3[2]"].verdict == "wrong"
    assert items["L"].verdict == "carried" and items["L"].cause == "a3[2]"


def test_missing_entries(tmp_path: Path) -> None:
    report = verify(str(sheet(tmp_path, "answers:\n  z1: [1, ~, 2]\n  a1: ~\n")))
    counts = report.counts
    assert counts == {"correct": 2, "carried": 0, "wrong": 0, "missing": 4}
    assert report.ok and report.exit_code == 0


def test_single_elements_and_aliases(tmp_path: Path) -> None:
    body = """answers:
  dL/dW3[2,1]: -0.6695
  ∂L/∂b3[1]: 0.2447
  δ3: [0.2447, -0.3348, 0.09]
  y_hat: [0.2447, 0.6652, 0.09]
  E: 0.4076
"""
    report = verify(str(sheet(tmp_path, body)))
    assert report.ok
    names = {r.name for r in report.results}
    assert names == {"dL/dW3", "dL/db3", "dL/dz3", "a3", "L"}


def test_mazur_aliases(tmp_path: Path) -> None:
    body = """answers:
  net_h1: 0.3775
  out_h1: 0.593269992
  E_total: 0.298371109
  ∂E_total/∂w5: 0.082167041
  w5+: 0.35891648
  w1+: 0.149780716
"""
    report = verify(str(sheet(tmp_path, body, "mazur_2_2_2")))
    assert report.ok and report.total == 6
    assert {i.element for i in report.items} >= {"z1[1]", "dL/dW2[1,1]", "W2_new[1,1]"}


def test_padhai_h_is_the_activation(tmp_path: Path) -> None:
    report = verify(str(sheet(tmp_path, "answers:\n  h1: [0.5498, 0.5622]\n",
                              "padhai_sigmoid_softmax")))
    assert [r.name for r in report.results] == ["a1"]


def test_unknown_name_gets_did_you_mean(tmp_path: Path) -> None:
    with pytest.raises(BackcheckError) as info:
        verify(str(sheet(tmp_path, "answers:\n  dL/dW4: [[1]]\n")))
    assert "did you mean" in info.value.message and info.value.mark.line == 3


def test_wrong_shape_is_one_finding_not_a_crash(tmp_path: Path) -> None:
    report = verify(str(sheet(tmp_path, "answers:\n  z1: [1, -1]\n  a1: [1, 0, 2]\n")))
    result = report.results[0]
    assert result.finding and "you wrote a list of 2 numbers" in result.finding
    assert "it is 3" in result.finding
    assert [i.verdict for i in result.items] == ["wrong"] * 3
    assert by_element(report)["a1[1]"].verdict == "correct"


def test_square_matrix_transposed_is_named(tmp_path: Path) -> None:
    body = ("answers:\n  dL/dW3: [[0.4895, -0.6695, 0.1801], [0, 0, 0], "
            "[0.2447, -0.3348, 0.0900]]\n")
    report = verify(str(sheet(tmp_path, body)))
    wrong = [i for i in report.items if i.verdict == "wrong"]
    assert wrong and all(i.mistake == "transposed" for i in wrong)
    assert "transposed" in wrong[0].diagnosis


def test_scalar_expression_sheet(tmp_path: Path) -> None:
    body = "answers:\n  q: 3\n  f: -12\n  df/dq: -4\n  df/dx: 4\n  dz: 3\n"
    report = verify(str(sheet(tmp_path, body, "cs231n_circuit")))
    items = by_element(report)
    assert items["q"].verdict == items["f"].verdict == items["df/dz"].verdict == "correct"
    assert items["df/dx"].verdict == "wrong" and items["df/dx"].mistake == "sign_flipped"


def test_answers_inside_a_problem_file(tmp_path: Path) -> None:
    text = (PROBLEMS / "cs231n_circuit.yaml").read_text()
    path = tmp_path / "circuit.yaml"
    path.write_text(text + "answers:\n  q: 3\n  df/dx: -4\n  df/dy: -4\n  df/dz: 3\n")
    report = verify(str(path))
    assert report.ok and report.total == 4
    bare = tmp_path / "bare.yaml"
    bare.write_text(text)
    with pytest.raises(BackcheckError, match="no answers"):
        verify(str(bare))


def test_python_api_is_lazy_exported() -> None:
    report = backcheck.verify(str(SHEETS / "single_neuron/right.yaml"))
    assert report.ok and "correct" in report.summary()


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("body, message", [
    ("problem: nowhere.yaml\nanswers: {z1: [1]}\n", "not found"),
    ("problem: sheet.yaml\nanswers: {z1: [1]}\n", "itself"),
    ("problem: 3\nanswers: {z1: [1]}\n", "path of a problem file"),
    ("answers: {z1: [1]}\n", "not an answers file"),
    ("problem: PROBLEM\nanswers: {z1: [one, 2, 3]}\n", "unknown name in a formula 'one'"),
    ("problem: PROBLEM\nanswers:\n  z1: [1, 2, 3]\n  dL/dz1[5]: 1\n", "outside"),
    ("problem: PROBLEM\nanswers:\n  z1: [1, 2, 3]\n  z1[1]: 1\n", "answered twice"),
    ("problem: PROBLEM\nanswer: {z1: [1, 2, 3]}\n", "did you mean 'answers'"),
    ("problem: PROBLEM\nanswers: [1, 2]\n", "mapping"),
    ("problem: PROBLEM\nanswers: {z1: [[1, 2], [3]]}\n", "ragged"),
    ("problem: PROBLEM\nanswers: {z1: !!python/object:os.system [1]}\n", "not allowed"),
    ("problem: PROBLEM\nanswers: {z1: .nan}\n", "finite"),
    ("problem: PROBLEM\nanswers: {z1: [1, 2, 3]\n", "YAML"),
])
def test_bad_sheets_exit_2_with_one_clear_line(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "sheet.yaml"
    path.write_text(body.replace("PROBLEM", str(PROBLEMS / "ai_by_hand_3layer.yaml")))
    result = cli("verify", str(path))
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert message in result.stderr
    assert str(path) in result.stderr


def test_problem_that_is_not_a_problem(tmp_path: Path) -> None:
    other = tmp_path / "other.yaml"
    other.write_text("problem: x.yaml\nanswers: {z1: 1}\n")
    path = tmp_path / "sheet.yaml"
    path.write_text("problem: other.yaml\nanswers: {z1: 1}\n")
    result = cli("verify", str(path))
    assert result.returncode == 2 and "answers file, not a problem" in result.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text("x: [1, 2\n")
    path.write_text("problem: broken.yaml\nanswers: {z1: 1}\n")
    result = cli("verify", str(path))
    assert result.returncode == 2 and "broken.yaml" in result.stderr


# ----------------------------------------------------------------------------- CLI


def test_cli_one_sheet_table_summary_and_first_entry() -> None:
    result = cli("verify", str(SHEETS / "ai_by_hand_3layer/relu_not_zeroed.yaml"))
    assert result.returncode == 1
    out = result.stdout
    for text in ("dL/dz1", "✗ wrong", "↻ carried", "✓ correct",
                 "97/106 correct · 8 carried · 1 wrong", "look first at dL/dz1[2]",
                 "without the ReLU derivative"):
        assert text in out, text


def test_cli_all_correct_exits_0() -> None:
    result = cli("verify", str(SHEETS / "mazur_2_2_2/honest_rounding.yaml"))
    assert result.returncode == 0 and "33/33 correct" in result.stdout


def test_cli_json_is_format_section_5() -> None:
    result = cli("verify", str(SHEETS / "single_neuron/factor_two_missing.yaml"), "--json")
    assert result.returncode == 1
    document = json.loads(result.stdout)
    assert document["correct"] == 3 and document["total"] == 13
    item = next(i for i in document["items"] if i["verdict"] == "wrong")
    assert set(item) >= {"name", "index", "expected", "given", "verdict", "diagnosis"}
    assert item["name"] == "dL/da1" and item["index"] == [1]
    assert isinstance(item["expected"], float) and isinstance(item["given"], float)
    assert "factor 2" in item["diagnosis"]
    scalar = next(i for i in document["items"] if i["name"] == "L")
    assert scalar["index"] == []


def test_class_run_gradebook_and_error_row(tmp_path: Path) -> None:
    sheets = sorted(str(p) for p in (SHEETS / "mazur_2_2_2").glob("*.yaml"))
    broken = tmp_path / "broken.yaml"
    broken.write_text("problem: missing.yaml\nanswers: {z1: 1}\n")
    grades = tmp_path / "grades.csv"
    result = cli("verify", *sheets, str(broken), "--csv", str(grades))
    assert result.returncode == 2, result.stderr  # a sheet could not be graded
    assert "not graded" in result.stdout and "broken.yaml" in result.stdout
    rows = list(csv.DictReader(grades.open()))
    assert len(rows) == len(sheets) + 1
    assert rows[-1]["error"] and "not found" in rows[-1]["error"]
    right = next(r for r in rows if r["sheet"].endswith("right.yaml"))
    assert right["correct"] == right["total"] == "33" and right["dL/dW2"] == "4 of 4"
    again = cli("verify", *sheets, "--csv", str(grades))
    assert again.returncode == 2 and "will not overwrite" in again.stderr
    again = cli("verify", *sheets, "--csv", str(grades), "--force", "--json")
    assert again.returncode == 1  # mistakes, no unreadable sheet
    document = json.loads(again.stdout)
    assert len(document["sheets"]) == len(sheets)
    assert document["summary"]["errors"] == 0


def test_class_of_right_sheets_exits_0(tmp_path: Path) -> None:
    sheets = [str(SHEETS / f"{p}/right.yaml") for p in ("mazur_2_2_2", "single_neuron")]
    assert cli("verify", *sheets).returncode == 0


# ----------------------------------------------------------------------------- budget


def _large_problem(tmp_path: Path) -> tuple[Path, dict]:
    """A 64-64-64-64-64 sigmoid network, batch 16 (near MAX_EXACT_WORK), and a sheet:
    z1 with one slip (z1[1,4] + 0.5), a1 worked from it (a1[1,4] carried)."""
    import random

    rng = random.Random(7)

    def matrix(rows: int, cols: int) -> np.ndarray:
        return np.array([[round(rng.uniform(-1, 1), 2) for _ in range(cols)]
                         for _ in range(rows)])

    def text(array: np.ndarray) -> str:
        if array.ndim == 1:
            return "[" + ", ".join(f"{v:.4f}" for v in array) + "]"
        return "[" + ", ".join(text(row) for row in array) + "]"

    x = matrix(16, 64)
    layers = [(matrix(64, 64), matrix(1, 64)[0]) for _ in range(4)]
    lines = [f"x: {text(x)}", "layers:"]
    for W, b in layers:
        lines += [f"  - W: {text(W)}", f"    b: {text(b)}", "    activation: sigmoid"]
    lines += [f"target: {text(matrix(16, 64))}", "loss: mse", "learning_rate: 0.1"]
    problem = tmp_path / "large.yaml"
    problem.write_text("\n".join(lines) + "\n")
    W1, b1 = layers[0]
    z1 = np.round(x @ W1.T + b1, 4)  # exact: sums of products of two-decimal numbers
    z1[0, 3] += 0.5
    a1 = np.round(1 / (1 + np.exp(-z1)), 4)
    path = tmp_path / "large_sheet.yaml"
    path.write_text(f"problem: large.yaml\nanswers:\n  z1: {text(z1)}\n  a1: {text(a1)}\n")
    return path, {"z1": z1, "a1": a1}


def test_large_accepted_problem_grades_within_a_time_and_memory_budget(tmp_path: Path
                                                                       ) -> None:
    import resource

    from cpu_bounds import run_bounded

    from backcheck.grading import LARGE_WORK
    from backcheck.problem import MAX_EXACT_WORK, load_problem

    path, _ = _large_problem(tmp_path)
    assert LARGE_WORK < load_problem(str(tmp_path / "large.yaml")).exact_work <= MAX_EXACT_WORK
    # about 3 s of CPU here (it took 10 s and 1.5 GB before verify had a work budget); a
    # generous bound on CPU time, which a busy machine does not inflate
    result = run_bounded([sys.executable, "-m", "backcheck.cli", "verify", str(path),
                          "--json"], cpu_seconds=20, capture_output=True, text=True,
                         cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    assert peak_kb < 1_000_000, peak_kb
    document = json.loads(result.stdout)
    assert (document["correct"], document["carried"], document["wrong"]) == (2046, 1, 1)
    items = {item["element"]: item for item in document["items"]}
    assert items["z1[1,1]"]["verdict"] == "correct"
    assert items["z1[1,4]"]["verdict"] == "wrong"
    assert "it is" in items["z1[1,4]"]["diagnosis"]
    assert items["a1[1,4]"]["verdict"] == "carried"
    assert "z1[1,4]" in items["a1[1,4]"]["diagnosis"]
    assert document["first"] == "z1[1,4]"


def test_large_problem_text_lists_only_entries_that_are_not_right(tmp_path: Path) -> None:
    path, _ = _large_problem(tmp_path)
    result = cli("verify", str(path), cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "z1[1,4]" in result.stdout and "z1[1,1] " not in result.stdout
    assert "1023 correct not listed" in result.stdout and "--json" in result.stdout


def test_budgeted_mistake_search_names_the_same_mistakes(monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    """The large-problem path (float64 screen, then exact) on every shipped sheet: same
    verdicts and same named mistakes as the exhaustive search."""
    import backcheck.grading.context as grading  # where the budget's limits live

    sheets = sorted(SHEETS.glob("*/*.yaml"))

    def graded() -> dict:
        return {s: [(i.element, i.verdict, i.mistake) for i in verify(s).items]
                for s in sheets}

    exhaustive = graded()
    monkeypatch.setattr(grading, "LARGE_WORK", -1)
    monkeypatch.setattr(grading, "LARGE_EXACT_BUDGET", 10**9)
    assert graded() == exhaustive
    # no budget at all: the verdicts stand, the search says it was skipped
    monkeypatch.setattr(grading, "LARGE_EXACT_BUDGET", 0)
    report = verify(SHEETS / "single_neuron" / "sigma_prime_at_a.yaml")
    assert [(i.element, i.verdict) for i in report.items] == [
        (e, v) for e, v, _ in exhaustive[SHEETS / "single_neuron" / "sigma_prime_at_a.yaml"]]
    wrong = [i for i in report.items if i.verdict == "wrong"]
    assert wrong and all("diagnosis skipped: network too large" in i.diagnosis for i in wrong)
    assert any("diagnosis skipped" in note for note in report.notes)


# ----------------------------------------------------------------------------- work


def _big_sheet(folder: Path, n: int, kind: str) -> Path:
    """An n-input, n-unit sigmoid layer: ``wrong`` answers dL/dW1 (n × n) with random
    numbers (no known mistake: every buggy rule is tried on every entry); ``carried``
    answers dL/dz1 three times too large and dL/dW1, W1_new carried on from it."""
    import random

    rng = random.Random(n)
    W = [[rng.choice([-1, 1, 2]) / 4 for _ in range(n)] for _ in range(n)]
    x = [rng.choice([-1, 1, 2]) for _ in range(n)]
    W2 = [[rng.choice([-1, 1]) / 4 for _ in range(n)]]
    net = folder / f"net{n}.yaml"
    net.write_text(f"x: {x}\nlayers:\n  - W: {W}\n    activation: sigmoid\n  - W: {W2}\n"
                   f"target: [1]\nloss: half_sse\nlearning_rate: 0.1\n")
    truth = torch_reference(load(net))

    def text(a: np.ndarray) -> str:
        return ("[" + ", ".join(text(v) for v in a) + "]") if np.ndim(a) else f"{a:.6f}"

    if kind == "wrong":
        noise = np.array([[rng.uniform(-5, 5) for _ in range(n)] for _ in range(n)])
        body = f"  dL/dW1: {text(noise)}\n"
    else:
        dz = np.ravel(truth["dL/dz1"]) * 3
        dW = np.outer(dz, np.array(x, dtype=float))
        body = (f"  dL/dz1: {text(dz)}\n  dL/dW1: {text(dW)}\n"
                f"  W1_new: {text(np.array(W) - 0.1 * dW)}\n")
    path = folder / f"{kind}{n}.yaml"
    path.write_text(f"problem: {net.name}\nanswers:\n{body}")
    return path


@pytest.mark.parametrize("kind", ["wrong", "carried"])
def test_verify_work_is_linear_in_wrong_entries(tmp_path: Path, kind: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Counts work (Python function calls), not time: 16× the entries (8 × 8 → 32 × 32
    answers, all wrong or all carried) may cost at most 16× the calls. Before, every
    wrong entry transformed the whole quantity again and every carried one listed every
    entry it rested on: 93× (wrong) and 21× (carried). The rounding-reach columns are
    capped low so the large-sheet path (columns folded) is the one measured."""
    import cProfile
    import pstats

    import backcheck.grading.reach as reach

    monkeypatch.setattr(reach, "MAX_BALL_CELLS", 2000)

    def calls(n: int) -> int:
        sheet = _big_sheet(tmp_path, n, kind)
        profile = cProfile.Profile()
        profile.enable()
        report = verify(str(sheet))
        profile.disable()
        assert report.counts["wrong"] + report.counts["carried"] > n * n // 2
        return pstats.Stats(profile).total_calls

    small, large = calls(8), calls(32)
    assert large <= 16 * small, (small, large, large / small)


# ----------------------------------------------------------------------------- issue 9 §2

VERDICT_SHEETS = Path(__file__).resolve().parent / "sheets"


def test_a_carried_value_is_never_correct() -> None:
    """W1_new[2,2] = 0.3 − 0.5·0.0020 = 0.299 follows from the wrong dL/dW1[2,2]
    (0.0020, twice the right 0.000995): the rounding of that carried input must not
    count as allowance for "follows from your correct answers"."""
    report = verify(str(SHEETS / "mazur_2_2_2/factor_two_extra.yaml"))
    items = by_element(report)
    assert items["dL/dW1[2,2]"].verdict == "carried"
    assert items["W1_new[2,2]"].verdict == "carried", items["W1_new[2,2]"].diagnosis
    assert "dL/dW1[2,2]" in items["W1_new[2,2]"].cause


def test_softmax_cross_entropy_route_from_the_students_own_a() -> None:
    """dL/dz3 = a3 − t from their own (slipped) a3, with their dL/da3 wrong: carried
    from a3, never "the right size with the wrong sign"."""
    report = verify(str(VERDICT_SHEETS / "softmax_ce_route.yaml"))
    items = by_element(report)
    assert items["dL/da3[2]"].verdict == "wrong"
    for element in ("dL/dz3[1]", "dL/dz3[2]"):
        item = items[element]
        assert item.verdict == "carried", (element, item.diagnosis)
        assert "wrong sign" not in item.diagnosis
        assert item.cause.startswith("a3[")
    assert items["dL/dz3[3]"].verdict == "correct"


def test_softmax_cross_entropy_route_honest_rounding(tmp_path: Path) -> None:
    """The same route with a right a3 written to 2 decimals and dL/da3 written wrong:
    dL/dz3 = a3 − t is correct (honest rounding of their own correct a3)."""
    path = sheet(tmp_path, "answers:\n  a3: [0.24, 0.67, 0.09]\n"
                           "  dL/da3: [0, 1.49, 0]\n  dL/dz3: [0.24, -0.33, 0.09]\n")
    items = by_element(verify(str(path)))
    assert all(items[f"dL/dz3[{i}]"].verdict == "correct" for i in (1, 2, 3))


def test_zero_log_zero_adds_nothing() -> None:
    """a1[2] written 0 where the target is 0: L and dL/dz1 from the student's own
    numbers are still usable, and the honest L is correct."""
    report = verify(str(VERDICT_SHEETS / "zero_log_zero.yaml"))
    assert report.ok, [(i.element, i.verdict, i.diagnosis) for i in report.items]
    assert not any("cannot be carried forward" in note for note in report.notes)
    # independent check of the honest L: −log(0.0180) to 4 decimals
    assert abs(-np.log(0.0180) - 4.0174) < 5e-5


def test_a_value_the_rules_refuse_stops_only_what_needs_it(tmp_path: Path) -> None:
    """A negative probability in a3 (the whole forward pass written with its signs
    flipped): L = −log a3[2] cannot be worked out from it, but z2 still follows from the
    student's own a1, so z2[1] = W2[1,:]·a1 + b2[1] is carried, not judged against the
    truth alone; the note names a3, the value the loss could not take (not z1, a1, …,
    which still carry forward)."""
    W2 = np.array([[1, -1, 0.5], [0.5, 1, -1], [0, 1, 1]])
    b2 = np.array([0, 1, -1])
    a1 = np.array([-1.0, 0.0, -2.0])  # relu's output written negative: wrong
    z2 = W2 @ a1 + b2  # what follows from it (numpy, independently of backcheck)
    path = sheet(tmp_path, "answers:\n  z1: [-1, 1, -2]\n  a1: [-1, 0, -2]\n"
                           f"  z2: [{z2[0]:.1f}, {z2[1]:.1f}, {z2[2]:.1f}]\n"
                           "  a3: [-0.2447, -0.6652, -0.0900]\n  L: -0.4076\n")
    report = verify(str(path))
    items = by_element(report)
    assert z2[0] == -2.0 and items["z2[1]"].verdict == "carried", items["z2[1]"].diagnosis
    assert items["a1[1]"].verdict == "wrong" and items["L"].verdict == "wrong"
    assert report.notes == ["a3: your values cannot be carried forward (log of a number "
                            "that is not positive at L)"], report.notes


@pytest.mark.parametrize("tolerance", [None, "auto", "exact", "{abs: 0.01}", "{rel: 0}",
                                       "{rel: 0.001}", "{sig: 3}", "{sig: 40}"])
def test_a_fraction_is_exact_under_every_tolerance(tmp_path: Path,
                                                    tolerance: str | None) -> None:
    """softmax([2, 2, 2]) is exactly 1/3 each (PyTorch: 0.3333… to float64)."""
    text = (VERDICT_SHEETS / "fraction_is_exact.yaml").read_text()
    text = text.replace("problem: softmax_equal_inputs.yaml",
                        f"problem: {VERDICT_SHEETS / 'softmax_equal_inputs.yaml'}")
    if tolerance is not None:
        text = text.replace("answers:", f"tolerance: {tolerance}\nanswers:")
    path = tmp_path / "s.yaml"
    path.write_text(text)
    reference = torch_reference(load(VERDICT_SHEETS / "softmax_equal_inputs.yaml"))
    assert np.allclose(reference["a1"], 1 / 3, atol=1e-15)
    report = verify(str(path))
    assert report.ok, [(i.element, i.verdict, i.diagnosis) for i in report.items]
    assert report.counts["correct"] == 6


@pytest.mark.parametrize("tolerance, written, message", [
    ("{abs: 0.0001}", "0.245", "right to 3 decimals; this sheet asks for 4 decimals"),
    ("{sig: 4}", "0.245", "right to 3 significant digits; this sheet asks for 4"),
    ("exact", "0.2447", "right to 4 decimals; this sheet asks for the exact value"),
])
def test_precision_not_arithmetic(tmp_path: Path, tolerance: str, written: str,
                                  message: str) -> None:
    """a3[1] = softmax(z3)[1] = 0.244728… (PyTorch): right to the digits written, fewer
    than the sheet asks for, says so, never "check the arithmetic"."""
    truth = float(torch_reference(load(PROBLEMS / "ai_by_hand_3layer.yaml"))["a3"][0])
    decimals = len(written.split(".")[1])
    assert abs(truth - float(written)) <= 0.5 * 10**-decimals
    path = sheet(tmp_path, f"tolerance: {tolerance}\nanswers:\n  a3[1]: {written}\n")
    item = verify(str(path)).items[0]
    assert item.verdict == "wrong"
    assert message in item.diagnosis, item.diagnosis
    assert "arithmetic" not in item.diagnosis
    assert item.code == "too-few-digits"


def test_whole_number_short_of_the_working_precision(tmp_path: Path) -> None:
    """W2_new[1,1] = 1 − 0.1·0.0773… = 0.9923… (PyTorch) written 1 on a sheet working to
    4 decimals: right only as a whole number."""
    truth = torch_reference(load(PROBLEMS / "ai_by_hand_3layer.yaml"))["W2_new"][0][0]
    assert abs(truth - 1) < 0.5 and abs(truth - 1) > 0.001
    path = sheet(tmp_path, "answers:\n  a3: [0.2447, 0.6652, 0.0900]\n  W2_new[1,1]: 1\n")
    item = by_element(verify(str(path)))["W2_new[1,1]"]
    assert item.verdict == "wrong"
    assert "right as a whole number; this sheet asks for 4 decimals" in item.diagnosis


def test_diagnosis_survives_rounding_of_a_looked_up_sigma(tmp_path: Path) -> None:
    """σ′ taken at a (the slip), with σ(a) rounded to 3 decimals before multiplying:
    dL/dz1 = dL/da1·s(1 − s) with s = round(σ(0.5866), 3) = 0.643 (worked here with
    math, not backcheck): still named as σ′ at the activation."""
    import math

    s = round(1 / (1 + math.exp(-0.5866)), 3)
    dz = round(-0.8268 * s * (1 - s), 4)
    path = sheet(tmp_path, f"answers:\n  a1: [0.5866]\n  dL/da1: [-0.8268]\n  dL/dz1: [{dz}]\n",
                 problem="single_neuron")
    items = by_element(verify(str(path)))
    assert items["a1[1]"].verdict == "correct" and items["dL/da1[1]"].verdict == "correct"
    item = items["dL/dz1[1]"]
    assert item.verdict == "wrong"
    assert item.mistake == "derivative_at_activation", item.diagnosis
