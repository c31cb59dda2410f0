"""An 80-digit reference for tensor problems: the parsed steps run on NumPy object
arrays of mpmath numbers (plain loops where NumPy has no object version), gradients by
central differences with a tiny step (error ~ h² = 1e-56, far below the 50 digits
backcheck's exact values carry). Nothing of backcheck's calculus is used.
"""

from __future__ import annotations

from typing import Any

import mpmath
import numpy as np

mp = mpmath.mp.clone() if hasattr(mpmath.mp, "clone") else mpmath.mp
DPS = 80
H = mpmath.mpf(10) ** -28


def _arr(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=object)


def _map(f: Any, x: Any) -> np.ndarray:
    return _arr(np.frompyfunc(f, 1, 1)(_arr(x)))


def _relu(v: Any) -> Any:
    return v if v > 0 else mpmath.mpf(0)


def _sigmoid(v: Any) -> Any:
    return 1 / (1 + mpmath.exp(-v))


_CALLS = {"exp": mpmath.exp, "log": mpmath.log, "sqrt": mpmath.sqrt, "tanh": mpmath.tanh,
          "sigmoid": _sigmoid, "relu": _relu, "sin": mpmath.sin, "cos": mpmath.cos,
          "abs": abs}


def _reduce(x: np.ndarray, axis: Any, keep: bool, f: Any) -> np.ndarray:
    out = f(x, axis=axis, keepdims=keep)
    return _arr(out)


def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = _map(mpmath.exp, x)
    return e / _arr(np.sum(e, axis=axis, keepdims=True))


def forward(problem: Any, overrides: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
    """Every value, at 80 digits; ``overrides`` replaces a value or step's result."""
    overrides = overrides or {}
    with mpmath.workdps(DPS):
        env: dict[str, Any] = {}
        for name, value in problem.values.items():
            env[name] = overrides.get(name, _map(lambda q: mpmath.mpf(q.numerator) / q.denominator,
                                                 value))

        def ev(expr: tuple) -> Any:
            kind = expr[0]
            if kind == "num":
                return _arr(mpmath.mpf(expr[1].numerator) / expr[1].denominator)
            if kind == "name":
                return env[expr[1]]
            if kind == "neg":
                return -ev(expr[1])
            if kind == "add":
                return ev(expr[1]) + ev(expr[2])
            if kind == "sub":
                return ev(expr[1]) - ev(expr[2])
            if kind == "mul":
                return ev(expr[1]) * ev(expr[2])
            if kind == "div":
                return ev(expr[1]) / ev(expr[2])
            if kind == "pow":
                a, b = np.broadcast_arrays(ev(expr[1]), ev(expr[2]))
                return _arr(np.frompyfunc(lambda u, v: mpmath.power(u, v), 2, 1)(a, b))
            if kind == "matmul":
                return _arr(np.dot(ev(expr[1]), ev(expr[2])))
            if kind == "T":
                return ev(expr[1]).T
            if kind == "cmp":
                a, b = np.broadcast_arrays(ev(expr[2]), ev(expr[3]))
                op = {"<": lambda u, v: u < v, "<=": lambda u, v: u <= v,
                      ">": lambda u, v: u > v, ">=": lambda u, v: u >= v,
                      "==": lambda u, v: u == v, "!=": lambda u, v: u != v}[expr[1]]
                return _arr(np.frompyfunc(lambda u, v: mpmath.mpf(1 if op(u, v) else 0), 2, 1)(
                    a, b))
            if kind == "call":
                return _map(_CALLS[expr[1]], ev(expr[2]))
            if kind == "index":
                base = ev(expr[1])
                key = []
                for part in expr[2]:
                    if part[0] == "slice":
                        key.append(slice(*part[1:]))
                    else:
                        key.append(np.asarray(_map(int, ev(part[1])), dtype=np.int64))
                return _arr(base[tuple(key)])
            if kind == "fn":
                return fn(expr[1], expr[2], dict(expr[3]))
            raise AssertionError(kind)

        def fn(name: str, args: tuple, kw: dict) -> Any:
            if name == "arange":
                bounds = [int(ev(a)) for a in args]
                return _map(mpmath.mpf, np.arange(*bounds))
            if name == "one_hot":
                labels = np.asarray(_map(int, ev(args[0])), dtype=np.int64)
                classes = int(ev(args[1]))
                return _map(mpmath.mpf, (labels[..., None] == np.arange(classes)).astype(int))
            if name == "concat":
                return _arr(np.concatenate([ev(e) for e in args[0][1]], axis=kw.get("axis", 0)))
            if name == "where":
                c, x, y = (ev(a) for a in args)
                c, x, y = np.broadcast_arrays(c, x, y)
                return _arr(np.where(np.frompyfunc(lambda v: v != 0, 1, 1)(c).astype(bool), x, y))
            x = ev(args[0])
            axis, keep = kw.get("axis"), kw.get("keepdims", False)
            if name == "sum":
                return _reduce(x, axis, keep, np.sum)
            if name == "mean":
                n = x.size if axis is None else np.prod([x.shape[a] for a in (
                    axis if isinstance(axis, tuple) else (axis,))])
                return _reduce(x, axis, keep, np.sum) / int(n)
            if name == "max":
                return _reduce(x, axis, keep, np.max)
            if name == "min":
                return _reduce(x, axis, keep, np.min)
            if name == "var":
                n = x.size if axis is None else np.prod([x.shape[a] for a in (
                    axis if isinstance(axis, tuple) else (axis,))])
                mu = _arr(np.sum(x, axis=axis, keepdims=True)) / int(n)
                ddof = kw.get("ddof", 0)
                return _reduce((x - mu) * (x - mu), axis, keep, np.sum) / (int(n) - ddof)
            if name == "softmax":
                return _softmax(x, kw.get("axis", -1))
            if name == "log_softmax":
                return _map(mpmath.log, _softmax(x, kw.get("axis", -1)))
            if name == "reshape":
                return x.reshape(args[1][1])
            if name == "transpose":
                return x.T
            if name == "matmul":
                return _arr(np.dot(x, ev(args[1])))
            if name == "conv2d":
                k = ev(args[1])
                s, p = kw.get("stride", 1), kw.get("padding", 0)
                h, w = x.shape
                padded = _arr(np.full((h + 2 * p, w + 2 * p), mpmath.mpf(0), dtype=object))
                padded[p:p + h, p:p + w] = x
                kh, kw_ = k.shape
                oh, ow = (h + 2 * p - kh) // s + 1, (w + 2 * p - kw_) // s + 1
                out = np.empty((oh, ow), dtype=object)
                for i in range(oh):
                    for j in range(ow):
                        total = mpmath.mpf(0)
                        for a in range(kh):
                            for b in range(kw_):
                                total += padded[i * s + a, j * s + b] * k[a, b]
                        out[i, j] = total
                return out
            if name == "maxpool2d":
                size = kw.get("size", 2)
                h, w = x.shape
                out = np.empty((h // size, w // size), dtype=object)
                for i in range(h // size):
                    for j in range(w // size):
                        out[i, j] = max(x[i * size + a, j * size + b]
                                        for a in range(size) for b in range(size))
                return out
            raise AssertionError(name)

        for step in problem.steps:
            env[step.name] = overrides.get(step.name, _arr(ev(step.expr)))
        return env


def gradient(problem: Any, name: str, values: dict[str, Any]) -> np.ndarray:
    """d(output)/d(name) by central differences at 80 digits."""
    with mpmath.workdps(DPS):
        base = _arr(values[name])
        grad = np.empty(base.shape, dtype=object)
        for index in np.ndindex(*base.shape):
            plus, minus = base.copy(), base.copy()
            plus[index] = base[index] + H
            minus[index] = base[index] - H
            up = forward(problem, {name: plus})[problem.output]
            down = forward(problem, {name: minus})[problem.output]
            grad[index] = (np.ravel(up)[0] - np.ravel(down)[0]) / (2 * H)
        return grad
