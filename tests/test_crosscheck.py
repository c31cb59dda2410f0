"""The cross-check never calls a valid file an internal error (issue 9 §3, issue 15), and
exact numbers look exact (issue 9 §4).

References are independent: mpmath at 100 digits for the true values, PyTorch float64
(``BCEWithLogits``, ``sigmoid``) for what a float64 tool computes.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import mpmath
import numpy as np
import pytest

from backcheck.api import problem_from_text
from backcheck.exact import Exact
from backcheck.generate import key_number
from backcheck.render.numbers import format_exact
from backcheck.solution import solve

mp = mpmath.MPContext()
mp.dps = 100
PROBLEMS = Path(__file__).resolve().parent.parent / "problems"


class Run:
    def __init__(self, completed: subprocess.CompletedProcess) -> None:
        self.exit_code = completed.returncode
        self.output = completed.stdout + completed.stderr


def run_cli(*args: str, columns: int = 200) -> Run:
    """``backcheck ARGS`` in a fresh process at a given terminal width, as a user runs it."""
    env = {**os.environ, "COLUMNS": str(columns)}
    return Run(subprocess.run([sys.executable, "-m", "backcheck.cli", *args], env=env,
                              capture_output=True, text=True, timeout=120))


def solve_text(text: str, tmp_path: Path, *options: str, columns: int = 200) -> Run:
    path = tmp_path / "problem.yaml"
    path.write_text(text, encoding="utf-8")
    return run_cli("solve", str(path), *options, columns=columns)


def test_float64_cancellation_of_an_input_it_cannot_store_is_a_warning(tmp_path) -> None:
    result = solve_text("x: [1]\nlayers:\n  - W: [[1000000000000000.1]]\n"
                        "    activation: identity\ntarget: [1000000000000000]\nloss: sse\n",
                        tmp_path)
    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.split())
    # (0.1)² exactly; float64 stores W as 1000000000000000.125 and gets 0.015625
    assert re.search(r"│ L +│ scalar │ 0\.01 ", result.output)
    assert "W1 = 1000000000000000.1 is stored as 1000000000000000.125" in flat
    assert "cancel" in flat and "internal error" not in flat


def test_sin_of_1e100_is_computed_and_float64_is_explained(tmp_path) -> None:
    result = solve_text("values: {x: 1e100}\nsteps:\n  - y = sin(x)\n", tmp_path,
                        "--digits", "15")
    assert result.exit_code == 0, result.output
    truth = mp.sin(mp.mpf(10) ** 100)
    assert mp.nstr(truth, 15, strip_zeros=False) + "…" in result.output
    flat = " ".join(result.output.split())
    assert "x = 1.0e+100 is stored as 1.0000000000000000159e+100…" in flat
    assert "sin of a large argument" in flat


def test_division_by_an_exact_zero_reached_through_sigmoids_is_one_clear_error(
        tmp_path) -> None:
    result = solve_text("values: {x: 3}\nsteps:\n  - y = 1/(1 - sigmoid(x) - sigmoid(-x))\n",
                        tmp_path)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "division by a number that cannot be told from zero" in lines[0]
    assert "e+" not in lines[0]  # never a number near 1e50 (or 1e4900)


def test_a_value_that_cannot_be_told_from_zero_is_shown_as_such(tmp_path) -> None:
    result = solve_text("values: {x: 3}\nsteps:\n  - y = 1 - sigmoid(x) - sigmoid(-x)\n",
                        tmp_path, "--json")
    assert result.exit_code == 0
    document = json.loads(result.output)
    assert document["exact"]["y"] == "≈0"
    assert any("y cannot be told from 0" in w for w in document["warnings"])


def test_saturated_sigmoid_with_bce_target_half_is_not_an_internal_error(tmp_path) -> None:
    result = solve_text("x: [1]\nlayers:\n  - W: [[20]]\n    activation: sigmoid\n"
                        "target: [0.5]\nloss: bce\n", tmp_path)
    assert result.exit_code == 0, result.output
    assert "✓ cross-check" in result.output


@pytest.mark.parametrize("z, t", [(40, 0), (40, 1), (-40, 0), (-40, 1), (36, Fraction(1, 2)),
                                  (200, 0), (-300, 1)])
def test_saturated_bce_is_solved_exactly_and_in_float64_like_bce_with_logits(z, t) -> None:
    import torch

    text = json.dumps({"x": [1], "layers": [{"W": [[z]], "activation": "sigmoid"}],
                       "target": [str(t)], "loss": "bce"})
    solution = solve(problem_from_text(text))
    zt, tt = mp.mpf(z), mp.mpf(t.numerator) / t.denominator if isinstance(t, Fraction) \
        else mp.mpf(t)
    loss = tt * mp.log(1 + mp.exp(-zt)) + (1 - tt) * mp.log(1 + mp.exp(zt))
    sigma = 1 / (1 + mp.exp(-zt))
    assert abs(solution.exact("L").item().approx - loss) <= loss * mp.mpf(10) ** -45
    assert abs(solution.exact("dL/dz1")[0].approx - (sigma - tt)) \
        <= mp.mpf(10) ** -45 * abs(sigma - tt)
    logits = torch.tensor([float(z)], dtype=torch.float64, requires_grad=True)
    reference = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, torch.tensor([float(t)], dtype=torch.float64))
    (gradient,) = torch.autograd.grad(reference, logits)
    assert solution.float64_path("L").item() == pytest.approx(reference.item(), rel=1e-15)
    # dL/dz = σ(z) − t: PyTorch's float64 gets it where σ(z) − t does not cancel; backcheck's
    # float64 path keeps 1 − σ(z), so it is right everywhere (σ(40) − 1 ≈ −4.2e-18, not 0)
    assert solution.float64_path("dL/dz1")[0] == pytest.approx(float(sigma - tt), rel=1e-12)
    if not (z > 0 and t == 1):
        assert solution.float64_path("dL/dz1")[0] == pytest.approx(gradient.item(), rel=1e-12)
    assert solution.crosscheck.ok, solution.warnings


def test_saturated_tanh_gradient_in_float64_is_the_true_one() -> None:
    solution = solve(problem_from_text(json.dumps(
        {"x": [25], "layers": [{"W": [[1]], "activation": "tanh"}], "target": [0],
         "loss": "half_sse"})))
    truth = mp.tanh(25) / mp.cosh(25) ** 2
    assert solution.float64_path("dL/dz1")[0] == pytest.approx(float(truth), rel=1e-13)
    assert solution.crosscheck.ok


def test_leaky_relu_kink_warning_states_its_slope() -> None:
    solution = solve(problem_from_text(json.dumps(
        {"x": [1], "layers": [{"W": [[1]], "b": [-1], "activation": "leaky_relu",
                               "slope": 0.2}], "target": [1], "loss": "sse"})))
    (warning,) = solution.warnings
    assert "z1[1] is exactly 0" in warning and "the slope 0.2" in warning
    assert "relu′(0) is taken as 0" not in warning


# ------------------------------------------------------------------ §4 exact looks exact
def test_rounded_numbers_keep_their_trailing_zeros_and_exact_ones_stay_short() -> None:
    assert format_exact(Exact(Fraction(200488, 10**6)), digits=3) == "0.200…"
    assert format_exact(Exact(Fraction(-2))) == "-2"
    assert format_exact(Exact(Fraction(0))) == "0"
    assert format_exact(Exact(Fraction(1, 8))) == "0.125"
    nearly_two = Exact(Fraction(-2)) + Exact(Fraction(-80)).exp()
    assert format_exact(nearly_two) == "-2.00000…"


def test_answer_keys_write_exact_values_exactly() -> None:
    assert key_number(Exact(Fraction(-2))) == "-2"
    assert key_number(Exact(Fraction(0))) == "0"
    assert key_number(Exact(Fraction(1, 3))) == '"1/3"'
    tiny = Exact(Fraction(-80)).exp()  # 1.8e-35: 20 significant digits, not 0.000…
    assert key_number(tiny) == mp.nstr(mp.exp(-80), 20, strip_zeros=False)
    nearly = Exact(Fraction(1)) - tiny
    assert key_number(nearly) == "1.0000000000000000000"  # 20 digits: not an exact 1


def test_solve_exact_at_80_columns_keeps_quantity_and_shape_columns() -> None:
    result = run_cli("solve", "--exact", str(PROBLEMS / "mazur_2_2_2.yaml"), columns=80)
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert all(len(line) <= 80 for line in lines)
    for name in ("z1", "a1", "z2", "a2", "dL/da2", "dL/dW1"):
        assert any(re.match(rf"│ {re.escape(name)} +│ \d", line) for line in lines), name
    assert "…" not in "".join(line for line in lines if "exp(" in line)  # not cut off
    assert "1/(exp(-151/400) + 1)" in result.output


def test_json_exact_zero_softmax_one_unit_and_no_rounding_residue() -> None:
    solution = solve(problem_from_text(json.dumps(
        {"x": [[1], [2]], "layers": [{"W": [[0.5]], "activation": "tanh"},
                                     {"W": [[3]], "activation": "softmax"}],
         "target": [[1], [1]], "loss": "cross_entropy"})))
    document = solution.to_json()
    assert document["exact"]["dL/dz2"] == [["0"], ["0"]]
    assert np.all(solution.float("dL/dW1") == 0)
