"""Naming what a carried entry carries: the nearest earlier answer that is not right
(read off the rounding reach's sensitivities, or, failing that, the nearest earlier
answer that moves the entry when put right) and the original slip behind it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..backends import FLOAT
from ..mistakes import QuantityValues
from .report import Item

if TYPE_CHECKING:
    from .verdicts import SheetGrading

#: (the entries named, how to name them, the item's ``cause``, its ``origin``)
Summary = tuple[list[Item], str, str, str]


class CarriedCauses:
    """The diagnosis of every carried entry of one sheet (verdicts are settled)."""

    def __init__(self, sheet: SheetGrading) -> None:
        self.sheet = sheet
        self._perturbed: dict[str, QuantityValues] = {}
        self._candidates: dict[str, list[str]] = {}
        self._summaries: dict[str, Summary] = {}

    def name_causes(self) -> None:
        sheet = self.sheet
        structure = sheet.ctx.structure
        order = sorted(sheet.entries, key=lambda n: structure.position[n])
        for name in order:
            for item in sheet.items[name]:
                if item is None or item.verdict != "carried":
                    continue
                culprits: list[Item] = []
                resting = sheet.reach.resting_on(item)
                if resting is not None:
                    found = [sheet.items[d][i] for d, i in resting]
                    found = [other for other in found
                             if other is not None and other.verdict in ("wrong", "carried")]
                    if found:
                        nearest = max(structure.position[o.quantity] for o in found)
                        culprits = sorted((o for o in found
                                           if structure.position[o.quantity] == nearest),
                                          key=lambda o: o.flat)
                if culprits:
                    self._describe(item, culprits[0].quantity, culprits)
                    continue
                cause = self._cause_by_perturbation(item)
                if cause is None:
                    item.diagnosis = (f"{item.element}: carried — it follows from your own "
                                      f"earlier answers, some of which are not right")
                    continue
                self._describe(item, cause, [])

    def _perturbed_evaluation(self, name: str) -> QuantityValues:
        """Float evaluation with the not-right elements of ``name`` put back to the
        truth: what would change had they been right."""
        if name not in self._perturbed:
            sheet = self.sheet
            bad = {i for i, item in enumerate(sheet.items[name])
                   if item is not None and item.verdict in ("wrong", "carried")}
            self._perturbed[name] = sheet.evaluate(
                sheet.overrides(backend=FLOAT, replace={name: bad}), FLOAT)
        return self._perturbed[name]

    @staticmethod
    def _moves(base: QuantityValues, item: Item, here: float) -> bool:
        there = base.flat(item.quantity)[item.flat]
        if there is None:
            return False
        there = float(there)
        return abs(there - here) > 1e-9 * max(1.0, abs(here))

    def _cause_by_perturbation(self, item: Item) -> str | None:
        """Fallback: the nearest earlier answer that, put right, moves this entry."""
        sheet = self.sheet
        structure = sheet.ctx.structure
        name = item.quantity
        candidates = self._candidates.get(name)
        if candidates is None:  # once per quantity (verdicts are settled by now)
            candidates = self._candidates[name] = sorted(
                (d for d in structure.deps[name] if d in sheet.entries and any(
                    other is not None and other.verdict in ("wrong", "carried")
                    for other in sheet.items[d])),
                key=lambda d: -structure.position[d])
        reference = sheet.float_evaluation()
        here = reference.flat(name)[item.flat]
        if here is None:
            return candidates[0] if candidates else None
        here = float(here)
        for candidate in candidates:
            if self._moves(self._perturbed_evaluation(candidate), item, here):
                return candidate
        return candidates[0] if candidates else None

    def _describe(self, item: Item, cause: str, culprits: list[Item]) -> None:
        if culprits:
            bad, cause_text, item.cause, item.origin = _summary(culprits)
        else:
            # every not-right entry of ``cause``: the same for each entry resting on it,
            # so summarised once per quantity (linear in the number of carried entries)
            summary = self._summaries.get(cause)
            if summary is None:
                summary = self._summaries[cause] = _summary(
                    [other for other in self.sheet.items[cause]
                     if other is not None and other.verdict in ("wrong", "carried")],
                    cause)
            bad, cause_text, item.cause, item.origin = summary
        text = (f"{item.element}: carried — you wrote {item.text}, which is what follows "
                f"from your own {cause_text}")
        if all(other.verdict == "wrong" for other in bad):
            text += ", which is wrong" if len(bad) == 1 else ", which are wrong"
        else:
            text += f", which carries the slip in your {item.origin}"
        right = self.sheet.ctx.expected_text(item.quantity, item.flat)
        text += f"; the method here is right (the right value is {right})."
        item.diagnosis = text


def _summary(bad: list[Item], cause: str | None = None) -> Summary:
    """(the entries, how to name them, ``cause`` and ``origin`` for the item)."""
    if len(bad) == 1:
        cause_text = bad[0].element
    elif len(bad) <= 3:
        cause_text = ", ".join(other.element for other in bad)
    else:
        cause_text = f"{cause or bad[0].quantity} ({len(bad)} entries)"
    origins: list[str] = []
    for other in bad:
        origin = other.element if other.verdict == "wrong" else (other.origin or other.element)
        for part in origin.split(", "):
            if part not in origins:
                origins.append(part)
                if len(origins) > 3:
                    break
        if len(origins) > 3:
            break
    cause_names = ", ".join(other.element for other in bad[:8])
    origin = ", ".join(origins[:3]) + (" …" if len(origins) > 3 else "")
    return bad, cause_text, cause_names, origin
