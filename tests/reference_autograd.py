"""A second independent reference: HIPS ``autograd`` (small, pure Python, always installed
with the test extras). Nothing here imports backcheck.

Gradients with respect to intermediate values (dL/dzK, dL/daK) are taken by
differentiating "the rest of the network" as a function of that value, so every number
comes from autograd's own machinery, not from a hand-written backward pass.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import autograd.numpy as anp
import numpy as np
from autograd import grad


def _number(value: Any) -> float:
    if isinstance(value, str):
        return float(Fraction(value.strip()))
    return float(value)


def _array(value: Any) -> np.ndarray:
    if isinstance(value, list):
        return np.array([_array(v) for v in value], dtype=np.float64)
    return np.float64(_number(value))


def _activate(name: str, z: Any, slope: float) -> Any:
    if name == "identity":
        return z
    if name == "relu":
        return anp.where(z > 0, z, 0.0)
    if name == "leaky_relu":
        return anp.where(z > 0, z, slope * z)
    if name == "sigmoid":
        return 1.0 / (1.0 + anp.exp(-z))
    if name == "tanh":
        return anp.tanh(z)
    if name == "softmax":
        e = anp.exp(z - anp.max(z, axis=-1, keepdims=True))
        return e / anp.sum(e, axis=-1, keepdims=True)
    raise ValueError(name)


def _loss(name: str, reduction: str | None, p: Any, t: Any) -> Any:
    p2 = p if p.ndim == 2 else p[None, :]
    t2 = t if t.ndim == 2 else t[None, :]
    n = p2.shape[0]
    if name in ("mse", "sse", "half_sse"):
        terms = (p2 - t2) ** 2 * (0.5 if name == "half_sse" else 1.0)
        default = "mean" if name == "mse" else "sum"
    elif name == "cross_entropy":
        terms = -(t2 * anp.log(p2))
        default = "batch_mean"
    elif name == "bce":
        terms = -(t2 * anp.log(p2) + (1 - t2) * anp.log(1 - p2))
        default = "mean"
    else:
        raise ValueError(name)
    reduction = reduction or default
    if name == "cross_entropy" and reduction == "mean":
        reduction = "batch_mean"
    divisor = {"mean": terms.size, "batch_mean": n, "sum": 1}[reduction]
    return anp.sum(terms) / divisor


def autograd_reference(problem: dict) -> dict[str, np.ndarray]:
    convention = problem.get("convention", "Wx")
    x = _array(problem["x"])
    layers = problem["layers"]
    Ws = [_array(layer["W"]) for layer in layers]
    bs = [_array(layer["b"]) if layer.get("b") is not None else None for layer in layers]
    acts = [layer.get("activation", "identity") for layer in layers]
    slopes = [_number(layer.get("slope", "0.01")) for layer in layers]
    t = _array(problem["target"])
    loss_spec = problem["loss"]
    name, reduction = (loss_spec, None) if isinstance(loss_spec, str) else (
        loss_spec["name"], loss_spec.get("reduction"))

    def linear(a: Any, W: Any, b: Any) -> Any:
        z = anp.dot(a, W.T) if convention == "Wx" else anp.dot(a, W)
        return z if b is None else z + b

    def run_from(k: int, a: Any, params: list) -> Any:
        """L as a function of a_{k} (the input to layer k+1; k = 0 is x)."""
        for j in range(k, len(layers)):
            W, b = params[j]
            a = _activate(acts[j], linear(a, W, b), slopes[j])
        return _loss(name, reduction, a, t)

    def from_z(k: int, z: Any) -> Any:
        a = _activate(acts[k - 1], z, slopes[k - 1])
        return run_from(k, a, list(zip(Ws, bs)))

    out: dict[str, np.ndarray] = {"x": x}
    a = x
    for k in range(1, len(layers) + 1):
        z = linear(a, Ws[k - 1], bs[k - 1])
        a = _activate(acts[k - 1], z, slopes[k - 1])
        out[f"z{k}"], out[f"a{k}"] = z, a
    out["L"] = np.asarray(run_from(0, x, list(zip(Ws, bs))))
    for k in range(1, len(layers) + 1):
        out[f"dL/dz{k}"] = grad(lambda z, k=k: from_z(k, z))(out[f"z{k}"])
        out[f"dL/da{k}"] = grad(lambda a, k=k: run_from(k, a, list(zip(Ws, bs))))(out[f"a{k}"])

        def with_W(W: Any, k: int = k) -> Any:
            params = list(zip(Ws, bs))
            params[k - 1] = (W, bs[k - 1])
            return run_from(0, x, params)

        out[f"dL/dW{k}"] = grad(with_W)(Ws[k - 1])
        if bs[k - 1] is not None:
            def with_b(b: Any, k: int = k) -> Any:
                params = list(zip(Ws, bs))
                params[k - 1] = (Ws[k - 1], b)
                return run_from(0, x, params)

            out[f"dL/db{k}"] = grad(with_b)(bs[k - 1])
    out["dL/dx"] = grad(lambda v: run_from(0, v, list(zip(Ws, bs))))(x)
    if problem.get("learning_rate") is not None:
        lr = _number(problem["learning_rate"])
        for k in range(1, len(layers) + 1):
            out[f"W{k}_new"] = Ws[k - 1] - lr * out[f"dL/dW{k}"]
            if bs[k - 1] is not None:
                out[f"b{k}_new"] = bs[k - 1] - lr * out[f"dL/db{k}"]
    return out
