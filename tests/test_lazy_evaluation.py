"""The grader's lazy evaluation (evaluate.LazyEvaluation) gives exactly the numbers of the
eager one (evaluate.evaluate), whatever is read first: every node's value, gradient and
values before the student's numbers, on every curated problem, with random answers put in
(some whole quantities, some single elements), on exact, float64 and ball numbers."""

from __future__ import annotations

import random
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from backcheck.backends import EXACT, FLOAT
from backcheck.evaluate import EvaluationError, LazyEvaluation, evaluate
from backcheck.exact import Exact
from backcheck.grading.balls import BALL, BallArray
from backcheck.problem import load_problem
from backcheck.solution import solve

PROBLEMS = sorted(p for p in (Path(__file__).parent.parent / "problems").glob("*.yaml"))


def _overrides(graph, truth, rng: random.Random, backend) -> dict:
    overrides = {}
    for q in graph.quantities.values():
        if q.kind == "update" or rng.random() < 0.3:
            continue
        flat = [v for v in np.ravel(np.asarray(truth(q), dtype=object))]
        whole = rng.random() < 0.6
        mask = np.array([whole or rng.random() < 0.5 for _ in flat], dtype=bool)
        values = []
        for v in flat:
            x = Fraction(round(float(v) * 1000)) / 1000 + Fraction(rng.choice([0, 0, 1, -3]), 100)
            values.append(x)
        if backend is FLOAT:
            array = np.array([float(v) for v in values])
        elif backend is BALL:
            array = BallArray(np.array([float(v) for v in values]),
                              np.full((len(values), 3), 1e-4))
        else:
            array = np.array([Exact.of(v) for v in values], dtype=object)
        if backend is BALL:
            overrides[(q.kind, q.node)] = (q.to_internal(mask), array.reshape(q.internal_shape))
        else:
            overrides[(q.kind, q.node)] = (q.to_internal(mask), q.to_internal(array))
    return overrides


def _same(a, b) -> bool:
    if isinstance(a, BallArray) or isinstance(b, BallArray):
        a, b = BallArray.of(a), BallArray.of(b)
        return (np.array_equal(a.m, b.m, equal_nan=True)
                and np.array_equal(a.radius, b.radius, equal_nan=True))
    a, b = np.asarray(a, dtype=object), np.asarray(b, dtype=object)
    if a.shape != b.shape:
        return False
    for x, y in zip(a.ravel(), b.ravel(), strict=True):
        if isinstance(x, Exact) or isinstance(y, Exact):
            x, y = Exact.of(x), Exact.of(y)
            if x.q != y.q or (x.q is None and not (float(x) == float(y) and x.form == y.form)):
                return False
        elif not (float(x) == float(y) or (np.isnan(float(x)) and np.isnan(float(y)))):
            return False
    return True


@pytest.mark.parametrize("path", PROBLEMS, ids=lambda p: p.stem)
def test_lazy_gives_the_eager_numbers(path: Path) -> None:
    problem = load_problem(str(path))
    solution = solve(problem)
    graph = solution.graph
    rng = random.Random(path.stem)

    def truth(q):
        ev = solution.float_evaluation
        return ev.values[q.node] if q.kind == "value" else ev.grads[q.node]

    for backend in (EXACT, FLOAT, BALL):
        for _ in range(2):
            overrides = _overrides(graph, truth, rng, backend)
            try:
                with np.errstate(all="ignore"):
                    eager = evaluate(graph, backend, overrides=overrides)
            except EvaluationError:
                continue  # what the lazy one does there: tests/test_verify.py
            lazy = LazyEvaluation(graph, backend, overrides=overrides, quiet=True)
            order = list(range(len(graph.nodes)))
            rng.shuffle(order)
            for node in order:
                kind = rng.choice(["values", "grads", "computed_values", "computed_grads"])
                for part in [kind, "values", "grads", "computed_values", "computed_grads"]:
                    want = getattr(eager, part).get(node) if part != "values" else \
                        eager.values[node]
                    got = getattr(lazy, part).get(node) if part != "values" else \
                        lazy.values[node]
                    assert (want is None) == (got is None), (path.stem, backend.name, part, node)
                    if want is not None:
                        assert _same(want, got), (path.stem, backend.name, part, node)
