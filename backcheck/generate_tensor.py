"""``backcheck new --kind batch_norm|attention|rnn``: hand-friendly tensor problems
(FORMAT §7), each with an answer sheet and a key.

Hand-friendly by construction, not by luck:

* **batch norm**: every feature column is ``a ± d`` twice each, so the batch mean is a
  and the (ddof=0) standard deviation is exactly d: x̂ is ±1 and every value and gradient
  is a short fraction; ``dout`` (the gradient arriving from above) is small integers.
* **attention**: one head on 3 tokens of 2 features, entries in {−1, 0, 1}, scores
  ``Q @ K.T`` (small integers), softmax by rows, ``L = sum(O * G)`` for a given integer
  ``G``; answers to 4 decimals.
* **rnn**: one step ``h = tanh(x @ Wxh + h0 @ Whh + b)``, ``y = h @ Why``,
  ``L = sum((y - t)**2) / 2``, integer weights, pre-activations in [−2, 2].

Everything is drawn from ``random.Random(seed)``: the same seed gives the same files.
Every problem is solved (exact and float64, cross-checked) before it is written.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from .errors import BackcheckError

KINDS = ("batch_norm", "attention", "rnn")
DECIMALS = 4


@dataclass
class GeneratedTensorProblem:
    kind: str
    seed: int
    problem_text: str
    sheet_text: str
    key_text: str
    quantities: list[str] = field(default_factory=list)
    solution: Any = field(default=None, repr=False)


def _num(q: Fraction | int) -> str:
    q = Fraction(q)
    if q.denominator == 1:
        return str(q.numerator)
    return f'"{q.numerator}/{q.denominator}"'


def _rows(matrix: list[list[Any]]) -> str:
    return "[" + ", ".join("[" + ", ".join(_num(v) for v in row) + "]" for row in matrix) + "]"


def _batch_norm(rng: random.Random) -> tuple[str, str]:
    features = 2
    columns = []
    for _ in range(features):
        a, d = rng.randint(-2, 3), rng.randint(1, 2)
        signs = [1, 1, -1, -1]
        rng.shuffle(signs)
        columns.append([a + s * d for s in signs])
    x = [[columns[j][i] for j in range(features)] for i in range(4)]
    gamma = [rng.choice([1, 2, 3]) for _ in range(features)]
    beta = [rng.randint(-1, 1) for _ in range(features)]
    dout = [[rng.randint(-2, 2) for _ in range(features)] for _ in range(4)]
    text = f"""title: Batch norm forward and backward (practice)
description: each feature is a ± d, so the batch statistics and every answer are exact
values:
  x: {_rows(x)}         # 4 examples × {features} features
  gamma: [{', '.join(map(str, gamma))}]
  beta: [{', '.join(map(str, beta))}]
  dout: {_rows(dout)}   # the gradient arriving from above
constants: [dout]
steps:
  - mu = mean(x, axis=0)
  - xc = x - mu
  - v = var(x, axis=0)          # ddof=0, as batch norm uses
  - std = sqrt(v)
  - xhat = xc / std
  - out = gamma * xhat + beta
  - L = sum(out * dout)
"""
    return text, "exact"


def _attention(rng: random.Random) -> tuple[str, str]:
    while True:
        X = [[rng.choice([-1, 0, 1]) for _ in range(2)] for _ in range(3)]
        Wq, Wk, Wv = ([[rng.choice([-1, 0, 1]) for _ in range(2)] for _ in range(2)]
                      for _ in range(3))
        Q, K = np.array(X) @ np.array(Wq), np.array(X) @ np.array(Wk)
        S = Q @ K.T
        if np.abs(S).max() <= 2 and np.abs(S).sum() >= 3 and np.abs(X).sum() >= 3:
            break
    G = [[rng.randint(-1, 2) for _ in range(2)] for _ in range(3)]
    text = f"""title: One self-attention head (practice)
values:
  X: {_rows(X)}     # 3 tokens × 2 features
  Wq: {_rows(Wq)}
  Wk: {_rows(Wk)}
  Wv: {_rows(Wv)}
  G: {_rows(G)}     # weights of the read-out, given
constants: [G]
steps:
  - Q = X @ Wq
  - K = X @ Wk
  - V = X @ Wv
  - S = Q @ K.T
  - P = softmax(S, axis=1)
  - O = P @ V
  - L = sum(O * G)
"""
    return text, "decimals"


def _rnn(rng: random.Random) -> tuple[str, str]:
    while True:
        x = [rng.choice([-1, 0, 1, 2]) for _ in range(2)]
        h0 = [rng.choice([-1, 0, 1]) for _ in range(2)]
        Wxh = [[rng.choice([-1, 0, 1]) for _ in range(2)] for _ in range(2)]
        Whh = [[rng.choice([-1, 0, 1]) for _ in range(2)] for _ in range(2)]
        b = [rng.choice([-1, 0, 1]) for _ in range(2)]
        a = np.array(x) @ np.array(Wxh) + np.array(h0) @ np.array(Whh) + np.array(b)
        if np.abs(a).max() <= 2 and np.count_nonzero(a) == 2:
            break
    Why = [[rng.choice([-1, 1, 2]) for _ in range(2)] for _ in range(2)]
    t = [rng.randint(-1, 1) for _ in range(2)]
    text = f"""title: One step of a vanilla RNN (practice)
values:
  x: [{', '.join(map(str, x))}]
  h0: [{', '.join(map(str, h0))}]           # the previous hidden state
  Wxh: {_rows(Wxh)}
  Whh: {_rows(Whh)}
  b: [{', '.join(map(str, b))}]
  Why: {_rows(Why)}
  t: [{', '.join(map(str, t))}]
constants: [t]
steps:
  - a = x @ Wxh + h0 @ Whh + b
  - h = tanh(a)
  - y = h @ Why
  - L = sum((y - t)**2) / 2
"""
    return text, "decimals"


def _value_text(value: Any, exact: bool) -> str:
    if isinstance(value, np.ndarray) and value.ndim:
        return "[" + ", ".join(_value_text(v, exact) for v in value) + "]"
    item = value.item() if isinstance(value, np.ndarray) else value
    if item.q is not None:
        return _num(item.q) if exact or item.q.denominator != 1 and len(
            str(item.q)) <= 9 else f"{float(item.q):.{DECIMALS}f}".rstrip("0").rstrip(".")
    return f"{float(item.approx):.{DECIMALS + 6}f}"


def _blank(shape: tuple[int, ...]) -> str:
    if not shape:
        return "~"
    return "[" + ", ".join(_blank(shape[1:]) for _ in range(shape[0])) + "]"


def generate_tensor(kind: str, seed: int, problem_file: str = "practice.yaml"
                    ) -> GeneratedTensorProblem:
    """One practice problem of ``kind`` (batch_norm, attention, rnn) and its sheet and key."""
    import os

    from .generate import companion_names
    from .problem import problem_from_text
    from .solution import solve

    if kind not in KINDS:
        raise BackcheckError(f"unknown --kind {kind!r}; expected one of {', '.join(KINDS)}",
                             file="backcheck new")
    rng = random.Random(f"{kind}:{seed}")
    text, style = {"batch_norm": _batch_norm, "attention": _attention, "rnn": _rnn}[kind](rng)
    name = os.path.basename(problem_file) or "practice.yaml"
    text = f"# backcheck new --kind {kind} --seed {seed}\n" + text
    problem = problem_from_text(text, name)
    solution = solve(problem)
    names = [n for n in solution.names if n not in problem.values]
    sheet_name, key_name = companion_names(name)
    exact = style == "exact"
    tolerance = "auto" if exact else "{abs: 0.001}"
    grading = ("every answer here is a short fraction or decimal: write it exactly"
               if exact else f"answers are graded to ±0.001 ({DECIMALS} decimals are plenty)")

    def sheet(key: bool) -> str:
        lines = [f"# backcheck {'ANSWER KEY' if key else 'answer sheet'} for {name} "
                 f"(--kind {kind}, seed {seed}).",
                 "# Replace each ~ with your number; 0-based indices inside steps, "
                 "1-based in names (dL/dS[1,2]).",
                 f"# Grading: {grading}.",
                 f"# Check it: backcheck verify {key_name if key else sheet_name}",
                 f"problem: {name}", f"tolerance: {'auto' if key else tolerance}", "answers:"]
        for quantity in names:
            shape = solution.quantity(quantity).shape
            value = _value_text(solution.exact(quantity), exact) if key else _blank(shape)
            lines.append(f"  {quantity}: {value}")
        return "\n".join(lines) + "\n"

    return GeneratedTensorProblem(kind, seed, text, sheet(False), sheet(True), names, solution)

