"""Property tests: random networks, every quantity against independent autodiff.

Widths 1–5, depth 1–4, every activation and loss, both conventions, batches 1–4.
HIPS autograd always runs; PyTorch runs too when installed (the CI installs it).
Every solve also cross-checks the exact evaluator against float64 internally
(an InternalError would fail the test).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from backcheck.api import problem_from_text
from backcheck.solution import solve
from tests.reference_autograd import autograd_reference

ACTIVATIONS = ["identity", "relu", "leaky_relu", "sigmoid", "tanh", "softmax"]
LOSSES = ["mse", "sse", "half_sse", "cross_entropy", "bce"]


def decimals(draw, lo: int = -10, hi: int = 10) -> float:
    return draw(st.integers(lo, hi)) / 10


@st.composite
def networks(draw) -> dict:
    depth = draw(st.integers(1, 4))
    sizes = [draw(st.integers(1, 5)) for _ in range(depth + 1)]
    convention = draw(st.sampled_from(["Wx", "xW"]))
    batch = draw(st.integers(1, 4))
    single = batch == 1 and draw(st.booleans())
    loss = draw(st.sampled_from(LOSSES))
    if loss == "cross_entropy":
        output_activation = draw(st.sampled_from(["softmax", "sigmoid"]))
    elif loss == "bce":
        output_activation = "sigmoid"
    else:
        output_activation = draw(st.sampled_from(ACTIVATIONS))
    layers = []
    for k in range(depth):
        fan_in, fan_out = sizes[k], sizes[k + 1]
        rows, cols = (fan_out, fan_in) if convention == "Wx" else (fan_in, fan_out)
        layer: dict = {"W": [[decimals(draw) for _ in range(cols)] for _ in range(rows)]}
        if draw(st.booleans()):
            layer["b"] = [decimals(draw) for _ in range(fan_out)]
        activation = output_activation if k == depth - 1 else draw(st.sampled_from(ACTIVATIONS))
        layer["activation"] = activation
        if activation == "leaky_relu" and draw(st.booleans()):
            layer["slope"] = 0.1
        layers.append(layer)

    def example_target() -> list:
        out = sizes[-1]
        if loss == "cross_entropy":
            row = [0.0] * out
            row[draw(st.integers(0, out - 1))] = 1.0
            return row
        if loss == "bce":
            return [draw(st.sampled_from([0.0, 0.5, 1.0])) for _ in range(out)]
        return [decimals(draw) for _ in range(out)]

    xs = [[decimals(draw) for _ in range(sizes[0])] for _ in range(batch)]
    targets = [example_target() for _ in range(batch)]
    reductions = {"mse": [None, "mean", "sum"], "sse": [None, "sum"], "half_sse": [None, "sum"],
                  "cross_entropy": [None, "mean", "sum"], "bce": [None, "mean", "sum"]}[loss]
    reduction = draw(st.sampled_from(reductions))
    problem = {
        "convention": convention,
        "x": xs[0] if single else xs,
        "layers": layers,
        "target": targets[0] if single else targets,
        "loss": loss if reduction is None else {"name": loss, "reduction": reduction},
    }
    if draw(st.booleans()):
        problem["learning_rate"] = draw(st.sampled_from([0.1, 0.5, 1, 0.05]))
    return problem


def _compare(problem: dict, reference: dict[str, np.ndarray]) -> None:
    solution = solve(problem_from_text(json.dumps(problem)))
    # An exact 0 at a ReLU kink that float64 rounds to ±1e-20 sends float64 tools down
    # the other branch; backcheck warns about it, and the references cannot agree there.
    assert solution.crosscheck is not None
    assume(solution.crosscheck.ok)
    # the same at a kink where our own float64 happens to round to the exact 0 but
    # PyTorch's (another summation order) does not: backcheck warns, as above
    assume(not any("is exactly 0" in warning for warning in solution.warnings))
    for name, expected in reference.items():
        assert name in solution.names, name
        ours = solution.float(name)
        assert ours.shape == np.shape(expected), (name, ours.shape, np.shape(expected))
        np.testing.assert_allclose(ours, expected, rtol=1e-10, atol=1e-12, err_msg=name)


SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@SETTINGS
@given(networks())
def test_every_quantity_matches_hips_autograd(problem: dict) -> None:
    _compare(problem, autograd_reference(problem))


@SETTINGS
@given(networks())
def test_every_quantity_matches_pytorch_autograd(problem: dict) -> None:
    torch_reference = pytest.importorskip(
        "tests.reference", reason="PyTorch not installed (pip install torch==2.13.0)"
    ).torch_reference
    _compare(problem, torch_reference(problem))


def test_softmax_cross_entropy_gives_p_minus_t_exactly() -> None:
    """The identity the teaching material leans on, through the graph, no special case."""
    problem = {"x": [1, 2], "layers": [{"W": [[1, 0], [0, 1], [1, 1]], "activation": "softmax"}],
               "target": [0, 1, 0], "loss": "cross_entropy"}
    solution = solve(problem_from_text(json.dumps(problem)))
    p = solution.exact("a1")
    t = np.array([0, 1, 0])
    delta = solution.exact("dL/dz1")
    for i in range(3):
        assert abs(float((delta[i] - (p[i] - int(t[i]))).approx)) < 1e-45


def test_a_zero_reached_through_odd_functions_is_exactly_zero() -> None:
    """Found by the property test above: tanh(x)/10 + tanh(−x)/10 is exactly 0, but its
    ball never decides a sign, and BCE's gradient asks the sign of 2σ(0) − 1 (its float64
    stability branch). The closed form shows the zero (SymPy cancels it as written), so
    the problem solves and agrees with HIPS autograd instead of failing."""
    problem = {"convention": "xW", "x": [[0.0], [0.1]],
               "layers": [{"W": [[0.1]], "activation": "identity"},
                          {"W": [[0.1, 0.0]], "activation": "identity"},
                          {"W": [[0.1, -0.1, 0.0], [0.0, 0.0, 0.0]], "activation": "tanh"},
                          {"W": [[0.0, 0.0, 0.1, 0.0, 0.0], [0.0, 0.0, 0.1, 0.0, 0.0],
                                 [0.0, 0.0, 0.0, 0.0, 0.0]], "activation": "sigmoid"}],
               "target": [[0.0] * 5, [0.0] * 5], "loss": "bce"}
    solution = solve(problem_from_text(json.dumps(problem)))
    assert solution.crosscheck is not None and solution.crosscheck.ok
    for name, expected in autograd_reference(problem).items():
        np.testing.assert_allclose(solution.float(name), expected, rtol=1e-10, atol=1e-12,
                                   err_msg=name)
