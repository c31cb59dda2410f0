"""An independent 400-digit reference for layered networks (FORMAT §1), by mpmath.

Nothing here imports backcheck, and no rule is shared with it: the forward pass and
every derivative are written out by hand below (as a textbook states them), computed
with Fractions while the values stay rational and with mpmath at ``DPS`` digits once
they do not. 400 digits leave hundreds of correct digits even where a saturated tanh
or sigmoid cancels 100 of them, so the reference's first 80 digits are certain for
the networks the tests build (|pre-activations| ≤ 200).

:func:`mp_reference` returns FORMAT §3 names → numpy object arrays (the problem's
layout) of ``Fraction`` (exactly rational values) or ``mpmath.mpf``.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import mpmath
import numpy as np

DPS = 400
CTX = mpmath.MPContext()
CTX.dps = DPS


def _number(value: Any) -> Fraction:
    if isinstance(value, str):
        return Fraction(value.replace(" ", ""))
    return Fraction(str(value)) if isinstance(value, float) else Fraction(value)


def _mp(v: Any) -> Any:
    if isinstance(v, Fraction):
        return CTX.mpf(v.numerator) / v.denominator
    return v


def _rational(*values: Any) -> bool:
    return all(isinstance(v, Fraction) for v in values)


def add(a: Any, b: Any) -> Any:
    return a + b if _rational(a, b) else _mp(a) + _mp(b)


def mul(a: Any, b: Any) -> Any:
    if _rational(a, b):
        return a * b
    if (isinstance(a, Fraction) and a == 0) or (isinstance(b, Fraction) and b == 0):
        return Fraction(0)
    return _mp(a) * _mp(b)


def div(a: Any, b: Any) -> Any:
    return a / b if _rational(a, b) else _mp(a) / _mp(b)


def neg(a: Any) -> Any:
    return -a


def is_positive(a: Any) -> bool:
    return a > 0


def sigmoid(x: Any) -> Any:
    if isinstance(x, Fraction) and x == 0:
        return Fraction(1, 2)
    return 1 / (1 + CTX.exp(-_mp(x)))


def tanh(x: Any) -> Any:
    if isinstance(x, Fraction) and x == 0:
        return Fraction(0)
    return CTX.tanh(_mp(x))


def log(x: Any) -> Any:
    if isinstance(x, Fraction) and x == 1:
        return Fraction(0)
    return CTX.log(_mp(x))


def _matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.empty((a.shape[0], b.shape[1]), dtype=object)
    for i in range(a.shape[0]):
        for j in range(b.shape[1]):
            total: Any = Fraction(0)
            for k in range(a.shape[1]):
                total = add(total, mul(a[i, k], b[k, j]))
            out[i, j] = total
    return out


def _map(f: Any, *arrays: np.ndarray) -> np.ndarray:
    out = np.empty(arrays[0].shape, dtype=object)
    for index in np.ndindex(arrays[0].shape):
        out[index] = f(*(a[index] for a in arrays))
    return out


def _array(value: Any) -> np.ndarray:
    return np.vectorize(_number, otypes=[object])(np.array(value, dtype=object))


def _activate(name: str, z: np.ndarray, slope: Fraction) -> np.ndarray:
    if name == "identity":
        return z.copy()
    if name == "relu":
        return _map(lambda v: v if is_positive(v) else Fraction(0), z)
    if name == "leaky_relu":
        return _map(lambda v: v if is_positive(v) else mul(v, slope), z)
    if name == "sigmoid":
        return _map(sigmoid, z)
    if name == "tanh":
        return _map(tanh, z)
    if name == "softmax":
        out = np.empty(z.shape, dtype=object)
        for i in range(z.shape[0]):
            if z.shape[1] == 1:
                out[i, 0] = Fraction(1)
                continue
            e = [CTX.exp(_mp(v)) for v in z[i]]
            total = CTX.fsum(e)
            for j in range(z.shape[1]):
                out[i, j] = e[j] / total
        return out
    raise ValueError(name)


def _activation_vjp(name: str, g: np.ndarray, z: np.ndarray, a: np.ndarray,
                    slope: Fraction) -> np.ndarray:
    """dL/dz from dL/da = g: the local derivative of each activation, by hand."""
    if name == "identity":
        return g.copy()
    if name == "relu":  # derivative 0 at 0 (PyTorch's choice)
        return _map(lambda gv, zv: gv if is_positive(zv) else Fraction(0), g, z)
    if name == "leaky_relu":  # the slope at 0 (PyTorch's choice)
        return _map(lambda gv, zv: gv if is_positive(zv) else mul(gv, slope), g, z)
    if name == "sigmoid":  # σ′ = σ(1 − σ)
        return _map(lambda gv, av: mul(gv, mul(av, add(Fraction(1), neg(av)))), g, a)
    if name == "tanh":  # tanh′ = 1 − tanh²
        return _map(lambda gv, av: mul(gv, add(Fraction(1), neg(mul(av, av)))), g, a)
    if name == "softmax":  # J·g = a ⊙ (g − Σ g·a), per example
        out = np.empty(g.shape, dtype=object)
        for i in range(g.shape[0]):
            dot: Any = Fraction(0)
            for j in range(g.shape[1]):
                dot = add(dot, mul(g[i, j], a[i, j]))
            for j in range(g.shape[1]):
                out[i, j] = mul(a[i, j], add(g[i, j], neg(dot)))
        return out
    raise ValueError(name)


def _loss(name: str, reduction: str | None, p: np.ndarray, t: np.ndarray
          ) -> tuple[Any, np.ndarray]:
    """(L, dL/dp) for the loss, by hand."""
    n_elements, n_examples = p.size, p.shape[0]
    if name in ("mse", "sse", "half_sse"):
        terms = _map(lambda pv, tv: mul(add(pv, neg(tv)), add(pv, neg(tv))), p, t)
        grads = _map(lambda pv, tv: mul(Fraction(2), add(pv, neg(tv))), p, t)
        if name == "half_sse":
            terms = _map(lambda v: mul(v, Fraction(1, 2)), terms)
            grads = _map(lambda v: mul(v, Fraction(1, 2)), grads)
        divisor = n_elements if name == "mse" and reduction != "sum" else 1
    elif name == "cross_entropy":
        terms = _map(lambda pv, tv: Fraction(0) if tv == 0 else neg(mul(tv, log(pv))), p, t)
        grads = _map(lambda pv, tv: Fraction(0) if tv == 0 else neg(div(tv, pv)), p, t)
        divisor = 1 if reduction == "sum" else n_examples
    elif name == "bce":
        def term(pv: Any, tv: Any) -> Any:
            total: Any = Fraction(0)
            if tv != 0:
                total = add(total, mul(tv, log(pv)))
            if tv != 1:
                total = add(total, mul(add(Fraction(1), neg(tv)), log(add(Fraction(1), neg(pv)))))
            return neg(total)

        terms = _map(term, p, t)
        grads = _map(lambda pv, tv: div(add(pv, neg(tv)),
                                        mul(pv, add(Fraction(1), neg(pv)))), p, t)
        divisor = 1 if reduction == "sum" else n_elements
    else:
        raise ValueError(name)
    total: Any = Fraction(0)
    for v in terms.flat:
        total = add(total, v)
    d = Fraction(divisor)
    return div(total, d), _map(lambda v: div(v, d), grads)


def mp_reference(problem: dict) -> dict[str, np.ndarray]:
    """Every FORMAT §3 quantity of a layered network, at 400 digits."""
    convention = problem.get("convention", "Wx")
    single = not isinstance(problem["x"][0], list)
    x = _array([problem["x"]] if single else problem["x"])
    loss = problem["loss"]
    name, reduction = (loss, None) if isinstance(loss, str) else (loss["name"],
                                                                  loss.get("reduction"))
    Ws, bs, zs, acts, slopes, names = [], [], [], [], [], []
    a = x
    for layer in problem["layers"]:
        W = _array(layer["W"])
        b = _array(layer["b"]) if layer.get("b") is not None else None
        z = _matmul(a, W.T if convention == "Wx" else W)
        if b is not None:
            z = _map(add, z, np.broadcast_to(b, z.shape))
        activation = layer.get("activation", "identity")
        slope = _number(layer.get("slope", "0.01"))
        a = _activate(activation, z, slope)
        Ws.append(W)
        bs.append(b)
        zs.append(z)
        acts.append(a)
        slopes.append(slope)
        names.append(activation)
    t = _array([problem["target"]] if single else problem["target"])
    L, g = _loss(name, reduction, acts[-1], t)

    def layout(array: np.ndarray) -> np.ndarray:
        return array[0] if single else array

    out: dict[str, np.ndarray] = {"x": layout(x)}
    for k in range(len(Ws)):
        out[f"z{k + 1}"] = layout(zs[k])
        out[f"a{k + 1}"] = layout(acts[k])
    out["L"] = np.array(L, dtype=object)
    for k in range(len(Ws) - 1, -1, -1):
        out[f"dL/da{k + 1}"] = layout(g)
        dz = _activation_vjp(names[k], g, zs[k], acts[k], slopes[k])
        out[f"dL/dz{k + 1}"] = layout(dz)
        previous = acts[k - 1] if k > 0 else x
        out[f"dL/dW{k + 1}"] = (_matmul(dz.T, previous) if convention == "Wx"
                                else _matmul(previous.T, dz))
        if bs[k] is not None:
            db = np.empty(dz.shape[1], dtype=object)
            for j in range(dz.shape[1]):
                total: Any = Fraction(0)
                for i in range(dz.shape[0]):
                    total = add(total, dz[i, j])
                db[j] = total
            out[f"dL/db{k + 1}"] = db
        g = _matmul(dz, Ws[k] if convention == "Wx" else Ws[k].T)
    out["dL/dx"] = layout(g)
    if problem.get("learning_rate") is not None:
        lr = _number(problem["learning_rate"])
        for k in range(len(Ws)):
            out[f"W{k + 1}_new"] = _map(lambda w, d: add(w, neg(mul(lr, d))), Ws[k],
                                        out[f"dL/dW{k + 1}"])
            if bs[k] is not None:
                out[f"b{k + 1}_new"] = _map(lambda w, d: add(w, neg(mul(lr, d))), bs[k],
                                            out[f"dL/db{k + 1}"])
    return out
