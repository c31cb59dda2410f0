"""The affine layer z = W·a + b (convention Wx) or a·W + b (convention xW)."""

from __future__ import annotations

from typing import Any

from .record import Op, register


def _linear(B: Any, a: Any, W: Any, b: Any = None, *, convention: str) -> Any:
    z = B.matmul(a, W.T if convention == "Wx" else W)
    return z if b is None else z + b


register(Op(
    "linear", "linear", _linear,
    (lambda B, g, ans, a, W, b=None, *, convention: B.matmul(g, W if convention == "Wx" else W.T),
     lambda B, g, ans, a, W, b=None, *, convention: (
         B.matmul(g.T, a) if convention == "Wx" else B.matmul(a.T, g)),
     lambda B, g, ans, a, W, b=None, *, convention: B.sum(g, axis=0)),
    symbol="linear", formula="{1}·{0} + {2}", derivatives=("W", "a (the layer's input)", "1")))
