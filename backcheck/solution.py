"""``solve``: every value and gradient of a problem, exact and float64, cross-checked.

The returned :class:`Solution` is a plain object for notebooks::

    from backcheck import load_problem, solve
    solution = solve(load_problem("problems/mazur_2_2_2.yaml"))
    solution.float("dL/dW2")      # numpy float64, the problem's layout
    solution.exact("dL/dW2")      # numpy object array of Exact numbers
    solution.text("a1", digits=6) # as backcheck prints it
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .backends import EXACT, FLOAT
from .errors import BackcheckError, InternalError
from .evaluate import Evaluation, EvaluationError, evaluate
from .exact import Exact
from .graph import Graph, Quantity, build_graph
from .problem import Problem

CROSSCHECK_TOLERANCE = 1e-9  # relative, as the brief demands


@dataclass
class CrossCheck:
    """Largest disagreement between the exact and the float64 evaluator."""

    max_abs: float = 0.0
    max_rel: float = 0.0
    worst: str | None = None
    count: int = 0

    @property
    def ok(self) -> bool:
        return self.max_rel <= CROSSCHECK_TOLERANCE


@dataclass
class Solution:
    problem: Problem
    graph: Graph
    exact_evaluation: Evaluation | None
    float_evaluation: Evaluation
    warnings: list[str] = field(default_factory=list)
    crosscheck: CrossCheck | None = None

    @property
    def names(self) -> list[str]:
        return list(self.graph.quantities)

    def __repr__(self) -> str:
        title = getattr(self.problem, "title", None) or "problem"
        kind = "exact" if self.exact_evaluation is not None else "float64 only"
        return f"<Solution {title}: {len(self.graph.quantities)} quantities, {kind}>"

    def _repr_html_(self) -> str:
        """A table in Jupyter (quantity, shape, value)."""
        from .render.notebook import solution_html

        return solution_html(self)

    def quantity(self, name: str) -> Quantity:
        return self.graph.quantities[name]

    @property
    def is_exact(self) -> bool:
        return self.exact_evaluation is not None

    def _internal(self, evaluation: Evaluation, quantity: Quantity) -> Any:
        if quantity.kind == "value":
            return evaluation.values[quantity.node]
        grad = evaluation.grads.get(quantity.node)
        if grad is None:
            grad = evaluation.backend.asarray(np.zeros(quantity.internal_shape, dtype=int))
        if quantity.kind == "grad":
            return grad
        rate = self.problem.learning_rate  # type: ignore[union-attr]
        step = rate * grad if evaluation.backend is EXACT else float(rate) * grad
        return evaluation.values[quantity.node] - step

    def exact(self, name: str) -> np.ndarray:
        """Exact values (object array of :class:`Exact`), in the problem's layout."""
        if self.exact_evaluation is None:
            raise ValueError("solved with float_only=True: no exact values")
        quantity = self.quantity(name)
        return quantity.to_layout(self._internal(self.exact_evaluation, quantity))

    def float(self, name: str) -> np.ndarray:
        """float64 values in the problem's layout: correctly rounded from the exact
        value when there is one, otherwise the float64 evaluator's."""
        quantity = self.quantity(name)
        if self.exact_evaluation is not None:
            exact = self.exact(name)
            return np.vectorize(float, otypes=[np.float64])(exact) if exact.size else exact
        return quantity.to_layout(self._internal(self.float_evaluation, quantity))

    def float64_path(self, name: str) -> np.ndarray:
        """What the float64 evaluator alone computed (for the cross-check)."""
        quantity = self.quantity(name)
        return quantity.to_layout(self._internal(self.float_evaluation, quantity))

    def to_json(self) -> dict[str, Any]:
        quantities = {name: self.float(name).tolist() for name in self.names}
        result: dict[str, Any] = {"quantities": quantities}
        if self.exact_evaluation is not None:
            result["exact"] = {
                name: _nested(self.exact(name), _exact_json) for name in self.names
            }
        if self.crosscheck is not None:
            result["crosscheck"] = {
                "max_abs_difference": self.crosscheck.max_abs,
                "max_rel_difference": self.crosscheck.max_rel,
                "worst": self.crosscheck.worst,
                "ok": self.crosscheck.ok,
            }
        result["warnings"] = list(self.warnings)
        return result


def _exact_json(value: Exact) -> str:
    if value.q is not None:
        return str(value.q)
    return "≈" + value.nstr(20)


def _nested(array: Any, convert: Any) -> Any:
    if np.ndim(array) == 0:
        return convert(array.item() if isinstance(array, np.ndarray) else array)
    return [_nested(row, convert) for row in array]


def solve(problem: Problem, *, float_only: bool = False) -> Solution:
    """Solve a problem: forward and backward pass, exact and float64, cross-checked."""
    graph = build_graph(problem)
    exact_evaluation = None
    with np.errstate(all="ignore"):
        float_evaluation = evaluate(graph, FLOAT)
    if not float_only:
        try:
            exact_evaluation = evaluate(graph, EXACT)
        except EvaluationError as error:
            raise _domain_error(problem, graph, error) from None
    solution = Solution(problem, graph, exact_evaluation, float_evaluation)
    if exact_evaluation is not None:
        kinks = _kink_warnings(graph, exact_evaluation)
        solution.warnings.extend(kinks)
        solution.crosscheck = _crosscheck(solution, at_kink=bool(kinks))
        if not solution.crosscheck.ok:
            solution.warnings.append(
                f"float64 differs from the exact value on {solution.crosscheck.worst} because a "
                f"pre-activation that is exactly 0 comes out of float64 rounding as a tiny "
                f"nonzero number, so float64 tools (PyTorch, NumPy) take the other branch of "
                f"the kink there; the exact values shown are the truth"
            )
    else:
        _check_finite(solution)
    return solution


def _domain_error(problem: Problem, graph: Graph, error: EvaluationError) -> BackcheckError:
    node = error.node
    where = node.name or node.label
    hint = None
    mark = None
    if node.op == "loss" and node.attrs.get("kind") in ("cross_entropy", "bce"):
        hint = (f"{node.attrs['kind']} takes the log of the network's output: the last "
                f"layer's activation must give values in (0, 1) (softmax or sigmoid)")
    step = _step_of(problem, graph, node)
    if step is not None:
        mark = step.mark
        line = f", line {mark.line}" if mark is not None else ""
        if step.name == node.name:
            where = f"{step.name} (step '{step.text}'{line})"
        else:
            where = f"{node.label} in step '{step.text}'{line}"
    if error.phase == "backward":
        message = f"cannot compute the gradient through {where}: {error.reason}"
        hint = hint or ("the value exists but its derivative does not (e.g. a square root "
                        "or power at 0); change the values so every step is differentiable")
    else:
        message = f"cannot compute {where}: {error.reason}"
    return BackcheckError(message, file=problem.file, mark=mark, hint=hint)


def _step_of(problem: Problem, graph: Graph, node: Any) -> Any:
    """The scalar step whose expression contains ``node`` (steps lower in order)."""
    steps = getattr(problem, "steps", None)
    if not steps:
        return None
    by_name = {step.name: step for step in steps}
    for candidate in graph.nodes[node.id:]:
        if candidate.text is not None and candidate.name in by_name:
            return by_name[candidate.name]
    return None


def _kink_warnings(graph: Graph, evaluation: Evaluation) -> list[str]:
    """ReLU at exactly 0: we use derivative 0 (PyTorch's choice) and say so."""
    warnings = []
    for node in graph.nodes:
        if node.op not in ("relu", "leaky_relu", "abs"):
            continue
        source = graph.nodes[node.inputs[0]]
        values = evaluation.values[source.id]
        zeros = [index for index, v in np.ndenumerate(values) if v.sign() == 0]
        for index in zeros:
            name = element_name(graph, source.name or source.label, index)
            derivative = "relu′(0)" if node.op != "abs" else "|·|′(0)"
            warnings.append(
                f"{name} is exactly 0: {derivative} is taken as 0 (PyTorch's choice); "
                f"some texts use 1 or ½ there, so hand answers may differ"
            )
    return warnings


def element_name(graph: Graph, name: str, internal_index: tuple[int, ...]) -> str:
    """``z1[3]`` for an element, 1-based, in the problem's layout."""
    quantity = graph.quantities.get(name)
    if quantity is None or not quantity.shape:
        return name
    flat = int(np.ravel_multi_index(internal_index, quantity.internal_shape))
    layout = np.unravel_index(flat, quantity.shape)
    return f"{name}[{','.join(str(int(i) + 1) for i in layout)}]"


def _crosscheck(solution: Solution, at_kink: bool = False) -> CrossCheck:
    """Compare every number of the exact evaluator with the float64 evaluator's.

    The relative difference of a quantity is measured against its own largest value, but
    never against less than a millionth of the problem's largest value: a gradient that
    is exactly 0 by cancellation is computed by float64 as ~1e-17, which is no bug.
    """
    check = CrossCheck()
    pairs = []
    for name in solution.names:
        exact = solution.exact(name)
        if exact.size == 0:
            continue
        with np.errstate(over="ignore"):
            truth = np.vectorize(float, otypes=[np.float64])(exact)
        floats = solution.float64_path(name)
        if not np.all(np.isfinite(truth)):
            raise BackcheckError(
                f"{name} is beyond float64's range (about ±1.8e308); backcheck needs every "
                f"value to fit in float64 to cross-check it",
                file=solution.problem.file,
            )
        if not np.all(np.isfinite(floats)):
            raise BackcheckError(
                f"the float64 evaluation of {name} overflows or is undefined, though the exact "
                f"value is finite; rescale the problem's numbers",
                file=solution.problem.file,
            )
        pairs.append((name, truth, floats))
    overall = max((float(np.max(np.abs(t))) for _, t, _ in pairs), default=0.0)
    for name, truth, floats in pairs:
        scale = max(float(np.max(np.abs(truth))), 1e-6 * overall, 1e-300)
        max_abs = float(np.max(np.abs(truth - floats)))
        rel = max_abs / scale
        check.count += truth.size
        check.max_abs = max(check.max_abs, max_abs)
        if check.worst is None or rel > check.max_rel:
            check.max_rel, check.worst = rel, name
    if not check.ok and not at_kink:
        raise InternalError(
            f"exact and float64 evaluators disagree on {check.worst} "
            f"(relative difference {check.max_rel:.3g} > {CROSSCHECK_TOLERANCE:g}); "
            f"this is a bug in backcheck, please report it with the problem file"
        )
    return check


def _check_finite(solution: Solution) -> None:
    """float-only mode: a float64 overflow is the user's problem, said plainly."""
    for name in solution.names:
        if not np.all(np.isfinite(solution.float64_path(name))):
            raise BackcheckError(
                f"{name} overflows float64 or is undefined (inf or nan)",
                file=solution.problem.file,
            )
