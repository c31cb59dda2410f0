"""The SymPy backend runs every op record of backcheck.ops unchanged, and the formulas it
builds are the derivatives SymPy's own ``diff`` finds for functions written here
independently (not from the op table)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import sympy

from backcheck.backends import SYMPY, SympyBackend
from backcheck.ops import OPS
from backcheck.symfuncs import sigmoid, to_plain

x, y = sympy.symbols("x y", real=True)


def plain(expression):
    return to_plain(sympy.sympify(expression))


def same(a, b) -> bool:
    return sympy.simplify(plain(a) - plain(b)) == 0


#: op name → the function written independently with SymPy's own functions
UNARY = {
    "identity": lambda v: v,
    "sigmoid": lambda v: 1 / (1 + sympy.exp(-v)),
    "tanh": sympy.tanh,
    "neg": lambda v: -v,
    "exp": sympy.exp,
    "log": sympy.log,
    "sqrt": sympy.sqrt,
    "sin": sympy.sin,
    "cos": sympy.cos,
    "abs": sympy.Abs,
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_op_forward_and_derivative_match_sympy_diff(name: str) -> None:
    op = OPS[name]
    arg = SYMPY.asarray([[x]])
    ans = op.forward(SYMPY, arg)
    assert same(ans[0, 0], UNARY[name](x))
    grad = op.vjps[0](SYMPY, SYMPY.asarray([[1]]), ans, arg)
    assert same(grad[0, 0], sympy.diff(UNARY[name](x), x))


BINARY = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b, "pow": lambda a, b: a**b,
}


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_op_partials_match_sympy_diff(name: str) -> None:
    p = sympy.Symbol("p", positive=True)
    op = OPS[name]
    args = (SYMPY.asarray(p), SYMPY.asarray(y))
    ans = op.forward(SYMPY, *args)
    assert same(ans.item(), BINARY[name](p, y))
    for k, wrt in enumerate((p, y)):
        grad = op.vjps[k](SYMPY, SYMPY.asarray(1), ans, *args)
        assert same(np.asarray(grad).item(), sympy.diff(BINARY[name](p, y), wrt))


def test_sigmoid_stays_sigma_and_differentiates_to_sigma_one_minus_sigma() -> None:
    out = OPS["sigmoid"].forward(SYMPY, SYMPY.asarray([x]))[0]
    assert out == sigmoid(x)
    assert sympy.diff(out, x) == sigmoid(x) * (1 - sigmoid(x))
    assert sigmoid(0) == sympy.Rational(1, 2)
    third = sympy.Rational(1, 3)
    assert abs(sigmoid(third).evalf(30) - (1 / (1 + sympy.exp(-third))).evalf(30)) < 1e-28
    assert "sigmoid" in str(out) and "exp" in str(to_plain(out))


def test_relu_without_a_point_is_piecewise_and_with_a_point_decides_and_records() -> None:
    arg = SYMPY.asarray([x, Fraction(-2), Fraction(3)])
    out = OPS["relu"].forward(SYMPY, arg)
    assert out[0] == sympy.Piecewise((x, x > 0), (0, True))
    assert out[1] == 0 and out[2] == 3  # numbers: decided, no Piecewise
    at = SympyBackend(point={x: -1})
    assert OPS["relu"].forward(at, arg)[0] == 0
    assert at.decisions == [(x > 0, False)]
    grad = OPS["relu"].vjps[0](SYMPY, SYMPY.asarray([y, y, y]), out, arg)
    assert grad[0] == sympy.Piecewise((y, x > 0), (0, True)) and grad[1] == 0 and grad[2] == y


def test_leaky_relu_slope_branch() -> None:
    out = OPS["leaky_relu"].forward(SYMPY, SYMPY.asarray([x]), Fraction(1, 10))
    assert out[0].subs(x, -5) == sympy.Rational(-1, 2) and out[0].subs(x, 5) == 5


def test_softmax_vjp_matches_diff_of_written_softmax() -> None:
    z = sympy.symbols("z1:4", real=True)
    arg = SYMPY.asarray([list(z)])
    ans = OPS["softmax"].forward(SYMPY, arg)
    e = [sympy.exp(v) for v in z]
    for i in range(3):
        assert same(ans[0, i], e[i] / sum(e))
    g = SYMPY.asarray([[1, 0, 0]])
    grad = OPS["softmax"].vjps[0](SYMPY, g, ans, arg)
    for j in range(3):
        assert same(grad[0, j], sympy.diff(e[0] / sum(e), z[j]))


@pytest.mark.parametrize("convention", ["Wx", "xW"])
def test_linear_layer_vjps_match_diff_of_written_layer(convention: str) -> None:
    a = sympy.Matrix(1, 3, sympy.symbols("a1:4", real=True))
    W = sympy.Matrix(2, 3, sympy.symbols("w1:7", real=True))
    b = sympy.Matrix(1, 2, sympy.symbols("b1:3", real=True))
    Wl = W if convention == "Wx" else W.T
    z = a * W.T + b
    c = sympy.Matrix(1, 2, sympy.symbols("c1:3", real=True))
    scalar = (z * c.T)[0]  # L = z · c, so dL/dz = c
    args = (SYMPY.asarray(a.tolist()), SYMPY.asarray(Wl.tolist()), SYMPY.asarray(b.tolist()[0]))
    op = OPS["linear"]
    out = op.forward(SYMPY, *args, convention=convention)
    assert all(same(out[0, j], z[0, j]) for j in range(2))
    g = SYMPY.asarray(c.tolist())
    grads = [rule(SYMPY, g, out, *args, convention=convention) for rule in op.vjps]
    for k, matrix in enumerate((a, Wl)):
        for idx in np.ndindex(matrix.shape):
            assert same(grads[k][idx], sympy.diff(scalar, matrix[idx]))
    for j in range(2):
        assert same(np.asarray(grads[2]).reshape(-1)[j], sympy.diff(scalar, b[j]))


WRITTEN_LOSS = {
    "mse": lambda p, t: (p - t) ** 2,
    "sse": lambda p, t: (p - t) ** 2,
    "half_sse": lambda p, t: (p - t) ** 2 / 2,
    "cross_entropy": lambda p, t: -t * sympy.log(p),
    "bce": lambda p, t: -(t * sympy.log(p) + (1 - t) * sympy.log(1 - p)),
}


@pytest.mark.parametrize("kind", sorted(WRITTEN_LOSS))
def test_loss_record_matches_diff_of_written_loss(kind: str) -> None:
    p = sympy.symbols("p1:3", positive=True)
    t = sympy.symbols("t1:3", real=True)
    total = sum(WRITTEN_LOSS[kind](pi, ti) for pi, ti in zip(p, t, strict=True)) / 2
    P, T = SYMPY.asarray([list(p)]), SYMPY.asarray([list(t)])
    loss = OPS["loss"].forward(SYMPY, P, T, kind=kind, divisor=2)
    assert same(np.asarray(loss).item(), total)
    grad = OPS["loss"].vjps[0](SYMPY, SYMPY.asarray(1), loss, P, T, kind=kind, divisor=2)
    for j in range(2):
        assert same(grad[0, j], sympy.diff(total, p[j]))


def test_network_graph_runs_on_sympy_backend_and_matches_diff_of_loss() -> None:
    """A whole 2-2-1 sigmoid network (the graph and evaluator unchanged) with symbols for
    every weight: each gradient equals diff of the loss written out by hand here."""
    from backcheck.evaluate import evaluate
    from backcheck.graph import build_graph
    from backcheck.problem import load_problem

    graph = build_graph(load_problem("problems/mazur_2_2_2.yaml"))
    W2 = graph.by_name["W2"]
    w = sympy.symbols("w5:9", real=True)
    graph.leaves[W2] = np.array([[w[0], w[1]], [w[2], w[3]]], dtype=object)
    evaluation = evaluate(graph, SYMPY)
    f = lambda v: 1 / (1 + sympy.exp(-v))  # noqa: E731
    R = sympy.Rational
    h1 = f(R(15, 100) * R(5, 100) + R(20, 100) * R(10, 100) + R(35, 100))
    h2 = f(R(25, 100) * R(5, 100) + R(30, 100) * R(10, 100) + R(35, 100))
    o1 = f(w[0] * h1 + w[1] * h2 + R(6, 10))
    o2 = f(w[2] * h1 + w[3] * h2 + R(6, 10))
    loss = ((o1 - R(1, 100)) ** 2 + (o2 - R(99, 100)) ** 2) / 2
    point = dict(zip(w, (R(40, 100), R(45, 100), R(50, 100), R(55, 100)), strict=True))
    value = plain(evaluation.values[graph.output].item())
    assert abs((value - loss).subs(point).evalf(40)) < 1e-35
    grad = evaluation.grads[W2]
    for idx, symbol in zip(np.ndindex(2, 2), w, strict=True):
        expected = sympy.diff(loss, symbol).subs(point).evalf(40)
        assert abs(plain(grad[idx]).subs(point).evalf(40) - expected) < 1e-35
    # the published ∂E/∂w5 (Mazur 2015)
    assert abs(float(plain(grad[0, 0]).subs(point).evalf(20)) - 0.082167041) < 1e-9
