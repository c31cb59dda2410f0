"""Activations: one record each (see :func:`backcheck.ops.record.activation`).

A record is the forward rule, its vjp, how both are written, its parameters and the
slips students make with it. Layout: (examples × units) arrays; elementwise unless noted.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from .record import (
    Param,
    activation,
    at_output,
    complement,
    forgot_derivative,
    kink_taken,
    one_minus_square,
    output_form_fed_input,
    symfunc,
)

# ----- the piecewise-linear ones: rational in, rational out ---------------------------
activation(
    "identity", lambda B, x: x, lambda B, g, ans, x: g,
    symbol="identity", formula="{0}",
    definition="the identity: the activation equals the pre-activation", derivative="1",
    vector_rule="{g} ⊙ 1",
    rational=True, practice_limit=None)


def _relu_kink_one(op: Any) -> Any:
    return lambda B, g, ans, x, **kw: B.where(x >= 0, g, g * kw.get("slope", 0))


def _relu_kink_half(op: Any) -> Any:
    return lambda B, g, ans, x, **kw: B.where(
        x > 0, g, B.where(x < 0, g * kw.get("slope", 0), g / 2))


activation(
    "relu", lambda B, x: B.where(x > 0, x, 0),
    lambda B, g, ans, x: B.where(x > 0, g, 0),
    title="ReLU", definition="relu(z) = max(0, z)", derivative="1 if {z} > 0 else 0",
    vector_rule="{g} ⊙ [{z} > 0]", gates=True,
    branches=("{z} = {value} > 0: the ReLU passes the gradient",
              "{z} = {value} ≤ 0: the ReLU blocks the gradient"),
    slips=(forgot_derivative(code="relu-mask-missing"), kink_taken("1", _relu_kink_one),
           kink_taken("½", _relu_kink_half)),
    rational=True, kinks=(Fraction(0),), practice_limit=None, sympy_function=symfunc("relu"))

activation(
    "leaky_relu", lambda B, x, slope: B.where(x > 0, x, x * slope),
    lambda B, g, ans, x, slope: B.where(x > 0, g, g * slope),
    title="leaky ReLU", definition="leaky_relu(z) = z if z > 0 else {slope}·z",
    derivative="1 if {z} > 0 else slope", vector_rule="{g} ⊙ leaky_relu′({z})",
    branches=("{z} = {value} > 0", "{z} = {value} ≤ 0: slope {slope}"),
    params=(Param("slope", Fraction(1, 100), "the leaky_relu slope"),),
    slips=(forgot_derivative(code="leaky-relu-slope-missing"), kink_taken("1", _relu_kink_one),
           kink_taken("½", _relu_kink_half)),
    rational=True, kinks=(Fraction(0),), practice_limit=None)

# ----- the smooth ones ------------------------------------------------------------------
activation(
    "sigmoid", lambda B, x: B.sigmoid(x),
    lambda B, g, ans, x: g * ans * complement(B, ans),  # 1 − ans, kept when saturated
    symbol="σ", definition="σ(z) = 1 / (1 + exp(−z))", derivative="{a}·(1 − {a})",
    vector_rule="{g} ⊙ {a} ⊙ (1 − {a})",
    slips=(at_output(), output_form_fed_input("{z}·(1 − {z})")), saturates=True)

activation(
    "tanh", lambda B, x: B.tanh(x),
    lambda B, g, ans, x: g * one_minus_square(B, ans),  # 1 − ans², kept when saturated
    definition="tanh(z) = (exp(z) − exp(−z)) / (exp(z) + exp(−z))", derivative="1 − {a}²",
    vector_rule="{g} ⊙ (1 − {a}²)",
    slips=(at_output(), output_form_fed_input("1 − {z}²")), practice_limit=Fraction(2),
    saturates=True)

activation(
    "softmax", lambda B, x: B.softmax(x),
    lambda B, g, ans, x: ans * (g - B.sum(g * ans, axis=-1, keepdims=True)),
    definition="softmax(z)ᵢ = exp(zᵢ) / Σⱼ exp(zⱼ)",
    derivative="softmax({z})ᵢ·(δᵢⱼ − softmax({z})ⱼ)",
    vector_rule="{a} ⊙ ({g} − Σⱼ {a}ⱼ·{g}ⱼ)", elementwise=False, output_only=True,
    couples=True, jacobian=("{a}·(1 − {a})", "−{a}·{b}"), practice_limit=Fraction(2))

# ----- newer smooth ones: each one record --------------------------------------------------
activation(
    "softplus", lambda B, x: B.softplus(x),
    lambda B, g, ans, x: g * B.sigmoid(x),
    definition="softplus(z) = log(1 + exp(z))", derivative="σ({z})",
    vector_rule="{g} ⊙ σ({z})", slips=(output_form_fed_input("σ({a})"),))


def _elu(B: Any, x: Any, alpha: Any) -> Any:
    # exp only of the non-positive part: the other branch never overflows
    return B.where(x > 0, x, alpha * (B.exp(B.where(x > 0, 0, x)) - 1))


activation(
    "elu", _elu,
    lambda B, g, ans, x, alpha: B.where(x > 0, g, g * alpha * B.exp(B.where(x > 0, 0, x))),
    title="ELU", definition="elu(z) = z if z > 0 else {alpha}·(exp(z) − 1)",
    derivative="1 if {z} > 0 else alpha·exp({z})", vector_rule="{g} ⊙ elu′({z})",
    branches=("{z} = {value} > 0", "{z} = {value} ≤ 0: alpha·exp({z}) with alpha {alpha}"),
    params=(Param("alpha", Fraction(1), "the elu alpha"),), kinks=(Fraction(0),))


def _gelu(B: Any, x: Any) -> Any:
    return x * B.normal_cdf(x)


activation(
    "gelu", _gelu,
    lambda B, g, ans, x: g * (B.normal_cdf(x) + x * B.normal_pdf(x)),
    title="GELU", definition="gelu(z) = z·Φ(z) = z·(1 + erf(z/√2))/2",
    derivative="Φ({z}) + {z}·φ({z})", vector_rule="{g} ⊙ (Φ({z}) + {z} ⊙ φ({z}))")

activation(
    "silu", lambda B, x: x * B.sigmoid(x),
    lambda B, g, ans, x: g * (B.sigmoid(x) * (1 + x * (1 - B.sigmoid(x)))),
    title="SiLU", definition="silu(z) = z·σ(z)", derivative="σ({z})·(1 + {z}·(1 − σ({z})))",
    vector_rule="{g} ⊙ σ({z}) ⊙ (1 + {z} ⊙ (1 − σ({z})))")
