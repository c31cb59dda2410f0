"""How far the rounding of the numbers a student wrote reaches: the graph evaluated once
more on the ball backend (:mod:`backcheck.grading.balls`), every written number with its
own column (its half unit), every number not written possibly rounded to the sheet's
precision. Gives the slack of "follows from your own answers" for each entry, and which
written numbers an entry's value rests on (for naming what a carried entry carries).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..evaluate import LazyEvaluation
from ..mistakes import QuantityValues, Variant
from .balls import BALL, BallArray, LookupRoundingBall, rounding_swaps, widened
from .report import Item
from .tolerance import AUTO, bound, is_exactly

if TYPE_CHECKING:
    from .verdicts import SheetGrading

#: the rounding-reach evaluation keeps one sensitivity column per written number; above
#: this many cells (columns × the largest node) the columns of answers already graded
#: correct are folded into the remainder (a slightly wider, still safe, reach)
MAX_BALL_CELLS = 400_000

Column = tuple[str, int, float]  # (quantity, flat element, its half unit)


class PartialReach:
    """The rounding reach of an evaluation from only some of the written numbers (the
    correct ones, a route that skips one answer, a buggy rule), evaluated when a radius
    is first asked of it: most sheets are decided without it."""

    __slots__ = ("_make", "_balls", "radii")

    def __init__(self, make: Any) -> None:
        self._make = make
        self._balls: Any = False  # False: not evaluated yet
        self.radii: dict[str, np.ndarray] = {}

    @classmethod
    def evaluated(cls, balls: QuantityValues | None) -> PartialReach:
        """One evaluated already (its columns are read at once)."""
        reach = cls(None)
        reach._balls = balls
        return reach

    @property
    def balls(self) -> QuantityValues | None:
        if self._balls is False:
            self._balls = self._make()
        return self._balls


class RoundingReach:
    """The rounding reach of one sheet's written numbers (evaluated when first asked)."""

    def __init__(self, sheet: SheetGrading) -> None:
        self.sheet = sheet
        self._balls: QuantityValues | None | bool = False  # False: not evaluated yet
        self._radii: dict[str, np.ndarray] = {}
        self._columns: list[Column] = []
        self._jacobians: dict[str, np.ndarray] = {}
        self.last_columns: list[Column] = []  # the columns of the latest evaluation
        self._halves: dict[int, float] = {}

    def half_unit(self, item: Item) -> float:
        """How far the number as written may be from what the student had: half a unit
        in its last written digit (whatever tolerance the marker grades it with); none
        for a number that is exactly the true value (nothing was rounded)."""
        half = self._halves.get(id(item))
        if half is None:
            if is_exactly(item.given, item.expected):
                half = 0.0
            else:
                absolute, _ = bound(item.given, item.text, AUTO, self.sheet.working,
                                    item.expected)
                half = float(absolute or 0)
            self._halves[id(item)] = half
        return half

    def radius(self, item: Item, reach: Any = None) -> float:
        """First-order reach of the rounding in the student's earlier answers here
        (``reach``: a :class:`PartialReach`, of only some of them)."""
        if reach is None:
            if self._balls is False:
                self._balls = self.evaluation()
            balls, cache = self._balls, self._radii
        else:
            balls, cache = reach.balls, reach.radii
        if not isinstance(balls, QuantityValues):
            return 0.0
        radii = cache.get(item.quantity)
        if radii is None:
            try:
                radii = np.ravel(BallArray.of(balls.internal(item.quantity)).radius)
            except (ArithmeticError, ValueError, TypeError, IndexError):
                radii = np.zeros(0)  # the rules cannot take these numbers: no allowance
            cache[item.quantity] = radii
        if item.flat >= len(radii):
            return 0.0
        r = float(radii[item.flat])
        if not np.isfinite(r) or r <= 0:
            return 0.0
        return r * 1.05 + 1e-15

    def resting_on(self, item: Item) -> list[tuple[str, int]] | None:
        """The written numbers an entry's value was computed from (first order), read
        off the rounding-reach evaluation's sensitivities."""
        sheet = self.sheet
        if self._balls is False:
            self._balls = self.evaluation()
        balls, columns, key = self._balls, self._columns, item.quantity
        if id(item) in sheet.by_route and sheet.fused is not None:
            balls, columns, key = sheet.fused[1].balls, sheet.fused_columns, "route:" + key
        if not isinstance(balls, QuantityValues):
            return None
        jac = self._jacobians.get(key)
        if jac is None:
            try:
                jac = BallArray.of(balls.internal(item.quantity))._jac()
            except (ArithmeticError, ValueError, TypeError, IndexError):
                return None
            jac = self._jacobians[key] = jac.reshape(-1, jac.shape[-1])
        row = jac[item.flat]
        return [columns[k][:2] for k in np.flatnonzero(row) if k < len(columns)]

    def evaluation(self, correct_only: bool = False, skip: str | None = None,
                   variant: Variant | None = None) -> QuantityValues | None:
        """The graph once more, on :class:`BallArray`: every written number gets its own
        column (its half unit), every number not written may have been rounded.

        ``correct_only``: only the answers graded correct are put in (the reach of
        "follows from your correct answers"); an answer that is not right gives no
        allowance, and the value in its place (the truth) is not widened either.
        ``skip``: a quantity left out (its value is computed, as the route that does not
        use it computes it). ``variant``: a buggy rule swapped in, run with values looked
        up inside rules rounded too (:class:`LookupRoundingBall`; for diagnosis only)."""
        sheet = self.sheet
        graph = sheet.graph
        columns: list[Column] = []
        written: set[tuple[str, int]] = set()
        for name, entry in sheet.entries.items():
            if entry.quantity.kind == "update":
                continue
            if any(given is not None for given in entry.given):
                written.add((entry.quantity.kind, entry.quantity.node))
            if entry.unreadable or name == skip:
                continue
            for i, item in enumerate(sheet.items[name]):
                if correct_only and (item is None or item.verdict != "correct"):
                    continue
                if item is not None and item.given is not None:
                    # a tiny scale for exact numbers keeps their column, which also
                    # records what each value rests on (for naming what is carried)
                    half = self.half_unit(item)
                    if sheet.usable(name, i, item.given) != item.given:
                        half = 0.0  # at the log's boundary: its rounding reaches past it
                    columns.append((name, i, half or 1e-30))
        folded: list[Column] = []
        largest = max((int(np.prod(q.internal_shape)) for q in graph.quantities.values()),
                      default=1)
        if len(columns) * max(largest, 1) > MAX_BALL_CELLS:
            # too many columns to carry: keep those of answers not (yet) graded correct
            # (what a carried entry may rest on), fold the rest into the remainder
            room = max(MAX_BALL_CELLS // max(largest, 1), 1)
            kept: list[Column] = []
            for column in columns:
                item = sheet.items[column[0]][column[1]]
                if item.verdict != "correct" and len(kept) < room:
                    kept.append(column)
                else:
                    folded.append(column)
            columns = kept
        self.last_columns = columns
        if not correct_only and skip is None and variant is None:
            self._columns = columns
        width = max(len(columns), 1)
        overrides = {}
        start = 0
        for name, entry in sheet.entries.items():
            q = entry.quantity
            if q.kind == "update" or entry.unreadable or name == skip:
                continue
            size = len(entry.given)
            mask = np.zeros(size, dtype=bool)
            mids = np.zeros(size)
            jac = np.zeros((size, width))
            while start < len(columns) and columns[start][0] == name:
                _, i, half = columns[start]
                mask[i] = True
                mids[i] = float(sheet.usable(name, i, sheet.items[name][i].given))
                jac[i, start] = half
                start += 1
            rest = np.zeros(size)
            for other, i, half in folded:
                if other == name:
                    mask[i] = True
                    mids[i] = float(sheet.usable(name, i, sheet.items[name][i].given))
                    rest[i] = half
            if mask.any():
                shape = q.internal_shape
                overrides[(q.kind, q.node)] = (
                    q.to_internal(mask),
                    BallArray(q.to_internal(mids), jac.reshape(tuple(shape) + (width,)),
                              q.to_internal(rest) if folded else 0.0))
        exact_in = correct_only or skip is not None
        answered = set(overrides) | written if exact_in else set(overrides)
        r = 0.5 * 10.0 ** -sheet.working
        swaps = rounding_swaps(graph, r, answered)
        for node, rules in sheet.ctx.loss_swaps.items():
            for key, rule in rules.items():
                swaps.setdefault(node, {})[key] = (
                    widened(rule, r) if key in swaps.get(node, {}) else rule)
        backend: Any = BALL
        if variant is not None:
            reference = sheet.float_evaluation()
            if variant.swaps is None:
                return None
            try:
                buggy = variant.swaps(reference)
            except (ArithmeticError, ValueError, KeyError, IndexError, TypeError):
                return None
            for node, rules in buggy.items():
                entry_rules = swaps.setdefault(node, {})
                for key, rule in rules.items():
                    entry_rules[key] = widened(rule, r)
            # a looked-up value rounded one digit short of the sheet's precision
            backend = LookupRoundingBall(10 * r)
        # worked out lazily: a radius is asked of a few quantities, each needs its own
        # node (and what the student did not write before it)
        return QuantityValues(graph, LazyEvaluation(graph, backend, overrides=overrides,
                                                    swaps=swaps), "yours")
