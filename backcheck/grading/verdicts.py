"""Verdicts (FORMAT §4): correct, carried or wrong for every answered entry of a sheet.

1. **correct** when it agrees with the exact value to the precision it is written in
   (:mod:`backcheck.grading.tolerance`).
2. Otherwise the graph is evaluated again with every answered element put in as an
   override (:func:`backcheck.evaluate.evaluate`), so each node computes what follows from
   the student's *own* earlier answers. An entry that agrees with that (allowing for the
   rounding of those earlier numbers: :mod:`backcheck.grading.reach`) is **correct** when
   it also follows from the answers graded correct alone, allowing for *their* rounding
   only, and they explain it as well as all the answers do (honest rounding carried
   along); otherwise **carried** (:mod:`backcheck.grading.carried` names the earlier
   answer it carries). Softmax + cross-entropy (sigmoid + BCE) also try dL/dzN = (aN − t)/N
   from the student's own aN (:meth:`SheetGrading.fused_route`); a class with target 0
   adds nothing to the loss whatever probability is written (0·log 0 = 0).
3. Anything else is **wrong**; :mod:`backcheck.grading.diagnosis` names its mistake.

Work is linear in the number of wrong entries: everything that is the same for every
entry of a quantity is done once per quantity (tests/test_verify.py counts it).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np

from ..backends import EXACT, FLOAT
from ..evaluate import EvaluationError, LazyEvaluation
from ..exact import Exact
from ..mistakes import QuantityValues
from .carried import CarriedCauses
from .context import BOUNDARY_NUDGE, ProblemContext
from .diagnosis import Diagnosis
from .reach import PartialReach, RoundingReach
from .report import Item, QuantityResult
from .sheet import Entry
from .tolerance import bound, half_unit, text_precision, within

_ZERO = Exact(Fraction(0))
_HALF_FLOATS: dict[int, float] = {}


def _half_float(decimals: int) -> float:
    """½·10^-decimals as float64 (what :func:`~.tolerance.bound` gives for a number
    written with ``decimals`` decimals, cached)."""
    value = _HALF_FLOATS.get(decimals)
    if value is None:
        value = _HALF_FLOATS[decimals] = float(half_unit(decimals))
    return value


class SheetGrading:
    """One sheet's grading: its numbers as evaluator overrides, the evaluations from
    them, and the verdict of every entry."""

    def __init__(self, ctx: ProblemContext, entries: list[Entry], working: int) -> None:
        self.ctx = ctx
        self.graph = ctx.graph
        self.entries = {e.name: e for e in entries}
        self.working = working
        self.items: dict[str, list[Item | None]] = {}
        self.notes: list[str] = []
        self.reach = RoundingReach(self)
        self._float_all: QuantityValues | None = None
        self._bounds: dict[int, tuple[Fraction | None, Fraction | None]] = {}
        self._exact_given: dict[tuple[str, int], Exact] = {}  # the numbers, as Exact once
        self._all_overrides: dict[str, dict] = {}  # every answer, per number system
        # the fused route (dL/dzN from aN): its evaluation and rounding reach, the
        # reach's columns, and the entries that follow by it
        self.fused: tuple[QuantityValues, Any] | None = None
        self.fused_columns: list[tuple[str, int, float]] = []
        self.by_route: set[int] = set()

    # ----- the student's numbers as overrides -----------------------------------------
    def overrides(self, keep: Any = None, backend: Any = EXACT,
                  replace: dict[str, set[int]] | None = None) -> dict:
        """The student's answers as evaluator overrides. ``keep(name, flat)`` filters
        elements; ``replace`` puts the truth in place of some elements (float screens).
        All of them (no ``keep``, no ``replace``) are made once per number system."""
        if keep is None and replace is None:
            cached = self._all_overrides.get(backend.name)
            if cached is None:
                cached = self._all_overrides[backend.name] = self._overrides(None, backend, None)
            return cached
        return self._overrides(keep, backend, replace)

    def _overrides(self, keep: Any, backend: Any, replace: dict[str, set[int]] | None) -> dict:
        result = {}
        exact = backend is not FLOAT
        boundary = self.ctx.boundary
        for name, entry in self.entries.items():
            q = entry.quantity
            if q.kind == "update" or entry.unreadable:
                continue
            items = self.items[name]
            mask = [given is not None and items[i] is not None and (
                keep is None or keep(name, i)) for i, given in enumerate(entry.given)]
            if not any(mask):
                continue
            swapped = (replace or {}).get(name) or ()
            truth = self.ctx.truth_flat[name]
            # the rules take the numbers as written, but at BCE's boundary (:meth:`usable`)
            plain = not (boundary is not None and boundary[2] and name == boundary[0])
            if exact:
                values = [
                    _ZERO if not m else truth[i] if i in swapped
                    else Exact(given) if plain else self._exact(name, i, given)
                    for i, (m, given) in enumerate(zip(mask, entry.given, strict=True))]
                array = np.empty(len(values), dtype=object)
                array[:] = values
            else:
                array = np.array([
                    0.0 if not m else float(truth[i]) if i in swapped
                    else given.numerator / given.denominator if plain
                    else float(self.usable(name, i, given))
                    for i, (m, given) in enumerate(zip(mask, entry.given, strict=True))])
            result[(q.kind, q.node)] = (q.to_internal(np.array(mask, dtype=bool)),
                                        q.to_internal(array))
        return result

    def _exact(self, name: str, flat: int, given: Fraction) -> Exact:
        """The student's number as the rules take it (:meth:`usable`), as an
        :class:`Exact` (converted once per sheet, not once per evaluation)."""
        key = (name, flat)
        value = self._exact_given.get(key)
        if value is None:
            value = self._exact_given[key] = Exact.of(self.usable(name, flat, given))
        return value

    def swaps(self, swaps: dict | None = None) -> dict:
        """Rules for evaluations from the student's numbers: ``swaps`` (a buggy rule)
        over the problem's zero-weight loss rules (``ProblemContext.loss_swaps``)."""
        merged = {node: dict(rules) for node, rules in self.ctx.loss_swaps.items()}
        for node, rules in (swaps or {}).items():
            merged.setdefault(node, {}).update(rules)
        return merged

    def usable(self, name: str, flat: int, given: Fraction) -> Fraction:
        """The student's number as the rules take it: for BCE, a probability of exactly 0
        (or 1) where the target gives its log no weight is moved off the boundary by
        :data:`~backcheck.grading.context.BOUNDARY_NUDGE` (0·log 0 = 0: the class adds
        nothing to the loss; for cross-entropy the loss rule itself does it)."""
        boundary = self.ctx.boundary
        if boundary is None or not boundary[2] or name != boundary[0] or given not in (0, 1):
            return given
        target = boundary[1][flat]
        if given == 0 and target == 0:
            return BOUNDARY_NUDGE
        if given == 1 and target == 1:
            return 1 - BOUNDARY_NUDGE
        return given

    def evaluate(self, overrides: dict, backend: Any = EXACT, swaps: dict | None = None
                 ) -> QuantityValues:
        """What follows from the student's numbers (``overrides``), each quantity worked
        out when first read (:class:`~backcheck.evaluate.LazyEvaluation`: an entry
        whose inputs the student wrote needs only its own node). A quantity the rules
        cannot work out from their numbers (log of 0) reads as None, with a note naming
        the answers that cannot be carried forward to it."""
        def note(error: Exception) -> None:
            if backend is EXACT and not swaps and isinstance(error, EvaluationError):
                self.note_not_carried(error, overrides)

        evaluation = LazyEvaluation(self.graph, backend, overrides=dict(overrides),
                                    swaps=self.swaps(swaps))  # read inside grade()
        return QuantityValues(self.graph, evaluation, "yours", on_error=note)

    def note_not_carried(self, error: EvaluationError, overrides: dict) -> None:
        """The note for a rule that cannot take the student's numbers: it names the
        written values the rule was given (the nearest above it: what they wrote further
        up still carries forward elsewhere)."""
        node = error.node
        names: list[str] = []
        stack, seen = list(node.inputs), set()
        while stack:
            above = self.graph.nodes[stack.pop()]
            if above.id in seen:
                continue
            seen.add(above.id)
            if ("value", above.id) in overrides:
                if above.name not in names:
                    names.append(above.name)  # type: ignore[arg-type]
            elif not above.is_leaf:
                stack.extend(above.inputs)
        names.sort(key=lambda n: self.graph.by_name.get(n, 0))
        for name in names or [node.name or node.label]:
            text = (f"{name}: your values cannot be carried forward "
                    f"({error.reason} at {node.name or node.label})")
            if text not in self.notes:
                self.notes.append(text)

    def float_evaluation(self) -> QuantityValues:
        """What follows from all the student's answers, in float64 (once per sheet)."""
        if self._float_all is None:
            self._float_all = self.evaluate(self.overrides(backend=FLOAT), FLOAT)
        return self._float_all

    # ----- verdicts ---------------------------------------------------------------------
    def grade(self) -> list[QuantityResult]:
        """Every entry's verdict (NumPy's floating-point warnings off: the evaluations
        from a student's numbers may overflow, and are read only in here)."""
        with np.errstate(all="ignore"):
            return self._grade()

    def _grade(self) -> list[QuantityResult]:
        ctx = self.ctx
        pending: list[Item] = []
        for name, entry in self.entries.items():
            truth = ctx.truth_flat[name]
            floats = ctx.truth_float[name]
            indices = ctx.indices[name]
            row: list[Item | None] = []
            for i, answered in enumerate(entry.answered):
                if not answered:
                    row.append(None)
                    continue
                item = Item(name, i, indices[i], truth[i], entry.given[i], entry.texts[i],
                            entry.tolerances[i])
                if entry.unreadable:
                    item.verdict = "wrong"
                elif item.given is None:
                    item.verdict = "missing"
                elif self.right(item, truth[i], floats[i]):
                    item.verdict = "correct"
                else:
                    pending.append(item)
                row.append(item)
            self.items[name] = row
        if pending:
            self.carry_forward(pending)
        results = []
        for name, entry in self.entries.items():
            items = [item for item in self.items[name] if item is not None]
            if entry.finding:
                self.apply_finding(entry, items)
            results.append(QuantityResult(name, entry.quantity, items, entry.written_as,
                                          entry.finding))
        return results

    def right(self, item: Item, target: Any, target_float: float) -> bool:
        """Does the entry agree with the truth at its written precision? :func:`within`,
        its float64 filter done here first (every entry of every sheet comes this way):
        decided in float64 only where the margin is a million times float64's error."""
        given, text = item.given, item.text
        g = given.numerator / given.denominator  # type: ignore[union-attr]
        t = target_float
        decimals, integer = text_precision(text) if (
            text is not None and item.tolerance.kind == "auto") else (None, True)
        if decimals is not None and not integer:  # the common case: half a unit written
            limit = _half_float(decimals)
        else:
            absolute, relative = self.bounds(item, target)
            if relative is not None:
                limit = float(relative) * abs(t)
            else:
                limit = float(absolute) if absolute is not None else 0.0
        gap = abs(g - t) - limit
        if abs(gap) > 1e-9 * max(abs(g), abs(t), limit, 1e-300) and math.isfinite(gap):
            return gap < 0
        absolute, relative = self.bounds(item, target)
        return within(given, target, absolute, relative,  # type: ignore[arg-type]
                      target_float=target_float)

    def agrees(self, item: Item, target: Any, *, slack: bool = False, reach: Any = None
               ) -> bool:
        """Agreement at the written precision; with ``slack``, also allowing for how far
        the student's own earlier numbers may move within their rounding."""
        if target is None:
            return False
        absolute, relative = self.bounds(item, target)
        if slack and item.tolerance.kind not in ("exact", "sig"):
            # most tries (buggy rules, in diagnosis) are far off: said in float64 first
            # (beyond_rounding below says the same, with float64's error allowed for)
            given = item.given
            g, t = given.numerator / given.denominator, float(target)  # type: ignore[union-attr]
            limit = float(absolute or 0) if relative is None else float(relative) * abs(t)
            if self.beyond_rounding(g, t, limit, 1e-9):
                return False
        if within(item.given, target, absolute, relative):
            return True
        if not slack or item.tolerance.kind == "exact":
            return False
        g, t = float(item.given), float(target)
        limit = float(absolute or 0) if relative is None else float(relative) * abs(t)
        if self.beyond_rounding(g, t, limit):
            return False
        extra = self.reach.radius(item, reach)
        return bool(extra) and within(item.given, target, absolute, relative, extra)

    def beyond_rounding(self, g: float, t: float, limit: float, margin: float = 0.0) -> bool:
        """Is ``g`` so far from ``t`` that no rounding of the student's earlier numbers
        could account for it? Rounding moves a value by a few units of the digits
        written, or by a fair part of itself where it is ill-conditioned, never more: a
        slack wider than that, from a first-order reach through huge values such as −t/p
        of a tiny p, would call any number honest. No rounding reach is needed to decide
        it. ``margin``: the relative error of a float64 ``t`` (then decided only beyond
        it)."""
        near = min(1000 * max(limit, 0.5 * 10.0 ** -self.working),
                   20 * max(limit, 0.5 * 10.0 ** -self.working) + 0.25 * abs(t))
        near += 1e-6 * abs(g)
        return not abs(g - t) <= near * (1 + margin) + margin * (abs(g) + abs(t))

    def bounds(self, item: Item, target: Any) -> tuple[Fraction | None, Fraction | None]:
        if item.tolerance.kind == "sig":
            return bound(item.given, item.text, item.tolerance, self.working, target)
        cached = self._bounds.get(id(item))
        if cached is None:
            cached = bound(item.given, item.text, item.tolerance, self.working, target)
            self._bounds[id(item)] = cached
        return cached

    def carry_forward(self, pending: list[Item]) -> None:
        """Verdicts for the entries that do not agree with the truth."""
        base = self.evaluate(self.overrides())
        honest: list[Item] = []
        wrong: list[Item] = []
        for item in pending:
            follows = base.flat(item.quantity)[item.flat]
            item.follows = follows
            if follows is not None and self.agrees(item, follows, slack=True):
                honest.append(item)
            elif self.fused_route(item):
                honest.append(item)
            else:
                wrong.append(item)
        for item in wrong:
            item.verdict = "wrong"
        unresolved = honest
        if wrong:
            # which of the entries that follow from their own answers rest only on
            # correct ones? evaluate with just the correct answers put in, until stable
            while unresolved:
                confirmed = self.rest_on_correct(unresolved)
                if not confirmed:
                    break
                for item in confirmed:
                    item.verdict = "correct"
                unresolved = [item for item in unresolved if item.verdict != "correct"]
        for item in unresolved:
            item.verdict = "carried" if wrong else "correct"
        if any(item.verdict == "carried" for item in honest):
            CarriedCauses(self).name_causes()
        if wrong:
            Diagnosis(self).diagnose(wrong, base)

    def fused_route(self, item: Item) -> bool:
        """Softmax + cross-entropy (sigmoid + BCE) as taught: dL/dzN = (aN − t)/N from
        the student's own aN, whatever their dL/daN (wrong, or not written). Tried by
        leaving their dL/daN out: the op table's rules then give exactly that route."""
        fused = self.ctx.fused
        if fused is None or item.quantity != fused[0] or fused[1] not in self.entries:
            return False
        if self.fused is None:
            keep = (lambda name, i: name != fused[1])
            self.fused = (self.evaluate(self.overrides(keep=keep)),
                          PartialReach.evaluated(self.reach.evaluation(skip=fused[1])))
            self.fused_columns = self.reach.last_columns
        route, reach = self.fused
        value = route.flat(item.quantity)[item.flat]
        if not self.agrees(item, value, slack=True, reach=reach):
            return False
        item.follows = value
        self.by_route.add(id(item))
        return True

    def rest_on_correct(self, unresolved: list[Item]) -> list[Item]:
        """The entries that also follow when only the correct answers are put in.
        A float64 run decides where its margin is a million times its own error; an
        exact run decides the rest (if any)."""
        keep = (lambda name, i: self.items[name][i].verdict == "correct")
        screen = self.evaluate(self.overrides(keep=keep, backend=FLOAT), FLOAT)
        # the allowance counts the rounding of the correct answers only: a carried
        # input written short must not widen it (issue 9)
        reach = PartialReach(lambda: self.reach.evaluation(correct_only=True))
        confirmed: list[Item] = []
        undecided: list[Item] = []
        for item in unresolved:
            decision = None
            number = screen.flat(item.quantity)[item.flat]
            if number is not None:
                value = float(number)
                decision = self.float_decision(item, value, reach)
                if decision and not self.explained_as_well(item, value):
                    decision = False
            if decision is None:
                undecided.append(item)
            elif decision:
                confirmed.append(item)
        if undecided:
            exact = self.evaluate(self.overrides(keep=keep))
            for item in undecided:
                value = exact.flat(item.quantity)[item.flat]
                if value is not None and self.agrees(item, value, slack=True, reach=reach) and (
                        self.explained_as_well(item, float(value))):
                    confirmed.append(item)
        return confirmed

    def explained_as_well(self, item: Item, value: float) -> bool:
        """Does ``value`` (from the correct answers only) explain the entry about as well
        as what follows from all the student's answers? When the answers that are not
        right explain it better, by more than its own rounding, it carries them (even if
        the rounding of the correct ones could also reach it)."""
        if item.follows is None:
            return True
        g = float(item.given)
        absolute, relative = self.bounds(item, item.expected)
        half = float(absolute or 0) if relative is None else float(relative) * abs(value)
        return abs(g - value) <= abs(g - float(item.follows)) + half * (1 + 1e-9)

    def float_decision(self, item: Item, value: float, reach: Any = None) -> bool | None:
        """True/False when a float64 value settles agreement (with slack) beyond doubt."""
        if not np.isfinite(value):
            return None
        absolute, relative = self.bounds(item, item.expected)
        g = float(item.given)
        limit = float(absolute or 0) if relative is None else float(relative) * abs(value)
        scale = max(abs(g), abs(value), limit, 1e-300)
        gap = abs(g - value) - limit
        if gap <= -1e-9 * scale:
            return True
        if item.tolerance.kind != "exact" and self.beyond_rounding(g, value, limit, 1e-9):
            return False  # as agrees() with slack decides it: no reach could explain it
        slack = self.reach.radius(item, reach) if item.tolerance.kind != "exact" else 0.0
        gap -= slack
        if abs(gap) > 1e-9 * max(scale, slack):
            return gap < 0
        return None

    # ----- whole-answer findings --------------------------------------------------------
    def apply_finding(self, entry: Entry, items: list[Item]) -> None:
        """A finding about a whole answer (its shape) makes each of its entries wrong."""
        for item in items:
            if item.verdict == "missing":
                continue
            own = item.diagnosis
            if entry.unreadable:
                item.verdict = "wrong"
                item.diagnosis = entry.finding
            elif item.verdict in ("correct", "carried"):
                item.verdict = "wrong"
                item.diagnosis = entry.finding
            else:
                item.diagnosis = entry.finding + (f" Also: {own}" if own else "")
            if entry.finding_mistake:
                item.mistake, item.mistake_code = entry.finding_mistake, None
