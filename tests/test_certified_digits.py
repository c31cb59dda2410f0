"""Every printed digit right, also in saturation and near a kink (issue 9 §3, §4).

Random saturated and near-kink networks are solved by backcheck and by an independent
400-digit mpmath reference (tests/reference_mpmath.py: derivatives written out by hand,
no backcheck code). Every number ``solve`` prints (at 6, 20 and 40 digits) must be the
reference correctly rounded to the digits shown (all of them: nothing is left uncertain),
an exact-looking number must be exactly the reference, and ``solve --json`` must give
the correctly rounded float64 and 20 correct digits.
"""

from __future__ import annotations

import json
import random
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from backcheck.api import problem_from_text
from backcheck.cli import app
from backcheck.render.numbers import format_array
from backcheck.solution import solve
from tests.reference_mpmath import CTX, mp_reference

SEEDS = range(36)


def _weight(rng: random.Random, big: bool) -> str:
    if big:
        return str(rng.choice([-1, 1]) * rng.randint(20, 90) + rng.choice([0, 0.5, 0.25]))
    return str(rng.randint(-20, 20) / 10)


def saturated_or_near_kink(seed: int) -> dict:
    """A small network whose float64 evaluation is ill-conditioned: saturated sigmoid or
    tanh units (|z| from 20 to 200), and ReLUs whose input is 1 − tanh(big) or
    tanh(big) − 1 (a few times 1e-70: positive or negative by a hair) or exactly 0."""
    rng = random.Random(seed)
    convention = rng.choice(["Wx", "xW"])
    width = rng.randint(1, 3)
    first = rng.choice(["tanh", "sigmoid"])
    kink = rng.choice(["relu", "leaky_relu", "relu"])
    x = [str(rng.choice([1, -1, 0.5, 2])) for _ in range(width)]

    def matrix(rows: int, cols: int, make: Any) -> list:
        shape = (rows, cols) if convention == "Wx" else (cols, rows)
        return [[make(i, j) for j in range(shape[1])] for i in range(shape[0])]

    # layer 1: saturating, one big weight per unit (the rest 0), z = ±(20..90)·x
    layer1 = {"W": matrix(width, width, lambda i, j: _weight(rng, True) if i == j else "0"),
              "activation": first}
    # layer 2: ±1·a + ∓1: 1 − tanh(z) or tanh(z) − 1 (tiny), or for sigmoid 1 − σ(z);
    # one unit exactly 0 when it gets a 0 weight and a 0 bias
    signs = [rng.choice([1, -1]) for _ in range(width)]
    exact_zero = rng.randrange(width + 1)
    layer2 = {"W": matrix(width, width, lambda i, j: (
        "0" if i == exact_zero else str(signs[i])) if i == j else "0"),
        "b": ["0" if i == exact_zero else str(-signs[i]) for i in range(width)],
        "activation": kink}
    if kink == "leaky_relu" and rng.random() < 0.5:
        layer2["slope"] = "0.2"
    outputs = rng.randint(1, 2)
    loss = rng.choice(["mse", "sse", "half_sse", "bce", "cross_entropy"])
    last = {"bce": "sigmoid", "cross_entropy": "softmax"}.get(loss,
                                                              rng.choice(["identity", "tanh"]))
    layer3 = {"W": [[_weight(rng, rng.random() < 0.5) for _ in range(width)]
                    for _ in range(outputs)] if convention == "Wx" else
              [[_weight(rng, rng.random() < 0.5) for _ in range(outputs)]
               for _ in range(width)],
              "b": [_weight(rng, rng.random() < 0.3) for _ in range(outputs)],
              "activation": last}
    if loss == "cross_entropy":
        target = ["0"] * outputs
        target[rng.randrange(outputs)] = "1"
    elif loss == "bce":
        target = [rng.choice(["0", "1", "0.5"]) for _ in range(outputs)]
    else:
        target = [str(rng.randint(-10, 10) / 10) for _ in range(outputs)]
    problem = {"convention": convention, "x": x, "layers": [layer1, layer2, layer3],
               "target": target, "loss": loss, "learning_rate": "0.1"}
    if rng.random() < 0.3:  # a batch of two examples
        problem["x"] = [x, [str(rng.choice([1, -1])) for _ in range(width)]]
        problem["target"] = [target, target]
    return problem


def _value(text: str) -> Any:
    return CTX.mpf(text)


def _check_printed(text: str, reference: Any, digits: int, where: str) -> None:
    """``text`` as backcheck prints one number, against the 400-digit reference."""
    ref = CTX.mpf(reference.numerator) / reference.denominator \
        if isinstance(reference, Fraction) else reference
    if " = " in text:  # "1/3 = 0.333333…": the fraction exactly, then its decimals
        fraction, text = text.split(" = ")
        assert isinstance(reference, Fraction) and Fraction(fraction) == reference, where
    if text.endswith("…"):
        body = text[:-1]
        mantissa = body.lower().split("e")[0].lstrip("-")
        significant = len(mantissa.replace(".", "").lstrip("0"))
        assert significant == digits, (where, text, "digits shown", significant)
        shown = _value(body)
        exponent = int(CTX.floor(CTX.log10(abs(shown)))) if shown != 0 else 0
        if isinstance(reference, Fraction):  # a tie (…5 exactly) may round either way
            half = Fraction(10) ** (exponent - digits + 1) / 2
            assert abs(Fraction(body.replace("e", "E")) - reference) <= half, (where, text)
            return
        half_unit = CTX.mpf(10) ** (exponent - digits + 1) / 2
        assert abs(shown - ref) <= half_unit, (where, text, CTX.nstr(ref, digits + 5))
        return
    assert text != "≈0", (where, "not certified")
    exact = Fraction(text)  # an exact-looking number must be exactly the reference
    if isinstance(reference, Fraction):
        assert exact == reference, (where, text, reference)
    else:
        assert abs(_value(str(exact.numerator)) / exact.denominator - ref) \
            <= CTX.mpf(10) ** -300 * max(1, abs(ref)), (where, text, CTX.nstr(ref, 30))


def _cells(text: str) -> list[str]:
    return text.replace("[", " ").replace("]", " ").split()


def _solutions() -> list[tuple[int, dict, Any, dict]]:
    out = []
    for seed in SEEDS:
        problem = saturated_or_near_kink(seed)
        out.append((seed, problem, solve(problem_from_text(json.dumps(problem))),
                    mp_reference(problem)))
    return out


@pytest.fixture(scope="module")
def solved() -> list[tuple[int, dict, Any, dict]]:
    return _solutions()


def test_the_networks_really_are_saturated_and_near_a_kink(solved) -> None:
    """The generator does what it claims: tiny ReLU inputs of both signs, exact zeros,
    and float64 that differs from the truth (else this file would test nothing)."""
    tiny_positive = tiny_negative = exact_zero = float_differs = 0
    for _, _, solution, reference in solved:
        for value in np.ravel(reference["z2"]):
            if isinstance(value, Fraction) and value == 0:
                exact_zero += 1
            elif 0 < abs(value) < 1e-30:
                tiny_positive += value > 0
                tiny_negative += value < 0
        float_differs += not solution.crosscheck.ok
    assert tiny_positive >= 5 and tiny_negative >= 5 and exact_zero >= 5
    assert float_differs >= 5


@pytest.mark.parametrize("digits", [6, 20, 40])
def test_every_printed_digit_matches_an_80_digit_reference(solved, digits: int) -> None:
    for seed, _, solution, reference in solved:
        for name, expected in reference.items():
            ours = solution.exact(name)
            assert ours.shape == np.shape(expected), (seed, name)
            for index, value in np.ndenumerate(ours):
                text = format_array(np.array(value, dtype=object), digits=digits)
                _check_printed(text, np.asarray(expected, dtype=object)[index], digits,
                               f"seed {seed} {name}{list(index)}")


def test_relu_after_a_saturated_tanh_takes_the_true_branch(solved) -> None:
    """1 − tanh(z) is about 1e-70: positive, so the ReLU passes the gradient (50 digits
    called it 0 and gave gradient 0)."""
    for seed, _, solution, reference in solved:
        for name in ("dL/dz2", "dL/dW2", "dL/db2"):
            ours = solution.exact(name)
            for index, value in np.ndenumerate(reference[name]):
                truth = value
                mine = ours[index]
                if truth == 0:
                    assert mine.q == 0, (seed, name, index)
                else:
                    assert mine.sign() == (1 if truth > 0 else -1), (seed, name, index)


def test_cli_prints_the_same_certified_numbers_and_json(solved) -> None:
    runner = CliRunner()
    for seed, problem, solution, reference in solved[:12]:
        path = f"/tmp/backcheck-certified-{seed}.yaml"
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(problem, handle)
        result = runner.invoke(app, ["solve", path, "--digits", "12"], env={"COLUMNS": "250"})
        assert result.exit_code == 0, result.output
        for name in reference:
            cells = _cells(format_array(solution.exact(name), digits=12))
            for cell in cells:
                assert cell in result.output, (seed, name, cell)
        result = runner.invoke(app, ["solve", path, "--json"])
        assert result.exit_code == 0, result.output
        document = json.loads(result.output)
        for name, expected in reference.items():
            floats = np.asarray(document["quantities"][name], dtype=np.float64)
            texts = np.asarray(document["exact"][name], dtype=object)
            for index, value in np.ndenumerate(np.asarray(expected, dtype=object)):
                ref = CTX.mpf(value.numerator) / value.denominator \
                    if isinstance(value, Fraction) else value
                # the float64 shown is the reference correctly rounded
                assert floats[index] == float(ref), (seed, name, index)
                text = texts[index]
                if text.startswith("≈"):
                    shown = CTX.mpf(text[1:])
                    assert abs(shown - ref) <= abs(ref) * CTX.mpf(10) ** -19, (seed, name, text)
                else:
                    assert Fraction(text) == value, (seed, name, text)


def test_tanh_derivative_at_60_is_right_to_40_digits() -> None:
    problem = {"x": [60], "layers": [{"W": [[1]], "activation": "tanh"}], "target": [1],
               "loss": "half_sse"}
    solution = solve(problem_from_text(json.dumps(problem)))
    truth = 1 / CTX.cosh(60) ** 2 * (CTX.tanh(60) - 1)
    text = format_array(solution.exact("dL/dz1"), digits=40)
    _check_printed(text.strip("[]"), truth, 40, "dL/dz1")


def test_one_minus_tanh_80_is_not_zero_and_relu_passes_gradient() -> None:
    problem = {"x": [80], "layers": [{"W": [[1]], "activation": "tanh"},
                                     {"W": [[-1]], "b": [1], "activation": "relu"}],
               "target": [1], "loss": "sse"}
    solution = solve(problem_from_text(json.dumps(problem)))
    z2 = solution.exact("z2")[0]
    assert z2.sign() == 1
    assert not any("exactly 0" in w for w in solution.warnings)
    # float64 rounds tanh(80) to 1 and z2 to 0: said, naming the element and why
    assert len(solution.warnings) == 1 and "z2[1] is 6.51498e-70…" in solution.warnings[0]
    assert "cancel" in solution.warnings[0]
    _check_printed(format_array(solution.exact("z2"), digits=6).strip("[]"),
                   1 - CTX.tanh(80), 6, "z2")
    # L = (relu(z2) − 1)², dL/dz2 = 2(z2 − 1) ≈ −2, never 0
    _check_printed(format_array(solution.exact("dL/dz2"), digits=6).strip("[]"),
                   2 * (1 - CTX.tanh(80) - 1), 6, "dL/dz2")


def test_softmax_over_one_unit_gives_an_exact_zero_gradient() -> None:
    problem = {"x": [0.5], "layers": [{"W": [[0.3]], "activation": "sigmoid"},
                                      {"W": [[2]], "activation": "softmax"}],
               "target": [1], "loss": "cross_entropy"}
    solution = solve(problem_from_text(json.dumps(problem)))
    assert solution.exact("a2")[0].q == 1
    assert solution.exact("dL/dz2")[0].q == 0
    assert format_array(solution.exact("dL/dz2")) == "[0]"
