"""Known mistakes, each stated once as a buggy rule on the same graph.

A :class:`Mistake` is one entry: a name, where it applies (``find`` lists its
:class:`Variant` s on a graph: one per layer, node or path it can happen at), the buggy
rule, and a message template. The buggy rule is either

* an alternative *local rule* passed to the evaluator through ``swaps`` (a variant of a
  rule in :mod:`backcheck.ops`: e.g. the ReLU's vjp without the mask), so everything
  downstream of the slip follows from it exactly as the student's pen would have; or
* a *transformation* of a whole quantity (the transpose, the other sign, an update with
  ``+``), for slips made while writing one quantity down.

The grader (:mod:`backcheck.grading.diagnosis`) runs each variant twice: from the truth (cached per
problem) and from the student's own earlier answers (their numbers as overrides), and
names the first variant, in the priority order of :data:`MISTAKES`, that reproduces a
wrong entry at the precision it was written.

One shape for every mistake (:mod:`.record`): network and scalar slips in
:mod:`.network`, tensor slips (FORMAT §7) in :mod:`.arrays`; activation and loss slips
come from the op records themselves. Adding a mistake = one ``Mistake(...)`` in one of
them, its place in :data:`MISTAKES`, and a test with a sheet that makes it.
"""

from __future__ import annotations

from ..graph import Graph
from .arrays import ARRAY_MISTAKES
from .network import (
    ACTIVATION_NOT_APPLIED,
    BIAS_NOT_SUMMED,
    DERIVATIVE_FROM_Z,
    FACTOR_TWO_EXTRA,
    FACTOR_TWO_MISSING,
    FORGOT_ACTIVATION_DERIVATIVE,
    MEAN_FORGOTTEN,
    MISSED_PATH,
    OUTPUT_REVERSED,
    RELU_AT_ZERO,
    SIGMA_PRIME_AT_A,
    SIGN_FLIPPED,
    TRANSPOSED,
    UPDATE_WITHOUT_RATE,
    UPDATE_WRONG_SIGN,
    WEIGHTS_NOT_TRANSPOSED,
    Z_FOR_A,
)
from .record import Finding, Mistake, QuantityValues, Structure, Variant, fmt

#: Every known mistake, most specific first (the first that reproduces an entry names it).
MISTAKES: tuple[Mistake, ...] = (
    ACTIVATION_NOT_APPLIED,
    RELU_AT_ZERO,
    FORGOT_ACTIVATION_DERIVATIVE,
    SIGMA_PRIME_AT_A,
    DERIVATIVE_FROM_Z,
    OUTPUT_REVERSED,
    FACTOR_TWO_MISSING,
    FACTOR_TWO_EXTRA,
    MEAN_FORGOTTEN,
    Z_FOR_A,
    WEIGHTS_NOT_TRANSPOSED,
    BIAS_NOT_SUMMED,
    MISSED_PATH,
    *ARRAY_MISTAKES,
    UPDATE_WRONG_SIGN,
    UPDATE_WITHOUT_RATE,
    TRANSPOSED,
    SIGN_FLIPPED,
)

BY_NAME = {m.name: m for m in MISTAKES}


def variants(graph: Graph, structure: Structure) -> list[Variant]:
    """Every place a known mistake can happen in this graph, in priority order."""
    found: list[Variant] = []
    for mistake in MISTAKES:
        found.extend(mistake.variants(graph, structure))
    return found


__all__ = ["BY_NAME", "MISTAKES", "Finding", "Mistake", "QuantityValues", "Structure",
           "Variant", "fmt", "variants"]
