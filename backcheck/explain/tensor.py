"""``explain`` for tensor problems (FORMAT §7).

* One element of a gradient (``dL/dS[1,2]``): the chain rule along every path from the
  output down to that element, through the elements of the steps that read it; each
  factor ∂S[j]/∂N[i] is a step's local partial derivative, computed by the op records'
  vector-Jacobian products with a one-hot upstream gradient (no second calculus).
* A whole gradient (``dL/dW1``): the vector rule of each op that reads it (``g @ W.T``,
  ``g summed over the broadcast axes``, ``g added back at the gathered rows``), from the
  op records' vector rules, with the numbers.
* A step's value: the step as written, with its operands' values.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backends import EXACT, FLOAT
from ..evaluate import _normalise, _unbroadcast
from ..exact import Exact
from ..graph import Node
from ..ops import OPS
from ..ops.arrays import vector_rules
from .model import ONE, ZERO, Equation, Explanation, Factor, Formula
from .paths import NamedStepGraph, chain_rule, fill_paths

#: work allowed for the local partial derivatives of one explanation (elements × steps)
MAX_PARTIAL_WORK = 400_000


class TooLargeForPaths(Exception):
    pass


class TensorElements(NamedStepGraph):
    """Elements (named node id, 0-based index); an edge "step S reads name N at i"."""

    def __init__(self, solution: Any) -> None:
        self.solution = solution
        self.graph = solution.graph
        self.problem = solution.problem
        self.ev = solution.exact_evaluation
        self.steps = {s.name: s for s in self.problem.steps}
        self.output = (self.graph.output, ())
        named = [n for n in self.graph.nodes if n.name is not None and n.id <= self.graph.output]
        self.named = {n.id: n for n in named}
        self.uses: dict[int, list[int]] = {n.id: [] for n in named}
        for node in named:
            if node.name in self.steps:
                for used in self._reads(node):
                    self.uses[used].append(node.id)
        self.work = 0
        self.big = sum(self.ev.values[i].size for i in self.named) > 4000

    def _internal(self, top: Node) -> list[Node]:
        """The step's own nodes (between the previous named node and its top)."""
        inside, stack = [], [top.id]
        seen: set[int] = set()
        while stack:
            i = stack.pop()
            if i in seen:
                continue
            seen.add(i)
            node = self.graph.nodes[i]
            if i != top.id and (node.name is not None or node.is_leaf):
                continue
            inside.append(node)
            stack.extend(node.inputs)
        return sorted(inside, key=lambda n: n.id)

    def _reads(self, top: Node) -> list[int]:
        reads: set[int] = set()
        for node in self._internal(top):
            for i in node.inputs:
                other = self.graph.nodes[i]
                if other.name is not None and other.requires_grad:
                    reads.add(i)
        return sorted(reads)

    # ----- local partial derivatives -----------------------------------------------------
    def _pullback(self, top: Node, seed: Any, target: int) -> Any:
        """∂(Σ seed·S)/∂N through the step's own nodes, exactly."""
        internal = self._internal(top)
        grads: dict[int, Any] = {top.id: seed}
        values = self.ev.values
        result = None
        for node in reversed(internal):
            if node.id not in grads or node.is_leaf:
                continue
            op = OPS[node.op]
            inputs = [values[i] for i in node.inputs]
            for k, i in enumerate(node.inputs):
                if not self.graph.nodes[i].requires_grad:
                    continue
                part = _normalise(EXACT, op.vjps[k](EXACT, grads[node.id], values[node.id],
                                                    *inputs, **node.attrs))
                part = _unbroadcast(part, np.shape(values[i]))
                self.work += int(np.size(part))
                if i == target:
                    result = part if result is None else result + part
                elif self.graph.nodes[i].name is None:
                    grads[i] = part if i not in grads else grads[i] + part
        if result is None:
            result = EXACT.asarray(np.zeros(np.shape(values[target]), dtype=int))
        return result

    def _touched(self, top: Node, target: int, index: tuple) -> list[tuple]:
        """Which elements of step ``top`` change when ``target[index]`` does (float64
        probe), the candidates for a nonzero partial derivative."""
        from ..evaluate import forward

        base = self.solution.float_evaluation.values
        overrides = {}
        shape = np.shape(base[target])
        mask = np.zeros(shape, dtype=bool)
        mask[index] = True
        value = np.array(base[target], dtype=float, copy=True)
        value[index] += 0.5 + abs(value[index]) * 0.25
        overrides[("value", target)] = (mask, value)
        with np.errstate(all="ignore"):
            moved = forward(self.graph, FLOAT, overrides=overrides).values[top.id]
        changed = np.argwhere(~np.isclose(moved, base[top.id], rtol=0, atol=0)
                              | np.isnan(moved))
        return [tuple(int(v) for v in row) for row in changed]

    def partials(self, top: Node, target: int, index: tuple) -> list[tuple[tuple, Exact]]:
        out = []
        shape = np.shape(self.ev.values[top.id])
        for j in self._touched(top, target, index):
            seed = np.zeros(shape, dtype=int)
            seed[j] = 1
            self.work += int(np.prod(shape)) * 4
            if self.work > MAX_PARTIAL_WORK:
                raise TooLargeForPaths
            column = self._pullback(top, EXACT.asarray(seed), target)
            value = Exact.of(np.asarray(column, dtype=object)[index])
            if value.sign() != 0:
                out.append((j, value))
        return out

    # ----- ElementGraph ---------------------------------------------------------------------
    def name(self, element: Any) -> str:
        node = self.graph.nodes[element[0]]
        if not element[1]:
            return node.name
        return f"{node.name}[{','.join(str(i + 1) for i in element[1])}]"

    def max_order(self, start: Any) -> int:
        if self.big:  # only the steps that read it directly
            consumers = self.uses.get(start[0], [])
            return (min(consumers) if consumers else start[0]) + 1
        return self.graph.output + 1

    def grad(self, element: Any) -> Exact:
        grad = self.ev.grads.get(element[0])
        if grad is None:
            return ZERO
        return Exact.of(np.asarray(grad, dtype=object)[element[1]])

    def parents(self, element: Any) -> list[tuple[Any, Factor]]:
        result = []
        for step_id in self.uses.get(element[0], []):
            top = self.graph.nodes[step_id]
            for j, value in self.partials(top, element[0], element[1]):
                parent = (step_id, j)
                result.append((parent, Factor(self.name(parent), self.name(element),
                                              self.rule(top, element[0]), value)))
        return result

    def rule(self, top: Node, used: int) -> Formula:
        step = self.steps[top.name]
        ops = [n.op for n in self._internal(top) if any(i == used for i in n.inputs)]
        op = ops[0] if ops else "identity"
        return Formula(f"from {step.text.split('=', 1)[1].strip()} ({_op_text(op)})",
                       network=False)

    def cut_factor(self, element: Any) -> Factor:
        out = self.graph.output_name
        return Factor(out, self.name(element), Formula("from the backward pass", network=False),
                      self.grad(element), source="backward")

    # ----- explanations -----------------------------------------------------------------------
    def explain(self, name: str, index: tuple | None) -> Explanation:
        quantity = self.solution.quantity(name)
        node = self.graph.nodes[quantity.node]
        whole = self.solution.exact(name)
        value = whole if index is None else Exact.of(np.asarray(whole, dtype=object)[index])
        shown = name if index is None else f"{name}[{','.join(str(i + 1) for i in index)}]"
        explanation = Explanation(shown, "", value, network=False)
        out = self.graph.output_name
        if quantity.kind == "grad":
            if node.id == self.graph.output:
                explanation.kind = "given"
                explanation.summary.append(f"The gradient of {out} with respect to itself is 1.")
                return explanation
            if index is None or not quantity.shape and index is None:
                if quantity.shape:
                    return self.vector_rule(explanation, node)
                index = ()
            start = (node.id, tuple(index))
            explanation.kind = "paths"
            try:
                paths, _, _ = chain_rule(self, start)
            except TooLargeForPaths:
                return self.vector_rule(explanation, node, too_large=True)
            fill_paths(explanation, paths, self.grad(start), shown)
            if not paths:
                explanation.summary.append(f"{out} does not depend on {shown}: the gradient is 0.")
            else:
                explanation.summary.append(
                    f"{len(paths)} path{'s' if len(paths) != 1 else ''} through the steps' "
                    f"elements lead from {out} down to {self.name(start)}: each factor is one "
                    f"step's partial derivative ∂S[j]/∂N[i], the gradient the sum of the "
                    f"products.")
            return explanation
        if node.name not in self.steps:
            explanation.kind = "given"
            what = quantity.description or "given in the problem's values"
            explanation.summary.append(f"{name} is {what}.")
            return explanation
        explanation.kind = "forward"
        step = self.steps[node.name]
        operands = [(self.named[i].name, self.ev.values[i]) for i in
                    sorted({i for n in self._internal(node) for i in n.inputs
                            if i in self.named and i != node.id})]
        explanation.equation = Equation(name, Formula(step.text.split("=", 1)[1].strip(),
                                                      network=False),
                                        operands=operands, result=value)
        explanation.summary.append(f"Step {step.text}, with its operands' values.")
        return explanation

    def vector_rule(self, explanation: Explanation, node: Node, too_large: bool = False
                    ) -> Explanation:
        """The whole gradient: one term per step that reads it, each the vector rule of
        the op that reads it."""
        out = self.graph.output_name
        explanation.kind = "rule"
        terms = []
        operands: list[tuple[Any, Any]] = []
        for step_id in self.uses.get(node.id, []):
            top = self.graph.nodes[step_id]
            step = self.steps[top.name]
            for inner in self._internal(top):
                for k, i in enumerate(inner.inputs):
                    if i != node.id:
                        continue
                    rules = vector_rules(inner.op)
                    rule = rules[k] if k < len(rules) else "its vector-Jacobian product"
                    names = [self.graph.nodes[j].name or self.graph.nodes[j].label
                             for j in inner.inputs]
                    try:
                        rule = rule.format(*names)
                    except (IndexError, KeyError):
                        pass
                    g = f"g = d{out}/d({inner.label})" if inner.id != top.id else \
                        f"g = d{out}/d{top.name}"
                    terms.append(f"from {step.text}: {_op_text(inner.op)}: {rule}, {g}")
            operands.append((f"d{out}/d{top.name}", self.ev.grads.get(top.id)))
        explanation.summary.append(
            f"d{out}/d{node.name} sums one term per use of {node.name} in the steps; each "
            f"term is the vector rule of the op that reads it:")
        explanation.summary.extend("  • " + t for t in terms)
        if too_large:
            explanation.notes.append("too many elements to list the chain-rule paths; "
                                     "explain one element of a smaller step to see them")
        explanation.equation = Equation(
            f"d{out}/d{node.name}", Formula(
                "0 (nothing reads it)" if not terms else "the term above" if len(terms) == 1
                else f"the sum of the {len(terms)} terms above", network=False),
            operands=[(n, v) for n, v in operands if v is not None and np.size(v) <= 144],
            result=explanation.value if np.size(explanation.value) <= 144 else None)
        if any(v is not None and np.size(v) > 144 for _, v in operands):
            explanation.notes.append("arrays over 144 elements are not shown; "
                                     "`backcheck solve --only NAME --json` gives them")
        return explanation


def _op_text(op: str) -> str:
    return {"softmax_axis": "softmax", "index": "gather", "compare": "comparison",
            "matmul": "@", "transpose": ".T", "neg": "negation", "add": "+", "sub": "−",
            "mul": "*", "div": "/", "pow": "**"}.get(op, op)


__all__ = ["TensorElements", "ONE"]
