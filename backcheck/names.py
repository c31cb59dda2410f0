"""Quantity names as people write them → the canonical names of FORMAT §3.

``∂L/∂W1``, ``dL/dW1`` and ``dW1`` are the same quantity; ``dL/dW2[1,2]`` is one element
(1-based, in the problem's own layout). Aliases from other notations are resolved here, in
one place, for solve's ``--only``, verify and explain:

* δ2 / delta2 for ∂L/∂z2; ``y_hat``/``ŷ`` for the last activation; ``E``, ``E_total``,
  ``J``, ``C``, ``loss`` for L (also as the numerator: ``∂E_total/∂W2``);
* PadhAI: ``hK`` for the activation aK (write zK for PadhAI's pre-activation aᵢ);
* Mazur's net/out notation, for networks of exactly two layers and one example:
  ``net_h1`` = z1[1], ``out_h1`` = a1[1], ``net_o1`` = z2[1], ``out_o1`` = a2[1], and the
  weights numbered w1, w2, … unit by unit (w1..w4 = W1[1,1], W1[1,2], W1[2,1], W1[2,2],
  w5.. for the second layer), in convention Wx where every layer has at least two inputs
  and two units, and only for a single number (a list under ``dL/dw1`` is the whole W1);
* fast.ai: ``w1.g`` for ∂L/∂W1 (and lower-case ``w1``/``b1`` for a whole matrix);
* one-layer networks (the single neuron): ``w``, ``b``, ``z`` for W1, b1, z1;
* subscript digits (``W₁``), ``W_1``, and spaces are accepted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from .errors import BackcheckError
from .problem import did_you_mean

_ELEMENT = re.compile(r"^(?P<name>.+?)\s*\[(?P<index>[\d\s,]*)\]$")
_SUBSCRIPTS = str.maketrans("₀₁₂₃₄₅₆₇₈₉", "0123456789")
LOSS_ALIASES = ("loss", "Loss", "E", "E_total", "Etotal", "J", "C", "cost")
OUTPUT_ALIASES = ("y_hat", "yhat", "ŷ", "output", "out")


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


def normalise(raw: str) -> str:
    """Spelling-level clean-up: ∂ → d, subscript digits, no spaces."""
    return raw.strip().translate(_SUBSCRIPTS).replace("∂", "d").replace(" ", "")


def _value_alias(name: str, known: list[str], output: str) -> str | None:
    """A value's canonical name (y_hat → aN, h2 → a2, W_1 → W1), or None."""
    if name in known:
        return name
    if name in OUTPUT_ALIASES or (name == "p" and "p" not in known):
        last = [k for k in known if re.fullmatch(r"a\d+", k)]
        if last:
            return max(last, key=lambda k: int(k[1:]))
    if name in LOSS_ALIASES:
        return output if output in known else None
    underscored = re.fullmatch(r"([A-Za-z]+)_(\d+)", name)
    if underscored and underscored.group(1) + underscored.group(2) in known:
        return underscored.group(1) + underscored.group(2)
    padhai = re.fullmatch(r"h(\d+)", name)
    if padhai and f"a{padhai.group(1)}" in known and f"z{padhai.group(1)}" in known:
        return f"a{padhai.group(1)}"
    return None


def canonical(raw: str, known: Iterable[str], output: str = "L") -> str | None:
    """The canonical quantity name for a spelling, or None if it names nothing known."""
    known = list(known)
    name = normalise(raw)
    if name in known:
        return name
    candidates = []
    if name.startswith("d") and "/" not in name:
        candidates.append(f"d{output}/{name}")  # dW1 → dL/dW1
        rest = _value_alias(name[1:], _targets(known, output), output)
        if rest is not None:
            candidates.append(f"d{output}/d{rest}")
    delta = re.fullmatch(r"(?:δ|delta)_?(\d+)", name)
    if delta:
        candidates.append(f"d{output}/dz{delta.group(1)}")
    if "/" in name:
        top, _, bottom = name.partition("/")
        if top.startswith("d") and bottom.startswith("d") and (
                top[1:] == output or top[1:] in LOSS_ALIASES):
            rest = _value_alias(bottom[1:], _targets(known, output), output)
            if rest is not None:
                candidates.append(f"d{output}/d{rest}")
    value = _value_alias(name, known, output)
    if value is not None:
        candidates.append(value)
    new = re.fullmatch(r"(W|b)_?(\d+)(?:_new|'|_updated|\+|_next)", name)
    if new:
        candidates.append(f"{new.group(1)}{new.group(2)}_new")
    for candidate in candidates:
        if candidate in known:
            return candidate
    return None


def _targets(known: list[str], output: str) -> list[str]:
    """The names that appear after d{output}/d in gradient names (z1, W1, x, ...)."""
    prefix = f"d{output}/d"
    return [k[len(prefix):] for k in known if k.startswith(prefix)]


def _no_gradient(raw: str, known: list[str]) -> None:
    """``dL/dXb`` where Xb is a value without a gradient (an index, a constant): say so."""
    text = raw.strip()
    if text.startswith("d") and "/d" in text:
        base = text.split("/d", 1)[1]
        if base in known:
            raise BackcheckError(
                f"{base} gets no gradient: it is not differentiated (an integer array used "
                f"as an index, or a constant), so there is no {text!r}")


def resolve(raw: str, known: Iterable[str], output: str = "L") -> str:
    """Like :func:`canonical` but an unknown name is an error with a suggestion."""
    known = list(known)
    name = canonical(raw, known, output)
    if name is None:
        _no_gradient(raw, known)
        raise BackcheckError(
            f"unknown quantity {raw!r}{did_you_mean(raw, known)}",
            hint="this problem has: " + ", ".join(known),
        )
    return name


# ----- element aliases (answers) ---------------------------------------------------------
def element_aliases(graph: Any) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Names of single elements in other notations → (canonical quantity, 1-based index).

    Only where they are unambiguous: Mazur's net/out names for two-layer networks on one
    example; his weight numbering w1, w2, … where every W is at least 2 × 2; ``w``/``b``/
    ``z`` for one-layer networks (their whole W1, b1, z1, returned with index ``()``).
    """
    problem = graph.problem
    if getattr(problem, "kind", None) != "network":
        return {}
    known = set(graph.quantities)
    output = graph.output_name
    aliases: dict[str, tuple[str, tuple[int, ...]]] = {}
    layers = problem.layers
    sizes = problem.sizes
    if len(layers) == 1:
        for short, full in (("w", "W1"), ("b", "b1"), ("z", "z1")):
            if f"d{output}/d{full}" in known:
                aliases[f"d{output}/d{short}"] = (f"d{output}/d{full}", ())
            if short != "z" and f"{full}_new" in known:
                aliases[f"{short}_new"] = (f"{full}_new", ())
        if "z1" in known:
            aliases["z"] = ("z1", ())
    if len(layers) == 2 and problem.single:
        for letter, k in (("h", 1), ("o", 2)):
            for unit in range(1, sizes[k] + 1):
                aliases[f"net_{letter}{unit}"] = (f"z{k}", (unit,))
                aliases[f"out_{letter}{unit}"] = (f"a{k}", (unit,))
                aliases[f"d{output}/dnet_{letter}{unit}"] = (f"d{output}/dz{k}", (unit,))
                aliases[f"d{output}/dout_{letter}{unit}"] = (f"d{output}/da{k}", (unit,))
    if problem.convention == "Wx" and all(
            sizes[k - 1] >= 2 and sizes[k] >= 2 for k in range(1, len(sizes))):
        number = 0
        for k in range(1, len(sizes)):
            for unit in range(1, sizes[k] + 1):
                for source in range(1, sizes[k - 1] + 1):
                    number += 1
                    index = (unit, source)
                    if layers[k - 1].W_flat:
                        continue
                    aliases[f"d{output}/dw{number}"] = (f"d{output}/dW{k}", index)
                    if f"W{k}_new" in known:
                        for suffix in ("_new", "+", "'", "_updated"):
                            aliases[f"w{number}{suffix}"] = (f"W{k}_new", index)
    return {key: value for key, value in aliases.items() if value[0] in known}


def answer_name(raw: str, graph: Any, *, scalar: bool | None = None
                ) -> tuple[str, tuple[int, ...] | None]:
    """An answers-file key → (canonical quantity, 1-based element index or None).

    ``scalar`` says whether the answer is one number (False: a list): a list under
    ``dL/dw1`` means the whole W1 (fast.ai's lower-case ``w1``), one number means Mazur's
    weight w1. fast.ai's ``w1.g`` is read as ``dL/dW1``. Raises :class:`BackcheckError`
    (without a position) for unknown names, with a "did you mean" from the problem's names.
    """
    known = list(graph.quantities)
    output = graph.output_name
    base, index = split_element(raw)
    name = canonical(base, known, output)
    if name is not None:
        return name, index
    key = normalise(base)
    if key.endswith(".g"):  # fast.ai: w1.g is the gradient stored on w1
        name = canonical(f"d{output}/d{_upper_param(key[:-2])}", known, output)
        if name is not None:
            return name, index
    if scalar is False and index is None:
        name = canonical(_upper_param(key), known, output)
        if name is not None:
            return name, index
    aliases = element_aliases(graph)
    if "/" in key:
        top, _, bottom = key.partition("/")
        if top[1:] in LOSS_ALIASES:
            key = f"d{output}/{bottom}"
    elif key.startswith("d") and f"d{output}/{key}" in aliases:
        key = f"d{output}/{key}"
    if key in aliases:
        name, alias_index = aliases[key]
        if index is not None:
            if alias_index:
                raise BackcheckError(
                    f"{raw!r}: {base} already names one element ({_element(name, alias_index)}); "
                    f"drop the [{','.join(map(str, index))}]")
            return name, index
        return name, alias_index or None
    _no_gradient(base, known)
    folded = [k for k in known if k.lower() == key.lower()]
    suggestion = f"; did you mean {folded[0]!r}?" if folded else did_you_mean(
        base, known + sorted(aliases))
    raise BackcheckError(
        f"unknown quantity {base!r}{suggestion}",
        hint="this problem has: " + ", ".join(known),
    )


def _upper_param(name: str) -> str:
    """fast.ai writes w1, b1 for the matrices W1, b1: ``dL/dw1`` → ``dL/dW1``."""
    return re.sub(r"(^|/d|^d)w(\d+)", lambda m: f"{m.group(1)}W{m.group(2)}", name)


def _element(name: str, index: tuple[int, ...]) -> str:
    return f"{name}[{','.join(map(str, index))}]" if index else name
