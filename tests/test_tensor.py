"""Tensor problems (FORMAT §7): every quantity of every curated and random problem
against PyTorch float64 autograd, the exact values against an 80-digit mpmath
reference, a network file against its steps spelling, and the bad inputs of issue 11.
"""

from __future__ import annotations

import random
from pathlib import Path

import mpmath
import numpy as np
import pytest

from backcheck.api import problem_from_text
from backcheck.errors import BackcheckError
from backcheck.problem import load_problem
from backcheck.solution import solve
from tests.mp_steps import forward as mp_forward
from tests.mp_steps import gradient as mp_gradient
from tests.torch_steps import run_torch

ROOT = Path(__file__).resolve().parent.parent
CURATED = ["attention_head", "backprop_ninja_small", "batch_norm", "layer_norm",
           "rnn_two_steps", "conv_pool", "dropout", "residual_block", "svm_loss"]


def _assert_matches_torch(problem, solution) -> None:
    reference = run_torch(problem)
    scale = max(float(np.max(np.abs(v))) for v in reference.values() if np.size(v))
    assert set(solution.names) == set(reference), "every value and dOUT/dv, nothing else"
    for name in solution.names:
        ours, theirs = solution.float(name), reference[name]
        assert ours.shape == theirs.shape, name
        tolerance = 1e-12 * max(scale, 1.0) + 1e-9 * np.abs(theirs)
        assert np.all(np.abs(ours - theirs) <= tolerance), (name, ours, theirs)


@pytest.mark.parametrize("name", CURATED)
def test_curated_problem_matches_pytorch_float64(name: str) -> None:
    problem = load_problem(str(ROOT / "problems" / f"{name}.yaml"))
    solution = solve(problem)
    assert solution.crosscheck is not None and solution.crosscheck.ok
    _assert_matches_torch(problem, solution)


def test_lecture_size_backprop_ninja_matches_pytorch() -> None:
    problem = load_problem(str(ROOT / "problems" / "backprop_ninja_lecture.yaml"))
    assert problem.values["C"].shape == (27, 10) and problem.values["W1"].shape == (30, 64)
    assert problem.values["Xb"].shape == (32, 3)
    _assert_matches_torch(problem, solve(problem, float_only=True))


@pytest.mark.parametrize("name", ["attention_head", "batch_norm", "rnn_two_steps",
                                  "layer_norm", "backprop_ninja_small"])
def test_exact_values_agree_with_80_digit_reference(name: str) -> None:
    problem = load_problem(str(ROOT / "problems" / f"{name}.yaml"))
    solution = solve(problem)
    values = mp_forward(problem)
    with mpmath.workdps(80):
        for quantity in solution.names:
            q = solution.quantity(quantity)
            if q.kind != "value":
                continue
            exact = solution.exact(quantity)
            for index in np.ndindex(*exact.shape):
                ours, ref = exact[index].approx, np.asarray(values[quantity])[index]
                assert abs(ours - ref) <= mpmath.mpf(10) ** -45 * max(1, abs(ref)), quantity
        # gradients of the values and of a few steps, by 80-digit central differences
        for grad_of in list(problem.values)[:3] + [problem.steps[0].name]:
            grad_name = solution.graph.grad_name(grad_of)
            if grad_name not in solution.names:
                continue
            exact = solution.exact(grad_name)
            ref = mp_gradient(problem, grad_of, values)
            for index in np.ndindex(*exact.shape):
                assert abs(exact[index].approx - ref[index]) <= mpmath.mpf(10) ** -40, (
                    grad_name, index)


def test_max_over_a_whole_array_shares_the_gradient_among_ties_as_pytorch() -> None:
    problem = problem_from_text("values: {A: [[1, 3], [3, 2]]}\nsteps: ['m = max(A)', "
                                "'r = max(A, axis=1)', 'L = 2 * m + sum(r)']\n")
    solution = solve(problem)
    assert solution.float("dL/dA").tolist() == [[0, 2], [2, 0]]
    _assert_matches_torch(problem, solution)


def test_repeated_index_in_a_gather_accumulates() -> None:
    problem = problem_from_text(
        "values: {C: [[1, 2], [3, 4], [5, 6]], idx: [0, 2, 0, 0]}\n"
        "steps: ['E = C[idx]', 'L = sum(E * E) / 2']\n")
    solution = solve(problem)
    # row 0 is read three times: its gradient is the sum of the three rows of E
    assert solution.float("dL/dC").tolist() == [[3, 6], [0, 0], [5, 6]]
    assert "dL/didx" not in solution.names  # an integer array has no gradient
    _assert_matches_torch(problem, solution)


# ----------------------------------------------------------------------- random problems
def _matrix(rng: random.Random, rows: int, cols: int) -> str:
    return "[" + ", ".join("[" + ", ".join(str(rng.randint(-6, 6) / 4) for _ in range(cols))
                           + "]" for _ in range(rows)) + "]"


def _random_problem(seed: int) -> str:
    rng = random.Random(seed)
    n, d, k = rng.randint(2, 4), rng.randint(2, 4), rng.randint(2, 4)
    act = rng.choice(["tanh", "sigmoid", "relu", "exp", "abs"])
    labels = [rng.randrange(k) for _ in range(n)]
    gather = [rng.randrange(n) for _ in range(rng.randint(2, 5))]
    steps = [f"h = {act}(X @ W + b)"]
    choice = rng.randrange(7)
    if choice == 0:
        steps += ["p = softmax(h, axis=1)", f"L = -mean(log(p[arange({n}), y]))"]
    elif choice == 1:
        steps += ["lp = log_softmax(h, axis=0)", "L = sum(lp * h) / 3"]
    elif choice == 2:
        ddof = rng.randint(0, 1)
        keep = rng.choice(["True", "False"])
        steps += [f"v = var(h, axis=0, ddof={ddof}, keepdims={keep})",
                  "m = mean(h, axis=1, keepdims=True)", "L = sum(v) + sum((h - m)**2)"]
    elif choice == 3:
        steps += ["g = h[r]", "c = concat([g, g * 2], axis=1)", "L = sum(c * c) / 2"]
    elif choice == 4:
        steps += ["mx = max(h, axis=1, keepdims=True)", "s = h - mx",
                  "L = sum(where(h > 0, s, h * s)) + sum(min(h, axis=0))"]
    elif choice == 5:
        steps += [f"o = h * one_hot(y, {k}) + h.T.T / 2", "L = sum(sqrt(o * o + 1))"]
    else:
        steps += [f"r2 = reshape(h, ({n * k},))", "L = sum(r2 ** 2) / 2 + max(r2)"]
    return (
        f"values:\n  X: {_matrix(rng, n, d)}\n  W: {_matrix(rng, d, k)}\n"
        f"  b: [{', '.join(str(rng.randint(-4, 4) / 4) for _ in range(k))}]\n"
        f"  y: {labels}\n  r: {gather}\n"
        "steps:\n" + "".join(f"  - {s}\n" for s in steps))


@pytest.mark.parametrize("seed", range(24))
def test_random_tensor_problem_matches_pytorch(seed: int) -> None:
    text = _random_problem(seed)
    problem = problem_from_text(text)
    solution = solve(problem)
    _assert_matches_torch(problem, solution)


@pytest.mark.parametrize("seed", range(6))
def test_random_convolution_matches_pytorch(seed: int) -> None:
    rng = random.Random(100 + seed)
    size, kernel = rng.randint(3, 6), rng.randint(1, 3)
    stride, padding = rng.randint(1, 2), rng.randint(0, 1)
    text = (f"values:\n  X: {_matrix(rng, size, size)}\n  K: {_matrix(rng, kernel, kernel)}\n"
            "steps:\n"
            f"  - Y = conv2d(X, K, stride={stride}, padding={padding})\n"
            "  - P = maxpool2d(tanh(Y), size=1)\n"
            "  - L = sum(P * P) / 2\n")
    problem = problem_from_text(text)
    _assert_matches_torch(problem, solve(problem))


# ------------------------------------------------------- a network and its steps spelling
NETWORK = """
convention: xW
x: [[1, 2, -1], [0, 1, 2]]
layers:
  - W: [[1, -1], [2, 0], [0, 1]]
    b: [1, -2]
    activation: sigmoid
  - W: [[1], [-1]]
    b: ["1/2"]
target: [[1], [0]]
loss: mse
"""

STEPS = """
values:
  x: [[1, 2, -1], [0, 1, 2]]
  W1: [[1, -1], [2, 0], [0, 1]]
  b1: [1, -2]
  W2: [[1], [-1]]
  b2: ["1/2"]
  t: [[1], [0]]
constants: [t]
steps:
  - z1 = x @ W1 + b1
  - a1 = sigmoid(z1)
  - z2 = a1 @ W2 + b2
  - a2 = z2
  - L = mean((a2 - t)**2)
"""


def test_network_and_its_steps_spelling_give_the_same_numbers() -> None:
    network = solve(problem_from_text(NETWORK))
    steps = solve(problem_from_text(STEPS))
    shared = [name for name in network.names if name in steps.names]
    for name in ("x", "z1", "a1", "z2", "a2", "L", "dL/dW1", "dL/db1", "dL/dW2", "dL/db2",
                 "dL/dz1", "dL/da1", "dL/dx"):
        assert name in shared
    for name in shared:
        a, b = network.exact(name), steps.exact(name)
        assert a.shape == b.shape, name
        for u, v in zip(a.ravel(), b.ravel(), strict=True):
            assert u == v or abs(u.approx - v.approx) < mpmath.mpf(10) ** -45, name
    # the same graph: the same values, computed from the same values
    assert {n for n in network.names if "/" not in n} - {"target"} <= set(steps.names)


# ------------------------------------------------------------------------- bad input
def _error(text: str) -> str:
    with pytest.raises(BackcheckError) as caught:
        problem_from_text(text)
    return caught.value.message


def test_broadcast_that_does_not_fit_names_the_step_and_both_shapes() -> None:
    message = _error("values: {A: [[1, 2, 3], [4, 5, 6]], b: [1, 2]}\n"
                     "steps: ['h = A + b', 'L = sum(h)']\n")
    assert "h = …" in message and "2 × 3" in message and "a vector of 2" in message


def test_matmul_shapes_that_do_not_fit_are_named() -> None:
    message = _error("values: {A: [[1, 2, 3]], B: [[1, 2]]}\nsteps: ['C = A @ B', "
                     "'L = sum(C)']\n")
    assert "1 × 3" in message and "1 × 2" in message and "C = …" in message


def test_index_out_of_range_is_refused() -> None:
    message = _error("values: {C: [[1, 2], [3, 4]], i: [0, 2]}\nsteps: ['E = C[i]', "
                     "'L = sum(E)']\n")
    assert "index 2 is out of range" in message and "0 to 1" in message


def test_index_that_is_not_an_integer_is_refused() -> None:
    message = _error("values: {C: [[1, 2], [3, 4]], i: [0, 0.5]}\nsteps: ['E = C[i]', "
                     "'L = sum(E)']\n")
    assert "not an integer array" in message


def test_differentiating_an_integer_array_is_refused() -> None:
    message = _error("values: {C: [[1, 2], [3, 4]], w: [1, 0]}\n"
                     "steps: ['j = w * C[0]', 'E = C[j]', 'L = sum(E)']\n")
    assert "depends on differentiable values" in message


def test_output_must_be_one_number() -> None:
    message = _error("values: {A: [[1, 2]]}\nsteps: ['B = A * 2']\n")
    assert "must be one number" in message


def test_too_many_elements_is_one_clear_message() -> None:
    message = _error("values: {A: [1, 2]}\nsteps: ['r = arange(300000)', 'L = sum(A) + sum(r)']\n")
    assert "too long" in message or "elements" in message


def test_eval_is_never_reached() -> None:
    for step in ("__import__('os').system('true')", "A.__class__", "A[::].sum.__self__",
                 "[x for x in A]", "lambda: 1"):
        with pytest.raises(BackcheckError):
            problem_from_text(f"values: {{A: [1, 2]}}\nsteps: ['h = {step}', 'L = sum(A)']\n")


def test_exact_work_beyond_the_limit_points_to_float_only() -> None:
    rows = "[" + ", ".join(["[" + ", ".join(["1"] * 400) + "]"] * 400) + "]"
    with pytest.raises(BackcheckError) as caught:
        problem_from_text(f"values: {{A: {rows}}}\nsteps: ['B = A @ A @ A', 'L = sum(B)']\n")
    assert getattr(caught.value, "too_large_for_exact", False)
    assert "--float-only" in (caught.value.hint or "")


@pytest.mark.parametrize("name", CURATED)
def test_solve_json_of_a_tensor_problem_is_every_quantity(name: str) -> None:
    solution = solve(load_problem(str(ROOT / "problems" / f"{name}.yaml")))
    data = solution.to_json()
    assert set(data["quantities"]) == set(solution.names)
    for quantity in solution.names:
        assert np.allclose(np.asarray(data["quantities"][quantity], dtype=float),
                           solution.float(quantity), rtol=1e-15, atol=0)


# ------------------------------------------------------------------------ verify: slips
SHEETS = ROOT / "problems" / "sheets"
#: (problem, sheet) → the mistake that must be named first ("" for an all-right sheet)
SLIPS = {
    ("backprop_ninja_small", "right"): "",
    ("backprop_ninja_small", "variance_n"): "variance_n_vs_n_minus_1",
    ("backprop_ninja_small", "repeated_index"): "repeated_index_not_accumulated",
    ("backprop_ninja_small", "stability_max"): "stability_max_given_gradient",
    ("backprop_ninja_small", "broadcast_not_summed"): "broadcast_not_summed",
    ("backprop_ninja_lecture", "right"): "",
    ("backprop_ninja_lecture", "variance_n"): "variance_n_vs_n_minus_1",
    ("batch_norm", "right"): "",
    ("batch_norm", "variance_n_minus_1"): "variance_n_vs_n_minus_1",
    ("batch_norm", "broadcast_mean"): "broadcast_not_summed",
    ("layer_norm", "right"): "",
    ("layer_norm", "broadcast_first_row"): "broadcast_not_summed",
    ("attention_head", "right"): "",
    ("attention_head", "matmul_not_transposed"): "matmul_not_transposed",
    ("attention_head", "transposed"): "transposed",
    ("rnn_two_steps", "right"): "",
    ("rnn_two_steps", "bptt_one_step"): "missed_path",
    ("conv_pool", "right"): "",
    ("conv_pool", "relu_mask_dropped"): "forgot_activation_derivative",
    ("dropout", "right"): "",
    ("dropout", "mask_dropped"): "dropped_mask",
    ("residual_block", "right"): "",
    ("residual_block", "skip_forgotten"): "missed_path",
    ("svm_loss", "right"): "",
    ("svm_loss", "correct_class_not_masked"): "dropped_mask",
}


@pytest.mark.parametrize(("problem", "sheet"), list(SLIPS), ids=[f"{p}/{s}" for p, s in SLIPS])
def test_tensor_sheet_gets_its_verdict_and_diagnosis(problem: str, sheet: str) -> None:
    from backcheck.grading import verify

    report = verify(str(SHEETS / problem / f"{sheet}.yaml"))
    expected = SLIPS[problem, sheet]
    if not expected:
        assert report.ok and report.exit_code == 0, report.summary()
        return
    first = report.first
    assert first is not None and first.verdict == "wrong"
    assert first.mistake == expected, (first.mistake, first.diagnosis)


def test_every_tensor_slip_of_issue_11_is_in_the_catalogue() -> None:
    from backcheck.mistakes import BY_NAME

    for name in ("broadcast_not_summed", "variance_n_vs_n_minus_1",
                 "repeated_index_not_accumulated", "stability_max_given_gradient",
                 "matmul_not_transposed", "transposed", "dropped_mask"):
        assert name in BY_NAME


def test_a_broadcast_gradient_written_with_the_broadcast_shape_is_explained(tmp_path) -> None:
    from backcheck.grading import verify

    sheet = tmp_path / "sheet.yaml"
    problem = ROOT / "problems" / "batch_norm.yaml"
    sheet.write_text(f"problem: {problem}\nanswers:\n"
                     "  dL/dbeta: [[1, 0, -1], [0, 1, 2], [-1, 1, 0], [2, 0, 1]]\n")
    report = verify(str(sheet))
    text = " ".join(str(item.diagnosis) for item in report.items) + " ".join(
        str(r) for r in getattr(report, "findings", []))
    assert report.exit_code == 1
    assert "broadcast" in (text + report.summary() + repr(report)).lower()


# --------------------------------------------------------------------------- new --kind
@pytest.mark.parametrize("kind", ["batch_norm", "attention", "rnn"])
@pytest.mark.parametrize("seed", [0, 1, 7])
def test_new_tensor_problem_is_reproducible_and_its_key_is_right(kind: str, seed: int,
                                                                  tmp_path) -> None:
    from backcheck.generate_tensor import generate_tensor
    from backcheck.grading import verify

    first = generate_tensor(kind, seed, "p.yaml")
    again = generate_tensor(kind, seed, "p.yaml")
    assert (first.problem_text, first.sheet_text, first.key_text) == (
        again.problem_text, again.sheet_text, again.key_text)
    (tmp_path / "p.yaml").write_text(first.problem_text)
    (tmp_path / "p.key.yaml").write_text(first.key_text)
    (tmp_path / "p.answers.yaml").write_text(first.sheet_text)
    assert verify(str(tmp_path / "p.key.yaml")).ok
    blank = verify(str(tmp_path / "p.answers.yaml"))
    assert blank.counts.get("missing", 0) == blank.total or blank.total == 0
    problem = problem_from_text(first.problem_text)
    _assert_matches_torch(problem, solve(problem))


def test_new_batch_norm_is_exact_by_construction() -> None:
    from backcheck.generate_tensor import generate_tensor

    for seed in range(10):
        solution = generate_tensor("batch_norm", seed).solution
        for name in solution.names:
            assert all(v.q is not None for v in np.ravel(solution.exact(name))), name


@pytest.mark.parametrize("name", ["attention_head", "batch_norm", "conv_pool", "svm_loss",
                                  "rnn_two_steps"])
def test_array_records_run_on_the_sympy_backend(name: str) -> None:
    from backcheck.backends import SYMPY
    from backcheck.evaluate import evaluate

    problem = load_problem(str(ROOT / "problems" / f"{name}.yaml"))
    solution = solve(problem)
    evaluation = evaluate(problem.graph, SYMPY)
    for quantity in solution.names:
        q = solution.quantity(quantity)
        array = evaluation.values[q.node] if q.kind == "value" else evaluation.grads[q.node]
        ours = np.vectorize(float, otypes=[np.float64])(np.asarray(array, dtype=object))
        assert np.allclose(ours.reshape(q.shape), solution.float(quantity), rtol=1e-12,
                           atol=1e-12), quantity


def test_tensor_bad_input_is_one_line_and_exit_2(tmp_path) -> None:
    import sys

    bad = tmp_path / "bad.yaml"
    bad.write_text("values:\n  A: [[1, 2, 3], [4, 5, 6]]\n  b: [1, 2]\nsteps:\n"
                   "  - h = A + b\n  - L = sum(h)\n")
    from tests.cpu_bounds import run_bounded

    done = run_bounded([sys.executable, "-c", "from backcheck.cli import main; main()",
                        "solve", str(bad)], capture_output=True, text=True, cpu_seconds=60)
    assert done.returncode == 2 and done.stdout == ""
    assert "bad.yaml:5" in done.stderr and "Traceback" not in done.stderr
    assert "2 × 3" in done.stderr and "a vector of 2" in done.stderr


@pytest.mark.parametrize("name", CURATED)
def test_explain_paths_of_a_tensor_gradient_sum_to_the_backward_pass(name: str) -> None:
    from backcheck.explain import explain

    problem = load_problem(str(ROOT / "problems" / f"{name}.yaml"))
    solution = solve(problem)
    reference = run_torch(problem)
    for quantity in [n for n in solution.names if "/" in n][:6]:
        shape = solution.quantity(quantity).shape
        index = (1,) * len(shape)
        text = quantity + (f"[{','.join(map(str, index))}]" if shape else "")
        explanation = explain(solution, text)  # the sum over paths is checked inside
        expected = float(np.asarray(reference[quantity])[tuple(i - 1 for i in index)])
        assert abs(float(explanation.value) - expected) <= 1e-9 * max(1, abs(expected))
        whole = explain(solution, quantity)
        assert whole.kind in ("rule", "paths", "given")


def test_explain_names_the_vector_rule_of_a_gather() -> None:
    from backcheck.explain import explain

    solution = solve(load_problem(str(ROOT / "problems" / "backprop_ninja_small.yaml")))
    explanation = explain(solution, "dloss/dC")
    text = " ".join(explanation.summary)
    assert "emb = C[Xb]" in text and "added back" in text


def test_asking_for_the_gradient_of_an_integer_array_says_it_has_none(tmp_path) -> None:
    from backcheck.grading import verify

    sheet = tmp_path / "sheet.yaml"
    sheet.write_text(f"problem: {ROOT / 'problems' / 'backprop_ninja_small.yaml'}\n"
                     "answers:\n  dloss/dXb: [[0, 0], [0, 0], [0, 0], [0, 0]]\n")
    with pytest.raises(BackcheckError) as caught:
        verify(str(sheet))
    assert "Xb gets no gradient" in caught.value.message


def test_graph_draws_a_tensor_problem(tmp_path) -> None:
    import subprocess
    import sys

    out = tmp_path / "g.dot"
    done = subprocess.run([sys.executable, "-c", "from backcheck.cli import main; main()",
                           "graph", str(ROOT / "problems" / "attention_head.yaml"), "-o",
                           str(out)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    dot = out.read_text()
    assert "softmax" in dot and "matmul" in dot and "dL/dS" in dot


ODD = """
values:
  A: [[1, -2, 3], [0.5, 1, -1], [2, 0, 1]]
  B: [[1, 0, 1], [2, 1, 0], [0, 1, 1]]
  E: [[[1, 2], [3, 4]], [[0.5, -1], [2, 0]], [[1, 1], [-1, 2]]]
  v: [1, -1, 2]
  w: [0.5, 1, 1]
  c: 3
  idx: [[0, 2], [1, 1]]
  y: [2, 0, 1]
steps:
  - s1 = A[1:3, ::2]
  - s2 = A[-1] * c
  - d = v @ w
  - mv = A @ v
  - t = sum(A * B, axis=(0, 1)) + mean(A, axis=-1, keepdims=True)
  - vv = var(A, ddof=1) + var(B * A, axis=1, ddof=1)
  - ls = log_softmax(A, axis=0)
  - cc = concat([A, B], axis=-1)
  - wh = where(A > B, A, B)
  - oh = sum(one_hot(y, 3) * ls)
  - p = sqrt(abs(A) + 1) ** 0.5 + sigmoid(A) - relu(-A)
  - mn = min(A, axis=0)
  - g = A[idx]
  - e0 = E[:, 0, :]
  - s = E.sum() + E.mean(0).sum()
  - z = exp(e0 - max(e0, axis=1, keepdims=True))
  - L1 = sum(s1) + sum(s2) + d + sum(mv * v) + sum(t) + sum(vv) + oh + sum(cc ** 2) / 10
  - L = L1 + sum(wh * p) + sum(mn) + sum(g ** 2) + s + sum(z)
"""


def test_slices_negative_indices_tuple_axes_methods_and_3d_arrays_match_pytorch() -> None:
    problem = problem_from_text(ODD)
    _assert_matches_torch(problem, solve(problem))


def test_a_convolution_with_a_huge_padding_is_refused() -> None:
    message = _error("values: {X: [[1, 2], [3, 4]], K: [[1]]}\n"
                     "steps: ['Y = conv2d(X, K, padding=1000000)', 'L = sum(Y)']\n")
    assert "too large" in message


def test_backprop_ninja_in_the_lectures_own_spelling_matches_pytorch() -> None:
    """``emb.view(emb.shape[0], -1)``, ``logits.max(1, keepdim=True).values``,
    ``logprobs[range(n), Yb]`` with ``n`` a value: as the notebook writes them."""
    text = (ROOT / "problems" / "backprop_ninja_small.yaml").read_text()
    text = text.replace("  Yb:", "  n: 4\n  Yb:")
    text = text.replace("emb.view(4, -1)", "emb.view(emb.shape[0], -1)")
    text = text.replace("logits.max(1, keepdims=True)", "logits.max(1, keepdim=True).values")
    text = text.replace("1/4 * hprebn", "1/n*hprebn").replace("1/(4-1) *", "1/(n-1)*")
    text = text.replace("arange(4)", "range(n)")
    problem = problem_from_text(text)
    assert "n" in problem.integer_names  # used by range(n): an integer, no gradient
    solution = solve(problem)
    _assert_matches_torch(problem, solution)
    small = solve(load_problem(str(ROOT / "problems" / "backprop_ninja_small.yaml")))
    assert solution.float("loss") == small.float("loss")
