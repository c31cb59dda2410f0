"""The array ops of tensor problems (FORMAT §7): forward rule, vector-Jacobian products
and vector rules, one record each (``kind="array"``) in :data:`backcheck.ops.OPS`.

Every rule is written against a backend ``B`` (float64, exact, the grader's rounding
balls, SymPy) with a few array manipulations every backend's arrays share: indexing,
``.reshape``, ``.T``, ``B.sum``, ``B.matmul``, ``B.where``. The three that NumPy object
arrays have but the grader's :class:`~backcheck.grading.BallArray` lacks (scatter-add,
concatenation, the position of a maximum) are the helpers below, written once.

Elementwise arithmetic (``+ - * / **``, ``exp`` …) reuses the scalar records of
:mod:`backcheck.ops.scalar`: NumPy broadcasting does the rest, and the evaluator sums a
gradient over the axes its operand was broadcast along.

Registered when :mod:`backcheck.tensor` is imported (it needs NumPy at import time, which
``backcheck --help`` must not pay for).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .record import OPS, Op, Rule, register


def _array_op(name: str, forward: Rule, *vjps: Rule, formula: str,
              vector_rules: tuple[str, ...] = (), rest_vjp: Rule | None = None,
              title: str = "") -> None:
    """One array record; ``vector_rules`` says each input's gradient as an array formula
    (g for the gradient arriving at the output, {0} {1} for the inputs, out its value)."""
    register(Op(name, "array", forward, tuple(vjps), symbol=name, title=title or name,
                formula=formula, vector_rule=vector_rules[0] if vector_rules else "",
                rest_vjp=rest_vjp, attrs={"vector_rules": vector_rules}))


def vector_rules(op: str) -> tuple[str, ...]:
    """How each input's gradient of ``op`` is written as an array formula."""
    record = OPS.get(op)
    if record is not None and record.attrs.get("vector_rules"):
        return record.attrs["vector_rules"]
    if op in ELEMENTWISE_RULES:
        return ELEMENTWISE_RULES[op]
    if record is not None and record.vector_rule:
        rule = record.vector_rule.replace("{g}", "g").replace("{z}", "{0}").replace("{a}", "out")
        return (rule,)
    return ()


#: the scalar records read elementwise on arrays (broadcasting), as array formulas
ELEMENTWISE_RULES: dict[str, tuple[str, ...]] = {
    "add": ("g, summed over the axes {0} was broadcast along",
            "g, summed over the axes {1} was broadcast along"),
    "sub": ("g (summed over broadcast axes)", "−g (summed over broadcast axes)"),
    "mul": ("g * {1} (summed over broadcast axes)", "g * {0} (summed over broadcast axes)"),
    "div": ("g / {1} (summed over broadcast axes)", "−g * {0} / {1}² (summed over broadcast axes)"),
    "pow": ("g * {1} * {0}**({1} − 1)", "g * out * log {0}"),
    "neg": ("−g",), "exp": ("g * out",), "log": ("g / {0}",), "sqrt": ("g / (2·out)",),
    "tanh": ("g * (1 − out²)",), "sigmoid": ("g * out * (1 − out)",),
    "relu": ("g * ({0} > 0)",), "abs": ("g * sign({0})",), "identity": ("g",),
    "sin": ("g * cos({0})",), "cos": ("−g * sin({0})",),
}


# ----- helpers every backend can use ----------------------------------------------------
def _is_ball(x: Any) -> bool:
    return type(x).__name__ == "BallArray"


def numeric(x: Any) -> Any:
    """Something NumPy can compare (for the position of a maximum): the array itself,
    or a rounding ball's midpoint."""
    return x.m if _is_ball(x) else np.asarray(x)


def _is_formula(v: Any) -> bool:
    return hasattr(v, "free_symbols") and bool(v.free_symbols)


def ranked(B: Any, x: Any) -> Any:
    """Numbers to find a maximum's position with: :func:`numeric`, except for formulas
    (the SymPy backend with symbols), evaluated at the backend's point (``at:``); which
    element is largest depends on the symbols, so without a point there is no answer."""
    values = numeric(x)
    if values.dtype != object or not any(_is_formula(v) for v in values.flat):
        return values
    point = getattr(B, "point", None)
    if point is None:
        raise ValueError("which element is the largest (max, min, max-pooling) depends on "
                         "the symbols: give at: with a value for each symbol")
    out = np.empty(values.shape, dtype=np.float64)
    for index, v in np.ndenumerate(values):
        out[index] = float(v.subs(point)) if hasattr(v, "subs") else float(v)
    return out


def decide_extreme(B: Any, x: Any, best: tuple, others: list[tuple], which: str) -> None:
    """Record at the SymPy backend's point that ``x[best]`` was taken over ``others``."""
    decisions = getattr(B, "decisions", None)
    if decisions is None:
        return
    chosen = x[best]
    for other in others:
        candidate = x[other]
        if other == best or not (_is_formula(chosen) or _is_formula(candidate)):
            continue
        condition = chosen >= candidate if which == "max" else chosen <= candidate
        if (condition, True) not in decisions and condition not in (True, False):
            decisions.append((condition, True))


def nonzero(x: Any) -> Any:
    """A mask's "is set" (``mask != 0``), elementwise; a formula mask (a Piecewise of 1
    and 0 from a comparison of formulas) gives its condition back."""
    values = numeric(x)
    if values.dtype != object:
        return values != 0
    out = np.empty(values.shape, dtype=object)
    for index, v in np.ndenumerate(values):
        if _is_formula(v):
            import sympy

            pieces = getattr(v, "args", ())
            if isinstance(v, sympy.Piecewise) and len(pieces) == 2 and pieces[0][0] == 1 \
                    and pieces[1][0] == 0 and pieces[1][1] == sympy.true:
                out[index] = pieces[0][1]
            else:
                out[index] = sympy.Ne(v, 0)
        else:
            out[index] = v != 0
    return out


def take(x: Any, key: Any) -> Any:
    """``x[key]``, always an array (an object array's single element comes back bare)."""
    out = x[key]
    return out if _is_ball(out) or isinstance(out, np.ndarray) else np.asarray(
        out, dtype=x.dtype)


def zeros(B: Any, shape: tuple[int, ...]) -> Any:
    return B.asarray(np.zeros(shape, dtype=int))


def scatter_add(B: Any, shape: tuple[int, ...], key: Any, g: Any) -> Any:
    """An array of ``shape``, zero except ``g`` added at ``key`` (repeated positions
    accumulate: the gradient of a gather)."""
    out = zeros(B, shape)
    if _is_ball(out) or _is_ball(g):
        ball = type(g) if _is_ball(g) else type(out)
        g = ball.of(g)
        jac = g._jac()
        m = np.zeros(shape)
        j = np.zeros(shape + (jac.shape[-1],))
        r = np.zeros(shape)
        np.add.at(m, key, g.m)
        np.add.at(j, key, jac)
        np.add.at(r, key, g.r)
        return ball(m, j, r)
    out = np.array(out, copy=True)
    np.add.at(out, key, g)
    return out


def concatenate(B: Any, arrays: list[Any], axis: int) -> Any:
    if any(_is_ball(a) for a in arrays):
        ball = type(next(a for a in arrays if _is_ball(a)))
        balls = [ball.of(a) for a in arrays]
        width = max(b._jac().shape[-1] for b in balls)
        jacs = [np.broadcast_to(b._jac(), b.m.shape + (width,)) if b._jac().shape[-1] != width
                else b._jac() for b in balls]
        return ball(np.concatenate([b.m for b in balls], axis=axis),
                    np.concatenate(jacs, axis=axis), np.concatenate([b.r for b in balls], axis))
    return np.concatenate([np.asarray(a) for a in arrays], axis=axis)


def _axes(axis: Any, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axes = axis if isinstance(axis, tuple) else (axis,)
    return tuple(sorted(a % ndim for a in axes)) if ndim else ()


def _count(shape: tuple[int, ...], axis: Any) -> int:
    return int(np.prod([shape[a] for a in _axes(axis, len(shape))], dtype=np.int64))


def _expand(B: Any, g: Any, shape: tuple[int, ...], axis: Any, keepdims: bool) -> Any:
    """A reduction's gradient spread back over the axes it reduced."""
    if not hasattr(g, "reshape"):  # a bare number (an object array's single element)
        g = np.asarray(g, dtype=object)
    if not keepdims:
        kept = tuple(1 if i in _axes(axis, len(shape)) else s for i, s in enumerate(shape))
        g = g.reshape(kept)
    return zeros(B, shape) + g


# ----- matrix product and transpose --------------------------------------------------------
def _as_matrix(x: Any, side: str) -> Any:
    if x.ndim == 2:
        return x
    return x.reshape((1, -1)) if side == "left" else x.reshape((-1, 1))


def _matmul(B: Any, a: Any, b: Any) -> Any:
    out = B.matmul(_as_matrix(a, "left"), _as_matrix(b, "right"))
    shape = a.shape[:-1] + b.shape[1:] if b.ndim == 2 else a.shape[:-1]
    return out.reshape(shape)


def _matmul_vjp_a(B: Any, g: Any, ans: Any, a: Any, b: Any) -> Any:
    g2 = g.reshape((a.shape[0] if a.ndim == 2 else 1, b.shape[1] if b.ndim == 2 else 1))
    return B.matmul(g2, _as_matrix(b, "right").T).reshape(a.shape)


def _matmul_vjp_b(B: Any, g: Any, ans: Any, a: Any, b: Any) -> Any:
    g2 = g.reshape((a.shape[0] if a.ndim == 2 else 1, b.shape[1] if b.ndim == 2 else 1))
    return B.matmul(_as_matrix(a, "left").T, g2).reshape(b.shape)


_array_op("matmul", _matmul, _matmul_vjp_a, _matmul_vjp_b, formula="{0} @ {1}",
          vector_rules=("g @ {1}.T", "{0}.T @ g"))
_array_op("transpose", lambda B, x: x.T, lambda B, g, ans, x: g.T, formula="{0}.T",
          vector_rules=("g.T",))


# ----- reductions --------------------------------------------------------------------------
def _sum(B: Any, x: Any, *, axis: Any = None, keepdims: bool = False) -> Any:
    return B.sum(x, axis=axis, keepdims=keepdims)


def _sum_vjp(B: Any, g: Any, ans: Any, x: Any, *, axis: Any = None, keepdims: bool = False) -> Any:
    return _expand(B, g, x.shape, axis, keepdims)


def _mean(B: Any, x: Any, *, axis: Any = None, keepdims: bool = False) -> Any:
    return B.sum(x, axis=axis, keepdims=keepdims) / _count(x.shape, axis)


def _mean_vjp(B: Any, g: Any, ans: Any, x: Any, *, axis: Any = None,
              keepdims: bool = False) -> Any:
    return _expand(B, g, x.shape, axis, keepdims) / _count(x.shape, axis)


def extreme_key(x: Any, axis: Any, which: str, B: Any = None) -> tuple:
    """The index (keepdims shape) of the first maximum / minimum along ``axis``: where
    PyTorch's ``max(dim)`` and ``max_pool2d`` send the gradient on a tie."""
    values = ranked(B, x)
    if axis is None:
        flat = values.reshape(-1)
        k = int(np.argmax(flat) if which == "max" else np.argmin(flat))
        key = np.unravel_index(k, x.shape)
        if values.dtype == np.float64 and np.asarray(x).dtype == object and B is not None:
            decide_extreme(B, np.asarray(x), key, list(np.ndindex(*x.shape)), which)
        return key
    axis %= x.ndim
    best = (np.argmax if which == "max" else np.argmin)(values, axis=axis)
    best = np.expand_dims(best, axis)
    grids = np.ogrid[tuple(slice(0, s) for s in best.shape)]
    key = tuple(best if i == axis else grids[i] for i in range(x.ndim))
    if values.dtype == np.float64 and np.asarray(x).dtype == object and B is not None:
        array = np.asarray(x)
        for index in np.ndindex(*best.shape):
            chosen = tuple(int(best[index]) if i == axis else index[i] for i in range(x.ndim))
            others = [tuple(j if i == axis else index[i] for i in range(x.ndim))
                      for j in range(x.shape[axis])]
            decide_extreme(B, array, chosen, others, which)
    return key


def _extreme(which: str) -> tuple[Rule, Rule]:
    def forward(B: Any, x: Any, *, axis: Any = None, keepdims: bool = False) -> Any:
        key = extreme_key(x, axis, which, B)
        out = take(x, key)
        if axis is None:
            return out.reshape((1,) * x.ndim) if keepdims else out.reshape(())
        return out if keepdims else out.reshape(tuple(s for i, s in enumerate(x.shape)
                                                      if i != axis % x.ndim))

    def vjp(B: Any, g: Any, ans: Any, x: Any, *, axis: Any = None, keepdims: bool = False) -> Any:
        key = extreme_key(x, axis, which, B)
        if axis is None:  # the whole array: ties share the gradient evenly, as PyTorch's max()
            values = ranked(B, x)
            ties = values == values.reshape(-1)[int(np.ravel_multi_index(key, x.shape))]
            return B.where(ties, zeros(B, x.shape) + g.reshape(()) / int(ties.sum()), 0)
        kept = tuple(1 if i == axis % x.ndim else s for i, s in enumerate(x.shape))
        return scatter_add(B, x.shape, key, g.reshape(kept))

    return forward, vjp


def _var(B: Any, x: Any, *, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Any:
    n = _count(x.shape, axis)
    centred = x - B.sum(x, axis=axis, keepdims=True) / n
    return B.sum(centred * centred, axis=axis, keepdims=keepdims) / (n - ddof)


def _var_vjp(B: Any, g: Any, ans: Any, x: Any, *, axis: Any = None, keepdims: bool = False,
             ddof: int = 0) -> Any:
    n = _count(x.shape, axis)
    centred = x - B.sum(x, axis=axis, keepdims=True) / n
    return _expand(B, g, x.shape, axis, keepdims) * centred * 2 / (n - ddof)


_array_op("sum", _sum, _sum_vjp, formula="sum({0})",
          vector_rules=("g copied along the summed axes",))
_array_op("mean", _mean, _mean_vjp, formula="mean({0})",
          vector_rules=("g / n, copied along the averaged axes (n elements each)",))
_array_op("max", *_extreme("max"), formula="max({0})",
          vector_rules=("g at the position of each maximum (along an axis the first on a tie; "
                        "over the whole array shared among ties), 0 elsewhere",))
_array_op("min", *_extreme("min"), formula="min({0})",
          vector_rules=("g at the position of each minimum (along an axis the first on a tie; "
                        "over the whole array shared among ties), 0 elsewhere",))
_array_op("var", _var, _var_vjp, formula="var({0})",
          vector_rules=("g · 2({0} − mean {0}) / (n − ddof)",))


# ----- softmax along an axis ------------------------------------------------------------------
def _shifted(B: Any, x: Any, axis: int) -> Any:
    """x minus its maximum along ``axis`` for float64 (no overflow); exact arithmetic
    keeps x itself so closed forms read exp(x₁)/(exp(x₁) + …)."""
    if B.name in ("float64", "ball"):
        return x - numeric(x).max(axis=axis, keepdims=True)
    return x


def _softmax(B: Any, x: Any, *, axis: int = -1) -> Any:
    e = B.exp(_shifted(B, x, axis))
    return e / B.sum(e, axis=axis, keepdims=True)


def _log_softmax(B: Any, x: Any, *, axis: int = -1) -> Any:
    shifted = _shifted(B, x, axis)
    return shifted - B.log(B.sum(B.exp(shifted), axis=axis, keepdims=True))


_array_op("softmax_axis", _softmax,
          lambda B, g, ans, x, *, axis=-1: ans * (g - B.sum(g * ans, axis=axis, keepdims=True)),
          formula="softmax({0})",
          vector_rules=("out * (g − sum(g * out, axis, keepdims=True))",))
_array_op("log_softmax", _log_softmax,
          lambda B, g, ans, x, *, axis=-1: g - B.exp(ans) * B.sum(g, axis=axis, keepdims=True),
          formula="log_softmax({0})",
          vector_rules=("g − exp(out) * sum(g, axis, keepdims=True)",))


# ----- indexing, reshaping, joining ------------------------------------------------------------
def index_key(key: tuple) -> tuple:
    """The NumPy index of a gather: ``("at", int-array)`` and ``("slice", a, b, c)``."""
    return tuple(part[1] if part[0] == "at" else slice(*part[1:]) for part in key)


def _index(B: Any, x: Any, *index_values: Any, key: tuple) -> Any:
    return take(x, index_key(key))


def _index_vjp(B: Any, g: Any, ans: Any, x: Any, *index_values: Any, key: tuple) -> Any:
    return scatter_add(B, x.shape, index_key(key), g)


_array_op("index", _index, _index_vjp, formula="{0}[…]",
          rest_vjp=lambda B, g, ans, index_array, **attrs: None,  # integer arrays: no gradient
          vector_rules=("g added back at the positions read (a repeated index adds up)",))
_array_op("reshape", lambda B, x, *, shape: x.reshape(shape),
          lambda B, g, ans, x, *, shape: g.reshape(x.shape), formula="reshape({0})",
          vector_rules=("g reshaped back to {0}'s shape",))


def _concat(B: Any, *arrays: Any, axis: int = 0) -> Any:
    return concatenate(B, list(arrays), axis)


def _concat_vjp(position: int) -> Rule:
    def vjp(B: Any, g: Any, ans: Any, *arrays: Any, axis: int = 0) -> Any:
        axis %= g.ndim
        start = sum(a.shape[axis] for a in arrays[:position])
        stop = start + arrays[position].shape[axis]
        return g[(slice(None),) * axis + (slice(start, stop),)]

    return vjp


#: concat takes up to this many arrays (one vjp per position)
MAX_CONCAT = 64
_array_op("concat", _concat, *(_concat_vjp(k) for k in range(MAX_CONCAT)),
          formula="concat(…)", vector_rules=("g's slice where that input sits",))


def _where(B: Any, condition: Any, x: Any, y: Any) -> Any:
    return B.where(nonzero(condition), x, y)


_array_op("where", _where, lambda B, g, ans, c, x, y: None,
          lambda B, g, ans, c, x, y: B.where(nonzero(c), g, 0),
          lambda B, g, ans, c, x, y: B.where(nonzero(c), 0, g),
          formula="where({0}, {1}, {2})", vector_rules=("(none: a mask)", "g where the mask is set",
                                                          "g where it is not"))

_COMPARE = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
            "==": np.equal, "!=": np.not_equal}


def _compare(B: Any, x: Any, y: Any, *, relation: str) -> Any:
    return B.where(_COMPARE[relation](numeric(x), numeric(y)), 1, 0)


_array_op("compare", _compare, lambda B, g, ans, x, y, *, relation: None,
          lambda B, g, ans, x, y, *, relation: None, formula="{0} ? {1}",
          vector_rules=("(none: a comparison gives a mask, 0 or 1)",) * 2)


# ----- convolution and pooling ------------------------------------------------------------------
def conv_geometry(shape: tuple[int, int], kernel: tuple[int, int], stride: int,
                  padding: int) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Row and column indices (into the padded input) of every output's window, one row
    of the index arrays per output position: the im2col trick."""
    h, w = shape[0] + 2 * padding, shape[1] + 2 * padding
    kh, kw = kernel
    oh, ow = (h - kh) // stride + 1, (w - kw) // stride + 1
    out_r, out_c = np.meshgrid(np.arange(oh) * stride, np.arange(ow) * stride, indexing="ij")
    k_r, k_c = np.meshgrid(np.arange(kh), np.arange(kw), indexing="ij")
    rows = out_r.reshape(-1, 1) + k_r.reshape(1, -1)
    cols = out_c.reshape(-1, 1) + k_c.reshape(1, -1)
    return rows, cols, (oh, ow)


def _padded(B: Any, x: Any, padding: int) -> Any:
    if not padding:
        return x
    h, w = x.shape
    return scatter_add(B, (h + 2 * padding, w + 2 * padding),
                       (slice(padding, padding + h), slice(padding, padding + w)), x)


def _conv2d(B: Any, x: Any, k: Any, *, stride: int = 1, padding: int = 0) -> Any:
    rows, cols, out_shape = conv_geometry(x.shape, k.shape, stride, padding)
    patches = _padded(B, x, padding)[rows, cols]
    return B.matmul(patches, k.reshape((-1, 1))).reshape(out_shape)


def _conv2d_vjp_x(B: Any, g: Any, ans: Any, x: Any, k: Any, *, stride: int = 1,
                  padding: int = 0) -> Any:
    rows, cols, _ = conv_geometry(x.shape, k.shape, stride, padding)
    d_patches = B.matmul(g.reshape((-1, 1)), k.reshape((1, -1)))
    h, w = x.shape
    d_padded = scatter_add(B, (h + 2 * padding, w + 2 * padding), (rows, cols), d_patches)
    return d_padded[padding:padding + h, padding:padding + w]


def _conv2d_vjp_k(B: Any, g: Any, ans: Any, x: Any, k: Any, *, stride: int = 1,
                  padding: int = 0) -> Any:
    rows, cols, _ = conv_geometry(x.shape, k.shape, stride, padding)
    patches = _padded(B, x, padding)[rows, cols]
    return B.matmul(patches.T, g.reshape((-1, 1))).reshape(k.shape)


_array_op("conv2d", _conv2d, _conv2d_vjp_x, _conv2d_vjp_k, formula="conv2d({0}, {1})",
          vector_rules=("g's full convolution with {1} (each output spreads g·K back over "
                        "its window)", "cross-correlation of the input with g"))


def pool_key(x: Any, size: int, B: Any = None) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Positions of each window's maximum (the first on a tie, row by row, as PyTorch's
    ``max_pool2d``): windows of ``size`` × ``size`` with stride ``size``."""
    h, w = x.shape
    oh, ow = h // size, w // size
    rows, cols, _ = conv_geometry((oh * size, ow * size), (size, size), size, 0)
    values = ranked(B, x)
    best = np.argmax(values[rows, cols], axis=1)
    pick = np.arange(rows.shape[0])
    if values.dtype == np.float64 and np.asarray(x).dtype == object and B is not None:
        array = np.asarray(x)
        for window in range(rows.shape[0]):
            cells = [(int(r), int(c)) for r, c in zip(rows[window], cols[window], strict=True)]
            decide_extreme(B, array, cells[int(best[window])], cells, "max")
    return rows[pick, best], cols[pick, best], (oh, ow)


def _maxpool(B: Any, x: Any, *, size: int = 2) -> Any:
    rows, cols, out_shape = pool_key(x, size, B)
    return take(x, (rows, cols)).reshape(out_shape)


def _maxpool_vjp(B: Any, g: Any, ans: Any, x: Any, *, size: int = 2) -> Any:
    rows, cols, _ = pool_key(x, size, B)
    return scatter_add(B, x.shape, (rows, cols), g.reshape(-1))


_array_op("maxpool2d", _maxpool, _maxpool_vjp, formula="maxpool2d({0})",
          vector_rules=("g at each window's maximum, 0 elsewhere",))

#: the array ops a tensor step can lower to (beyond the scalar records)
ARRAY_OPS = ("matmul", "transpose", "sum", "mean", "max", "min", "var", "softmax_axis",
             "log_softmax", "index", "reshape", "concat", "where", "compare", "conv2d",
             "maxpool2d")
