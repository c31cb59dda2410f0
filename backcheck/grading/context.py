"""A problem prepared once for grading every sheet of it: the exact solution seen as
quantities, each buggy rule worked from the truth (cached), and the loss rules that
evaluations from a student's own numbers use (0·log 0 = 0 of cross-entropy and BCE, the
softmax + cross-entropy step taught as one).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from ..backends import EXACT, FLOAT
from ..errors import BackcheckError
from ..evaluate import EvaluationError, evaluate
from ..graph import Quantity
from ..mistakes import QuantityValues, Structure, Variant, fmt, variants
from ..ops import LOSSES, OPS
from ..problem import Problem
from ..solution import Solution, solve

#: above this ``exact_work`` (one exact pass of a problem, see :mod:`backcheck.problem`)
#: verify works to a budget: buggy rules are screened in float64 first and run exactly
#: only where the screen matches a wrong entry, within ``LARGE_EXACT_BUDGET`` work units
#: per sheet (at least one run; a network at ``MAX_EXACT_WORK`` takes about a second per
#: exact pass, so a sheet of the largest problem grades in about 4 s)
LARGE_WORK = 20_000
LARGE_EXACT_BUDGET = 500_000


class ProblemContext:
    """A problem solved once, with its buggy-rule evaluations cached."""

    def __init__(self, problem: Problem, solution: Solution | None = None) -> None:
        self.problem = problem
        self.solution = solution or solve(problem)
        self.graph = self.solution.graph
        self.structure = Structure.of(self.graph)
        if self.solution.exact_evaluation is not None:
            self.structure.values = self.solution.exact_evaluation.values
        if self.solution.exact_evaluation is None:
            raise BackcheckError("verify needs the exact solution", file=problem.file)
        self.truth = QuantityValues(self.graph, self.solution.exact_evaluation, "truth")
        self.truth_flat = {name: self.truth.flat(name) for name in self.graph.quantities}
        self.truth_float = {name: [float(v) for v in values]
                            for name, values in self.truth_flat.items()}
        self.indices = {name: [layout_index(q, i) for i in range(len(self.truth_flat[name]))]
                        for name, q in self.graph.quantities.items()}
        self.variants = variants(self.graph, self.structure)
        self.large = int(getattr(problem, "exact_work", 0) or 0) > LARGE_WORK
        self.boundary = _log_boundary(self.graph)
        self.loss_swaps = _zero_weight_swaps(self.graph)
        self.fused = _fused_output(self.graph)
        self._buggy: dict[str, QuantityValues | None] = {}
        self._buggy_float: dict[str, QuantityValues | None] = {}
        self._truth_float_base: QuantityValues | None = None
        self._buggy_floats: dict[tuple[str, str], list[float | None] | None] = {}
        self._transformed: dict[tuple[str, str], list[Any] | None] = {}
        self._expected_texts: dict[tuple[str, int], str] = {}

    def expected_text(self, name: str, flat: int) -> str:
        """The true value of an element as messages write it (:func:`fmt`; cached: the
        messages of every carried and wrong entry name it)."""
        key = (name, flat)
        text = self._expected_texts.get(key)
        if text is None:
            text = self._expected_texts[key] = fmt(self.truth_flat[name][flat])
        return text

    def buggy(self, variant: Variant, name: str) -> list[Any] | None:
        """What ``variant`` gives for quantity ``name`` when worked from the truth."""
        if variant.transform is not None:
            key = (variant.key, name)
            if key not in self._transformed:
                self._transformed[key] = variant.transform(self.graph.quantities[name],
                                                           self.truth)
            return self._transformed[key]
        if variant.key not in self._buggy:
            self._buggy[variant.key] = run(self.graph, EXACT, {},
                                            variant.swaps(self.truth), "truth")
        base = self._buggy[variant.key]
        return None if base is None else base.flat(name)

    def buggy_floats(self, variant: Variant, name: str) -> list[float | None] | None:
        """:meth:`buggy` as float64 numbers (cached: diagnosis screens every wrong entry
        of every sheet against them)."""
        key = (variant.key, name)
        if key not in self._buggy_floats:
            values = self.buggy(variant, name)
            self._buggy_floats[key] = None if values is None else [
                None if v is None else float(v) for v in values]
        return self._buggy_floats[key]

    def has_buggy(self, variant: Variant) -> bool:
        """Has ``variant`` already been worked exactly from the truth (cached)?"""
        return variant.transform is not None or variant.key in self._buggy

    def buggy_float(self, variant: Variant, name: str) -> list[Any] | None:
        """:meth:`buggy` in float64 (a cheap screen for large problems)."""
        if variant.transform is not None:
            return self.buggy(variant, name)
        if variant.key not in self._buggy_float:
            if self._truth_float_base is None:
                self._truth_float_base = QuantityValues(self.graph, self.solution.float_evaluation,
                                              "truth")
            try:
                swaps = variant.swaps(self._truth_float_base)  # type: ignore[misc]
            except (ArithmeticError, ValueError, KeyError, IndexError, TypeError):
                swaps = None
            self._buggy_float[variant.key] = None if swaps is None else run(
                self.graph, FLOAT, {}, swaps, "truth")
        base = self._buggy_float[variant.key]
        return None if base is None else base.flat(name)


#: a probability written 0 (or 1) where the target gives its log no weight stands, in
#: evaluations from the student's own numbers, for this far from the boundary: the
#: 0·log 0 = 0 of cross-entropy and BCE, with every rule of the op table unchanged (the
#: difference, 1e-60, is far below any precision a sheet is written to)
BOUNDARY_NUDGE = Fraction(1, 10**60)


def _log_boundary(graph: Any) -> tuple[str, list[Any], bool] | None:
    """(the loss's input quantity, the target flat, does 1 count as a boundary too) for
    losses with a log of the probability (cross-entropy, BCE); None otherwise."""
    loss = graph.nodes[graph.output]
    if loss.op != "loss" or loss.attrs.get("kind") not in ("cross_entropy", "bce"):
        return None
    prediction, target = loss.inputs[0], loss.inputs[1]
    names = [name for name, q in graph.quantities.items()
             if q.kind == "value" and q.node == prediction]
    if not names:
        return None
    if target not in graph.leaves:
        return None
    flat = list(np.ravel(np.asarray(graph.leaves[target], dtype=object)))
    return names[0], flat, loss.attrs["kind"] == "bce"


def _zero_weight_swaps(graph: Any) -> dict:
    """Cross-entropy as a person works it: −Σ t·log p over the classes with t ≠ 0 only
    (0·log p = 0, whatever the student wrote for p there); BCE with 0/1 targets as
    −log p or −log(1 − p) per class, the other log never taken. The op table's own loss
    rules (p read as 1 where the target is 0; BCE through the cross-entropy record), for
    evaluations from the student's numbers."""
    loss = graph.nodes[graph.output]
    if loss.op != "loss" or loss.attrs.get("kind") not in ("cross_entropy", "bce"):
        return {}
    op = OPS[loss.op]
    forward, vjp = op.forward, op.vjps[0]
    if loss.attrs["kind"] == "bce":
        # binary targets: each class is −log p (t = 1) or −log(1 − p) (t = 0), the
        # cross-entropy record at p or at 1 − p; the other log never enters
        target = np.ravel(np.asarray(graph.leaves.get(loss.inputs[1]), dtype=object))
        if not all(v in (0, 1) for v in target):
            return {}

        def side(B: Any, p: Any, t: Any) -> Any:
            ones = np.asarray(t == 1, dtype=bool)
            return ones, B.asarray(np.where(ones, p, 1 - p)), B.asarray(np.where(ones, t, 1 - t))

        def bce_forward(B: Any, p: Any, t: Any, **kw: Any) -> Any:
            _, q, ones = side(B, p, t)
            return forward(B, q, ones, **{**kw, "kind": "cross_entropy"})

        def bce_vjp(B: Any, g: Any, ans: Any, p: Any, t: Any, **kw: Any) -> Any:
            mask, q, ones = side(B, p, t)
            d = vjp(B, g, ans, q, ones, **{**kw, "kind": "cross_entropy"})
            return B.asarray(np.where(mask, d, -d))

        return {loss.id: {"forward": bce_forward, 0: bce_vjp}}

    def masked(p: Any, t: Any) -> Any:
        return np.where(np.asarray(t == 0, dtype=bool), 1, p)

    return {loss.id: {
        "forward": lambda B, p, t, **kw: forward(B, B.asarray(masked(p, t)), t, **kw),
        0: lambda B, g, ans, p, t, **kw: vjp(B, g, ans, B.asarray(masked(p, t)), t, **kw)}}


def _fused_output(graph: Any) -> tuple[str, str] | None:
    """(dL/dzN, dL/daN) when the last activation and the loss are the pair taught as one
    step (softmax + cross-entropy, sigmoid + BCE: dL/dzN = (aN − t)/N)."""
    loss = graph.nodes[graph.output]
    if loss.op != "loss":
        return None
    activation = graph.nodes[loss.inputs[0]]
    record = LOSSES.get(loss.attrs.get("kind", ""))
    if record is None or record.cancels_with != activation.op or not activation.inputs:
        return None
    source = graph.nodes[activation.inputs[0]]
    by_node = {(q.kind, q.node): name for name, q in graph.quantities.items()}
    dz = by_node.get(("grad", source.id))
    da = by_node.get(("grad", activation.id))
    return (dz, da) if dz is not None and da is not None else None


def run(graph: Any, backend: Any, overrides: dict, swaps: dict, origin: str
        ) -> QuantityValues | None:
    """One evaluation seen as quantities; None where the rules cannot take the numbers."""
    try:
        with np.errstate(all="ignore"):
            evaluation = evaluate(graph, backend, overrides=overrides, swaps=swaps)
            return QuantityValues(graph, evaluation, origin)
    except (EvaluationError, ArithmeticError, ValueError, TypeError, IndexError):
        return None


def layout_index(quantity: Quantity, flat: int) -> tuple[int, ...]:
    """The 1-based index of element ``flat`` in the problem's layout (() for a scalar)."""
    if not quantity.shape:
        return ()
    return tuple(int(i) + 1 for i in np.unravel_index(flat, quantity.shape))
