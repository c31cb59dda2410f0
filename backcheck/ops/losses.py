"""Losses: one record each (see :func:`backcheck.ops.record.loss`).

A loss is Σ term(p, t) / divisor; the divisor (elements, examples or 1) comes from the
reduction and is fixed when the graph is built. With ``weight_decay: λ`` the graph's loss
node also adds λ/2·ΣW² over every weight matrix (d2l's form, biases excluded).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from .record import (
    LOSS_NODE,
    Op,
    Param,
    _decay_vjp,
    _loss_forward,
    _loss_vjp,
    _no_gradient,
    complement,
    loss,
    register,
    scaled_loss,
)

#: the factor 2 of d(p − t)²/dp left out
_HALF = scaled_loss(Fraction(1, 2), "factor_two_missing", "({0} − {1})")

register(Op(LOSS_NODE, "reduce", _loss_forward, (_loss_vjp, _no_gradient), symbol="L",
            formula="loss({0}, {1})", rest_vjp=_decay_vjp))

loss("mse", lambda B, p, t: (p - t) * (p - t), lambda B, p, t: 2 * (p - t),
     formula="({0} − {1})²", derivative="2·({0} − {1})", squared=True, slips=(_HALF,),
     description="mean squared error")
loss("sse", lambda B, p, t: (p - t) * (p - t), lambda B, p, t: 2 * (p - t),
     formula="({0} − {1})²", derivative="2·({0} − {1})", default_reduction="sum",
     sum_only=True, squared=True, slips=(_HALF,), description="sum of squared errors")
loss("half_sse", lambda B, p, t: (p - t) * (p - t) / 2, lambda B, p, t: p - t,
     formula="½({0} − {1})²", derivative="{0} − {1}", default_reduction="sum",
     sum_only=True, squared=True,
     slips=(scaled_loss(2, "factor_two_extra", "2·({0} − {1})", forward=True),),
     description="half the sum of squared errors")
loss("cross_entropy", lambda B, p, t: -(t * B.log(p)), lambda B, p, t: -(t / p),
     formula="−{1}·log {0}", derivative="−{1} / {0}", vector_rule="−{1} ⊘ {0}",
     default_reduction="batch_mean", mean_over="examples", target="probability",
     output="softmax", fused_with="softmax", negated_term="{1}·log {0}", cancels_with="softmax",
     title="CE", description="cross-entropy")
# complement(B, p) is 1 − p, and B.log of a sigmoid's output is its log-sigmoid: after a
# saturated sigmoid float64 computes the stable form (as PyTorch's BCEWithLogits), and
# p − t is taken as (1 − t) − (1 − p) where p is near 1
loss("bce", lambda B, p, t: -(t * B.log(p) + (1 - t) * B.log(complement(B, p))),
     lambda B, p, t: B.where(2 * p > 1, (1 - t) - complement(B, p), p - t)
     / (p * complement(B, p)),
     formula="−({1}·log {0} + (1 − {1})·log(1 − {0}))", derivative="({0} − {1}) / ({0}·(1 − {0}))",
     vector_rule="({0} − {1}) ⊘ ({0} ⊙ (1 − {0}))", target="probability", output="probability",
     cancels_with="sigmoid", title="BCE", description="binary cross-entropy")

# ----- newer ones: each one record ---------------------------------------------------------
loss("l1", lambda B, p, t: B.abs(p - t), lambda B, p, t: B.sign(p - t),
     formula="|{0} − {1}|", derivative="sign({0} − {1})", title="L1 (mean absolute error)")


def _huber(B: Any, p: Any, t: Any, delta: Any) -> Any:
    d = p - t
    size = B.abs(d)
    return B.where(size <= delta, d * d / 2, delta * (size - delta / 2))


def _huber_vjp(B: Any, p: Any, t: Any, delta: Any) -> Any:
    d = p - t
    return B.where(B.abs(d) <= delta, d, delta * B.sign(d))


loss("huber", _huber, _huber_vjp,
     formula="½({0} − {1})² if |{0} − {1}| ≤ δ else δ·(|{0} − {1}| − δ/2)",
     derivative="{0} − {1} if |{0} − {1}| ≤ δ else δ·sign({0} − {1})",
     params=(Param("delta", Fraction(1), "the huber delta", positive=True),))


def _margins(B: Any, p: Any, t: Any) -> Any:
    """sⱼ − s_y + 1 for every class j (t one-hot marks y)."""
    return p - B.sum(p * t, axis=-1, keepdims=True) + 1


def _hinge(B: Any, p: Any, t: Any) -> Any:
    margins = _margins(B, p, t)
    return B.where(t > 0, 0, B.where(margins > 0, margins, 0))  # j = y contributes nothing


def _hinge_vjp(B: Any, p: Any, t: Any) -> Any:
    margins = _margins(B, p, t)
    active = B.where(t > 0, 0, B.where(margins > 0, 1, 0))  # [margin_j > 0], j ≠ y
    return active - t * B.sum(active, axis=-1, keepdims=True)


loss("hinge", _hinge, _hinge_vjp,
     formula="[{1} = 0]·max(0, {0} − s_y + 1)",
     derivative="[margin_j > 0] for j ≠ y; −#{{j: margin_j > 0}} for y",
     default_reduction="batch_mean", mean_over="examples", target="one_hot",
     title="multiclass hinge (SVM)")
