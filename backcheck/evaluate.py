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
