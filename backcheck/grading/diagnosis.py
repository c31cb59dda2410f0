"""Diagnosis: the known mistake behind each wrong entry.

The buggy rules of :mod:`backcheck.mistakes` are tried from the truth (cached per
problem) and from the student's own answers (allowing for values they looked up rounded:
:class:`~backcheck.grading.balls.LookupRoundingBall`); the one that reproduces the entry
(and most of the answer's other wrong entries) is named. A number right only to fewer
digits than its tolerance asks says so instead. Large problems work to a budget: buggy
rules are screened in float64 and run exactly only where the screen matches.
"""

from __future__ import annotations

from collections import Counter
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from ..backends import EXACT, FLOAT
from ..literals import is_integer_text, written_decimals
from ..mistakes import Finding, QuantityValues, Variant, fmt
from . import context
from .context import ProblemContext, run
from .reach import PartialReach
from .report import Item
from .tolerance import (
    EXACT_DECIMALS,
    Tolerance,
    agrees_float,
    bound,
    half_unit,
    significant_written,
    within,
)

if TYPE_CHECKING:
    from .verdicts import SheetGrading

SKIPPED_DIAGNOSIS = "diagnosis skipped: network too large for exhaustive mistake search"


class Diagnosis:
    """Names the mistakes of one sheet's wrong entries (after every verdict is given)."""

    def __init__(self, sheet: SheetGrading) -> None:
        self.sheet = sheet
        self.ctx = sheet.ctx
        # per (variant, quantity), never per entry: grading stays linear in the number
        # of wrong entries (one all-wrong 80 × 80 answer is 6,400 of them)
        self._student_buggy: dict[str, QuantityValues | None] = {}
        self._float_buggy: dict[str, QuantityValues | None] = {}
        self._student_transformed: dict[tuple[str, str], list[Any] | None] = {}
        self._contradictions: dict[tuple[str, str], bool] = {}
        self._upstream_off: dict[str, bool] = {}
        self._variant_reaches: dict[str, PartialReach] = {}
        # exact buggy-rule runs this sheet may still make (budgeted for large problems)
        work = int(getattr(self.ctx.problem, "exact_work", 0) or 0)
        budget = context.LARGE_EXACT_BUDGET
        self._exact_runs_left = max(1, budget // max(work, 1)) if budget > 0 else 0
        self._skipped: set[int] = set()  # items whose mistake search was cut short

    def diagnose(self, wrong: list[Item], base: QuantityValues) -> None:
        """Name the known mistake behind each wrong entry. Within one answer, the
        mistake that explains the most of its wrong entries wins (a transposed matrix is
        transposed everywhere, even where another slip would give the same number)."""
        ctx = self.ctx
        by_quantity: dict[str, list[Item]] = {}
        for item in sorted(wrong, key=lambda it: ctx.structure.position[it.quantity]):
            if not self.sheet.entries[item.quantity].unreadable:
                by_quantity.setdefault(item.quantity, []).append(item)
        order = {variant.key: i for i, variant in enumerate(ctx.variants)}
        for items in by_quantity.values():
            found = {id(item): self._explain(item, base) for item in items}
            votes = Counter(f.variant.key for fs in found.values() for f in fs)
            for item in items:
                short = None
                whole = item.text is not None and is_integer_text(item.text)
                if not whole or (not found[id(item)] and item.given != 0):
                    # a whole number may be a slip (0 where a unit is not blocked): then
                    # a known mistake comes first, and 0 is never "short"
                    short = self._too_few_digits(item)
                if short is not None:
                    # right as far as it goes: precision, not arithmetic
                    item.diagnosis, item.mistake_code = short, "too-few-digits"
                    continue
                findings = found[id(item)]
                if not findings:
                    item.diagnosis = self._unexplained(item, id(item) in self._skipped)
                    continue
                best = min(findings, key=lambda f: (-votes[f.variant.key],
                                                    order.get(f.variant.key, 0)))
                item.mistake = best.variant.name
                item.mistake_code = best.variant.code
                item.diagnosis = best.variant.mistake.explain(best)

    # ----- precision, not arithmetic ----------------------------------------------------
    def _too_few_digits(self, item: Item) -> str | None:
        """"right to 3 decimals; this sheet asks for 4": a number written to fewer digits
        than the sheet's tolerance asks for, and right to the digits it has (against the
        truth, or what follows from the student's own earlier answers)."""
        text, tolerance = item.text, item.tolerance
        if text is None or item.given is None:
            return None
        written = written_decimals(text)
        if written is None:  # a fraction: exact, never short
            return None
        targets = [(item.expected, "")]
        if item.follows is not None:
            targets.append((item.follows, " (from your own earlier answers)"))
        if tolerance.kind == "sig":
            asked = int(tolerance.amount)  # type: ignore[arg-type]
            digits = significant_written(text)
            if digits is None or digits >= asked:
                return None
            unit, asks = Tolerance("sig", Fraction(digits)), f"{asked} significant digits"
            right = f"right to {digits} significant digit{'s' if digits != 1 else ''}"
        else:
            asked_decimals = self._asked_decimals(item, text)
            if asked_decimals is None or written >= asked_decimals:
                return None
            unit = Tolerance("abs", half_unit(written))
            asks = ("the exact value" if asked_decimals == EXACT_DECIMALS
                    else f"{asked_decimals} decimals")
            right = (f"right to {written} decimal{'s' if written != 1 else ''}"
                     if written > 0 else "right as a whole number")
        for target, how in targets:
            absolute, relative = bound(item.given, text, unit, self.sheet.working, target)
            if within(item.given, target, absolute, relative):
                expected = self.ctx.expected_text(item.quantity, item.flat)
                return (f"{item.element}: you wrote {text}, {right}{how}; this sheet "
                        f"asks for {asks} ({item.element} = {expected}).")
        return None

    def _asked_decimals(self, item: Item, text: str) -> int | None:
        """How many decimals the tolerance asks of this entry (None: not a fixed number)."""
        kind, amount = item.tolerance.kind, item.tolerance.amount
        if kind == "auto":
            return self.sheet.working if is_integer_text(text) else None
        if kind == "exact":
            return EXACT_DECIMALS
        limit = amount if kind == "abs" else (
            None if amount is None else amount * abs(Fraction(float(item.expected))))
        if not limit:
            return EXACT_DECIMALS
        decimals = 0
        while half_unit(decimals) > limit and decimals < 40:
            decimals += 1
        return decimals

    def _unexplained(self, item: Item, skipped: bool = False) -> str:
        expected = self.ctx.expected_text(item.quantity, item.flat)
        text = f"{item.element}: you wrote {item.text}; it is {expected}"
        if item.follows is not None:
            follows = fmt(item.follows)
            if follows != expected:
                text += f", or {follows} from your own earlier answers"
        if skipped:
            return text + f" ({SKIPPED_DIAGNOSIS}: check the arithmetic)."
        return text + " (no known mistake gives your number: check the arithmetic)."

    # ----- the budget of large problems -------------------------------------------------
    def _screened(self, item: Item, values: list[Any] | None) -> bool:
        """A float64 buggy value close enough to the entry to be worth an exact run."""
        if values is None:
            return False
        value = float(values[item.flat])
        return agrees_float(float(item.given), item.text, value, item.tolerance,
                            self.sheet.working, item.given,
                            self.sheet.reach.radius(item) + 1e-6 * max(1.0, abs(value)))

    def _spend(self, item: Item) -> bool:
        """One exact buggy-rule run on a large problem, if the sheet's budget allows."""
        if self._exact_runs_left <= 0:
            if not self._skipped:
                self.sheet.notes.append(f"some wrong entries: {SKIPPED_DIAGNOSIS}.")
            self._skipped.add(id(item))
            return False
        self._exact_runs_left -= 1
        return True

    # ----- which buggy rule gives the number ------------------------------------------
    def _finding(self, item: Item, variant: Variant, buggy: Any, base: QuantityValues) -> Finding:
        q = self.sheet.graph.quantities[item.quantity]
        right = item.expected if base.origin == "truth" else item.follows
        text = item.text if item.text is not None else fmt(item.given)
        return Finding(variant, q, item.flat, item.element, text, buggy, right, base,
                       self.ctx.structure)

    def _explain(self, item: Item, base: QuantityValues) -> list[Finding]:
        ctx, sheet = self.ctx, self.sheet
        name = item.quantity
        candidates = [v for v in ctx.variants if name in v.affects]
        found: list[Finding] = []
        # a rule far from the entry is turned away in float64 first (as agrees() would)
        given = item.given
        quick = given is not None and not ctx.large and item.tolerance.kind not in (
            "exact", "sig")
        if quick:
            g = given.numerator / given.denominator  # type: ignore[union-attr]
            absolute, relative = sheet.bounds(item, item.expected)
            absolute_f = float(absolute or 0)
            relative_f = None if relative is None else float(relative)
        for variant in candidates:  # 1. from the truth (cached per problem): every match
            if quick:
                floats = ctx.buggy_floats(variant, name)
                t = None if floats is None else floats[item.flat]
                if t is not None and sheet.beyond_rounding(
                        g, t, absolute_f if relative_f is None else relative_f * abs(t), 1e-9):
                    continue
            if ctx.large and not ctx.has_buggy(variant):
                # a large problem: an exact run only where float64 says it may match
                if not self._screened(item, ctx.buggy_float(variant, name)):
                    continue
                if not self._spend(item):
                    continue
            values = ctx.buggy(variant, name)
            if values is None or not sheet.agrees(item, values[item.flat], slack=True):
                continue
            if variant.swaps is not None and self._contradicted(variant, name, ctx):
                continue
            found.append(self._finding(item, variant, values[item.flat], ctx.truth))
        if found or item.follows is None:
            return found
        # 2. from the student's own earlier answers: buggy rules need a run of their own
        # only where an earlier answer of theirs is not right, or where the rule from the
        # truth came close (their rounding may account for the rest)
        upstream_off = self._is_upstream_off(name)
        absolute, relative = sheet.bounds(item, item.expected)
        near = 50 * float((absolute or 0) if relative is None else relative * abs(item.given))
        near = max(near, 1e-3 * abs(float(item.given)))
        for variant in candidates:
            if variant.transform is not None:
                values = self._transformed(variant, name, base)
                if values is not None and sheet.agrees(item, values[item.flat], slack=True):
                    return [self._finding(item, variant, values[item.flat], base)]
                continue
            if not upstream_off:
                if ctx.large and not ctx.has_buggy(variant):
                    values = ctx.buggy_float(variant, name)
                else:
                    values = ctx.buggy(variant, name)
                if values is None or not abs(float(values[item.flat]) - float(item.given)) <= near:
                    continue
            screen = self._float_variant(variant)
            if screen is None:
                continue
            value = screen.flat(name)[item.flat]
            if value is None:
                continue
            value = float(value)
            reach = None
            if not agrees_float(float(item.given), item.text, value, item.tolerance,
                                sheet.working, item.given, sheet.reach.radius(item)):
                # close enough for rounded look-ups inside the rule to account for it?
                looked_up = 5 * 10.0 ** -(sheet.working - 1)
                if not abs(float(item.given) - value) <= 100 * (near / 50 + looked_up):
                    continue
                reach = self._variant_reach(variant)
                if not agrees_float(float(item.given), item.text, value, item.tolerance,
                                    sheet.working, item.given, sheet.reach.radius(item, reach)):
                    continue
            if ctx.large and variant.key not in self._student_buggy and not self._spend(item):
                continue
            exact = self._exact_variant(variant, base)
            if exact is None:
                continue
            buggy = exact.flat(name)[item.flat]
            if sheet.agrees(item, buggy, slack=True) or (
                    reach is not None and sheet.agrees(item, buggy, slack=True, reach=reach)):
                return [self._finding(item, variant, buggy, base)]
        return []

    def _variant_reach(self, variant: Variant) -> PartialReach:
        """The rounding reach of a buggy rule worked from the student's own answers,
        with the values they looked up on the way rounded too (once per variant): a
        diagnosis survives their rounding of intermediates they did not write."""
        if variant.key not in self._variant_reaches:
            self._variant_reaches[variant.key] = PartialReach(
                lambda: self.sheet.reach.evaluation(variant=variant))
        return self._variant_reaches[variant.key]

    def _transformed(self, variant: Variant, name: str, base: QuantityValues) -> list[Any] | None:
        """A whole-quantity transform of the student's base (once per quantity)."""
        key = (variant.key, name)
        if key not in self._student_transformed:
            try:
                self._student_transformed[key] = variant.transform(  # type: ignore[misc]
                    self.sheet.graph.quantities[name], base)
            except (ArithmeticError, ValueError, TypeError, IndexError, KeyError):
                self._student_transformed[key] = None  # not from numbers the rules refuse
        return self._student_transformed[key]

    def _is_upstream_off(self, name: str) -> bool:
        """Is any earlier answer that ``name`` rests on not right (once per quantity)?"""
        if name not in self._upstream_off:
            items = self.sheet.items
            self._upstream_off[name] = any(
                other is not None and other.verdict in ("wrong", "carried")
                for dep in self.ctx.structure.deps[name] if dep in items
                for other in items[dep])
        return self._upstream_off[name]

    def _contradicted(self, variant: Variant, name: str, ctx: ProblemContext) -> bool:
        """A buggy rule can't explain an entry if an earlier answer it would have changed
        was answered right (the slip would have shown there first). The same for every
        entry of ``name``: decided once per (variant, quantity)."""
        key = (variant.key, name)
        if key not in self._contradictions:
            self._contradictions[key] = self._contradicted_uncached(variant, name, ctx)
        return self._contradictions[key]

    def _contradicted_uncached(self, variant: Variant, name: str, ctx: ProblemContext
                               ) -> bool:
        for dep in ctx.structure.deps[name] & variant.affects:
            items = self.sheet.items.get(dep)
            if not items:
                continue
            values = ctx.buggy(variant, dep)
            if values is None:
                continue
            for other in items:
                if other is not None and other.verdict == "correct" and not self.sheet.agrees(
                        other, values[other.flat]):
                    return True
        return False

    def _float_variant(self, variant: Variant) -> QuantityValues | None:
        if variant.key not in self._float_buggy:
            sheet = self.sheet
            try:
                swaps = variant.swaps(sheet.float_evaluation())  # type: ignore[misc]
            except (ArithmeticError, ValueError, KeyError, IndexError):
                swaps = None
            self._float_buggy[variant.key] = None if swaps is None else run(
                sheet.graph, FLOAT, sheet.overrides(backend=FLOAT), sheet.swaps(swaps), "yours")
        return self._float_buggy[variant.key]

    def _exact_variant(self, variant: Variant, base: QuantityValues) -> QuantityValues | None:
        if variant.key not in self._student_buggy:
            sheet = self.sheet
            try:
                swaps = variant.swaps(base)  # type: ignore[misc]
            except (ArithmeticError, ValueError, KeyError, IndexError):
                swaps = None
            self._student_buggy[variant.key] = None if swaps is None else run(
                sheet.graph, EXACT, sheet.overrides(), sheet.swaps(swaps), "yours")
        return self._student_buggy[variant.key]
