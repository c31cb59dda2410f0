"""The computation graph: networks and scalar expressions both lower to it.

A :class:`Graph` is a list of :class:`Node` in topological order (inputs first, the
loss or output last). Each node names an op of :mod:`backcheck.ops`; leaves (inputs,
parameters, targets, constants) carry exact values. The graph also lists the
user-visible *quantities* (FORMAT §3): each is a node's value or gradient, with its shape
in the problem's own layout. Evaluators, the grader, ``explain`` and ``graph`` all read
this one structure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from .ops import LOSS_NODE, LOSSES
from .problem import ExpressionProblem, NetworkProblem, Problem


@dataclass
class Node:
    id: int
    op: str  # a key of ops.OPS, or a leaf role: "input", "param", "target", "const"
    inputs: tuple[int, ...]
    attrs: dict[str, Any]
    name: str | None  # the quantity name (x, W1, z1, a1, L, q, ...) or None if internal
    label: str  # how the node reads in a diagram: "z1", "a*b", "2"
    layer: int | None = None
    requires_grad: bool = False
    text: str | None = None  # scalar steps: the expression text that defines it

    @property
    def is_leaf(self) -> bool:
        return self.op in ("input", "param", "target", "const")


@dataclass
class Quantity:
    """A named thing a user can be asked for: a node's value, its gradient, or an update."""

    name: str
    kind: str  # "value" | "grad" | "update"
    node: int
    shape: tuple[int, ...]  # in the problem's layout (what the user writes)
    internal_shape: tuple[int, ...]  # the evaluator's array shape
    section: str  # "forward" | "backward" | "update"
    layer: int | None = None
    description: str = ""

    def to_layout(self, array: np.ndarray) -> np.ndarray:
        return np.asarray(array).reshape(self.shape)

    def to_internal(self, array: np.ndarray) -> np.ndarray:
        return np.asarray(array).reshape(self.internal_shape)


@dataclass
class Graph:
    problem: Problem
    nodes: list[Node] = field(default_factory=list)
    leaves: dict[int, np.ndarray] = field(default_factory=dict)  # object arrays of Fraction
    output: int = -1
    quantities: dict[str, Quantity] = field(default_factory=dict)
    by_name: dict[str, int] = field(default_factory=dict)
    output_name: str = "L"

    def add(self, op: str, inputs: tuple[int, ...] = (), *, name: str | None = None,
            label: str | None = None, value: Any = None, requires_grad: bool | None = None,
            **attrs: Any) -> int:
        node_id = len(self.nodes)
        if requires_grad is None:
            requires_grad = any(self.nodes[i].requires_grad for i in inputs)
        node = Node(node_id, op, tuple(inputs), attrs, name, label or name or op,
                    requires_grad=requires_grad)
        self.nodes.append(node)
        if value is not None:
            self.leaves[node_id] = np.asarray(value, dtype=object)
        if name is not None:
            self.by_name[name] = node_id
        return node_id

    def grad_name(self, name: str) -> str:
        return f"d{self.output_name}/d{name}"

    def consumers(self, node_id: int) -> list[int]:
        return [n.id for n in self.nodes if node_id in n.inputs]

    def add_quantity(self, name: str, kind: str, node: int, shape: tuple[int, ...],
                     section: str, layer: int | None = None, description: str = "") -> None:
        internal = self.leaves[node].shape if node in self.leaves else None
        self.quantities[name] = Quantity(name, kind, node, tuple(shape), internal or tuple(shape),
                                         section, layer, description)


def build_graph(problem: Problem) -> Graph:
    if isinstance(problem, NetworkProblem):
        return _network_graph(problem)
    if isinstance(problem, ExpressionProblem):
        return _expression_graph(problem)
    if getattr(problem, "kind", None) == "tensor":
        from .tensor import build_tensor_graph

        return build_tensor_graph(problem)  # type: ignore[arg-type]
    raise TypeError(f"not a problem: {type(problem).__name__}")


def _network_graph(problem: NetworkProblem) -> Graph:
    graph = Graph(problem)
    n_examples = problem.examples
    sizes = problem.sizes

    def activation_shape(units: int) -> tuple[int, ...]:
        return (units,) if problem.single else (n_examples, units)

    x = graph.add("input", name="x", value=problem.x, requires_grad=True)
    graph.add_quantity("x", "value", x, activation_shape(sizes[0]), "forward",
                       description="the input")
    previous = x
    forward: list[tuple[str, int, tuple[int, ...], int, str]] = []
    backward_layers: list[list[tuple[str, int, tuple[int, ...]]]] = []
    for k, layer in enumerate(problem.layers, start=1):
        W = graph.add("param", name=f"W{k}", value=layer.W, requires_grad=True)
        graph.nodes[W].layer = k
        w_shape = (len(layer.W) * len(layer.W[0]),) if layer.W_flat else np.shape(layer.W)
        inputs = [previous, W]
        b = None
        if layer.b is not None:
            b = graph.add("param", name=f"b{k}", value=layer.b, requires_grad=True)
            graph.nodes[b].layer = k
            inputs.append(b)
        z = graph.add("linear", tuple(inputs), name=f"z{k}", convention=problem.convention)
        a = graph.add(layer.activation, (z,), name=f"a{k}", **layer.params)
        for node in (z, a):
            graph.nodes[node].layer = k
        shape = activation_shape(sizes[k])
        forward.append((f"z{k}", z, shape, k, f"pre-activation of layer {k}"))
        forward.append((f"a{k}", a, shape, k, f"activation of layer {k} ({layer.activation})"))
        params = [(f"W{k}", W, tuple(w_shape))]
        if b is not None:
            params.append((f"b{k}", b, (len(layer.b),)))
        backward_layers.append([(f"a{k}", a, shape), (f"z{k}", z, shape)] + params)
        previous = a

    target = graph.add("target", name="target", value=problem.target, requires_grad=False)
    divisor = LOSSES[problem.loss].divisor(problem.reduction, n_examples, sizes[-1])
    inputs = (previous, target)
    decay: dict[str, Any] = {}
    if problem.weight_decay is not None:  # λ/2·ΣW² over every weight matrix
        inputs += tuple(graph.by_name[f"W{k}"] for k in range(1, len(problem.layers) + 1))
        decay["weight_decay"] = problem.weight_decay
    loss = graph.add(LOSS_NODE, inputs, name="L", kind=problem.loss, divisor=divisor,
                     **{**LOSSES[problem.loss].param_defaults(), **problem.loss_params}, **decay)
    graph.nodes[loss].label = f"L ({problem.loss})"
    graph.output = loss

    for name, node, shape, k, description in forward:
        graph.add_quantity(name, "value", node, shape, "forward", k, description)
    graph.add_quantity("L", "value", loss, (), "forward", None, f"the loss ({problem.loss})")
    for layer_quantities in reversed(backward_layers):
        for name, node, shape in layer_quantities:
            k = graph.nodes[node].layer
            graph.add_quantity(graph.grad_name(name), "grad", node, shape, "backward", k,
                               f"gradient of the loss with respect to {name}")
    graph.add_quantity(graph.grad_name("x"), "grad", x, activation_shape(sizes[0]), "backward",
                       None, "gradient of the loss with respect to the input")
    if problem.learning_rate is not None:
        for layer_quantities in backward_layers:
            for name, node, shape in layer_quantities[2:]:
                graph.add_quantity(f"{name}_new", "update", node, shape, "update",
                                   graph.nodes[node].layer,
                                   f"{name} after one gradient-descent step")
    _fix_internal_shapes(graph, n_examples, sizes)
    return graph


def _fix_internal_shapes(graph: Graph, n_examples: int, sizes: list[int]) -> None:
    """Activations and their gradients are (examples × units) inside the evaluators."""
    for quantity in graph.quantities.values():
        node = graph.nodes[quantity.node]
        if node.op == "param":
            quantity.internal_shape = graph.leaves[node.id].shape
        elif node.name == "L":
            quantity.internal_shape = ()
        else:
            quantity.internal_shape = (n_examples, int(np.prod(quantity.shape)) // n_examples)


_BINARY = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**"}


def _expression_graph(problem: ExpressionProblem) -> Graph:
    from .expression import expr_to_text

    graph = Graph(problem, output_name=problem.output)
    for name, value in problem.values.items():
        graph.add("input", name=name, value=Fraction(value), requires_grad=True)

    def lower(expr: tuple) -> int:
        kind = expr[0]
        if kind == "num":
            return graph.add("const", label=_number_label(expr[1]), value=expr[1],
                             requires_grad=False)
        if kind == "name":
            return graph.by_name[expr[1]]
        if kind == "neg":
            return graph.add("neg", (lower(expr[1]),), label=expr_to_text(expr))
        if kind == "call":
            return graph.add(expr[1], (lower(expr[2]),), label=expr_to_text(expr))
        left, right = lower(expr[1]), lower(expr[2])
        return graph.add(kind, (left, right), label=expr_to_text(expr))

    for step in problem.steps:
        top = lower(step.expr)
        if graph.nodes[top].name is not None or graph.nodes[top].op == "const":
            top = graph.add("identity", (top,), label=expr_to_text(step.expr))
        node = graph.nodes[top]
        node.name = step.name
        node.text = step.text
        node.label = step.name
        graph.by_name[step.name] = top
    graph.output = graph.by_name[problem.output]
    names = list(problem.values) + [s.name for s in problem.steps]
    for name in names:
        graph.add_quantity(name, "value", graph.by_name[name], (), "forward")
    for name in names:
        graph.add_quantity(graph.grad_name(name), "grad", graph.by_name[name], (), "backward",
                           description=f"gradient of {problem.output} with respect to {name}")
    return graph


def _number_label(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else str(value)
