"""Quantity names as people write them → the canonical names of FORMAT §3.

``∂L/∂W1``, ``dL/dW1`` and ``dW1`` are the same quantity; ``dL/dW2[1,2]`` is one element
(1-based, in the problem's layout). Aliases from other notations (δ for ∂L/∂z,
``y_hat``) are resolved here, in one place, for solve's ``--only``, verify and explain.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .errors import BackcheckError
from .problem import did_you_mean

_ELEMENT = re.compile(r"^(?P<name>.+?)\s*\[(?P<index>[\d\s,]*)\]$")


def split_element(text: str) -> tuple[str, tuple[int, ...] | None]:
    """``dL/dW2[1,2]`` → ``("dL/dW2", (1, 2))``; no brackets → index None."""
    text = text.strip()
    match = _ELEMENT.match(text)
    if not match:
        return text, None
    parts = [p.strip() for p in match.group("index").split(",")]
    if not all(p.isdigit() for p in parts):
        raise BackcheckError(f"cannot read the index in {text!r}; write e.g. dL/dW2[1,2]")
    return match.group("name").strip(), tuple(int(p) for p in parts)


def canonical(raw: str, known: Iterable[str], output: str = "L") -> str | None:
    """The canonical quantity name for a spelling, or None if it names nothing known."""
    known = list(known)
    name = raw.strip().replace("∂", "d").replace(" ", "")
    if name in known:
        return name
    candidates = []
    if name.startswith("d") and "/" not in name:
        candidates.append(f"d{output}/{name}")  # dW1 → dL/dW1
    delta = re.fullmatch(r"(?:δ|delta)_?(\d+)", name)
    if delta:
        candidates.append(f"d{output}/dz{delta.group(1)}")
    if name in ("y_hat", "yhat", "ŷ", "p", "output"):
        last = [k for k in known if re.fullmatch(r"a\d+", k)]
        if last:
            candidates.append(max(last, key=lambda k: int(k[1:])))
    if name in ("loss", "E", "E_total", "J", "C"):
        candidates.append(output)
    new = re.fullmatch(r"(W|b)(\d+)(?:_new|'|_updated|\+)", name)
    if new:
        candidates.append(f"{new.group(1)}{new.group(2)}_new")
    for candidate in candidates:
        if candidate in known:
            return candidate
    return None


def resolve(raw: str, known: Iterable[str], output: str = "L") -> str:
    """Like :func:`canonical` but an unknown name is an error with a suggestion."""
    known = list(known)
    name = canonical(raw, known, output)
    if name is None:
        raise BackcheckError(
            f"unknown quantity {raw!r}{did_you_mean(raw, known)}",
            hint="this problem has: " + ", ".join(known),
        )
    return name
