"""The ball backend: how far values move when the numbers a student wrote move within
their rounding (first-order sensitivities per written number plus a safe remainder).

The rules of :mod:`backcheck.ops` run on it unchanged (numpy protocols); its elementary
functions take their derivatives from the op records' vjps. Only the slack of "follows
from your own answers" is sized with it: verdicts themselves are decided exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backends import FLOAT, FloatBackend
from ..ops import OPS


class BallArray(np.lib.mixins.NDArrayOperatorsMixin):
    """How far each value can move when the numbers a student wrote move within their
    rounding: a float64 midpoint ``m``, its first-order sensitivities ``j`` to each
    written number (scaled by that number's half unit, one column each: so shared
    inputs cancel as they should, a(1 − a) is not counted twice), and a remainder ``r``
    for second-order terms and for intermediate values the student may have rounded.
    The rules of :mod:`backcheck.ops` run on it unchanged through numpy's protocols.
    Used only for the slack of "follows from your own answers"; verdicts themselves are
    decided exactly."""

    __array_priority__ = 1000

    def __init__(self, m: Any, j: Any = None, r: Any = 0.0) -> None:
        self.m = m if type(m) is np.ndarray and m.dtype == float else np.asarray(m, dtype=float)
        if j is None:
            j = np.zeros(self.m.shape + (1,))
        self.j = j
        if type(r) is np.ndarray and r.shape == self.m.shape and r.dtype == float:
            self.r = r
        else:
            self.r = np.broadcast_to(np.asarray(r, dtype=float), self.m.shape).copy()

    @staticmethod
    def of(value: Any) -> BallArray:
        if isinstance(value, BallArray):
            return value
        array = np.asarray(value)
        if array.dtype == object:
            array = np.asarray(np.frompyfunc(float, 1, 1)(array), dtype=float) if (
                array.size) else np.zeros(array.shape)
        return BallArray(array)

    @property
    def radius(self) -> np.ndarray:
        return np.abs(self.j).sum(axis=-1) + self.r

    # numpy protocol ------------------------------------------------------------------
    shape = property(lambda self: self.m.shape)
    ndim = property(lambda self: self.m.ndim)
    size = property(lambda self: self.m.size)

    @property
    def T(self) -> BallArray:  # noqa: N802 - numpy's name
        axes = list(reversed(range(self.m.ndim)))
        return BallArray(self.m.T, np.transpose(self._jac(), axes + [self.m.ndim]), self.r.T)

    def _jac(self) -> np.ndarray:
        j = self.j
        if j.shape[:-1] != self.m.shape:
            j = np.broadcast_to(j, self.m.shape + (j.shape[-1],))
        return j

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.m if dtype is None else self.m.astype(dtype)

    def __getitem__(self, index: Any) -> BallArray:
        return BallArray(self.m[index], self._jac()[index], self.r[index])

    def reshape(self, *shape: Any) -> BallArray:
        m = self.m.reshape(*shape)
        j = self._jac()
        return BallArray(m, j.reshape(m.shape + (j.shape[-1],)), self.r.reshape(m.shape))

    def sum(self, axis: Any = None, dtype: Any = None, out: Any = None,
            keepdims: bool = False) -> BallArray:
        j = self._jac()
        if axis is None:
            jsum = j.reshape(-1, j.shape[-1]).sum(axis=0)
            if keepdims:
                jsum = jsum.reshape((1,) * self.m.ndim + (j.shape[-1],))
        else:
            axes = (axis,) if isinstance(axis, int) else tuple(axis)
            axes = tuple(a % self.m.ndim for a in axes)
            jsum = j.sum(axis=axes, keepdims=keepdims)
        return BallArray(self.m.sum(axis=axis, keepdims=keepdims), jsum,
                         self.r.sum(axis=axis, keepdims=keepdims))

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        if func is np.where:
            condition, x, y = args
            x, y = BallArray.of(x), BallArray.of(y)
            condition = np.asarray(condition)
            m = np.where(condition, x.m, y.m)
            xj, yj = x._jac(), y._jac()
            width = max(xj.shape[-1], yj.shape[-1])
            xj = np.broadcast_to(xj, x.m.shape + (width,)) if xj.shape[-1] != width else xj
            yj = np.broadcast_to(yj, y.m.shape + (width,)) if yj.shape[-1] != width else yj
            return BallArray(m, np.where(condition[..., None], xj, yj),
                             np.where(condition, x.r, y.r))
        if func is np.sum:
            return BallArray.of(args[0]).sum(*args[1:], **kwargs)
        if func is np.shape:
            return self.m.shape
        if func is np.ndim:
            return self.m.ndim
        if func is np.reshape:
            return BallArray.of(args[0]).reshape(*args[1:], **kwargs)
        return NotImplemented

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if method != "__call__" or kwargs.get("out") is not None:
            return NotImplemented
        if ufunc in (np.greater, np.greater_equal, np.less, np.less_equal, np.equal,
                     np.not_equal):
            return ufunc(*(BallArray.of(x).m for x in inputs))
        balls = [BallArray.of(x) for x in inputs]
        a = balls[0]
        with np.errstate(all="ignore"):
            if ufunc is np.add:
                b = balls[1]
                return BallArray(a.m + b.m, a.j + b.j, a.r + b.r)
            if ufunc is np.subtract:
                b = balls[1]
                return BallArray(a.m - b.m, a.j - b.j, a.r + b.r)
            if ufunc is np.multiply:
                b = balls[1]
                return BallArray(a.m * b.m, a.j * b.m[..., None] + b.j * a.m[..., None],
                                 np.abs(a.m) * b.r + np.abs(b.m) * a.r + a.radius * b.radius)
            if ufunc is np.true_divide:
                b = balls[1]
                m = a.m / b.m
                tb = b.radius
                room = np.abs(b.m) - tb
                second = np.where(room > 0, tb * (a.radius + np.abs(m) * tb)
                                  / np.where(room > 0, room * np.abs(b.m), 1), np.inf)
                return BallArray(m, (a.j - m[..., None] * b.j) / b.m[..., None],
                                 (a.r + np.abs(m) * b.r) / np.abs(b.m) + second)
            if ufunc is np.matmul:
                b = balls[1]
                aj, bj = a._jac(), b._jac()
                j = (_column_last(a.m @ _column_first(bj))
                     + _column_last(_column_first(aj) @ b.m))
                r = np.abs(a.m) @ b.r + a.r @ np.abs(b.m) + a.radius @ b.radius
                return BallArray(a.m @ b.m, j, r)
            if ufunc is np.negative:
                return BallArray(-a.m, -a.j, a.r)
            if ufunc is np.positive:
                return a
            if ufunc is np.absolute:
                return BallArray(np.abs(a.m), a.j * np.sign(a.m)[..., None], a.r)
            if ufunc is np.power:
                exponent = balls[1].m
                return a.smooth(lambda v: np.power(v, exponent),
                                lambda v: exponent * np.power(v, exponent - 1))
        return NotImplemented

    def smooth(self, f: Any, derivative: Any) -> BallArray:
        """f, its sensitivities by the chain rule, and a remainder bounding the rest
        (f's change over the whole reach, beyond the first-order part)."""
        with np.errstate(all="ignore"):
            m = f(self.m)
            d = derivative(self.m)
            t = self.radius
            spread = np.maximum(np.abs(f(self.m + t) - m), np.abs(f(self.m - t) - m))
            remainder = np.maximum(spread - np.abs(d) * (t - self.r), 0.0)
            remainder = np.where(np.isfinite(remainder), remainder, np.inf)
        return BallArray(m, self.j * d[..., None], remainder)


def _column_first(j: np.ndarray) -> np.ndarray:
    """``np.moveaxis(j, -1, 0)`` (the sensitivity columns first), a plain transpose for
    the matrices of a network (the same view, without moveaxis's checks)."""
    return j.transpose(2, 0, 1) if j.ndim == 3 else np.moveaxis(j, -1, 0)


def _column_last(j: np.ndarray) -> np.ndarray:
    """``np.moveaxis(j, 0, -1)``: the inverse of :func:`_column_first`."""
    return j.transpose(1, 2, 0) if j.ndim == 3 else np.moveaxis(j, 0, -1)


def _ball_function(f: Any, derivative: Any) -> Any:
    def apply(x: Any) -> BallArray:
        return BallArray.of(x).smooth(f, derivative)

    return apply


def _derivative_of(name: str, function: Any) -> Any:
    """f′ for the ball backend: the record's vjp with g = 1 (run on float64)."""
    op = OPS.get(name)
    if op is not None and op.elementwise and len(op.vjps) == 1:
        defaults = op.param_defaults()

        def derivative(v: np.ndarray) -> np.ndarray:
            ans = op.forward(FLOAT, v, **defaults)
            return op.vjps[0](FLOAT, np.ones_like(v), ans, v, **defaults)

        return derivative

    def central(v: np.ndarray) -> np.ndarray:
        h = 1e-6 * np.maximum(1.0, np.abs(v))
        return (function(v + h) - function(v - h)) / (2 * h)

    return central


def _safe(f: Any, ok: Any) -> Any:
    return lambda v: f(np.where(ok(v), v, np.nan))


class BallBackend:
    """The backend the rules run on for rounding reach (see :class:`BallArray`)."""

    name = "ball"
    objects = True
    where = staticmethod(np.where)
    exp = staticmethod(_ball_function(lambda v: np.exp(np.minimum(v, 700.0)),
                                      lambda v: np.exp(np.minimum(v, 700.0))))
    log = staticmethod(_ball_function(_safe(np.log, lambda v: v > 0),
                                      _safe(lambda v: 1 / v, lambda v: v > 0)))
    sqrt = staticmethod(_ball_function(_safe(np.sqrt, lambda v: v >= 0),
                                       _safe(lambda v: 0.5 / np.sqrt(v), lambda v: v > 0)))

    @staticmethod
    def sign(x: Any) -> BallArray:
        return BallArray(np.sign(BallArray.of(x).m))

    @staticmethod
    def power(x: Any, y: Any) -> BallArray:
        return np.power(BallArray.of(x), BallArray.of(y))

    @staticmethod
    def matmul(a: Any, b: Any) -> BallArray:
        return np.matmul(BallArray.of(a), BallArray.of(b))

    @staticmethod
    def sum(x: Any, axis: Any = None, keepdims: bool = False) -> BallArray:
        return BallArray.of(x).sum(axis=axis, keepdims=keepdims)

    @staticmethod
    def softmax(x: Any) -> BallArray:
        e = BallBackend.exp(x)
        return e / e.sum(axis=-1, keepdims=True)

    @staticmethod
    def asarray(values: Any) -> BallArray:
        return BallArray.of(values)


def _functions_from_records() -> None:
    """Every other function of the backends (tanh, sigmoid, sin, erf, softplus, …):
    float64's own, its derivative from the op record's vjp (or, for a function no record
    names, a central difference: it only sizes the slack)."""
    for name in list(vars(FloatBackend)):
        function = getattr(FloatBackend, name)
        if name.startswith("_") or name in vars(BallBackend) or not callable(function):
            continue
        setattr(BallBackend, name, staticmethod(_ball_function(
            function, _derivative_of(name, function))))


_functions_from_records()
BALL = BallBackend()


class LookupRoundingBall(BallBackend):
    """:class:`BallBackend` for diagnosis: every value a person looks up or keys into a
    calculator (σ, tanh, exp, log, √) may come back rounded by ``r``, also inside a
    buggy rule (σ(a) rounded to 3 decimals before σ′(a) = σ(a)(1 − σ(a)))."""

    def __init__(self, r: float) -> None:
        self.r = r

    def _rounded(self, value: BallArray) -> BallArray:
        return BallArray(value.m, value.j, value.r + self.r)

    def sigmoid(self, x: Any) -> BallArray:  # type: ignore[override]
        return self._rounded(BallBackend.sigmoid(x))

    def tanh(self, x: Any) -> BallArray:  # type: ignore[override]
        return self._rounded(BallBackend.tanh(x))

    def exp(self, x: Any) -> BallArray:  # type: ignore[override]
        return self._rounded(BallBackend.exp(x))

    def log(self, x: Any) -> BallArray:  # type: ignore[override]
        return self._rounded(BallBackend.log(x))

    def sqrt(self, x: Any) -> BallArray:  # type: ignore[override]
        return self._rounded(BallBackend.sqrt(x))


def widened(rule: Any, r: float) -> Any:
    """``rule`` with its result widened by ``r`` (a value the student may have rounded),
    except where it is a short number nothing rounds."""
    def rule_widened(B: Any, *args: Any, **kwargs: Any) -> Any:
        out = BallArray.of(rule(B, *args, **kwargs))
        scaled = out.m / (2 * r)
        short = (out.radius == 0) & (np.abs(scaled - np.round(scaled))
                                     < 1e-9 * np.maximum(1.0, np.abs(scaled)))
        return BallArray(out.m, out.j, np.where(short, out.r, out.r + r))

    return rule_widened


def rounding_swaps(graph: Any, r: float, answered: set[tuple[str, int]] = frozenset()) -> dict:
    """Every node's rules, with the result widened by ``r``: the student may have
    rounded any value or gradient they did not write down to the sheet's precision.
    ``answered`` holds ("value"|"grad", node) for what they did write (not widened:
    those numbers are taken as written, with their own rounding)."""
    swaps: dict = {}
    for node in graph.nodes:
        if node.is_leaf:
            continue
        op = OPS[node.op]
        entry: dict = {}
        if ("value", node.id) not in answered:
            entry["forward"] = widened(op.forward, r)
        for k in range(len(node.inputs)):
            if ("grad", node.inputs[k]) not in answered:
                entry[k] = widened(op.vjp(k), r)
        if entry:
            swaps[node.id] = entry
    return swaps
