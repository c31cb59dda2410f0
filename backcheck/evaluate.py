"""Forward and backward passes over a :class:`~backcheck.graph.Graph`.

One traversal, two number systems: pass ``EXACT`` or ``FLOAT`` from
:mod:`backcheck.backends`. Two hooks make the grader possible without a second copy of
the calculus:

* ``overrides``: replace a node's value or gradient (elementwise, where given) by the
  student's own numbers before it flows on. What each node computes *before* its own
  override is kept (``computed_values`` / ``computed_grads``): that is exactly "what
  follows from the student's earlier answers", for grading with error carried forward.
* ``swaps``: replace one node's forward rule or one of its local derivatives by a buggy
  variant (:mod:`backcheck.mistakes`) to see what a known slip would have produced.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .graph import Graph
from .ops import OPS

#: (kind, node id) → (mask, values): kind is "value" or "grad"; mask marks given elements
Overrides = dict[tuple[str, int], tuple[np.ndarray, np.ndarray]]
#: node id → {"forward": rule} or {input index: vjp rule}
Swaps = dict[int, dict[Any, Callable[..., Any]]]


class EvaluationError(ArithmeticError):
    """An operation left its domain (log of 0, a huge power) at a given node."""

    def __init__(self, node: Any, reason: str, phase: str = "forward") -> None:
        super().__init__(reason)
        self.node = node
        self.reason = reason
        self.phase = phase  # "forward" (its value) or "backward" (a local derivative)


@dataclass
class Evaluation:
    graph: Graph
    backend: Any
    values: list[Any] = field(default_factory=list)
    grads: dict[int, Any] = field(default_factory=dict)
    computed_values: dict[int, Any] = field(default_factory=dict)
    computed_grads: dict[int, Any] = field(default_factory=dict)


def _apply_override(backend: Any, computed: Any, override: tuple[np.ndarray, np.ndarray]) -> Any:
    mask, given = override
    return _normalise(backend, np.where(mask, backend.asarray(given), computed))


def forward(graph: Graph, backend: Any, *, overrides: Overrides | None = None,
            swaps: Swaps | None = None) -> Evaluation:
    result = Evaluation(graph, backend)
    overrides = overrides or {}
    swaps = swaps or {}
    # leaves converted once per graph and number system (read-only: every rule makes
    # new arrays), so repeated evaluations (the grader, benchmarks) skip the conversion
    cache = graph.__dict__.setdefault("_leaf_arrays", {}) if backend.name in (
        "float64", "exact") else {}
    for node in graph.nodes:
        if node.is_leaf:
            value = cache.get((backend.name, node.id))
            if value is None:
                value = backend.asarray(graph.leaves[node.id])
                if backend.name in ("float64", "exact"):
                    cache[backend.name, node.id] = value
        else:
            rule = swaps.get(node.id, {}).get("forward") or OPS[node.op].forward
            inputs = [result.values[i] for i in node.inputs]
            try:
                value = _normalise(backend, rule(backend, *inputs, **node.attrs))
            except (ArithmeticError, ValueError) as error:
                raise EvaluationError(node, str(error)) from None
        if ("value", node.id) in overrides:
            result.computed_values[node.id] = value
            value = _apply_override(backend, value, overrides["value", node.id])
        result.values.append(value)
    return result


def backward(evaluation: Evaluation, *, overrides: Overrides | None = None,
             swaps: Swaps | None = None) -> Evaluation:
    graph, backend = evaluation.graph, evaluation.backend
    overrides = overrides or {}
    swaps = swaps or {}
    values = evaluation.values
    grads = evaluation.grads
    output = graph.output
    grads[output] = backend.asarray(np.ones(np.shape(values[output]), dtype=object) * 1)
    for node in reversed(graph.nodes[: output + 1]):
        if node.id not in grads:
            if not node.requires_grad:
                continue
            grads[node.id] = backend.asarray(np.zeros(np.shape(values[node.id]), dtype=int))
        if ("grad", node.id) in overrides:
            evaluation.computed_grads[node.id] = grads[node.id]
            grads[node.id] = _apply_override(backend, grads[node.id], overrides["grad", node.id])
        if node.is_leaf:
            continue
        g = grads[node.id]
        op = OPS[node.op]
        inputs = [values[i] for i in node.inputs]
        node_swaps = swaps.get(node.id, {})
        for k, input_id in enumerate(node.inputs):
            if not graph.nodes[input_id].requires_grad:
                continue
            rule = node_swaps.get(k) or op.vjp(k)
            try:
                contribution = _normalise(
                    backend, rule(backend, g, values[node.id], *inputs, **node.attrs))
            except (ArithmeticError, ValueError) as error:
                raise EvaluationError(node, str(error), "backward") from None
            contribution = _unbroadcast(contribution, np.shape(values[input_id]))
            if input_id in grads:
                grads[input_id] = grads[input_id] + contribution
            else:
                grads[input_id] = contribution
    return evaluation


def evaluate(graph: Graph, backend: Any, *, overrides: Overrides | None = None,
             swaps: Swaps | None = None, with_grads: bool = True) -> Evaluation:
    """Forward pass, then (by default) the backward pass from the graph's output."""
    evaluation = forward(graph, backend, overrides=overrides, swaps=swaps)
    if with_grads:
        backward(evaluation, overrides=overrides, swaps=swaps)
    return evaluation


def _normalise(backend: Any, value: Any) -> Any:
    """Every node value as the backend's array type (object rules may yield plain ints)."""
    if backend.name == "exact" or getattr(backend, "objects", False):
        return backend.asarray(value)
    return np.asanyarray(value, dtype=np.float64)  # keeps backends.Precise


def _unbroadcast(gradient: Any, shape: tuple[int, ...]) -> Any:
    """Sum a gradient down to its input's shape (a bias broadcast over examples; in
    tensor problems any NumPy broadcast: leading axes, and axes of size 1)."""
    while np.ndim(gradient) > len(shape):
        gradient = np.sum(gradient, axis=0)
        if not hasattr(gradient, "reshape"):  # an object array summed to one bare number
            gradient = np.asarray(gradient, dtype=object)
    if np.shape(gradient) != shape and np.ndim(gradient) == len(shape):
        stretched = tuple(axis for axis, (have, want) in enumerate(
            zip(np.shape(gradient), shape, strict=True)) if want == 1 and have != 1)
        if stretched:
            gradient = np.sum(gradient, axis=stretched, keepdims=True)
    if np.shape(gradient) != shape:
        gradient = np.asarray(gradient).reshape(shape)
    return gradient


# ------------------------------------------------------------------ lazily, on demand

_ABSENT = object()


class LazyEvaluation:
    """The numbers :func:`evaluate` gives, each node's value or gradient worked out only
    when first read (and what it needs, once): the grader asks for a few entries of an
    evaluation from a student's answers, and an entry whose inputs the student wrote
    needs only its own node. Same rules, same overrides and swaps, same order of
    summation as :func:`evaluate`, so the same numbers; an error of the rules
    (:class:`EvaluationError`) is raised when the value that needs it is read.

    ``values``, ``grads``, ``computed_values`` and ``computed_grads`` read like
    :class:`Evaluation`'s (indexing, ``get``, ``in``)."""

    def __init__(self, graph: Graph, backend: Any, *, overrides: Overrides | None = None,
                 swaps: Swaps | None = None, quiet: bool = False) -> None:
        self.graph = graph
        # NumPy's floating-point warnings ignored (the grader reads it inside its own
        # np.errstate: then ``quiet`` is not needed)
        self._quiet = quiet
        self.backend = backend
        self._overrides = overrides or {}
        self._swaps = swaps or {}
        self._raw: dict[int, Any] = {}  # values before their override
        self._value: dict[int, Any] = {}
        self._raw_grad: dict[int, Any] = {}
        self._grad: dict[int, Any] = {}
        # nodes whose every element the student wrote: no rule is needed for them
        self._whole_keys: dict[tuple[str, int], bool] = {}  # see _whole()
        self._consumers = _contributions(graph)
        self.values = _View(self._get_value, lambda i: 0 <= i < len(graph.nodes))
        self.grads = _View(self._get_grad, self._has_grad)
        self.computed_values = _View(self._get_raw, lambda i: ("value", i) in self._overrides)
        self.computed_grads = _View(
            self._get_raw_grad, lambda i: ("grad", i) in self._overrides and self._has_grad(i))

    def _whole(self, key: tuple[str, int]) -> bool:
        """Did the student write every element of this value (or gradient)? Then no
        rule is needed for it (asked once per node read)."""
        whole = self._whole_keys.get(key)
        if whole is None:
            override = self._overrides.get(key)
            whole = self._whole_keys[key] = override is not None and bool(
                np.asarray(override[0]).all())
        return whole

    # ----- forward --------------------------------------------------------------------
    def _get_value(self, node_id: int) -> Any:
        value = self._value.get(node_id)
        if value is None:
            self._forward(node_id, raw=False)
            value = self._value[node_id]
        return value

    def _get_raw(self, node_id: int) -> Any:
        if node_id not in self._raw:
            self._forward(node_id, raw=True)
        return self._raw[node_id]

    def _forward(self, target: int, raw: bool) -> None:
        """Work out ``target`` (its value before the override too, with ``raw``) and the
        values it needs, in the graph's order."""
        nodes, todo, seen = self.graph.nodes, [], set()
        stack = [(target, raw)]
        while stack:
            node_id, need_raw = stack.pop()
            if node_id in seen and not need_raw:
                continue
            if (node_id in self._raw) if need_raw else (node_id in self._value):
                continue
            seen.add(node_id)
            todo.append(node_id)
            if not need_raw and self._whole(("value", node_id)):
                continue  # the student's numbers, all of them
            for i in nodes[node_id].inputs:
                stack.append((i, False))
        if self._quiet:
            with np.errstate(all="ignore"):
                self._forward_in_order(sorted(set(todo)), target, raw)
        else:
            self._forward_in_order(sorted(set(todo)), target, raw)

    def _forward_in_order(self, todo: list[int], target: int, raw: bool) -> None:
        nodes = self.graph.nodes
        for node_id in todo:
            node = nodes[node_id]
            key = ("value", node_id)
            whole = self._whole(key) and not (node_id == target and raw)
            if node_id not in self._raw and not whole:
                self._raw[node_id] = self._compute(node)
            if node_id not in self._value:
                self._value[node_id] = self._overridden(key, self._raw)

    def _overridden(self, key: tuple[str, int], raw: dict[int, Any]) -> Any:
        """The value (or gradient) that flows on: what the rules computed (``raw``),
        with the student's numbers put in where given."""
        override = self._overrides.get(key)
        if override is None:
            return raw[key[1]]
        computed = raw.get(key[1])
        if computed is None:  # every element given: the override is the value
            computed = self.backend.asarray(override[1])
        return _apply_override(self.backend, computed, override)

    def _compute(self, node: Any) -> Any:
        backend = self.backend
        if node.is_leaf:
            cache = self.graph.__dict__.setdefault("_leaf_arrays", {}) if backend.name in (
                "float64", "exact") else None
            value = None if cache is None else cache.get((backend.name, node.id))
            if value is None:
                value = backend.asarray(self.graph.leaves[node.id])
                if cache is not None:
                    cache[backend.name, node.id] = value
            return value
        rule = self._swaps.get(node.id, {}).get("forward") or OPS[node.op].forward
        inputs = [self._value[i] for i in node.inputs]
        try:
            return _normalise(backend, rule(backend, *inputs, **node.attrs))
        except (ArithmeticError, ValueError) as error:
            raise EvaluationError(node, str(error)) from None

    # ----- backward -------------------------------------------------------------------
    def _has_grad(self, node_id: int) -> bool:
        output = self.graph.output
        return node_id == output or (0 <= node_id <= output
                                     and self.graph.nodes[node_id].requires_grad)

    def _get_grad(self, node_id: int) -> Any:
        if not self._has_grad(node_id):
            return _ABSENT
        grad = self._grad.get(node_id)
        if grad is None:
            self._backward(node_id, raw=False)
            grad = self._grad[node_id]
        return grad

    def _get_raw_grad(self, node_id: int) -> Any:
        if node_id not in self._raw_grad:
            self._backward(node_id, raw=True)
        return self._raw_grad[node_id]

    def _backward(self, target: int, raw: bool) -> None:
        """Work out the gradient at ``target`` and the gradients it needs, from the
        output down (the same contributions, summed in the same order, as :func:`backward`)."""
        todo: set[int] = set()
        stack = [(target, raw)]
        while stack:
            node_id, need_raw = stack.pop()
            done = (node_id in self._raw_grad) if need_raw else (node_id in self._grad)
            if done or (node_id in todo and not need_raw):
                continue
            todo.add(node_id)
            if not need_raw and self._whole(("grad", node_id)):
                continue
            for consumer, _ in self._consumers.get(node_id, ()):
                stack.append((consumer, False))
        if self._quiet:
            with np.errstate(all="ignore"):
                self._backward_in_order(sorted(todo, reverse=True), target, raw)
        else:
            self._backward_in_order(sorted(todo, reverse=True), target, raw)

    def _backward_in_order(self, todo: list[int], target: int, raw: bool) -> None:
        output = self.graph.output
        for node_id in todo:
            key = ("grad", node_id)
            whole = self._whole(key) and not (node_id == target and raw)
            if node_id not in self._raw_grad and not whole:
                self._raw_grad[node_id] = self._gather(node_id, output)
            if node_id not in self._grad:
                self._grad[node_id] = self._overridden(key, self._raw_grad)

    def _gather(self, node_id: int, output: int) -> Any:
        backend = self.backend
        if node_id == output:
            return backend.asarray(np.ones(np.shape(self._get_value(output)), dtype=object) * 1)
        total = None
        shape = None
        for consumer_id, k in self._consumers.get(node_id, ()):
            consumer = self.graph.nodes[consumer_id]
            g = self._grad[consumer_id]
            inputs = [self._get_value(i) for i in consumer.inputs]
            rule = self._swaps.get(consumer_id, {}).get(k) or OPS[consumer.op].vjp(k)
            try:
                contribution = _normalise(
                    backend, rule(backend, g, self._get_value(consumer_id), *inputs,
                                  **consumer.attrs))
            except (ArithmeticError, ValueError) as error:
                raise EvaluationError(consumer, str(error), "backward") from None
            if shape is None:
                shape = np.shape(self._get_value(node_id))
            contribution = _unbroadcast(contribution, shape)
            total = contribution if total is None else total + contribution
        if total is None:
            return backend.asarray(np.zeros(np.shape(self._get_value(node_id)), dtype=int))
        return total


class _View:
    """Read access to one kind of a :class:`LazyEvaluation`'s numbers by node id."""

    __slots__ = ("_get", "_has")

    def __init__(self, get: Callable[[int], Any], has: Callable[[int], bool]) -> None:
        self._get, self._has = get, has

    def __getitem__(self, node_id: int) -> Any:
        if node_id < 0:
            raise KeyError(node_id)
        if not self._has(node_id):
            raise KeyError(node_id)
        value = self._get(node_id)
        if value is _ABSENT:
            raise KeyError(node_id)
        return value

    def get(self, node_id: int, default: Any = None) -> Any:
        if not self._has(node_id):
            return default
        value = self._get(node_id)
        return default if value is _ABSENT else value

    def __contains__(self, node_id: object) -> bool:
        return isinstance(node_id, int) and self._has(node_id)


def _contributions(graph: Graph) -> dict[int, list[tuple[int, int]]]:
    """For each node, the (consumer, input position) pairs whose vector-Jacobian
    products make its gradient, in :func:`backward`'s order (consumers from the output
    down, positions in order); cached on the graph."""
    cached = graph.__dict__.get("_contributions")
    if cached is not None:
        return cached
    result: dict[int, list[tuple[int, int]]] = {}
    output = graph.output
    for node in reversed(graph.nodes[: output + 1]):
        if node.is_leaf or not (node.id == output or node.requires_grad):
            continue
        for k, input_id in enumerate(node.inputs):
            if graph.nodes[input_id].requires_grad:
                result.setdefault(input_id, []).append((node.id, k))
    graph.__dict__["_contributions"] = result
    return result
