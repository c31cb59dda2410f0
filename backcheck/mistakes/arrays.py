"""The slips of tensor exercises (FORMAT §7), as buggy variants of the array op records.

Each is a :class:`~backcheck.mistakes.record.Mistake` of the same shape as the network
ones: a buggy local rule swapped into the same graph (so everything downstream follows
from it as the student's pen would), or a transformation of one quantity.

* the gradient of a broadcast operand not summed over the broadcast axes (one slice
  taken, or the mean), or written with the broadcast shape;
* n where n − 1 belongs in a variance, or the other way round (``var``'s ``ddof``, or a
  written-out ``1/(n-1) * sum(...)``), forward or in the backward pass only;
* a repeated index in a gather not accumulated (``dC[idx] = g`` instead of ``+=``);
* the maximum subtracted for numerical stability given a gradient (it has none:
  softmax(x − m) does not depend on m);
* a matrix product's gradient without its transpose (``g @ B`` for ``g @ B.T``);
* a mask dropped in the backward pass (ReLU, dropout, ``where``, ``x * (x > 0)``).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from ..graph import Graph, Quantity
from ..ops import OPS
from ..ops.arrays import _is_ball, take
from .record import (
    Finding,
    Mistake,
    QuantityValues,
    Structure,
    Variant,
    fmt,
    forward_affects,
    grad_affects,
    rule_variant,
)


def _tensor(graph: Graph) -> bool:
    return getattr(graph.problem, "kind", None) == "tensor"


def _shape(graph: Graph, node: int) -> tuple[int, ...]:
    return tuple(np.shape(graph.leaves[node])) if node in graph.leaves else _shapes(graph)[node]


def _shapes(graph: Graph) -> dict[int, tuple[int, ...]]:
    cached = getattr(graph, "_tensor_shapes", None)
    if cached is None:
        from ..backends import FLOAT
        from ..evaluate import forward

        with np.errstate(all="ignore"):
            values = forward(graph, FLOAT).values
        cached = {i: tuple(np.shape(v)) for i, v in enumerate(values)}
        graph._tensor_shapes = cached  # type: ignore[attr-defined]
    return cached


def _step_of(graph: Graph, node: int) -> str:
    """The step a node belongs to (its own name, or the first named node above it)."""
    for candidate in graph.nodes[node:]:
        if candidate.name is not None and candidate.text is not None:
            return candidate.text
    return graph.nodes[node].label


def _named_input(graph: Graph, node: Any, k: int) -> str | None:
    source = graph.nodes[node.inputs[k]]
    if source.name is None or not source.requires_grad:
        return None
    if graph.grad_name(source.name) not in graph.quantities:
        return None
    return source.name


# ---------------------------------------------------------------- 1. broadcast not summed
def _broadcast_rule(op: str, k: int, in_shape: tuple[int, ...], how: str) -> Any:
    original = OPS[op].vjps[k]

    def rule(B: Any, g: Any, ans: Any, *inputs: Any, **attrs: Any) -> Any:
        full = original(B, g, ans, *inputs, **attrs)
        full_shape = tuple(np.shape(full))
        extra = len(full_shape) - len(in_shape)
        if how == "first":
            key = (0,) * extra + tuple(
                slice(0, 1) if want == 1 and have != 1 else slice(None)
                for want, have in zip(in_shape, full_shape[extra:], strict=True))
            return take(full, key).reshape(in_shape)
        from ..evaluate import _unbroadcast

        count = int(np.prod(full_shape)) // max(int(np.prod(in_shape)), 1)
        return _unbroadcast(full, in_shape) / count

    return rule


def _find_broadcast(mistake: Mistake, graph: Graph, structure: Structure) -> list[Variant]:
    if not _tensor(graph):
        return []
    variants = []
    for node in graph.nodes:
        if node.op not in ("add", "sub", "mul", "div", "where") or node.id > graph.output:
            continue
        out_shape = _shape(graph, node.id)
        for k in range(len(node.inputs)):
            name = _named_input(graph, node, k)
            if name is None:
                continue
            in_shape = _shape(graph, node.inputs[k])
            if in_shape == out_shape or int(np.prod(in_shape)) == int(np.prod(out_shape)):
                continue
            for how in ("first", "mean"):
                variants.append(rule_variant(
                    mistake, f"broadcast_not_summed_{how}@{node.id}.{k}", node.id, k,
                    _broadcast_rule(node.op, k, in_shape, how), entry=graph.grad_name(name),
                    affects=grad_affects(graph, structure, {node.inputs[k]}),
                    info={"name": name, "how": how, "step": _step_of(graph, node.id),
                          "count": int(np.prod(out_shape)) // max(int(np.prod(in_shape)), 1),
                          "out_shape": out_shape, "in_shape": in_shape}))
    return variants


def _shape_words(shape: tuple[int, ...]) -> str:
    if not shape:
        return "a number"
    return f"a vector of {shape[0]}" if len(shape) == 1 else " × ".join(map(str, shape))


def _explain_broadcast(f: Finding) -> str:
    name, step = f.info["name"], f.info["step"]
    out = f.base.graph.output_name
    if f.at_entry and f.info["how"] == "first":
        return (f"{f.lead}, which is the gradient of the first copy only: in {step!r}, {name} "
                f"({_shape_words(f.info['in_shape'])}) is broadcast to "
                f"{_shape_words(f.info['out_shape'])}, so d{out}/d{name} sums the gradient "
                f"over every copy ({f.info['count']} of them); {f.element} = "
                f"{fmt(f.right)}{f.suffix}.")
    if f.at_entry:
        return (f"{f.lead}, which is the mean over the broadcast copies: in {step!r}, {name} is "
                f"broadcast {f.info['count']} times and its gradient is the sum over them, not "
                f"the mean; {f.element} = {fmt(f.right)}{f.suffix}.")
    return (f"{f.lead}, which follows from d{out}/d{name} not summed over the axes {name} is "
            f"broadcast along in {step!r}; {f.element} = {fmt(f.right)}{f.suffix}.")


def _shape_broadcast(q: Quantity, given: np.ndarray, truth: QuantityValues,
                     answers: dict[str, np.ndarray]) -> str | None:
    graph = truth.graph
    if not _tensor(graph) or q.kind != "grad":
        return None
    node = q.node
    for consumer in graph.nodes:
        if node not in consumer.inputs or consumer.op not in ("add", "sub", "mul", "div",
                                                               "where"):
            continue
        out_shape = _shape(graph, consumer.id)
        if tuple(given.shape) == out_shape and out_shape != tuple(q.shape):
            name = graph.nodes[node].name
            return (f"{q.name}: you wrote {_shape_words(out_shape)}, the broadcast shape in "
                    f"{_step_of(graph, consumer.id)!r}; {name} is {_shape_words(q.shape)} and "
                    f"is copied along the broadcast axes, so its gradient sums over them: "
                    f"{q.name} has {name}'s shape.")
    return None


BROADCAST_NOT_SUMMED = Mistake(
    "broadcast_not_summed", "gradient of a broadcast operand not summed over the broadcast axes",
    _find_broadcast, _explain_broadcast, shape=_shape_broadcast, code="broadcast-not-summed")


# ---------------------------------------------------------------- 2. n vs n − 1
def _constant(graph: Graph, values: list[Any] | None, node: int) -> Fraction | None:
    """The value of a node computed from numbers in the step only (``1/(n-1)``)."""
    if values is None or graph.nodes[node].requires_grad:
        return None
    stack, seen = [node], set()
    while stack:
        i = stack.pop()
        if i in seen:
            continue
        seen.add(i)
        n = graph.nodes[i]
        if n.is_leaf and (n.op != "const" or n.name is not None):
            return None
        stack.extend(n.inputs)
    value = np.asarray(values[node], dtype=object)
    if value.size != 1:
        return None
    exact = value.reshape(-1)[0]
    return getattr(exact, "q", None)


def _summed_count(graph: Graph, node: int) -> int | None:
    """Elements summed per output of a sum node feeding this one (directly or as its
    step's top)."""
    source = graph.nodes[node]
    if source.op != "sum":
        return None
    in_size = int(np.prod(_shape(graph, source.inputs[0])))
    out_size = max(int(np.prod(_shape(graph, source.id))), 1)
    return in_size // out_size


def _scaled_forward(op: str, factor: Fraction) -> Any:
    original = OPS[op].forward
    return lambda B, *inputs, **attrs: original(B, *inputs, **attrs) * factor


def _scaled_vjp(op: str, k: int, factor: Fraction) -> Any:
    original = OPS[op].vjps[k]
    return lambda B, g, ans, *inputs, **attrs: original(B, g, ans, *inputs, **attrs) * factor


def _var_rule(ddof: int, forward: bool) -> Any:
    if forward:
        return lambda B, x, **attrs: OPS["var"].forward(B, x, **{**attrs, "ddof": ddof})
    return lambda B, g, ans, x, **attrs: OPS["var"].vjps[0](B, g, ans, x, **{**attrs,
                                                                            "ddof": ddof})


def _find_bessel(mistake: Mistake, graph: Graph, structure: Structure) -> list[Variant]:
    if not _tensor(graph):
        return []
    variants = []
    for node in graph.nodes:
        if node.id > graph.output:
            continue
        named = _named_below(graph, node.id)
        if named is None:
            continue
        cases = []
        if node.op == "var":
            m = _summed_count_var(graph, node)
            ddof = node.attrs.get("ddof", 0)
            if m is None or m < 2 or ddof not in (0, 1):
                continue
            other = 1 - ddof
            used, right = (f"n − 1 = {m - 1}", f"n = {m}") if other == 1 else (
                f"n = {m}", f"n − 1 = {m - 1}")
            cases.append(("forward", {"forward": _var_rule(other, True)}, used, right, m))
            cases.append(("backward", {0: _var_rule(other, False)}, used, right, m))
        elif node.op in ("mul", "div"):
            for k in (0, 1):
                m = _summed_count(graph, node.inputs[k])
                if m is None or m < 2:
                    continue
                c_node = node.inputs[1 - k]
                c = _constant(graph, structure.values, c_node)
                if c is None:
                    continue
                divisor = (1 / c) if node.op == "mul" and c else c if node.op == "div" else None
                if divisor == m - 1:
                    factor, used, right = Fraction(m - 1, m), f"n = {m}", f"n − 1 = {m - 1}"
                elif divisor == m:
                    factor, used, right = Fraction(m, m - 1), f"n − 1 = {m - 1}", f"n = {m}"
                else:
                    continue
                cases.append(("forward", {"forward": _scaled_forward(node.op, factor)}, used,
                              right, m))
                cases.append(("backward", {k: _scaled_vjp(node.op, k, factor)}, used, right, m))
        for where, swap, used, right, m in cases:
            if where == "forward":
                entry = named
                affects = forward_affects(graph, structure, node.id)
            else:
                source = node.inputs[0] if node.op == "var" else next(
                    i for k, i in enumerate(node.inputs) if k in swap)
                entry_node = _named_above(graph, source)
                if entry_node is None:
                    continue
                entry = graph.grad_name(graph.nodes[entry_node].name)
                affects = grad_affects(graph, structure, {source})
            (slot, rule), = swap.items()
            variants.append(rule_variant(
                mistake, f"variance_n@{node.id}:{where}", node.id, slot, rule, entry=entry,
                affects=affects,
                info={"where": where, "used": used, "right": right, "m": m,
                      "step": _step_of(graph, node.id)}))
    return variants


def _summed_count_var(graph: Graph, node: Any) -> int | None:
    from ..ops.arrays import _count

    return _count(_shape(graph, node.inputs[0]), node.attrs.get("axis"))


def _named_below(graph: Graph, node: int) -> str | None:
    """The named step a node's value flows into first (its own name, or its step's)."""
    for candidate in graph.nodes[node:]:
        if candidate.name is not None and candidate.text is not None:
            return candidate.name if candidate.name in graph.quantities else None
    return None


def _named_above(graph: Graph, node: int) -> int | None:
    """The nearest named node at or below ``node`` in the graph (what a gradient reaches)."""
    stack = [node]
    while stack:
        i = stack.pop()
        n = graph.nodes[i]
        if n.name is not None and n.requires_grad:
            return i
        stack.extend(j for j in n.inputs if graph.nodes[j].requires_grad)
    return None


def _explain_bessel(f: Finding) -> str:
    info = f.info
    if info["where"] == "forward":
        what = (f"{f.lead}, which divides by {info['used']} where {info['step']!r} divides by "
                f"{info['right']}")
    else:
        what = (f"{f.lead}, which uses {info['used']} in the backward pass where the forward "
                f"pass ({info['step']!r}) divides by {info['right']}")
    return (f"{what} (the variance over {info['m']} values: n vs n − 1, Bessel's correction); "
            f"{f.element} = {fmt(f.right)}{f.suffix}.")


BESSEL = Mistake("variance_n_vs_n_minus_1", "n and n − 1 swapped in a variance",
                 _find_bessel, _explain_bessel, code="variance-n-vs-n-minus-1")


# ---------------------------------------------------------------- 3. repeated index
def _scatter_set(B: Any, shape: tuple[int, ...], key: tuple, g: Any) -> Any:
    """``out[key] = g`` (a repeated position keeps the last write: not accumulated)."""
    from ..ops.arrays import zeros

    out = zeros(B, shape)
    if _is_ball(out) or _is_ball(g):
        ball = type(g) if _is_ball(g) else type(out)
        g = ball.of(g)
        jac = g._jac()
        m, j, r = np.zeros(shape), np.zeros(shape + (jac.shape[-1],)), np.zeros(shape)
        m[key], j[key], r[key] = g.m, jac, g.r
        return ball(m, j, r)
    out = np.array(out, copy=True)
    out[key] = g
    return out


def _overwrite_vjp(B: Any, g: Any, ans: Any, x: Any, *index_values: Any, key: tuple) -> Any:
    from ..ops.arrays import index_key

    return _scatter_set(B, x.shape, index_key(key), g)


def _repeats(key: tuple, shape: tuple[int, ...]) -> bool:
    from ..ops.arrays import index_key

    counts = np.zeros(shape, dtype=np.int64)
    np.add.at(counts, index_key(key), 1)
    return bool((counts > 1).any())


def _find_repeated(mistake: Mistake, graph: Graph, structure: Structure) -> list[Variant]:
    if not _tensor(graph):
        return []
    variants = []
    for node in graph.nodes:
        if node.op != "index" or node.id > graph.output:
            continue
        name = _named_input(graph, node, 0)
        if name is None or not _repeats(node.attrs["key"], _shape(graph, node.inputs[0])):
            continue
        variants.append(rule_variant(
            mistake, f"repeated_index@{node.id}", node.id, 0, _overwrite_vjp,
            entry=graph.grad_name(name), affects=grad_affects(graph, structure, {node.inputs[0]}),
            info={"name": name, "step": _step_of(graph, node.id)}))
    return variants


def _explain_repeated(f: Finding) -> str:
    name = f.info["name"]
    if f.at_entry:
        return (f"{f.lead}, which keeps only one read's gradient: {f.info['step']!r} reads some "
                f"entries of {name} more than once, and each read adds its gradient "
                f"(dC[idx] += g, np.add.at, not dC[idx] = g); {f.element} = "
                f"{fmt(f.right)}{f.suffix}.")
    return (f"{f.lead}, which follows from the gradient of {name} not accumulated over its "
            f"repeated reads in {f.info['step']!r}; {f.element} = {fmt(f.right)}{f.suffix}.")


REPEATED_INDEX = Mistake("repeated_index_not_accumulated",
                         "a repeated index in a gather not accumulated", _find_repeated,
                         _explain_repeated, code="repeated-index-not-accumulated")


# ---------------------------------------------------------------- 4. stability max
def _stability_max(graph: Graph, node: Any) -> bool:
    """``m = max(x, axis, keepdims)`` subtracted from x itself (``x - m``)."""
    if node.op != "max" or node.name is None:
        return False
    source = node.inputs[0]
    for consumer in graph.nodes:
        if consumer.op == "sub" and consumer.inputs[1] == node.id and consumer.inputs[0] == source:
            return True
    return False


def _given_gradient(q: Quantity, base: QuantityValues) -> list[Any] | None:
    """At a stability max the true gradient is 0; a nonzero answer gave it one."""
    if q.kind != "grad" or not _stability_max(base.graph, base.graph.nodes[q.node]):
        return None
    if base.origin != "yours":
        return None
    grad = base.evaluation.grads.get(q.node)
    if grad is None:
        return None
    values = list(np.ravel(np.asarray(grad, dtype=object)))
    if all(float(v) == 0 for v in values):
        return None
    return values


def _find_stability(mistake: Mistake, graph: Graph, structure: Structure) -> list[Variant]:
    if not _tensor(graph):
        return []
    names = frozenset(graph.grad_name(n.name) for n in graph.nodes
                      if _stability_max(graph, n) and graph.grad_name(n.name) in graph.quantities)
    if not names:
        return []
    return [Variant(mistake, "stability_max_given_gradient", transform=_given_gradient,
                    affects=names)]


def _explain_stability(f: Finding) -> str:
    name = f.quantity.name
    return (f"{f.lead}: the maximum subtracted for numerical stability gets no gradient "
            f"(softmax(x − m) is the same for every m, so {name} is 0 up to rounding); "
            f"{f.element} = {fmt(f.right)}{f.suffix}.")


STABILITY_MAX = Mistake("stability_max_given_gradient",
                        "the max subtracted for stability given a gradient", _find_stability,
                        _explain_stability, code="stability-max-given-gradient")


# ---------------------------------------------------------------- 5. matmul transposes
def _find_matmul(mistake: Mistake, graph: Graph, structure: Structure) -> list[Variant]:
    if not _tensor(graph):
        return []
    variants = []
    for node in graph.nodes:
        if node.op != "matmul" or node.id > graph.output:
            continue
        a, b = (_shape(graph, i) for i in node.inputs)
        for k, other_shape in ((0, b), (1, a)):
            name = _named_input(graph, node, k)
            if name is None or len(other_shape) != 2 or other_shape[0] != other_shape[1]:
                continue
            if len(a) != 2 or len(b) != 2:
                continue
            rule = ((lambda B, g, ans, x, y: B.matmul(g, y)) if k == 0
                    else (lambda B, g, ans, x, y: B.matmul(x, g)))
            other = graph.nodes[node.inputs[1 - k]]
            variants.append(rule_variant(
                mistake, f"matmul_not_transposed@{node.id}.{k}", node.id, k, rule,
                entry=graph.grad_name(name),
                affects=grad_affects(graph, structure, {node.inputs[k]}),
                info={"name": name, "k": k, "other": other.name or other.label,
                      "step": _step_of(graph, node.id)}))
    return variants


def _explain_matmul(f: Finding) -> str:
    other, out = f.info["other"], f.base.graph.output_name
    rule = (f"g @ {other} instead of g @ {other}.T" if f.info["k"] == 0
            else f"{other} @ g instead of {other}.T @ g")
    if f.at_entry:
        return (f"{f.lead}, which is {rule} (g = d{out}/d of {f.info['step']!r}): the gradient "
                f"of a matrix product multiplies by the other factor transposed; {f.element} = "
                f"{fmt(f.right)}{f.suffix}.")
    return (f"{f.lead}, which follows from {rule} in {f.info['step']!r}; {f.element} = "
            f"{fmt(f.right)}{f.suffix}.")


MATMUL_NOT_TRANSPOSED = Mistake("matmul_not_transposed",
                                "a matrix product's gradient without the transpose",
                                _find_matmul, _explain_matmul, code="matmul-not-transposed")


# ---------------------------------------------------------------- 6. dropped mask
def _is_mask(graph: Graph, node: int, values: list[Any] | None) -> bool:
    n = graph.nodes[node]
    if n.requires_grad:
        return False
    if n.op == "compare":
        return True
    if values is None:
        return False
    flat = [float(v) for v in np.ravel(np.asarray(values[node], dtype=object))]
    return len(flat) > 1 and set(flat) <= {0.0, 1.0} and 0.0 in flat


def _find_mask(mistake: Mistake, graph: Graph, structure: Structure) -> list[Variant]:
    if not _tensor(graph):
        return []
    variants = []
    for node in graph.nodes:
        if node.id > graph.output:
            continue
        cases = []
        if node.op == "relu":
            cases.append((0, lambda B, g, ans, x: g, "the ReLU's mask (x > 0)"))
        elif node.op == "mul":
            for k in (0, 1):
                if _is_mask(graph, node.inputs[1 - k], structure.values):
                    mask = graph.nodes[node.inputs[1 - k]]
                    cases.append((k, lambda B, g, ans, x, y: g,
                                  f"the mask {mask.name or mask.label}"))
        elif node.op == "where":
            mask = graph.nodes[node.inputs[0]]
            cases.append((1, lambda B, g, ans, c, x, y: g,
                          f"the mask {mask.name or mask.label} of where"))
        for k, rule, what in cases:
            below = _named_above(graph, node.inputs[k])
            if below is None or graph.grad_name(graph.nodes[below].name) not in graph.quantities:
                continue
            name = graph.nodes[below].name
            variants.append(rule_variant(
                mistake, f"dropped_mask@{node.id}.{k}", node.id, k, rule,
                entry=graph.grad_name(name),
                affects=grad_affects(graph, structure, {node.inputs[k]}),
                info={"name": name, "what": what, "step": _step_of(graph, node.id)}))
    return variants


def _explain_mask(f: Finding) -> str:
    if f.at_entry:
        return (f"{f.lead}, which lets the gradient through where {f.info['what']} is 0 in "
                f"{f.info['step']!r}: the backward pass multiplies by the same mask as the "
                f"forward pass; {f.element} = {fmt(f.right)}{f.suffix}.")
    return (f"{f.lead}, which follows from {f.info['what']} dropped in the backward pass of "
            f"{f.info['step']!r}; {f.element} = {fmt(f.right)}{f.suffix}.")


DROPPED_MASK = Mistake("dropped_mask", "a mask dropped in the backward pass (ReLU, dropout)",
                       _find_mask, _explain_mask, code="dropped-mask")

#: the tensor slips, in priority order (placed before the generic writing slips)
ARRAY_MISTAKES = (STABILITY_MAX, REPEATED_INDEX, BESSEL, BROADCAST_NOT_SUMMED, DROPPED_MASK,
                  MATMUL_NOT_TRANSPOSED)
