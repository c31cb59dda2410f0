"""Benchmark: backcheck's float64 evaluator against PyTorch autograd, same process, same
network: a 4-layer MLP of 512 units (relu, relu, relu, softmax; cross-entropy), batch 256,
float64 on both sides; forward pass plus every gradient (weights, biases and the input).

    python bench/bench_float.py

Target (issue 6): ≤ 2×. The network is built in memory (it is far larger than a problem
file may be). Timed on both sides: the forward and backward pass from float64 arrays;
turning the exact inputs into float64 (once per problem, like building the tensors) is
reported separately.
"""

from __future__ import annotations

import random
import sys
import time
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPEAT, row, time_call  # noqa: E402

LAYERS, UNITS, BATCH = 4, 512, 256
TARGET = 2.0


def build_problem():  # noqa: ANN201
    from backcheck.problem import Layer, NetworkProblem

    rng = random.Random(0)

    def matrix(rows: int, cols: int, scale: float) -> list[list[Fraction]]:
        return [[Fraction(round(rng.gauss(0, scale) * 1000), 1000) for _ in range(cols)]
                for _ in range(rows)]

    activations = ["relu"] * (LAYERS - 1) + ["softmax"]
    layers = [Layer(matrix(UNITS, UNITS, UNITS ** -0.5), matrix(1, UNITS, 0.1)[0], act,
                    Fraction(1, 100)) for act in activations]
    x = matrix(BATCH, UNITS, 1.0)
    target = [[Fraction(int(j == i % UNITS)) for j in range(UNITS)] for i in range(BATCH)]
    return NetworkProblem("<bench>", None, "Wx", x, False, layers, target, "cross_entropy",
                          "batch_mean", None, None)


def main() -> list[tuple[str, float, float, float]]:
    import numpy as np
    import torch

    from backcheck.backends import FLOAT
    from backcheck.evaluate import evaluate
    from backcheck.graph import build_graph

    problem = build_problem()
    graph = build_graph(problem)
    start = time.perf_counter()
    graph.leaves = {node: FLOAT.asarray(value) for node, value in graph.leaves.items()}
    conversion = time.perf_counter() - start

    def ours():  # noqa: ANN202
        with np.errstate(all="ignore"):
            return evaluate(graph, FLOAT)

    x = torch.tensor(np.asarray(problem.x, dtype=np.float64), requires_grad=True)
    target = torch.tensor(np.asarray(problem.target, dtype=np.float64))
    params = []
    for layer in problem.layers:
        W = torch.tensor(np.asarray(layer.W, dtype=np.float64), requires_grad=True)
        b = torch.tensor(np.asarray(layer.b, dtype=np.float64), requires_grad=True)
        params.append((W, b))

    def theirs():  # noqa: ANN202
        for tensor in [x] + [t for pair in params for t in pair]:
            tensor.grad = None
        a = x
        for k, (W, b) in enumerate(params):
            z = a @ W.T + b
            a = torch.relu(z) if k < LAYERS - 1 else torch.softmax(z, dim=-1)
        loss = -(target * torch.log(a)).sum() / BATCH
        loss.backward()
        return loss

    # the same numbers on both sides (a check, not a benchmark)
    evaluation = ours()
    loss = theirs()
    ours_loss = float(np.asarray(evaluation.values[graph.output]))
    theirs_loss = float(loss.detach())
    assert abs(ours_loss - theirs_loss) <= 1e-9 * abs(theirs_loss), (ours_loss, theirs_loss)
    W1 = graph.by_name["W1"]
    assert np.allclose(np.asarray(evaluation.grads[W1]), params[0][0].grad.numpy(),
                       rtol=1e-8, atol=1e-12)

    ours_time = time_call(ours, repeat=REPEAT)
    theirs_time = time_call(theirs, repeat=REPEAT)
    label = f"float path {LAYERS} × {UNITS}, batch {BATCH} vs PyTorch autograd"
    print(row(label, ours_time, theirs_time, TARGET), flush=True)
    print(f"  (once per problem, not timed above: exact inputs → float64 {conversion:.3f} s; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads)")
    return [(label, ours_time, theirs_time, TARGET)]


if __name__ == "__main__":
    main()
