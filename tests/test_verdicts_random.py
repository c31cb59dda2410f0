"""Randomly slipped sheets against an independent reference (issue 9 §2).

Random small networks; a simulated student works each one by hand in numpy (not with
backcheck), writing every quantity rounded to the sheet's decimals and carrying on from
the rounded numbers they wrote, as a person does. Softmax + cross-entropy and sigmoid +
BCE are worked as taught (dL/dz = (a − t)/N from their own a). The truth is PyTorch
autograd in float64 (tests/reference.py). Some sheets get one slip: an element written
wrong and then carried on. Asserted for every element:

* a number right to its written precision (against PyTorch) is ``correct``;
* a number off by far more than any honest rounding (against PyTorch) is never
  ``correct``; it is ``wrong`` at the slip and ``carried`` after it;
* on a sheet without a slip nothing is ``carried`` or ``wrong``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference import torch_reference  # noqa: E402

from backcheck.grading import verify  # noqa: E402

#: how many random sheets (BACKCHECK_RANDOM_SHEETS for a longer campaign, from the seed
#: BACKCHECK_RANDOM_FIRST)
SEEDS = range(int(os.environ.get("BACKCHECK_RANDOM_FIRST", "0")),
              int(os.environ.get("BACKCHECK_RANDOM_FIRST", "0"))
              + int(os.environ.get("BACKCHECK_RANDOM_SHEETS", "40")))


def _random_problem(rng: np.random.Generator) -> dict:
    scale = float(rng.choice([1, 1, 4]))  # sometimes saturated (probabilities near 0)
    sizes = [int(rng.integers(1, 4)) for _ in range(int(rng.integers(2, 4)))]
    kind = str(rng.choice(["mse", "half_sse", "sse", "cross_entropy", "bce"]))
    layers = []
    for k in range(1, len(sizes)):
        last = k == len(sizes) - 1
        if last and kind == "cross_entropy":
            activation = "softmax"
            sizes[k] = max(sizes[k], 2)
        elif last and kind == "bce":
            activation = "sigmoid"
        else:
            activation = str(rng.choice(["identity", "relu", "sigmoid", "tanh"]))
        W = (rng.integers(-4, 5, size=(sizes[k], sizes[k - 1])) / 4 * scale).tolist()
        b = (rng.integers(-4, 5, size=sizes[k]) / 4).tolist()
        layers.append({"W": W, "b": b, "activation": activation})
    x = (rng.integers(-4, 5, size=sizes[0]) / 2).tolist()
    outputs = sizes[-1]
    if kind == "cross_entropy":
        target = [0.0] * outputs
        target[int(rng.integers(outputs))] = 1.0
    elif kind == "bce":
        target = rng.integers(0, 2, size=outputs).astype(float).tolist()
    else:
        target = (rng.integers(-4, 5, size=outputs) / 4).tolist()
    return {"x": x, "layers": layers, "target": target, "loss": kind,
            "learning_rate": 0.5, "convention": "Wx"}


def _act(name: str, z: np.ndarray) -> np.ndarray:
    if name == "relu":
        return np.where(z > 0, z, 0.0)
    if name == "sigmoid":
        return 1 / (1 + np.exp(-z))
    if name == "tanh":
        return np.tanh(z)
    if name == "softmax":
        e = np.exp(z - z.max())
        return e / e.sum()
    return z.copy()


def student(problem: dict, decimals: dict[str, int] | int,
            slip: tuple[str, int, float] | None = None
            ) -> tuple[dict[str, np.ndarray], list[str]]:
    """Every quantity as the student writes it (rounded to ``decimals``, per quantity),
    each worked from the numbers they wrote before it; ``slip`` = (quantity, element,
    amount added when writing)."""
    out: dict[str, np.ndarray] = {}
    order: list[str] = []

    def write(name: str, value: np.ndarray) -> np.ndarray:
        value = np.array(value, dtype=float)
        if slip is not None and slip[0] == name:
            value.reshape(-1)[slip[1] % value.size] += slip[2]
        places = decimals if isinstance(decimals, int) else decimals.get(name, 4)
        value = np.round(value, places) + 0.0
        out[name] = value
        order.append(name)
        return value

    a = np.array(problem["x"], dtype=float)
    inputs, Ws, acts, zs = [a], [], [], []
    for k, layer in enumerate(problem["layers"], start=1):
        W, b = np.array(layer["W"]), np.array(layer["b"])
        z = write(f"z{k}", W @ a + b)
        a = write(f"a{k}", _act(layer["activation"], z))
        Ws.append(W), acts.append(layer["activation"]), zs.append(z), inputs.append(a)
    t = np.array(problem["target"], dtype=float)
    kind, p = problem["loss"], a
    n = len(problem["layers"])
    if kind == "mse":
        write("L", np.mean((p - t) ** 2))
        g = write(f"dL/da{n}", 2 * (p - t) / p.size)
    elif kind == "sse":
        write("L", np.sum((p - t) ** 2))
        g = write(f"dL/da{n}", 2 * (p - t))
    elif kind == "half_sse":
        write("L", np.sum((p - t) ** 2) / 2)
        g = write(f"dL/da{n}", p - t)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            if kind == "cross_entropy":
                write("L", -np.sum(np.where(t > 0, t * np.log(np.where(t > 0, p, 1)), 0)))
            else:
                write("L", -np.mean(np.where(t > 0, np.log(np.where(t > 0, p, 1)),
                                             np.log(np.where(t > 0, 1, 1 - p)))))
        with np.errstate(divide="ignore", invalid="ignore"):
            if kind == "cross_entropy":
                write(f"dL/da{n}", np.where(t > 0, -t / np.where(t > 0, p, 1), 0.0))
            else:
                write(f"dL/da{n}", (np.where(t > 0, -t / np.where(t > 0, p, 1), 0.0)
                                    + np.where(t < 1, (1 - t) / np.where(t < 1, 1 - p, 1),
                                               0.0)) / p.size)
        g = None  # dL/dz = (a − t)/N from their own a, as taught
    rate = problem["learning_rate"]
    for k in range(n, 0, -1):
        a_prev, W, act, a_k = inputs[k - 1], Ws[k - 1], acts[k - 1], inputs[k]
        if g is None:
            dz = write(f"dL/dz{k}", (a_k - t) / (a_k.size if kind == "bce" else 1))
        else:
            if act == "relu":
                dz = g * (zs[k - 1] > 0)
            elif act == "sigmoid":
                dz = g * a_k * (1 - a_k)
            elif act == "tanh":
                dz = g * (1 - a_k**2)
            else:
                dz = g
            dz = write(f"dL/dz{k}", dz)
        dW = write(f"dL/dW{k}", np.outer(dz, a_prev))
        db = write(f"dL/db{k}", dz)
        write(f"W{k}_new", W - rate * dW)
        write(f"b{k}_new", np.array(problem["layers"][k - 1]["b"]) - rate * db)
        if k > 1:
            g = write(f"dL/da{k - 1}", W.T @ dz)
    return out, order


def _sheet(tmp_path: Path, problem: dict, values: dict[str, np.ndarray], order: list[str],
           decimals: dict[str, int]) -> Path:
    import yaml

    (tmp_path / "net.yaml").write_text(yaml.safe_dump(problem))

    def text(value: np.ndarray, places: int) -> str:
        if np.ndim(value) == 0:
            return f"{float(value):.{places}f}"
        return "[" + ", ".join(text(v, places) for v in value) + "]"

    lines = ["problem: net.yaml", "answers:"]
    lines += [f"  {name}: {text(values[name], decimals[name])}" for name in order]
    path = tmp_path / "sheet.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _half(item) -> float:  # type: ignore[no-untyped-def]
    return 0.5 * 10.0 ** -len(item.text.split(".")[1]) if "." in item.text else 0.5


def _check(report, truth: dict, slipped: bool,  # type: ignore[no-untyped-def]
           honest: dict[str, np.ndarray] | None = None) -> None:
    # a slip hidden inside the precision of an answer graded correct (0.0 written for
    # 0.05 at one decimal) makes what follows from it correct too (FORMAT §4)
    hidden = honest is not None and any(
        item.verdict == "correct" and float(item.given) != float(
            np.ravel(honest[item.quantity])[item.flat]) for item in report.items)
    for item in report.items:
        value = float(np.ravel(truth[item.quantity])[item.flat])
        half = _half(item)
        off = abs(float(item.given) - value)
        where = (item.element, item.text, value, item.verdict, item.diagnosis)
        if off <= half * (1 - 1e-9):
            assert item.verdict == "correct", where
        if honest is not None and not hidden and off > half * (1 + 1e-9):
            # a number the slip changed (by more than a unit of its last digit, beyond
            # the honest student's number) is never correct
            mine = float(np.ravel(honest[item.quantity])[item.flat])
            if abs(float(item.given) - mine) > 2 * half + abs(mine - value):
                assert item.verdict != "correct", (where, mine)
        if not slipped:
            assert item.verdict == "correct", where


@pytest.mark.parametrize("seed", SEEDS)
def test_random_sheet_verdicts(tmp_path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    problem = _random_problem(rng)
    truth = torch_reference(problem)
    if not np.all(np.isfinite(np.asarray(truth["L"], dtype=float))):
        pytest.skip("a loss too large for float64")  # never for these seeds
    base = int(rng.choice([3, 4, 6]))
    names, _ = student(problem, base)
    # most quantities at the sheet's precision, some written one or two digits short
    decimals = {name: base - int(rng.choice([0, 0, 0, 1, 2])) for name in names}
    # honest: every number rounded as written, carried on from the rounded numbers
    honest, order = student(problem, decimals)
    if not all(np.all(np.isfinite(v)) for v in honest.values()):
        pytest.skip("a number no one can write (log of a probability rounded to 0)")
    report = verify(str(_sheet(tmp_path, problem, honest, order, decimals)))
    _check(report, truth, slipped=False)
    # one slip, carried on
    name = str(rng.choice(order[:-1]))
    amount = float(rng.choice([-1, 1]) * rng.uniform(0.3, 1.5))
    values, order = student(problem, decimals, (name, int(rng.integers(9)), amount))
    if not all(np.all(np.isfinite(v)) for v in values.values()):
        return  # the slip made a probability ≤ 0 under a log: nothing to write
    report = verify(str(_sheet(tmp_path, problem, values, order, decimals)))
    _check(report, truth, slipped=True, honest=honest)
    slipped = [item for item in report.items if item.quantity == name
               and abs(float(item.given) - float(np.ravel(honest[name])[item.flat]))
               > 0.1 and abs(float(item.given) - float(np.ravel(truth[name])[item.flat]))
               > 0.1]
    for item in slipped:
        assert item.verdict == "wrong", (item.element, item.verdict, item.diagnosis)
    if slipped:
        first = order.index(name)
        for item in report.items:
            if order.index(item.quantity) > first and item.verdict != "correct":
                # after the slip, worked on from it: carried
                assert item.verdict == "carried", (item.element, item.text, item.verdict,
                                                   item.diagnosis)
