"""`backcheck solve` from the command line, as a user runs it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from backcheck.cli import app

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpu_bounds import run_bounded  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PROBLEMS = ROOT / "problems"
runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


def test_solve_prints_forward_backward_update_and_crosscheck() -> None:
    result = run("solve", str(PROBLEMS / "mazur_2_2_2.yaml"))
    assert result.exit_code == 0, result.output
    for heading in ("Forward pass", "Backward pass", "One gradient-descent step", "cross-check"):
        assert heading in result.output
    # Mazur's published E_total = 0.298371109, shown rounded and marked as rounded
    assert "0.298371…" in result.output


def test_json_has_float_quantities_matching_published_figures() -> None:
    result = run("solve", str(PROBLEMS / "mazur_2_2_2.yaml"), "--json")
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    quantities = document["quantities"]
    assert quantities["L"] == pytest.approx(0.298371109, abs=5e-10)
    assert quantities["dL/dW2"][0][0] == pytest.approx(0.082167041, abs=5e-10)
    assert quantities["W2_new"][0][0] == pytest.approx(0.35891648, abs=5e-9)
    assert quantities["W1_new"][0][0] == pytest.approx(0.149780716, abs=5e-10)
    assert document["crosscheck"]["ok"] is True


def test_only_accepts_other_spellings_and_rejects_unknown_names() -> None:
    result = run("solve", str(PROBLEMS / "mazur_2_2_2.yaml"), "--json", "--only", "z1,∂L/∂W2,dW1")
    assert result.exit_code == 0
    assert list(json.loads(result.stdout)["quantities"]) == ["z1", "dL/dW2", "dL/dW1"]


def test_unknown_quantity_exits_2_with_suggestion(tmp_path: Path) -> None:
    process = run_bounded(
        [sys.executable, "-m", "backcheck.cli", "solve", str(PROBLEMS / "mazur_2_2_2.yaml"),
         "--only", "dL/dW3"], capture_output=True, text=True, cpu_seconds=60)
    assert process.returncode == 2
    assert "unknown quantity 'dL/dW3'" in process.stderr
    assert "Traceback" not in process.stderr


def test_exact_flag_shows_closed_forms() -> None:
    result = run("solve", str(PROBLEMS / "cs231n_sigmoid_neuron.yaml"), "--exact", "--only", "f")
    assert result.exit_code == 0
    assert "exp(-1)" in result.output


def test_rational_values_print_exactly_and_rounded_ones_are_marked(tmp_path: Path) -> None:
    problem = tmp_path / "p.yaml"
    problem.write_text("x: [0.1, 0.2]\nlayers:\n  - W: [[1, 1]]\ntarget: [0]\n"
                       "loss: {name: mse, reduction: sum}\nlearning_rate: '1/3'\n")
    result = run("solve", str(problem), "--json")
    exact = json.loads(result.stdout)["exact"]
    assert exact["z1"] == ["3/10"]  # 0.1 + 0.2 is exactly 3/10, not 0.30000000000000004
    # dL/dz1 = 2·0.3 = 0.6, dL/dW1 = 0.6·[0.1, 0.2], W1_new = 1 − (1/3)·[0.06, 0.12]
    assert exact["W1_new"] == [["49/50", "24/25"]]
    text = run("solve", str(problem), "--only", "z1,W1_new").output
    rows = [line for line in text.splitlines() if "z1 " in line or "W1_new" in line]
    assert len(rows) == 2 and "0.3" in rows[0] and "0.98" in rows[1] and "0.96" in rows[1]
    assert not any("…" in row for row in rows)


def test_relu_at_exactly_zero_is_warned(tmp_path: Path) -> None:
    problem = tmp_path / "kink.yaml"
    problem.write_text("x: [1, 1]\nlayers:\n  - W: [[1, -1], [1, 1]]\n    activation: relu\n"
                       "  - W: [[1, 1]]\ntarget: [1]\nloss: mse\n")
    result = run("solve", str(problem))
    assert result.exit_code == 0
    assert "z1[1] is exactly 0" in result.output


def test_float_only_mode_solves_without_cross_check(tmp_path: Path) -> None:
    result = run("solve", str(PROBLEMS / "single_neuron.yaml"), "--float-only", "--json")
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert "exact" not in document and "crosscheck" not in document


def test_big_arrays_are_shown_by_their_corners(tmp_path: Path) -> None:
    import numpy as np

    from backcheck.render.numbers import format_array

    text = format_array(np.arange(20 * 30).reshape(20, 30), limit=12)
    lines = text.splitlines()
    assert len(lines) == 13 and "⋯" in lines[0] and "⋮" in lines[6]
    assert lines[0].startswith("[[  0    1") and lines[-1].endswith("  599]]")
    assert format_array(np.arange(20), limit=12) == (
        "[0  1  2  3  4  5  ⋯  14  15  16  17  18  19]")
    assert format_array(np.arange(12), limit=12) == format_array(np.arange(12))

    import random

    rng = random.Random(3)

    def row(n: int) -> str:
        return "[" + ", ".join(f"{rng.uniform(-1, 1):.2f}" for _ in range(n)) + "]"

    problem = tmp_path / "wide.yaml"
    problem.write_text(f"x: {row(40)}\nlayers:\n  - W: [{', '.join(row(40) for _ in range(30))}]\n"
                       f"    activation: sigmoid\ntarget: {row(30)}\nloss: mse\n")
    result = run("solve", str(problem), "--float-only")
    assert result.exit_code == 0, result.output
    assert "⋯" in result.output and "--json" in result.output
    assert "shown by their corners" in result.output
    # the small problems print in full, with no note
    small = run("solve", str(PROBLEMS / "mazur_2_2_2.yaml"))
    assert "⋯" not in small.output and "corners" not in small.output
