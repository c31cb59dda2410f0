"""A network's elements as the chain rule sees them: ``(node id, internal index)``,
each one's parents and the local derivative to each (read from the op records'
vector-Jacobian products on a one-hot gradient), and what to explain for a name."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from ..backends import EXACT
from ..evaluate import _normalise
from ..exact import Exact
from ..graph import Graph, Node
from ..numbers_text import compact, element_text
from ..ops import LOSS_NODE, OPS
from ..problem import NetworkProblem
from ..solution import Solution
from .forward import forward_element, forward_whole, update
from .model import ONE, ZERO, Explanation, Factor, Formula, Path
from .paths import MAX_PATHS, ElementGraph, chain_rule, fill_paths
from .vector_rules import activation_derivative, fused_softmax_ce, loss_derivative, vector_rule


class NetworkElements(ElementGraph):
    """Elements of a network's tensors: (node id, internal index)."""

    def __init__(self, solution: Solution) -> None:
        self.solution = solution
        self.graph: Graph = solution.graph
        self.problem: NetworkProblem = solution.problem  # type: ignore[assignment]
        self.ev = solution.exact_evaluation
        self.output = (self.graph.output, ())
        self.consumers = {node.id: [] for node in self.graph.nodes}
        for node in self.graph.nodes:
            for k, i in enumerate(node.inputs):
                self.consumers[i].append((node, k))
        self.loss = self.graph.nodes[self.graph.output]
        self.last = self.graph.nodes[self.loss.inputs[0]]  # aN
        self.fused = fused_softmax_ce(self.solution)
        self._local: dict = {}

    # ----- names and values
    def node(self, element: Any) -> Node:
        return self.graph.nodes[element[0]]

    def name(self, element: Any) -> str:
        node_id, index = element
        node = self.graph.nodes[node_id]
        if node.op == "target":
            layout = index if not self.problem.single else index[1:]
            return f"t[{','.join(str(i + 1) for i in layout)}]"
        quantity = self.graph.quantities.get(node.name) or self.graph.quantities.get(
            self.graph.grad_name(node.name or ""))
        if quantity is None or not quantity.shape:
            return node.name or node.label
        flat = int(np.ravel_multi_index(index, quantity.internal_shape))
        layout = np.unravel_index(flat, quantity.shape)
        return f"{node.name}[{','.join(str(int(i) + 1) for i in layout)}]"

    def value(self, element: Any) -> Exact:
        return self.ev.values[element[0]][element[1]]

    def grad(self, element: Any) -> Exact:
        return self.ev.grads[element[0]][element[1]]

    def order(self, element: Any) -> int:
        return element[0]

    def orders_above(self, start: Any) -> set[int]:
        return {n.id for n in self.graph.nodes if n.id > start[0] and not n.is_leaf}

    def max_order(self, start: Any) -> int:
        full = self.graph.output + 1
        z_last = self.last.inputs[0]
        if self.fused and start[0] < z_last:
            return z_last  # ∂L/∂zN = ŷ − y, one factor
        return full

    # ----- structure
    def parents(self, element: Any) -> list[tuple[Any, Factor]]:
        node_id, c = element
        result = []
        for parent, k in self.consumers[node_id]:
            if parent.id > self.graph.output:
                continue
            for p in self._dependents(parent, k, c):
                result.append(((parent.id, p), self.factor(parent, p, k, c)))
        return result

    def _dependents(self, parent: Node, k: int, c: tuple) -> list[tuple]:
        shape = np.shape(self.ev.values[parent.id])
        if parent.op == LOSS_NODE:
            return [()]
        if parent.op == "linear":
            examples, units = shape
            if k == 0:
                return [(c[0], j) for j in range(units)]
            if k == 1:
                j = c[0] if self.problem.convention == "Wx" else c[1]
                return [(n, j) for n in range(examples)]
            return [(n, c[0]) for n in range(examples)]
        if OPS[parent.op].couples:
            return [(c[0], q) for q in range(shape[1])]
        return [c]  # elementwise

    # ----- factors
    def local(self, parent: Node, p: tuple, k: int, c: tuple) -> Exact:
        """∂parent[p]/∂input_k[c], from the op's own vector-Jacobian product."""
        if parent.op == "linear":
            # ∂z[n,j]/∂a[n,i] = W[j,i], ∂z[n,j]/∂W[j,i] = a[n,i], ∂z/∂b = 1: read them,
            # never one vector-Jacobian product (a matmul) per element (that made explain
            # near the work limit take minutes)
            values = self.ev.values
            if k == 0:
                w = (p[1], c[1]) if self.problem.convention == "Wx" else (c[1], p[1])
                return Exact.of(values[parent.inputs[1]][w])
            if k == 1:
                i = c[1] if self.problem.convention == "Wx" else c[0]
                return Exact.of(values[parent.inputs[0]][(p[0], i)])
            return ONE
        key = (parent.id, p, k)
        if key not in self._local:
            op = OPS[parent.op]
            values = self.ev.values
            inputs = [values[i] for i in parent.inputs]
            if op.couples:
                row = p[0]
                g = np.full((1, np.shape(values[parent.id])[1]), ZERO, dtype=object)
                g[0, p[1]] = ONE
                result = op.vjp(k)(EXACT, g, values[parent.id][row:row + 1],
                                    *[x[row:row + 1] for x in inputs], **parent.attrs)
                full = np.full(np.shape(values[parent.id]), ZERO, dtype=object)
                full[row] = _normalise(EXACT, result)[0]
                self._local[key] = full
            elif op.elementwise:
                g = EXACT.asarray(ONE)
                result = op.vjp(k)(EXACT, g, EXACT.asarray(values[parent.id][p]),
                                    *[EXACT.asarray(x[p]) for x in inputs], **parent.attrs)
                self._local[key] = {p: _normalise(EXACT, result).item()}
            else:
                g = np.full(np.shape(values[parent.id]), ZERO, dtype=object)
                if p:
                    g[p] = ONE
                else:
                    g = EXACT.asarray(ONE)
                result = op.vjp(k)(EXACT, g, values[parent.id], *inputs, **parent.attrs)
                self._local[key] = _normalise(EXACT, result)
        table = self._local[key]
        if isinstance(table, dict):
            return table[c]
        return table[c]

    def factor(self, parent: Node, p: tuple, k: int, c: tuple) -> Factor:
        child = self.graph.nodes[parent.inputs[k]]
        top, bottom = self.name((parent.id, p)), self.name((child.id, c))
        value = self.local(parent, p, k, c)
        if parent.op == "linear":
            if k == 0:
                w = (p[1], c[1]) if self.problem.convention == "Wx" else (c[1], p[1])
                formula = Formula("{0}", (self.name((parent.inputs[1], w)),))
            elif k == 1:
                i = c[1] if self.problem.convention == "Wx" else c[0]
                formula = Formula("{0}", (self.name((parent.inputs[0], (p[0], i))),))
            else:
                formula = Formula("1")
            return Factor(top, bottom, formula, value)
        if parent.op == LOSS_NODE:
            if k >= 2:  # weight decay λ/2·ΣW²: ∂/∂W = λ·W
                lam = compact(Exact.of(parent.attrs["weight_decay"]), 6)
                return Factor(top, bottom, Formula(f"{lam}·{{0}}", (bottom,)), value,
                              why="weight decay λ/2·ΣW²")
            target = self.name((parent.inputs[1], c))
            return Factor(top, bottom, loss_derivative(self.loss, bottom, target), value)
        op = OPS[parent.op]
        if op.couples:
            diagonal, across = op.jacobian or ("∂{a}/∂z", "∂{a}/∂z")
            if p[1] == c[1]:
                formula = Formula(diagonal.replace("{a}", "{0}"), (top,))
            else:
                formula = Formula(across.replace("{a}", "{0}").replace("{b}", "{1}"),
                                  (top, self.name((parent.id, c))))
            return Factor(top, bottom, formula, value)
        formula, why = activation_derivative(op, bottom, top, self.value((child.id, c)),
                                             parent.attrs)
        return Factor(top, bottom, formula, value, why=why)

    def cut_factor(self, element: Any) -> Factor:
        name = self.name(element)
        node = self.graph.nodes[element[0]]
        if self.fused and node.id == self.last.inputs[0]:
            index = element[1]
            target = self.name((self.loss.inputs[1], index))
            output = self.name((self.last.id, index))
            n = self.problem.examples
            template = "{0} − {1}" if n == 1 else f"({{0}} − {{1}}) / {n}"
            return Factor("L", name, Formula(template, (output, target)), self.grad(element),
                          source="fused")
        return Factor("L", name, Formula("from the backward pass"), self.grad(element),
                      source="backward")

    def layout(self, name: str) -> np.ndarray:
        """A value by name in the problem's layout (parameters too, which are not
        quantities themselves)."""
        if name in self.graph.quantities:
            return self.solution.exact(name)
        if name in ("target", "t"):
            return self.target_layout()
        node = self.graph.by_name[name]
        quantity = self.graph.quantities[self.graph.grad_name(name)]
        return quantity.to_layout(self.ev.values[node])

    def target_layout(self) -> np.ndarray:
        target = EXACT.asarray(self.graph.leaves[self.loss.inputs[1]])
        return target[0] if self.problem.single else target

    # ----- explain
    def explain(self, name: str, index: tuple[int, ...] | None) -> Explanation:
        if name not in self.graph.quantities:  # a parameter
            value = self.layout(name)
            value = value if index is None else value[index]
            explanation = Explanation(element_text(name, index), "given", value)
            if name == "target":
                explanation.summary.append(f"{explanation.quantity} is the target given in the "
                                           f"problem file (t in the formulas).")
            else:
                explanation.summary.append(
                    f"{explanation.quantity} is a parameter given in the problem file; its "
                    f"gradient is dL/d{explanation.quantity}.")
            return explanation
        quantity = self.solution.quantity(name)
        full = self.solution.exact(name)
        value = full if index is None else full[index]
        if isinstance(value, np.ndarray) and value.ndim == 0:
            value = value.item()
        explanation = Explanation(element_text(name, index), "", value, network=True)
        internal = None
        if index is not None or not quantity.shape:
            flat = int(np.ravel_multi_index(index or (), quantity.shape)) if quantity.shape else 0
            internal = tuple(int(i) for i in np.unravel_index(flat, quantity.internal_shape)) \
                if quantity.internal_shape else ()
        if quantity.kind == "grad":
            if internal is None:
                return vector_rule(self, name, quantity, explanation)
            return self.element_gradient(quantity, internal, explanation)
        if quantity.kind == "update":
            return update(self, name, quantity, index, explanation)
        if internal is None:
            return forward_whole(self, name, quantity, explanation)
        return forward_element(self, name, quantity, internal, explanation)

    def element_gradient(self, quantity: Any, internal: tuple, explanation: Explanation
                         ) -> Explanation:
        start = (quantity.node, internal)
        explanation.kind = "paths"
        if start == self.output:
            explanation.summary.append("the loss's gradient with respect to itself is 1")
            explanation.total = ONE
            return explanation
        paths, threshold, _ = chain_rule(self, start)
        fill_paths(explanation, paths, self.grad(start), explanation.quantity)
        explanation.summary.extend(self._path_summary(start, paths))
        return explanation

    def _path_summary(self, start: Any, paths: list[Path]) -> list[str]:
        target = self.name(start)
        lines = []
        count = len(paths)
        if count == 1:
            lines.append(f"One path leads from L down to {target}: the gradient is the product "
                         f"of the local derivatives along it.")
        else:
            lines.append(f"{count} paths lead from L down to {target}; the gradient is the sum "
                         f"of the products along them (the chain rule adds where paths meet).")
        reasons = []
        examples = {p.elements[-2] for p in paths if len(p.elements) > 1}
        if self.problem.examples > 1 and len({e.split("[")[1].split(",")[0]
                                              for e in examples if "[" in e}) > 1:
            reasons.append("each example of the batch contributes its own paths (the "
                           "gradient of a shared weight is summed over examples)")
        if any(f.top.startswith(f"a{k}") and f.bottom.startswith(f"z{k}") and
               f.top.split("[")[1] != f.bottom.split("[")[1]
               for p in paths for f in p.factors for k in [self._layer(f.top)]):
            reasons.append("softmax couples its outputs: every a[p] depends on every z[q]")
        fan = [f for p in paths for f in p.factors if f.bottom.startswith("a") or
               f.bottom.startswith("x")]
        if len({(f.top, f.bottom) for f in fan}) > len({f.bottom for f in fan}):
            reasons.append("a unit feeds several units of the next layer, and each is a path")
        if reasons:
            lines.append("Several paths because " + "; ".join(reasons) + ".")
        cuts = {p.factors[0].source for p in paths if p.factors}
        if "fused" in cuts:
            n = self.problem.examples
            lines.append("Softmax with cross-entropy: ∂L/∂z" + str(len(self.problem.layers))
                         + " = ŷ − y" + (f" (divided by the {n} examples)" if n > 1 else "")
                         + ", so the paths start there (explain 'dL/dz"
                         + f"{len(self.problem.layers)}[…]' for the coupled sum behind it).")
        if "backward" in cuts:
            lines.append(f"With more than {MAX_PATHS} full paths, each path starts at a node "
                         f"whose gradient the backward pass already has (a shared sub-product); "
                         f"explain that node to expand it.")
        return lines

    def _layer(self, name: str) -> str:
        match = re.match(r"^[a-zA-Z]+(\d+)", name)
        return match.group(1) if match else ""

    # ----- whole gradients: the vector rule
