"""A scalar-expression problem's names as the chain rule sees them: an edge is "step S
uses name N", its factor ∂S/∂N the step's partial derivative (a backward pass inside the
step; its formula by SymPy on our own parsed tree, never on the user's text)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backends import EXACT
from ..evaluate import _normalise
from ..exact import Exact
from ..graph import Graph, Node
from ..numbers_text import compact
from ..ops import OPS
from ..problem import ExpressionProblem
from ..solution import Solution
from .model import (
    ONE,
    ZERO,
    Equation,
    Explanation,
    Factor,
    Formula,
    as_exact,
    latex_number,
    latex_text,
    paren,
)
from .paths import MAX_PATHS, NamedStepGraph, chain_rule, fill_paths
from .symbolic import MAX_FORMULA_NESTING, SymbolicTooLarge, expr_to_sympy, nesting, sympy_template


class StepElements(NamedStepGraph):
    """A scalar problem's names (values and steps): (node id, ()) elements; an edge is
    "step S uses name N", its factor ∂S/∂N the step's partial derivative."""

    def __init__(self, solution: Solution) -> None:
        self.solution = solution
        self.graph: Graph = solution.graph
        self.problem: ExpressionProblem = solution.problem  # type: ignore[assignment]
        self.ev = solution.exact_evaluation
        self.output = (self.graph.output, ())
        self.steps = {s.name: s for s in self.problem.steps}
        named = [n for n in self.graph.nodes if n.name is not None and n.id <= self.graph.output]
        self.named = {n.id: n for n in named}
        self.uses: dict[int, list[int]] = {n.id: [] for n in named}  # name → steps using it
        self.partials: dict[int, dict[int, Exact]] = {}
        for node in named:
            if node.name in self.steps:
                partials = self._partials(node)
                self.partials[node.id] = partials
                for used in partials:
                    self.uses[used].append(node.id)

    def _partials(self, top: Node) -> dict[int, Exact]:
        """∂top/∂name for each name its step uses: a backward pass inside the step."""
        grads: dict[int, Exact] = {top.id: ONE}
        result: dict[int, Exact] = {}
        values = self.ev.values
        for node in reversed(self.graph.nodes[: top.id + 1]):
            if node.id not in grads:
                continue
            if node.id != top.id and node.name is not None:
                result[node.id] = result.get(node.id, ZERO) + grads[node.id]
                continue
            if node.is_leaf:
                continue
            op = OPS[node.op]
            inputs = [values[i] for i in node.inputs]
            for k, i in enumerate(node.inputs):
                if not self.graph.nodes[i].requires_grad:
                    continue
                contribution = as_exact(_normalise(EXACT, op.vjp(k)(
                    EXACT, EXACT.asarray(grads[node.id]), values[node.id], *inputs,
                    **node.attrs)))
                grads[i] = grads[i] + contribution if i in grads else contribution
        # a name used through several operations is one factor (their sum)
        return {i: result[i] for i in sorted(result)}

    def name(self, element: Any) -> str:
        return self.graph.nodes[element[0]].name

    def grad(self, element: Any) -> Exact:
        grad = self.ev.grads.get(element[0])
        if grad is None:
            return ZERO
        return grad.item() if isinstance(grad, np.ndarray) else Exact.of(grad)

    def parents(self, element: Any) -> list[tuple[Any, Factor]]:
        result = []
        for step_id in self.uses.get(element[0], []):
            result.append(((step_id, ()), self.factor(step_id, element[0])))
        return result

    def factor(self, step_id: int, used: int) -> Factor:
        step = self.graph.nodes[step_id]
        name = self.graph.nodes[used].name
        formula = step_partial_formula(self.steps[step.name], name)
        return Factor(step.name, name, formula, self.partials[step_id][used])

    def cut_factor(self, element: Any) -> Factor:
        out = self.graph.output_name
        return Factor(out, self.name(element), Formula("from the backward pass", network=False),
                      self.grad(element), source="backward")

    def explain(self, name: str, index: Any) -> Explanation:
        quantity = self.solution.quantity(name)
        value = as_exact(self.solution.exact(name))
        explanation = Explanation(name, "", value, network=False)
        node = self.graph.nodes[quantity.node]
        if quantity.kind == "grad":
            explanation.kind = "paths"
            start = (node.id, ())
            out = self.graph.output_name
            if start == self.output:
                explanation.summary.append(f"The gradient of {out} with respect to itself is 1.")
                explanation.total = ONE
                return explanation
            if node.id > self.graph.output or start[0] not in self.uses:
                explanation.summary.append(
                    f"{out} does not depend on {node.name}: the gradient is 0.")
                explanation.total = ZERO
                return explanation
            paths, _, _ = chain_rule(self, start)
            fill_paths(explanation, paths, self.grad(start), name)
            count = len(paths)
            if not paths:
                explanation.summary.append(
                    f"{out} does not depend on {node.name}: the gradient is 0.")
            elif count == 1:
                explanation.summary.append(
                    f"One path through the steps leads from {out} down to {node.name}: the "
                    f"gradient is the product of each step's partial derivative along it.")
            else:
                explanation.summary.append(
                    f"{count} paths through the steps lead from {out} down to {node.name} "
                    f"(a value used more than once collects gradient from every use): the "
                    f"gradient is the sum of the products along them.")
            if any(p.factors and p.factors[0].source == "backward" for p in paths):
                explanation.summary.append(
                    f"With more than {MAX_PATHS} full paths, each path starts at a step whose "
                    f"gradient the backward pass already has; explain that step to expand it.")
            return explanation
        if node.name not in self.steps:
            explanation.kind = "given"
            explanation.summary.append(f"{name} is given in the problem's values.")
            return explanation
        explanation.kind = "forward"
        step = self.steps[node.name]
        values = {n.name: as_exact(self.ev.values[n.id]) for n in self.named.values()}
        numbers, numbers_latex = substitute(step.expr, values, 6)
        expression = step.text.split("=", 1)[1].strip()
        explanation.equation = Equation(name, Formula(expr_template(step.expr)[0],
                                                      expr_template(step.expr)[1],
                                                      network=False),
                                        numbers, numbers_latex, result=value)
        explanation.summary.append(f"Step {step.name} = {expression}, with the values put in.")
        return explanation




# ----- step formulas from the parsed tree (never from the user's text)

_PREC = {"add": 1, "sub": 1, "mul": 2, "div": 2, "neg": 3, "pow": 4}


def expr_template(expr: tuple) -> tuple[str, tuple[str, ...]]:
    """A parsed step as a Formula template (names as placeholders)."""
    names: list[str] = []

    def walk(e: tuple) -> tuple[str, int]:
        kind = e[0]
        if kind == "num":
            from ..expression import _number_text

            text, prec = _number_text(e[1])
            return text.replace("-", "−"), prec
        if kind == "name":
            if e[1] not in names:
                names.append(e[1])
            return "{" + str(names.index(e[1])) + "}", 5
        if kind == "call":
            record = OPS[e[1]]
            symbol = record.symbol if record.kind == "activation" else e[1]
            return f"{symbol}({walk(e[2])[0]})", 5
        if kind == "neg":
            inner, prec = walk(e[1])
            return "−" + (inner if prec >= 3 else f"({inner})"), 3
        prec = _PREC[kind]
        (left, lp), (right, rp) = walk(e[1]), walk(e[2])
        if kind == "pow":
            left = left if lp > prec else f"({left})"
            right = right if rp >= 5 else f"({right})"
            return f"{left}^{right}", prec
        left = left if lp >= prec else f"({left})"
        right = right if rp > prec or (rp == prec and kind in ("add", "mul")) else f"({right})"
        symbol = {"add": " + ", "sub": " − ", "mul": "·", "div": " / "}[kind]
        return left + symbol + right, prec

    return walk(expr)[0], tuple(names)


def substitute(expr: tuple, values: dict[str, Exact], digits: int) -> tuple[str, str]:
    """The step's expression with every name replaced by its number (text, LaTeX)."""
    template, names = expr_template(expr)
    numbers = tuple(paren(compact(values[n], digits)) for n in names)
    text = template.format(*numbers)
    latex_numbers = tuple(paren(latex_number(compact(values[n], digits))) for n in names)
    marks = [f"\x00{i}\x00" for i in range(len(names))]
    latex = latex_text(template.format(*marks))
    for i, number in enumerate(latex_numbers):
        latex = latex.replace(f"\x00{i}\x00", "{" + number + "}")
    return text, latex


def step_partial_formula(step: Any, name: str) -> Formula:
    """∂step/∂name as a formula in the step's names (SymPy on our own parsed tree)."""
    try:
        if nesting(step.expr, {}) > MAX_FORMULA_NESTING:
            raise SymbolicTooLarge(step.text)  # the fallback below: bounded work
        expression, symbols = expr_to_sympy(step.expr)
        import sympy

        derivative = sympy.diff(expression, symbols[name])
        template, names = sympy_template(derivative, symbols)
        return Formula(template, names, network=False)
    except Exception:  # a formula is a nicety; the number comes from the engine
        return Formula(f"∂({step.text.split('=', 1)[1].strip()})/∂{name}", network=False)
