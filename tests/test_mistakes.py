"""Each known mistake (backcheck/mistakes/): a sheet with exactly that mistake gets
exactly that diagnosis, and a correct sheet gets none.

The sheets are NOT made with backcheck. ``manual_backprop`` below is an independent
hand-written backward pass in numpy float64 (fast.ai's ``lin_grad``/``relu_grad`` style),
checked against PyTorch autograd (tests/reference.py), with switches that make one slip
the way a student would, carrying it on with the right method afterwards. Numbers go on
the sheet rounded to 6 decimals, as a careful student with a calculator would write them.
"""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference import load, number, numbers, torch_reference  # noqa: E402

from backcheck.grading import verify  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PROBLEMS = ROOT / "problems"
DECIMALS = 6


# ----------------------------------------------------------------------------- by hand


def _act(name: str, z: np.ndarray, slope: float) -> np.ndarray:
    if name == "identity":
        return z.copy()
    if name == "relu":
        return np.where(z > 0, z, 0.0)
    if name == "leaky_relu":
        return np.where(z > 0, z, slope * z)
    if name == "sigmoid":
        return 1 / (1 + np.exp(-z))
    if name == "tanh":
        return np.tanh(z)
    if name == "softmax":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    raise ValueError(name)


def manual_backprop(problem: dict, slips: dict[str, int | None] | None = None
                    ) -> dict[str, np.ndarray]:
    """Every FORMAT §3 quantity by hand; ``slips`` maps a slip name to the layer it is
    made at (None: everywhere it applies). The student carries each slip on."""
    slips = slips or {}

    def slip(name: str, k: int | None = None) -> bool:
        return name in slips and (slips[name] is None or k is None or slips[name] == k)

    wx = problem.get("convention", "Wx") == "Wx"
    x = np.array(numbers(problem["x"]), dtype=float)
    single = x.ndim == 1
    a = x[None, :] if single else x
    layers = problem["layers"]
    Ws, bs, Zs, As, acts, slopes = [], [], [], [a], [], []
    for k, layer in enumerate(layers, start=1):
        W = np.array(numbers(layer["W"]), dtype=float)
        b = np.array(numbers(layer["b"]), dtype=float) if layer.get("b") is not None else None
        z = a @ (W.T if wx else W) + (0 if b is None else b)
        act = layer.get("activation", "identity")
        slope = number(layer.get("slope", 0.01))
        a = z.copy() if slip("activation_not_applied", k) else _act(act, z, slope)
        Ws.append(W), bs.append(b), Zs.append(z), As.append(a), acts.append(act)
        slopes.append(slope)
    t = np.array(numbers(problem["target"]), dtype=float).reshape(a.shape)
    p = a
    n, outs = p.shape
    loss = problem["loss"] if isinstance(problem["loss"], str) else problem["loss"]["name"]
    if loss == "mse":
        L, dp, divisor = ((p - t) ** 2).mean(), 2 * (p - t) / (n * outs), n * outs
    elif loss == "sse":
        L, dp, divisor = ((p - t) ** 2).sum(), 2 * (p - t), 1
    elif loss == "half_sse":
        L, dp, divisor = ((p - t) ** 2).sum() / 2, p - t, 1
    elif loss == "cross_entropy":
        L, dp, divisor = -(t * np.log(p)).sum() / n, -t / p / n, n
    else:
        raise ValueError(loss)
    if slip("output_error_reversed"):
        dp = -dp
    if slip("factor_two_missing"):
        dp = dp / 2
    if slip("factor_two_extra"):
        dp, L = dp * 2, L * 2
    if slip("mean_forgotten"):
        dp, L = dp * divisor, L * divisor
    out: dict[str, np.ndarray] = {"x": x}
    for k in range(1, len(layers) + 1):
        out[f"z{k}"], out[f"a{k}"] = Zs[k - 1], As[k]
    out["L"] = np.array(L)
    g = dp
    lr = problem.get("learning_rate")
    for k in range(len(layers), 0, -1):
        W, b, z, a_k, act = Ws[k - 1], bs[k - 1], Zs[k - 1], As[k], acts[k - 1]
        out[f"dL/da{k}"] = g
        if slip("forgot_activation_derivative", k) and act != "identity":
            dz = g
        elif act == "relu":
            dz = g * (z > 0)
        elif act == "leaky_relu":
            dz = g * np.where(z > 0, 1.0, slopes[k - 1])
        elif act == "sigmoid":
            s = 1 / (1 + np.exp(-a_k)) if slip("derivative_at_activation", k) else a_k
            base = z if slip("derivative_from_z", k) else s
            dz = g * base * (1 - base)
        elif act == "tanh":
            dz = g * (1 - a_k**2)
        elif act == "softmax":
            dz = a_k * (g - (g * a_k).sum(axis=1, keepdims=True))
        else:
            dz = g
        if slip("sign_flipped", k):
            dz = -dz
        out[f"dL/dz{k}"] = dz
        previous = Zs[k - 2] if (slip("z_for_a", k) and k > 1) else As[k - 1]
        dW = dz.T @ previous if wx else previous.T @ dz
        if slip("transposed", k):
            dW = dW.T
        out[f"dL/dW{k}"] = dW
        if b is not None:
            out[f"dL/db{k}"] = dz[0] if slip("bias_not_summed", k) else dz.sum(axis=0)
        if slip("weights_not_transposed", k):
            g = dz @ (W.T if wx else W)
        else:
            g = dz @ (W if wx else W.T)
        if lr is not None:
            rate = number(lr)
            step = out[f"dL/dW{k}"] if slip("update_without_learning_rate") else rate * out[
                f"dL/dW{k}"]
            sign = 1 if slip("update_wrong_sign") else -1
            out[f"W{k}_new"] = W + sign * step
            if b is not None:
                step = out[f"dL/db{k}"] if slip("update_without_learning_rate") else (
                    rate * out[f"dL/db{k}"])
                out[f"b{k}_new"] = b + sign * step
    out["dL/dx"] = g
    if single:
        for name, value in list(out.items()):
            if np.ndim(value) == 2 and value.shape[0] == 1 and not name.startswith(
                    ("dL/dW", "W")):
                out[name] = value[0]
    return out


NETWORKS = ["single_neuron", "fastai_lin_relu_lin", "mazur_2_2_2", "ai_by_hand_3layer",
            "padhai_sigmoid_softmax"]


@pytest.mark.parametrize("name", NETWORKS)
def test_manual_backprop_matches_torch(name: str) -> None:
    problem = load(PROBLEMS / f"{name}.yaml")
    mine, torch_values = manual_backprop(problem), torch_reference(problem)
    for key, value in torch_values.items():
        np.testing.assert_allclose(np.reshape(mine[key], np.shape(value)), value,
                                   rtol=1e-10, atol=1e-12, err_msg=key)


# ----------------------------------------------------------------------------- sheets


def _text(value: float) -> str:
    text = f"{value:.{DECIMALS}f}"
    return "0" if float(text) == 0 else text


def _nested(value: np.ndarray) -> object:
    if np.ndim(value) == 0:
        return _Raw(_text(float(value)))
    return [_nested(v) for v in value]


class _Raw(str):
    """A number written exactly as its text (so 0.500000 keeps its 6 decimals)."""


yaml.SafeDumper.add_representer(
    _Raw, lambda dumper, data: dumper.represent_scalar("tag:yaml.org,2002:float", str(data)))


def write_sheet(path: Path, problem_path: Path, values: dict[str, np.ndarray],
                names: list[str]) -> Path:
    answers = {name: _nested(np.asarray(values[name])) for name in names}
    document = {"problem": str(problem_path), "answers": answers}
    path.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
    return path


def _all_names(problem: dict, values: dict) -> list[str]:
    return [name for name in torch_reference(problem) if name != "x" and name in values]


def _wrong_and_carried(report, truth: dict[str, np.ndarray]):
    """Items whose written value differs from the truth beyond its precision."""
    differing, same = [], []
    for item in report.items:
        value = np.ravel(truth[item.quantity])[item.flat]
        (same if abs(float(item.given) - value) <= 0.5 * 10**-DECIMALS + 1e-12 else
         differing).append(item)
    return differing, same


CASES = [
    # (problem, {slip: layer}, mistake name the wrong entries must get, quantities that
    #  may be wrong (the slip's own entries; everything after it is carried))
    ("ai_by_hand_3layer", {"forgot_activation_derivative": 1},
     "forgot_activation_derivative", {"dL/dz1"}),
    ("ai_by_hand_3layer", {"forgot_activation_derivative": 2},
     "forgot_activation_derivative", {"dL/dz2"}),
    ("fastai_lin_relu_lin", {"forgot_activation_derivative": 1},
     "forgot_activation_derivative", {"dL/dz1"}),
    ("mazur_2_2_2", {"forgot_activation_derivative": 2},
     "forgot_activation_derivative", {"dL/dz2"}),
    ("padhai_sigmoid_softmax", {"forgot_activation_derivative": 1},
     "forgot_activation_derivative", {"dL/dz1"}),
    ("mazur_2_2_2", {"derivative_at_activation": 1}, "derivative_at_activation", {"dL/dz1"}),
    ("single_neuron", {"derivative_at_activation": 1}, "derivative_at_activation", {"dL/dz1"}),
    ("padhai_sigmoid_softmax", {"derivative_from_z": 2}, "derivative_from_z", {"dL/dz2"}),
    ("mazur_2_2_2", {"transposed": 1}, "transposed", {"dL/dW1"}),
    ("ai_by_hand_3layer", {"transposed": 2}, "transposed", {"dL/dW2"}),
    ("fastai_lin_relu_lin", {"sign_flipped": 1}, "sign_flipped", {"dL/dz1"}),
    ("mazur_2_2_2", {"sign_flipped": 1}, "sign_flipped", {"dL/dz1"}),
    ("single_neuron", {"factor_two_missing": None}, "factor_two_missing", {"dL/da1"}),
    ("fastai_lin_relu_lin", {"factor_two_missing": None}, "factor_two_missing", {"dL/da2"}),
    ("mazur_2_2_2", {"factor_two_extra": None}, "factor_two_extra", {"dL/da2", "L"}),
    ("fastai_lin_relu_lin", {"mean_forgotten": None}, "mean_forgotten", {"dL/da2", "L"}),
    ("ai_by_hand_3layer", {"z_for_a": 2}, "z_for_a", {"dL/dW2"}),
    ("fastai_lin_relu_lin", {"z_for_a": 2}, "z_for_a", {"dL/dW2"}),
    ("fastai_lin_relu_lin", {"bias_not_summed": 1}, "bias_not_summed", {"dL/db1"}),
    ("mazur_2_2_2", {"update_wrong_sign": None}, "update_wrong_sign",
     {"W1_new", "b1_new", "W2_new", "b2_new"}),
    ("single_neuron", {"update_without_learning_rate": None}, "update_without_learning_rate",
     {"W1_new", "b1_new"}),
    ("ai_by_hand_3layer", {"output_error_reversed": None}, "output_error_reversed",
     {"dL/da3"}),
    ("mazur_2_2_2", {"output_error_reversed": None}, "output_error_reversed", {"dL/da2"}),
    ("ai_by_hand_3layer", {"weights_not_transposed": 3}, "weights_not_transposed",
     {"dL/da2"}),
    ("ai_by_hand_3layer", {"activation_not_applied": 1}, "activation_not_applied", {"a1"}),
]


def _case_id(case: tuple) -> str:
    return f"{case[0]}-{'+'.join(case[1])}"


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_one_mistake_one_diagnosis(tmp_path: Path, case: tuple) -> None:
    name, slips, mistake, entry_quantities = case
    problem_path = PROBLEMS / f"{name}.yaml"
    problem = load(problem_path)
    truth = torch_reference(problem)
    values = manual_backprop(problem, slips)
    names = _all_names(problem, values)
    if "output_error_reversed" in slips and name == "ai_by_hand_3layer":
        pass  # dL/da3 = t/p is written; dL/dz3 follows as t − p
    sheet = write_sheet(tmp_path / "sheet.yaml", problem_path, values, names)
    report = verify(str(sheet))
    differing, same = _wrong_and_carried(report, truth)
    assert differing, "the slip must change something"
    for item in same:
        assert item.verdict == "correct", (item.element, item.verdict, item.diagnosis)
        assert item.mistake is None
    wrong = [item for item in differing if item.verdict == "wrong"]
    assert wrong, [(i.element, i.verdict) for i in differing]
    for item in differing:
        assert item.verdict in ("wrong", "carried"), (item.element, item.verdict)
        if item.verdict == "wrong":
            assert item.quantity in entry_quantities, (item.element, item.diagnosis)
            assert item.mistake == mistake, (item.element, item.mistake, item.diagnosis)
            assert item.diagnosis and item.diagnosis.startswith(item.element)
        else:
            assert item.cause and item.origin, item.element
            assert item.diagnosis and "carried" in item.diagnosis


@pytest.mark.parametrize("name", NETWORKS)
def test_correct_sheet_gets_no_diagnosis(tmp_path: Path, name: str) -> None:
    problem_path = PROBLEMS / f"{name}.yaml"
    problem = load(problem_path)
    values = manual_backprop(problem)
    sheet = write_sheet(tmp_path / "sheet.yaml", problem_path, values,
                        _all_names(problem, values))
    report = verify(str(sheet))
    assert report.ok and report.counts["correct"] == report.total
    assert all(item.diagnosis is None and item.mistake is None for item in report.items)


# ----------------------------------------------------------------------------- downstream


SKIPPED_ENTRY = [
    # the student never wrote the quantity where the slip happened: the first answer
    # after it is wrong, and the diagnosis still names the slip
    ("ai_by_hand_3layer", {"forgot_activation_derivative": 1}, "forgot_activation_derivative",
     ["dL/dW1", "dL/db1"]),
    ("mazur_2_2_2", {"derivative_at_activation": 2}, "derivative_at_activation",
     ["dL/dW2", "W2_new"]),
    ("fastai_lin_relu_lin", {"mean_forgotten": None}, "mean_forgotten", ["dL/dW2", "dL/db2"]),
    ("mazur_2_2_2", {"factor_two_extra": None}, "factor_two_extra", ["dL/dW2"]),
    # softmax + cross-entropy, dL/dz3 written straight away as t − p
    ("ai_by_hand_3layer", {"output_error_reversed": None}, "output_error_reversed",
     ["dL/dz3", "dL/dW3", "dL/db3"]),
    ("padhai_sigmoid_softmax", {"output_error_reversed": None}, "output_error_reversed",
     ["dL/dz3", "dL/dW3"]),
]


@pytest.mark.parametrize("case", SKIPPED_ENTRY, ids=[_case_id(c) for c in SKIPPED_ENTRY])
def test_slip_named_from_a_later_answer(tmp_path: Path, case: tuple) -> None:
    name, slips, mistake, names = case
    problem_path = PROBLEMS / f"{name}.yaml"
    problem = load(problem_path)
    truth = torch_reference(problem)
    values = manual_backprop(problem, slips)
    report = verify(str(write_sheet(tmp_path / "s.yaml", problem_path, values, names)))
    differing, same = _wrong_and_carried(report, truth)
    assert all(item.verdict == "correct" for item in same)
    first = [item for item in differing if item.quantity == names[0]]
    assert first and all(item.verdict == "wrong" and item.mistake == mistake for item in first)


def test_diagnosis_from_the_students_own_earlier_answers(tmp_path: Path) -> None:
    """A slip in a1 (the ReLU not applied), carried on correctly into z2 and a2, then the
    ReLU derivative forgotten at layer 2: dL/dz2 is wrong *given their own* dL/da2,
    which only the student-based buggy rule can see."""
    problem_path = PROBLEMS / "ai_by_hand_3layer.yaml"
    problem = load(problem_path)
    values = manual_backprop(problem, {"activation_not_applied": 1,
                                       "forgot_activation_derivative": 2})
    clean = manual_backprop(problem, {"activation_not_applied": 1})
    names = ["z1", "a1", "z2", "a2", "z3", "a3", "dL/dz3", "dL/da2", "dL/dz2"]
    report = verify(str(write_sheet(tmp_path / "s.yaml", problem_path, values, names)))
    verdicts = {item.element: item for item in report.items}
    assert verdicts["a1[2]"].verdict == "wrong"
    assert verdicts["a1[2]"].mistake == "activation_not_applied"
    assert verdicts["z2[1]"].verdict == "carried"
    dz2 = [i for i in report.items if i.quantity == "dL/dz2"]
    differs = [i for i in dz2 if abs(float(i.given) - np.ravel(clean["dL/dz2"])[i.flat]) > 1e-6]
    assert differs
    for item in differs:
        assert item.verdict == "wrong"
        assert item.mistake == "forgot_activation_derivative"
        assert "own earlier answers" in item.diagnosis


def test_relu_message_reads_like_a_patient_expert(tmp_path: Path) -> None:
    problem_path = PROBLEMS / "ai_by_hand_3layer.yaml"
    problem = load(problem_path)
    values = manual_backprop(problem, {"forgot_activation_derivative": 1})
    report = verify(str(write_sheet(tmp_path / "s.yaml", problem_path, values, ["dL/dz1"])))
    item = next(i for i in report.items if i.verdict == "wrong")
    assert item.element == "dL/dz1[2]"
    assert item.diagnosis == (
        "dL/dz1[2]: you wrote -0.232047, which is dL/da1[2] = (W2ᵀ·dL/dz2)[2] without the "
        "ReLU derivative; z1[2] = -1 < 0, so relu′(z1[2]) = 0 and dL/dz1[2] = 0.")


def test_transposed_shape_is_one_finding(tmp_path: Path) -> None:
    problem_path = PROBLEMS / "fastai_lin_relu_lin.yaml"
    problem = load(problem_path)
    values = manual_backprop(problem)
    values["dL/dW1"] = values["dL/dW1"].T  # 4 × 3 where W1 is 3 × 4 (xW: in × out)
    report = verify(str(write_sheet(tmp_path / "s.yaml", problem_path, values, ["dL/dW1"])))
    result = report.results[0]
    assert result.finding and "transposed" in result.finding and "4 × 3" in result.finding
    assert all(item.verdict == "wrong" and item.mistake == "transposed" for item in result.items)


def test_bias_one_row_per_example_is_one_finding(tmp_path: Path) -> None:
    problem_path = PROBLEMS / "fastai_lin_relu_lin.yaml"
    problem = load(problem_path)
    values = manual_backprop(problem)
    values["dL/db1"] = values["dL/dz1"]
    report = verify(str(write_sheet(tmp_path / "s.yaml", problem_path, values,
                                    ["dL/dz1", "dL/db1"])))
    result = next(r for r in report.results if r.name == "dL/db1")
    assert result.finding and "sums dL/dz1 over the batch" in result.finding
    assert "your dL/dz1" in result.finding
    assert all(item.mistake == "bias_not_summed" for item in result.items)


def test_scalar_missed_path(tmp_path: Path) -> None:
    problem_path = PROBLEMS / "micrograd_readme.yaml"
    sheet = tmp_path / "s.yaml"
    # c is used twice in c2 = c + (c + 1): dg2/dc counts only one of the two uses
    from reference import torch_scalar_reference

    truth = torch_scalar_reference(load(problem_path))
    half = float(truth["dg2/dc2"])  # the gradient through one use of c
    sheet.write_text(f"problem: {problem_path}\nanswers:\n"
                     f"  dg2/dc2: {float(truth['dg2/dc2']):.4f}\n  dg2/dc: {half:.4f}\n")
    report = verify(str(sheet))
    item = next(i for i in report.items if i.quantity == "dg2/dc")
    assert item.verdict == "wrong" and item.mistake == "missed_path", item.diagnosis
    assert Fraction(str(round(2 * half, 4))) != item.given


def test_relu_derivative_at_zero(tmp_path: Path) -> None:
    """z1[1] = 1 − 1 = 0 exactly: a student taking relu′(0) = 1 gets dL/dz1[1] = dL/da1[1]
    (worked by hand: p = 3, t = 1, half_sse, so dL/dp = 2 and dL/da1 = [2, 2])."""
    problem = tmp_path / "kink.yaml"
    problem.write_text("x: [1, 1]\nlayers:\n  - W: [[1, -1], [2, 1]]\n    b: [0, 0]\n"
                       "    activation: relu\n  - W: [[1, 1]]\ntarget: [1]\nloss: half_sse\n")
    sheet = tmp_path / "s.yaml"
    sheet.write_text("problem: kink.yaml\nanswers:\n  z1: [0, 3]\n  dL/da1: [2, 2]\n"
                     "  dL/dz1: [2, 2]\n")
    report = verify(str(sheet))
    items = {i.element: i for i in report.items}
    assert items["dL/dz1[1]"].verdict == "wrong"
    assert items["dL/dz1[1]"].mistake == "relu_derivative_at_zero"
    assert "relu′(0) = 1" in items["dL/dz1[1]"].diagnosis
    assert items["dL/dz1[2]"].verdict == "correct"


def test_softmax_ce_t_minus_p_message(tmp_path: Path) -> None:
    problem_path = PROBLEMS / "ai_by_hand_3layer.yaml"
    values = manual_backprop(load(problem_path), {"output_error_reversed": None})
    report = verify(str(write_sheet(tmp_path / "s.yaml", problem_path, values, ["dL/dz3"])))
    for item in report.items:
        assert item.verdict == "wrong" and item.mistake == "output_error_reversed"
        assert "t − p" in item.diagnosis and "ŷ − y" in item.diagnosis
