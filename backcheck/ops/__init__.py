"""THE op table: one record per op, every other module reads it.

``OPS[name]`` is an :class:`~backcheck.ops.record.Op`: forward rule and vjps written once
against a backend ``B`` (:mod:`backcheck.backends`: exact, float64, ball, sympy), how the
op is written, its parameters and its known slips. Activations are also in
``ACTIVATIONS``, losses in ``LOSSES``. Adding an op is one record in one of:

* :mod:`~backcheck.ops.activations` (``activation(...)``),
* :mod:`~backcheck.ops.losses` (``loss(...)``),
* :mod:`~backcheck.ops.linear`, :mod:`~backcheck.ops.scalar` (``register(Op(...))``).

Internal layout: activations are (examples × units) matrices; biases are vectors;
scalar-expression values are 0-d arrays.
"""

from __future__ import annotations

from . import activations, linear, losses, scalar  # noqa: F401  (registers the records)
from .record import (
    ACTIVATIONS,
    LOSS_NODE,
    LOSSES,
    OPS,
    REDUCTIONS,
    Op,
    Param,
    Rule,
    Slip,
    activation,
    loss,
    register,
    unregister,
)
from .scalar import STEP_FUNCTIONS

__all__ = [
    "ACTIVATIONS", "LOSSES", "LOSS_NODE", "OPS", "REDUCTIONS", "STEP_FUNCTIONS", "Op", "Param",
    "Rule", "Slip", "activation", "loss", "register", "unregister",
]
