"""What an explanation holds (formulas, factors, paths, equations) and how names and
numbers in it are written as text and as LaTeX. Every part of ``explain`` fills these;
``render/explain_view.py`` draws them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from ..exact import Exact

ZERO = Exact(Fraction(0))
ONE = Exact(Fraction(1))


def as_exact(value: Any) -> Exact:
    """One number of an evaluation (a 0-d array or a scalar) as an :class:`Exact`."""
    return Exact.of(value.item() if isinstance(value, np.ndarray) else value)


@dataclass(frozen=True)
class Formula:
    """A formula with element names as placeholders, printable as text or LaTeX.

    ``template`` uses ``{0}``, ``{1}`` for ``names`` and plain Unicode math
    (``·``, ``−``, ``σ``, ``′``, ``²``, ``⊙``, ``ᵀ``, ``Σ``).
    """

    template: str
    names: tuple[str, ...] = ()
    network: bool = True  # how names print in LaTeX (z1 → z^{(1)} in a network)

    def text(self) -> str:
        return self.template.format(*self.names)

    def latex(self) -> str:
        marks = [f"\x00{i}\x00" for i in range(len(self.names))]
        body = latex_text(self.template.format(*marks))
        for i, name in enumerate(self.names):
            body = body.replace(f"\x00{i}\x00", latex_name(name, self.network))
        return body


@dataclass
class Factor:
    """One factor of a chain-rule product: ∂top/∂bottom."""

    top: str
    bottom: str
    formula: Formula
    value: Exact
    source: str = "local"  # "local" | "backward" (taken from the backward pass) | "fused"
    why: str = ""  # e.g. "z2[1] = 2 > 0"

    @property
    def name(self) -> str:
        return f"∂{self.top}/∂{self.bottom}"

    def key(self) -> tuple[str, str]:
        return (self.top, self.bottom)


@dataclass
class Path:
    elements: list[str]  # from the top (the loss, or where the path was cut) down
    factors: list[Factor]
    product: Exact


@dataclass
class Equation:
    """``lhs = rule = numbers = result`` with the operands' values shown beside it."""

    lhs: str
    rule: Formula
    numbers: str = ""  # the rule with the numbers put in (elements only)
    numbers_latex: str = ""
    #: (name, array); a name may be a Formula (e.g. a1 ⊙ (1 − a1))
    operands: list[tuple[Any, Any]] = field(default_factory=list)
    result: Any = None


@dataclass
class Symbolic:
    expression: Any  # a SymPy expression
    wrt: str
    symbols: dict[str, str]  # symbol → what it stands for
    value: Exact | None = None  # the formula evaluated at the problem's numbers
    definitions: dict[Any, Any] = field(default_factory=dict)  # z1_1 → W1_11·x_1 + …

    def text(self, expression: Any = None) -> str:
        from .symbolic import sympy_text

        return sympy_text(self.expression if expression is None else expression)

    def latex(self, expression: Any = None) -> str:
        from .symbolic import sympy_latex

        return sympy_latex(self.expression if expression is None else expression)


@dataclass
class Explanation:
    quantity: str  # canonical, with the element index: "dL/dW1[1,2]"
    kind: str  # "paths" | "rule" | "forward" | "given" | "update"
    value: Any  # Exact or an object array (problem layout)
    title: str = ""
    network: bool = True
    summary: list[str] = field(default_factory=list)
    factors: list[Factor] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)
    hidden_paths: int = 0
    hidden_total: Exact | None = None
    total: Exact | None = None
    equation: Equation | None = None
    notes: list[str] = field(default_factory=list)
    symbolic: Symbolic | None = None
    symbolic_error: str | None = None

    @property
    def all_paths(self) -> int:
        return len(self.paths) + self.hidden_paths


# ----- names and numbers as text and LaTeX

_LAYERED = re.compile(r"^(?P<base>[A-Za-z]+)(?P<layer>\d+)(?P<rest>(_new)?)$")
_INDEXED = re.compile(r"^(?P<name>[^\[\]]+)\[(?P<index>[\d,]+)\]$")

_LATEX_CHARS = {
    "·": r" \cdot ", "−": "-", "σ": r"\sigma", "′": "'", "²": "^{2}", "⊙": r" \odot ",
    "ᵀ": r"^{\top}", "Σ": r"\sum ", "≤": r" \le ", "≥": r" \ge ", "ŷ": r"\hat{y}",
    "δ": r"\delta ", "∂": r"\partial ", "η": r"\eta ", "…": r"\ldots", "×": r"\times ",
    "√": r"\sqrt", "ⱼ": "_j", "ᵢ": "_i", "½": r"\tfrac{1}{2}",
}
_LATEX_WORDS = {
    "relu": r"\operatorname{relu}", "leaky_relu": r"\operatorname{leaky\_relu}",
    "softmax": r"\operatorname{softmax}", "tanh": r"\tanh", "exp": r"\exp", "log": r"\log",
    "sin": r"\sin", "cos": r"\cos", "sign": r"\operatorname{sign}", "if": r"\text{ if }",
    "else": r"\text{ else }", "slope": r"\text{slope}", "sqrt": r"\sqrt",
    "abs": r"\operatorname{abs}",
}


def latex_name(name: str, network: bool = True) -> str:
    """``z1[2]`` → ``z^{(1)}_{2}`` (networks), ``c2`` → ``c_{2}``, ``L`` → ``L``."""
    if name.startswith("(") and name.endswith(")"):
        return "(" + latex_text(name[1:-1]) + ")"
    index = ""
    match = _INDEXED.match(name)
    if match:
        name, index = match.group("name"), match.group("index")
    base = name
    layered = _LAYERED.match(name)
    if layered and network and layered.group("base") in ("z", "a", "W", "b"):
        base = f"{layered.group('base')}^{{({layered.group('layer')})}}"
        if layered.group("rest"):
            base = f"{layered.group('base')}^{{({layered.group('layer')}),\\text{{new}}}}"
    elif layered and not network:
        letters = layered.group("base")
        base = (letters if len(letters) == 1 else rf"\mathit{{{letters}}}") + \
            f"_{{{layered.group('layer')}}}"
    elif name == "t":
        base = "t"
    elif len(name) > 1:
        base = r"\mathit{" + name.replace("_", r"\_") + "}"
    if index:
        base += "_{" + index + "}" if "_{" not in base else "{}_{" + index + "}"
    return base


def latex_text(text: str) -> str:
    """Unicode math (·, −, σ, ′, ², ⊙, ᵀ, …) and ``**``/``*`` → LaTeX."""
    text = text.replace("**", "^").replace("*", "·")
    text = re.sub(r"\^\(([^()]*)\)", r"^{(\1)}", text)
    text = re.sub(r"\^(-?[\w.]+)", r"^{\1}", text)
    text = re.sub(r"\b(relu|leaky_relu|softmax|tanh|exp|log|sin|cos|sign|if|else|slope|sqrt|abs)\b",
                  lambda m: _LATEX_WORDS[m.group(1)], text)
    return "".join(_LATEX_CHARS.get(char, char) for char in text)


def paren(text: str) -> str:
    """A number inside a product: negative numbers in parentheses."""
    return f"({text})" if text.startswith("-") else text


def latex_number(text: str) -> str:
    """``-1.5e-4…`` → ``-1.5 \\times 10^{-4}\\ldots``; ``2/3`` → ``\\tfrac{2}{3}``."""
    text = text.replace("…", r"\ldots")
    text = re.sub(r"e([+-]?)0*(\d+)",
                  lambda m: rf" \times 10^{{{'-' if m.group(1) == '-' else ''}{m.group(2)}}}", text)
    text = re.sub(r"^(-?)(\d+)/(\d+)$", r"\1\\tfrac{\2}{\3}", text)
    return text
