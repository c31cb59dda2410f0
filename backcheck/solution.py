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
from .errors import BackcheckError
from .evaluate import Evaluation, EvaluationError, evaluate
from .exact import (
    CERTIFIED_BITS,
    MAX_BITS,
    START_BITS,
    Exact,
    certified,
    working_precision,
)
from .graph import Graph, Quantity, build_graph
from .numbers_text import ROUNDED, UNDECIDED_ZERO, decimal_text, element_text
from .ops import LOSS_NODE, LOSSES, OPS
from .problem import Problem

CROSSCHECK_TOLERANCE = 1e-9  # relative, as the brief demands


@dataclass
class CrossCheck:
    """Largest disagreement between the exact and the float64 evaluator."""

    max_abs: float = 0.0
    max_rel: float = 0.0
    worst: str | None = None
    count: int = 0
    #: quantities with true values beyond float64's range (not compared there)
    beyond: list[str] = field(default_factory=list)

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
    #: bits of working precision at which every exact value shown was certain
    precision: int = START_BITS

    @property
    def names(self) -> list[str]:
        return list(self.graph.quantities)

    def __repr__(self) -> str:
        title = getattr(self.problem, "title", None) or "problem"
        kind = "exact" if self.exact_evaluation is not None else "float64 only"
        return f"<Solution {title}: {len(self.graph.quantities)} quantities, {kind}>"

    def _repr_html_(self) -> str | None:
        """A table in Jupyter (quantity, shape, value), drawn by the render layer."""
        from .display import html

        return html(self)

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
        with working_precision(self.precision, strict=False):  # updates are computed here
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
    if value.undecided:
        return "≈0"
    return "≈" + value.nstr(20)


def _nested(array: Any, convert: Any) -> Any:
    if np.ndim(array) == 0:
        return convert(array.item() if isinstance(array, np.ndarray) else array)
    return [_nested(row, convert) for row in array]


def solve(problem: Problem, *, float_only: bool = False) -> Solution:
    """Solve a problem: forward and backward pass, exact and float64, cross-checked.

    The exact pass runs at doubling precision (:func:`backcheck.exact.certified`) until
    every ReLU branch, every "exactly 0" and every shown digit is certain. A problem with
    symbols (FORMAT §8) is solved at its ``at:`` numbers; without ``at:`` it has none."""
    if getattr(problem, "symbols", None):
        if problem.at is None:
            raise BackcheckError("this problem has symbols and no at:, so it has no numbers "
                                 "to show here",
                                 hint="add at: {symbol: number, ...}; `backcheck solve` "
                                      "prints its formulas without it")
        from .symbolic import numeric_problem

        problem = numeric_problem(problem, problem.at)
    graph = build_graph(problem)
    exact_evaluation = None
    with np.errstate(all="ignore"):
        float_evaluation = evaluate(graph, FLOAT)
    bits = START_BITS
    if not float_only:
        def compute() -> Evaluation:
            return evaluate(graph, EXACT)

        def shown_values_certain(evaluation: Evaluation) -> bool:
            probe = Solution(problem, graph, evaluation, float_evaluation)
            probe.precision = _flint_bits()
            return all(_certain(probe.exact(name)) for name in probe.names)

        try:
            exact_evaluation, bits = certified(compute, shown_values_certain,
                                               max_bits=_max_bits(graph))
        except EvaluationError as error:
            raise _domain_error(problem, graph, error) from None
    solution = Solution(problem, graph, exact_evaluation, float_evaluation)
    solution.precision = bits
    if exact_evaluation is not None:
        kinks = _kink_warnings(graph, exact_evaluation)
        solution.warnings.extend(kinks)
        solution.warnings.extend(_undecided_warnings(solution))
        solution.crosscheck = _crosscheck(solution)
        for name in solution.crosscheck.beyond:
            solution.warnings.append(
                f"{name} is beyond float64's range (about ±1.8e308): float64 tools give inf "
                f"there; the exact value is shown, and the cross-check skips it")
        if not solution.crosscheck.ok:
            try:
                warning = _disagreement_warning(solution, bool(kinks))
            except Exception:  # noqa: BLE001 (the diagnosis is a courtesy: never exit 3)
                warning = (f"float64 differs from the exact value on "
                           f"{solution.crosscheck.worst}: float64 rounding is amplified on the "
                           f"way there; the exact values shown are the truth")
            solution.warnings.append(warning)
    else:
        _check_finite(solution)
    return solution


def _flint_bits() -> int:
    from flint import ctx

    return int(ctx.prec)


def _certain(values: np.ndarray) -> bool:
    """Is every value rational, or known to ``CERTIFIED_BITS`` relative bits?"""
    return all(v.q is not None or v.accuracy_bits >= CERTIFIED_BITS for v in values.flat)


def _max_bits(graph: Graph) -> int:
    """How far precision may be escalated: far for small graphs, less for large ones
    (the work grows with elements × bits)."""
    elements = sum(int(np.prod(q.internal_shape)) for q in graph.quantities.values())
    return max(4 * START_BITS, min(MAX_BITS, (1 << 24) // max(elements, 1)))


def _undecided_warnings(solution: Solution) -> list[str]:
    """Values that stay within rounding of 0 at the highest precision tried."""
    warnings = []
    digits = int(solution.precision * 0.30103)
    for name in solution.names:
        for index, value in np.ndenumerate(solution.exact(name)):
            if value.undecided:
                element = f"{name}[{','.join(str(i + 1) for i in index)}]" if index else name
                warnings.append(
                    f"{element} cannot be told from 0 at {digits} digits (it may be exactly "
                    f"0, reached through irrational numbers); it is shown as ≈0")
    return warnings


def _domain_error(problem: Problem, graph: Graph, error: EvaluationError) -> BackcheckError:
    node = error.node
    where = node.name or node.label
    hint = None
    mark = None
    record = LOSSES.get(node.attrs.get("kind", "")) if node.op == LOSS_NODE else None
    if record is not None and record.logs_output:
        into_unit = " or ".join(dict.fromkeys(r.cancels_with for r in LOSSES.values()
                                              if r.logs_output and r.cancels_with))
        hint = (f"{record.name} takes the log of the network's output: the last layer's "
                f"activation must give values in (0, 1)" + (f" ({into_unit})" if into_unit else ""))
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
    """A kink input that is exactly 0: say which derivative is used there (PyTorch's)."""
    warnings = []
    for node in graph.nodes:
        record = OPS.get(node.op)
        if record is None or not record.kinks or not record.elementwise:
            continue
        source = graph.nodes[node.inputs[0]]
        values = evaluation.values[source.id]
        for index, v in np.ndenumerate(values):
            if v.q is None or v.q not in record.kinks:
                continue
            name = element_name(graph, source.name or source.label, index)
            rule = _kink_rule(record, v.q, node.attrs)
            warnings.append(f"{name} is exactly {decimal_text(v.q)}: {rule}, so hand answers "
                            f"may differ")
    return warnings


def _kink_rule(record: Any, kink: Any, attrs: dict) -> str:
    """``relu′(0) is taken as 0 (PyTorch's choice); some texts use 1 or ½ there``: the
    value the record's own vjp takes at the kink (named after a parameter when it is
    one: the slope), and the other values its kink slips stand for."""
    x = EXACT.asarray(kink)
    slope = record.vjp(0)(EXACT, EXACT.asarray(1), record.forward(EXACT, x, **attrs), x, **attrs)
    derivative = Exact.of(np.asarray(slope, dtype=object).item())
    taken = _short(derivative)
    named = next((p.name for p in record.params if derivative.q is not None
                  and attrs.get(p.name) == derivative.q), None)
    rule = (f"{record.symbol}′({decimal_text(kink)}) is taken as "
            f"{f'the {named} ' if named else ''}{taken} (PyTorch's choice)")
    others = record.kink_slips()
    return rule + (f"; some texts use {' or '.join(others)} there" if others else "")


def _short(value: Any) -> str:
    """A slope as written: an integer, a short decimal or p/q."""
    if value is None:
        return "?"
    q = value.q if isinstance(value, Exact) else Exact.of(value).q
    return str(value) if q is None else decimal_text(q)


def element_name(graph: Graph, name: str, internal_index: tuple[int, ...]) -> str:
    """``z1[3]`` for an element, 1-based, in the problem's layout."""
    quantity = graph.quantities.get(name)
    if quantity is None or not quantity.shape:
        return name
    flat = int(np.ravel_multi_index(internal_index, quantity.internal_shape))
    return element_text(name, np.unravel_index(flat, quantity.shape))


def _crosscheck(solution: Solution) -> CrossCheck:
    """Compare every number of the exact evaluator with the float64 evaluator's.

    The relative difference of a quantity is measured against its own largest value, but
    never against less than a millionth of the problem's largest value: a gradient that
    is exactly 0 by cancellation is computed by float64 as ~1e-17, which is no bug.
    A float64 value that is not finite where the truth is counts as fully different.
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
            if solution.quantity(name).kind == "value":
                raise BackcheckError(
                    f"{name} is beyond float64's range (about ±1.8e308); backcheck needs "
                    f"every value of the forward pass to fit in float64 to cross-check it",
                    file=solution.problem.file,
                )
            # a true gradient float64 cannot hold (dL/da = 1/(1 − σ(800)) with a finite
            # loss): shown exactly, said, and left out of the comparison
            check.beyond.append(name)
            keep = np.isfinite(truth)
            truth, floats = truth[keep], np.asarray(floats)[keep]
            if truth.size == 0:
                continue
        pairs.append((name, truth, floats, solution.graph.nodes[
            solution.quantity(name).node].is_leaf and solution.quantity(name).kind == "value"))
    # the scale of computed numbers (an input as large as 1e100 must not make every
    # computed difference look small)
    overall = max((float(np.max(np.abs(t))) for _, t, _, leaf in pairs if not leaf),
                  default=0.0)
    for name, truth, floats, _ in pairs:
        scale = max(float(np.max(np.abs(truth))), 1e-6 * overall, 1e-300)
        with np.errstate(invalid="ignore", over="ignore"):
            difference = np.abs(truth - floats)
        difference = np.where(np.isfinite(difference), difference, np.inf)
        max_abs = float(np.max(difference))
        rel = max_abs / scale
        check.count += truth.size
        check.max_abs = max(check.max_abs, max_abs)
        if check.worst is None or rel > check.max_rel:
            check.max_rel, check.worst = rel, name
    return check


#: a float64 result further than this (relative) from the exact value of the same
#: float64 inputs means float64 rounding was amplified at that node
_NODE_TOLERANCE = 1e-9


def _disagreement_warning(solution: Solution, at_kink: bool) -> str:
    """Why float64 differs from the truth, naming the element where it starts.

    Never an internal error: a valid file whose float64 evaluation is ill-conditioned
    (an input float64 cannot store, a saturated sigmoid, a cancellation, a value at a
    kink) is a fact about float64, and the exact values shown are right."""
    check = solution.crosscheck
    assert check is not None
    worst = check.worst
    size = f"relative difference {check.max_rel:.1g}" if np.isfinite(check.max_rel) \
        else "inf or nan in float64"
    if at_kink:
        return (f"float64 differs from the exact value on {worst} ({size}) because a "
                f"pre-activation that is exactly 0 comes out of float64 rounding as a tiny "
                f"nonzero number, so float64 tools (PyTorch, NumPy) take the other branch of "
                f"the kink there; the exact values shown are the truth")
    graph = solution.graph
    rounded = _rounded_leaves(graph)
    reason = ""
    if rounded:
        stored = "; ".join(f"{name} = {written} is stored as {stored}"
                           for name, written, stored in rounded[:3])
        more = f" (and {len(rounded) - 3} more)" if len(rounded) > 3 else ""
        reason = (f"float64 cannot store every input exactly ({stored}{more}), and ")
    origin = _first_divergence(solution)
    if origin is None:
        why = (f"{worst} is sensitive to that rounding (ill-conditioned: a small change of "
               f"the inputs changes it a lot)") if reason else \
            f"float64 rounding is amplified on the way to {worst}"
    else:
        why = origin
    return (f"float64 differs from the exact value on {worst} ({size}): {reason}{why}; "
            f"the exact values shown are the truth, float64 tools (PyTorch, NumPy) will "
            f"show the float64 ones")


def _rounded_leaves(graph: Graph) -> list[tuple[str, str, str]]:
    """Leaf elements that float64 cannot hold exactly: (element, as written, as stored)."""
    from fractions import Fraction

    found = []
    for node_id, values in graph.leaves.items():
        node = graph.nodes[node_id]
        for index, value in np.ndenumerate(values):
            q = Fraction(value) if not isinstance(value, Exact) else value.q
            if q is None:
                continue
            try:
                stored = float(q)
            except OverflowError:
                continue
            if Fraction(stored) != q:
                name = element_name(graph, node.name or node.label, index)
                found.append((name, _short_decimal(q), _short_decimal(Fraction(stored))))
    return found


def _short_decimal(q: Any) -> str:
    """A rational for a message: exactly when that is short, else 20 digits and …"""
    from fractions import Fraction

    text = decimal_text(q)
    if len(text) <= 40:
        return text
    text = Exact(q).nstr(20)
    return text if Fraction(text) == q else Exact(q).nstr(20, strip_zeros=False) + ROUNDED


def _first_divergence(solution: Solution) -> str | None:
    """Where float64 first goes wrong: the first node, in the order float64 computed them
    (forward, then backward), whose float64 value differs from the exact one although
    every number it was computed from agreed. Names the element and why."""
    graph = solution.graph
    exact, floats = solution.exact_evaluation, solution.float_evaluation
    if exact is None:
        return None
    for node in graph.nodes:
        if node.is_leaf:
            continue
        element = _diverging_element(exact.values[node.id], floats.values[node.id])
        if element is not None:
            index, exact_value, float_value = element
            return _explain_node(graph, node, index, exact_value, float_value)
    for node in reversed(graph.nodes):
        if node.id not in exact.grads or node.id not in floats.grads:
            continue
        element = _diverging_element(exact.grads[node.id], floats.grads[node.id])
        if element is None:
            continue
        index, exact_value, float_value = element
        name = element_name(graph, node.name or node.label, index)
        consumers = [OPS.get(graph.nodes[c].op) for c in graph.consumers(node.id)]
        shown = (f"{graph.grad_name(name)} is {_shown(exact_value)}, float64 gets "
                 f"{float_value!r}")
        saturating = [r.title for r in consumers if r is not None and r.saturates]
        kinked = [r for r in consumers if r is not None and r.kinks]
        if saturating:
            why = (f"the derivative of a saturated {' or '.join(sorted(set(saturating)))} "
                   f"there is below what float64 can resolve next to its limit")
        elif any(r is not None and r.name == LOSS_NODE for r in consumers):
            why = ("the loss's derivative at an output float64 has rounded to 0 or 1 is "
                   "beyond float64's range or has lost its digits")
        elif kinked:
            why = (f"its input is within float64 rounding of the kink at "
                   f"{decimal_text(kinked[0].kinks[0])}")
        else:
            why = ("the terms of the chain rule cancel there, so float64's rounding of them "
                   "dominates")
        return f"{shown}: {why}"
    return None


def _shown(value: Exact) -> str:
    if value.q is not None:
        return decimal_text(value.q)
    return UNDECIDED_ZERO if value.undecided else value.nstr(6, strip_zeros=False) + ROUNDED


def _as_float(values: Any) -> np.ndarray:
    with np.errstate(over="ignore"):
        return np.vectorize(float, otypes=[np.float64])(np.asarray(values, dtype=object)) \
            if np.size(values) else np.zeros(np.shape(values))


def _diverging_element(truth: Any, local: np.ndarray) -> tuple | None:
    truth = np.asarray(truth, dtype=object)
    if truth.shape != local.shape or truth.size == 0:
        return None
    truth_float = _as_float(truth)
    scale = max(float(np.max(np.abs(truth_float))), 1e-300)
    for index, value in np.ndenumerate(truth_float):
        got = float(local[index])
        if not np.isfinite(got) or abs(got - value) > _NODE_TOLERANCE * max(abs(value),
                                                                            1e-6 * scale):
            return index, truth[index], got
    return None


def _explain_node(graph: Graph, node: Any, index: tuple, exact_value: Exact,
                  float_value: float) -> str:
    name = element_name(graph, node.name or node.label, index)
    shown = f"{name} is {_shown(exact_value)}, float64 gets {float_value!r}"
    record = OPS.get(node.op)
    loss = LOSSES.get(node.attrs.get("kind", "")) if node.op == LOSS_NODE else None
    if record is not None and record.saturates:
        return (f"{shown}: the {record.title} saturates, so float64 rounds it to its limit "
                f"and the difference from that limit that follows is lost")
    if loss is not None and loss.logs_output:
        return (f"{shown}: the loss takes the log of an output that float64 has rounded "
                f"to 0 or 1 (a saturated output)")
    if node.op in ("add", "sub", "linear", "loss"):
        return (f"{shown}: the terms cancel (the result is much smaller than they are), so "
                f"float64's rounding of them dominates")
    if node.op in ("sin", "cos", "exp", "pow"):
        return (f"{shown}: {node.op} of a large argument amplifies float64's rounding of "
                f"its input")
    if record is not None and record.kinks:
        return (f"{shown}: its input is within float64 rounding of the kink at "
                f"{decimal_text(record.kinks[0])}")
    return f"{shown}: float64's rounding is amplified by {node.op} here"


def _check_finite(solution: Solution) -> None:
    """float-only mode: a float64 overflow is the user's problem, said plainly."""
    for name in solution.names:
        if not np.all(np.isfinite(solution.float64_path(name))):
            raise BackcheckError(
                f"{name} overflows float64 or is undefined (inf or nan)",
                file=solution.problem.file,
            )
