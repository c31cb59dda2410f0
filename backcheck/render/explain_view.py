"""``backcheck explain`` output: in the terminal (rich), as Markdown, as LaTeX.

All three read one :class:`~backcheck.explain.Explanation`; none computes anything.
Markdown uses ``$…$`` math (GitHub, Jupyter, Obsidian and pandoc render it); LaTeX is
a fragment for a homework write-up (needs ``amsmath``).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
from rich.console import Group
from rich.table import Table
from rich.text import Text

from ..explain import (
    Explanation,
    Factor,
    Formula,
    Path,
    latex_name,
    latex_number,
    latex_text,
    paren,
)
from ..numbers_text import compact
from ..text import escape
from .dot import compact_array

# ============================================================================ helpers


def _array(value: Any, digits: int) -> str:
    return compact_array(value, digits)


def _partial_text(top: str, bottom: str) -> str:
    return f"∂{top}/∂{bottom}"


def _partial_latex(top: str, bottom: str, network: bool) -> str:
    return (rf"\frac{{\partial {latex_name(top, network)}}}"
            rf"{{\partial {latex_name(bottom, network)}}}")


def _quantity_parts(explanation: Explanation) -> tuple[str, str] | None:
    """``dL/dW1[1,2]`` → ``("L", "W1[1,2]")``; None for a value."""
    name = explanation.quantity
    if name.startswith("d") and "/d" in name:
        top, bottom = name[1:].split("/d", 1)
        return top, bottom
    return None


def _title_text(explanation: Explanation, digits: int) -> str:
    parts = _quantity_parts(explanation)
    name = _partial_text(*parts) if parts else explanation.quantity
    value = explanation.value
    shown = _array(value, digits) if np.ndim(value) else compact(value, digits)
    if "\n" in shown:
        return name
    return f"{name} = {shown}"


def _title_latex(explanation: Explanation) -> str:
    parts = _quantity_parts(explanation)
    if parts:
        return _partial_latex(*parts, explanation.network)
    return latex_name(explanation.quantity, explanation.network)


def _product_numbers(path: Path, digits: int) -> str:
    return " · ".join(paren(compact(f.value, digits)) for f in path.factors)


def _product_numbers_latex(path: Path, digits: int) -> str:
    return r" \cdot ".join(paren(latex_number(compact(f.value, digits))) for f in path.factors)


def _factor_note(factor: Factor) -> str:
    if factor.source == "backward":
        return "from the backward pass"
    if factor.source == "fused":
        return "softmax + cross-entropy: ŷ − y"
    return factor.why


def _matrix_latex(value: Any, digits: int) -> str:
    array = np.asarray(value, dtype=object)
    if array.ndim == 0:
        return latex_number(compact(array.item(), digits))
    if array.ndim == 1:
        array = array.reshape(1, -1)
    rows = [" & ".join(latex_number(compact(v, digits)) for v in row) for row in array]
    return r"\begin{bmatrix}" + r" \\ ".join(rows) + r"\end{bmatrix}"


# ============================================================================ rich


def explanation_view(explanation: Explanation, *, digits: int = 6) -> Group:
    parts: list[Any] = []
    parts.append(Text(_title_text(explanation, digits), style="bold"))
    if explanation.title:
        parts.append(Text(escape(explanation.title), style="dim"))
    for line in explanation.summary:
        parts.append(Text(line))
    if explanation.kind == "paths" and explanation.paths:
        parts.extend(_rich_paths(explanation, digits))
    elif explanation.equation is not None:
        parts.extend(_rich_equation(explanation, digits))
    elif explanation.kind == "given" and np.ndim(explanation.value):
        parts.append(Text(_hang(f"{explanation.quantity} = ", _array(explanation.value, digits))))
    for note in explanation.notes:
        parts.append(Text("note: " + escape(note), style="dim"))
    if explanation.symbolic is not None:
        parts.extend(_rich_symbolic(explanation, digits))
    elif explanation.symbolic_error:
        parts.append(Text("symbolic: " + explanation.symbolic_error, style="yellow"))
    return Group(*parts)


def _rich_paths(explanation: Explanation, digits: int) -> list[Any]:
    parts: list[Any] = []
    paths = explanation.paths
    if len(paths) == 1:
        path = paths[0]
        parts.append(Text("\npath: " + " → ".join(path.elements), style="cyan"))
        parts.append(_factor_table(path.factors, digits))
        names = " · ".join(f.name for f in path.factors)
        parts.append(Text(f"{_partial_text(*_quantity_parts(explanation))} = {names}"))
        parts.append(Text(f"  = {_product_numbers(path, digits)}"))
        parts.append(Text(f"  = {compact(path.product, digits)}", style="bold"))
    else:
        parts.append(Text("\nthe local derivatives (each factor once):", style="cyan"))
        parts.append(_factor_table(explanation.factors, digits))
        parts.append(Text(f"the {explanation.all_paths} paths, top down, and their products:",
                          style="cyan"))
        table = Table(show_header=True, header_style="bold", pad_edge=False, box=None)
        table.add_column("#", justify="right")
        table.add_column("path and its factors")
        table.add_column("product", justify="right")
        for number, path in enumerate(paths, start=1):
            route = Text(" → ".join(path.elements), style="dim")
            route.append("\n" + _product_numbers(path, digits), style="")
            table.add_row(str(number), route, compact(path.product, digits))
        parts.append(table)
        if explanation.hidden_paths:
            parts.append(Text(
                f"… and {explanation.hidden_paths} more paths, together "
                f"{compact(explanation.hidden_total, digits)}", style="dim"))
        terms = " + ".join(paren(compact(p.product, digits)) for p in paths)
        if explanation.hidden_paths:
            terms += f" + {paren(compact(explanation.hidden_total, digits))}"
        parts.append(Text(f"{_partial_text(*_quantity_parts(explanation))} = sum over paths = "
                          f"{terms}"))
        parts.append(Text(f"  = {compact(explanation.total, digits)}", style="bold"))
    parts.append(Text("✓ the sum over paths equals the backward pass's exact value",
                      style="green"))
    return parts


def _factor_table(factors: list[Factor], digits: int) -> Table:
    table = Table(show_header=True, header_style="bold", pad_edge=False)
    table.add_column("factor", no_wrap=True)
    table.add_column("formula")
    table.add_column("value", justify="right", no_wrap=True)
    notes = any(_factor_note(f) for f in factors)
    if notes:
        table.add_column("", style="dim")
    for factor in factors:
        row = [factor.name, factor.formula.text(), compact(factor.value, digits)]
        table.add_row(*row, *([_factor_note(factor)] if notes else []))
    return table


def _rich_equation(explanation: Explanation, digits: int) -> list[Any]:
    equation = explanation.equation
    parts: list[Any] = []
    lhs = equation.lhs
    parts.append(Text(f"\n{lhs} = {equation.rule.text()}", style="cyan"))
    indent = " " * (len(lhs) + 1)
    if equation.numbers:
        parts.append(Text(f"{indent}= {equation.numbers}"))
    for name, value in equation.operands:
        block = _array(value, digits)
        parts.append(Text(_hang(f"  {_operand_text(name)} = ", block)))
    if equation.result is not None:
        block = _array(equation.result, digits)
        if equation.operands:
            parts.append(Text(_hang(f"  {lhs} = ", block), style="bold"))
        else:
            parts.append(Text(_hang(f"{indent}= ", block), style="bold"))
    return parts


def _hang(prefix: str, block: str) -> str:
    lines = block.split("\n")
    pad = " " * len(prefix)
    return prefix + lines[0] + "".join("\n" + pad + line for line in lines[1:])


def _legend(symbols: dict[str, str]) -> str:
    """One example per kind of symbol: "W1_12 is W1[1,2], x_2 is x[2], …"."""
    seen: dict[str, str] = {}
    for symbol, meaning in symbols.items():
        kind = symbol.split("_")[0]
        if kind not in seen:
            seen[kind] = f"{symbol} is {meaning}"
    return ", ".join(seen.values()) + (" (and so on)" if len(seen) < len(symbols) else "")


def _rich_symbolic(explanation: Explanation, digits: int) -> list[Any]:
    symbolic = explanation.symbolic
    parts: list[Any] = [Text("\nsymbolic:", style="cyan")]
    quantity = _quantity_parts(explanation)
    name = _partial_text(*quantity) if quantity else explanation.quantity
    parts.append(Text(f"{name} = {symbolic.text()}"))
    if symbolic.definitions:
        parts.append(Text("where", style="dim"))
        for symbol, expression in symbolic.definitions.items():
            parts.append(Text(f"  {symbol} = {symbolic.text(expression)}"))
    if symbolic.symbols:
        parts.append(Text("symbols: " + _legend(symbolic.symbols), style="dim"))
    if symbolic.value is not None:
        parts.append(Text(f"at the problem's numbers: {compact(symbolic.value, digits)} ✓ "
                          f"(agrees with the backward pass)", style="green"))
    return parts


# ============================================================================ Markdown


def _md_escape(text: str) -> str:
    out = []
    for char in escape(text):
        if char in "\\`*_[]<>|#":
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)


def _cell(math: str) -> str:
    """Math inside a Markdown table cell (a bare | would end the cell)."""
    return "$" + math.replace("|", r"\vert ") + "$"


def to_markdown(explanation: Explanation, *, digits: int = 6) -> str:
    net = explanation.network
    lines: list[str] = []
    value = explanation.value
    head = f"${_title_latex(explanation)}"
    if np.ndim(value) == 0:
        head += " = " + latex_number(compact(value, digits))
    lines.append(f"### {head}$")
    if explanation.title:
        lines.append(f"*{_md_escape(explanation.title)}*")
    lines.append("")
    for sentence in explanation.summary:
        lines.append(_md_escape(sentence))
        lines.append("")
    if explanation.kind == "paths" and explanation.paths:
        paths = explanation.paths
        factors = paths[0].factors if len(paths) == 1 else explanation.factors
        if len(paths) == 1:
            lines.append("Path: $" + r" \to ".join(latex_name(e, net) for e in paths[0].elements)
                         + "$")
            lines.append("")
        notes = any(_factor_note(f) for f in factors)
        lines.append("| factor | formula | value |" + (" |" if notes else ""))
        lines.append("|---|---|---:|" + ("---|" if notes else ""))
        for factor in factors:
            note = f" {_md_escape(_factor_note(factor))} |" if notes else ""
            lines.append(f"| {_cell(_partial_latex(factor.top, factor.bottom, net))} | "
                         f"{_formula_cell(factor.formula)} | "
                         f"{_cell(latex_number(compact(factor.value, digits)))} |{note}")
        lines.append("")
        title = _title_latex(explanation)
        if len(paths) == 1:
            path = paths[0]
            names = r" \cdot ".join(_partial_latex(f.top, f.bottom, net) for f in path.factors)
            lines.append("$$")
            lines.append(rf"{title} = {names}")
            lines.append(rf"= {_product_numbers_latex(path, digits)}"
                         rf" = {latex_number(compact(path.product, digits))}")
            lines.append("$$")
        else:
            lines.append("| # | path | product of the factors | |")
            lines.append("|---:|---|---|---:|")
            for number, path in enumerate(paths, start=1):
                route = r" \to ".join(latex_name(e, net) for e in path.elements)
                lines.append(f"| {number} | {_cell(route)} | "
                             f"{_cell(_product_numbers_latex(path, digits))} | "
                             f"{_cell(latex_number(compact(path.product, digits)))} |")
            if explanation.hidden_paths:
                lines.append(f"| … | {explanation.hidden_paths} more paths | | "
                             f"{_cell(latex_number(compact(explanation.hidden_total, digits)))} |")
            lines.append("")
            terms = " + ".join(paren(latex_number(compact(p.product, digits))) for p in paths)
            if explanation.hidden_paths:
                terms += " + " + paren(latex_number(compact(explanation.hidden_total, digits)))
            lines.append("$$")
            lines.append(rf"{title} = \sum_{{\text{{paths}}}} = {terms}"
                         rf" = {latex_number(compact(explanation.total, digits))}")
            lines.append("$$")
        lines.append("")
        lines.append("The sum over paths equals the backward pass's exact value.")
    elif explanation.equation is not None:
        lines.extend(_md_equation(explanation, digits))
    elif explanation.kind == "given":
        lines.append(f"$${latex_name(explanation.quantity, net)} = "
                     f"{_matrix_latex(explanation.value, digits)}$$")
    for note in explanation.notes:
        lines.append("")
        lines.append(f"> {_md_escape(note)}")
    if explanation.symbolic is not None:
        lines.append("")
        lines.extend(_md_symbolic(explanation, digits))
    elif explanation.symbolic_error:
        lines.append("")
        lines.append(f"*Symbolic form not shown: {_md_escape(explanation.symbolic_error)}*")
    return "\n".join(lines).rstrip() + "\n"


def _formula_cell(formula: Formula) -> str:
    if formula.template == "from the backward pass":
        return "(backward pass)"
    return _cell(formula.latex())


def _md_equation(explanation: Explanation, digits: int) -> list[str]:
    equation = explanation.equation
    net = explanation.network
    lhs = latex_name(equation.lhs, net) if "/d" not in equation.lhs else _partial_latex(
        *equation.lhs[1:].split("/d", 1), net)
    lines = ["$$", f"{lhs} = {_rule_latex(equation.rule)}"]
    if equation.numbers_latex:
        lines.append(f"= {equation.numbers_latex}")
    if equation.result is not None and not equation.operands:
        lines.append(f"= {_matrix_latex(equation.result, digits)}")
    lines.append("$$")
    if equation.operands:
        lines.append("")
        lines.append("with")
        lines.append("")
        for name, value in equation.operands:
            lines.append(f"- ${_operand_latex(name, net)} = {_matrix_latex(value, digits)}$")
        lines.append("")
        lines.append(f"so ${lhs} = {_matrix_latex(equation.result, digits)}$")
    return lines


def _rule_latex(rule: Formula) -> str:
    names = tuple(_operand_latex(n, rule.network) for n in rule.names)
    marks = [f"\x00{i}\x00" for i in range(len(rule.names))]
    body = latex_text(rule.template.format(*marks)).replace("⊘", r" \oslash ")
    body = body.replace("over examples of", r"\text{over examples of}").replace(
        "(column sums)", r"\text{(column sums)}").replace("(elementwise)", r"\text{ (elementwise)}"
                                                          ).replace("(per example)",
                                                                    r"\text{ (per example)}")
    for i, name in enumerate(names):
        body = body.replace(f"\x00{i}\x00", name)
    return body


def _operand_text(name: Any) -> str:
    return name.text() if isinstance(name, Formula) else name


def _operand_latex(name: Any, network: bool) -> str:
    if isinstance(name, Formula):
        return name.latex()
    if name.startswith("dL/d"):
        return _partial_latex("L", name[4:], network)
    if name.startswith("[") or "⊙" in name or "′" in name or "(" in name:
        return latex_text(name)
    return latex_name(name, network)


def _md_symbolic(explanation: Explanation, digits: int) -> list[str]:
    symbolic = explanation.symbolic
    lines = ["**Symbolic form**", "", "$$", f"{_title_latex(explanation)} = {symbolic.latex()}",
             "$$"]
    if symbolic.definitions:
        lines.append("")
        lines.append("where")
        lines.append("")
        for symbol, expression in symbolic.definitions.items():
            lines.append(f"- ${symbolic.latex(symbol)} = {symbolic.latex(expression)}$")
    if symbolic.symbols:
        lines.append("")
        lines.append("Symbols: " + _md_escape(_legend(symbolic.symbols)))
    if symbolic.value is not None:
        lines.append("")
        lines.append(f"At the problem's numbers this is "
                     f"${latex_number(compact(symbolic.value, digits))}$.")
    return lines


# ============================================================================ LaTeX

_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "#": r"\#",
    "%": r"\%", "_": r"\_", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
}


_PARTIAL = re.compile(r"∂(\w+)/∂(\w+(?:\[[\d,…]+\])?)")


def latex_escape(text: str) -> str:
    """Plain text for a LaTeX document: special characters escaped, math symbols as math,
    ∂L/∂z3 as a fraction."""
    pieces = []
    last = 0
    text = escape(text)
    for match in _PARTIAL.finditer(text):
        pieces.append(_latex_plain(text[last:match.start()]))
        pieces.append("$" + _partial_latex(match.group(1), match.group(2), True) + "$")
        last = match.end()
    pieces.append(_latex_plain(text[last:]))
    return "".join(pieces)


def _latex_plain(text: str) -> str:
    out = []
    for char in text:
        if char in _LATEX_SPECIAL:
            out.append(_LATEX_SPECIAL[char])
        elif char in "∂·−σ′²⊙ᵀΣ≤≥ŷδη…×√→":
            out.append("$" + latex_text(char).replace("→", r"\to") + "$")
        elif ord(char) < 32:
            out.append(" ")
        else:
            out.append(char)
    return "".join(out)


def to_latex(explanation: Explanation, *, digits: int = 6) -> str:
    net = explanation.network
    lines = [
        f"% backcheck explain {latex_escape(explanation.quantity)}".replace("\n", " "),
        "% needs \\usepackage{amsmath}",
    ]
    if explanation.title:
        lines.append(r"\paragraph{" + latex_escape(explanation.title) + "}")
    for sentence in explanation.summary:
        lines.append(latex_escape(sentence))
        lines.append("")
    title = _title_latex(explanation)
    if explanation.kind == "paths" and explanation.paths:
        paths = explanation.paths
        if len(paths) == 1:
            path = paths[0]
            lines.append(r"\begin{align*}")
            names = r" \cdot ".join(_partial_latex(f.top, f.bottom, net) for f in path.factors)
            formulas = r" \cdot ".join(_factor_formula_latex(f) for f in path.factors)
            lines.append(rf"{title} &= {names} \\")
            lines.append(rf"&= {formulas} \\")
            lines.append(rf"&= {_product_numbers_latex(path, digits)} \\")
            lines.append(rf"&= {latex_number(compact(path.product, digits))}")
            lines.append(r"\end{align*}")
            whys = [f for f in path.factors if f.why]
            for factor in whys:
                lines.append(latex_escape(f"({factor.name}: {factor.why})"))
                lines.append("")
        else:
            lines.append(r"Local derivatives:")
            lines.append(r"\begin{align*}")
            rows = []
            for factor in explanation.factors:
                rows.append(rf"{_partial_latex(factor.top, factor.bottom, net)} &= "
                            rf"{_factor_formula_latex(factor, False)} = "
                            rf"{latex_number(compact(factor.value, digits))}")
            lines.append(" \\\\\n".join(rows))
            lines.append(r"\end{align*}")
            lines.append(r"Paths and their products:")
            lines.append(r"\begin{align*}")
            rows = []
            for number, path in enumerate(paths, start=1):
                route = r" \to ".join(latex_name(e, net) for e in path.elements)
                rows.append(rf"&\text{{{number}. }} {route}: && "
                            rf"{_product_numbers_latex(path, digits)} = "
                            rf"{latex_number(compact(path.product, digits))}")
            lines.append(" \\\\\n".join(rows))
            lines.append(r"\end{align*}")
            terms = " + ".join(paren(latex_number(compact(p.product, digits))) for p in paths)
            if explanation.hidden_paths:
                lines.append(latex_escape(f"(and {explanation.hidden_paths} more paths, "
                                          f"together {compact(explanation.hidden_total, digits)})"))
                terms += " + " + paren(latex_number(compact(explanation.hidden_total, digits)))
            lines.append(r"\begin{align*}")
            lines.append(rf"{title} &= {terms} \\")
            lines.append(rf"&= {latex_number(compact(explanation.total, digits))}")
            lines.append(r"\end{align*}")
    elif explanation.equation is not None:
        equation = explanation.equation
        lhs = _lhs_latex(equation.lhs, net)
        lines.append(r"\begin{align*}")
        rows = [rf"{lhs} &= {_rule_latex(equation.rule)}"]
        if equation.numbers_latex:
            rows.append(f"&= {equation.numbers_latex}")
        rows.append(f"&= {_matrix_latex(equation.result, digits)}")
        lines.append(" \\\\\n".join(rows))
        lines.append(r"\end{align*}")
        if equation.operands:
            lines.append("with")
            lines.append(r"\begin{align*}")
            lines.append(" \\\\\n".join(f"{_operand_latex(n, net)} &= {_matrix_latex(v, digits)}"
                                        for n, v in equation.operands))
            lines.append(r"\end{align*}")
    elif explanation.kind == "given":
        lines.append(rf"\[ {latex_name(explanation.quantity, net)} = "
                     rf"{_matrix_latex(explanation.value, digits)} \]")
    for note in explanation.notes:
        lines.append(latex_escape(note))
        lines.append("")
    if explanation.symbolic is not None:
        symbolic = explanation.symbolic
        lines.append(r"Symbolically:")
        lines.append(r"\begin{align*}")
        rows = [rf"{title} &= {symbolic.latex()}"]
        for symbol, expression in symbolic.definitions.items():
            rows.append(rf"{symbolic.latex(symbol)} &= {symbolic.latex(expression)}")
        lines.append(" \\\\\n".join(rows))
        lines.append(r"\end{align*}")
    elif explanation.symbolic_error:
        lines.append(latex_escape("Symbolic form not shown: " + explanation.symbolic_error))
    return "\n".join(lines).rstrip() + "\n"


def _lhs_latex(lhs: str, network: bool) -> str:
    if lhs.startswith("d") and "/d" in lhs:
        top, bottom = lhs[1:].split("/d", 1)
        return _partial_latex(top, bottom, network)
    return latex_name(lhs, network)


def _factor_formula_latex(factor: Factor, in_product: bool = True) -> str:
    """A factor's formula; inside a product, a sum gets parentheses and a formula
    written two ways (σ′(z) = a·(1 − a)) keeps the form with the numbers in it."""
    if factor.source == "backward":
        return _partial_latex(factor.top, factor.bottom, factor.formula.network)
    formula = factor.formula
    if in_product and " = " in formula.template:
        formula = Formula(formula.template.split(" = ", 1)[1], formula.names, formula.network)
    body = formula.latex()
    if in_product and _top_level_sum(formula.template):
        body = rf"\left({body}\right)"
    return body


def _top_level_sum(template: str) -> bool:
    depth = 0
    for index, char in enumerate(template):
        if char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif depth == 0 and char in "+−-/" and index > 0:
            return True
    return False


def to_text(explanation: Explanation, *, digits: int = 6, width: int = 100) -> str:
    """The terminal view as plain text (for ``-o explanation.txt``)."""
    import io

    from .console import SafeConsole

    console = SafeConsole(record=True, width=width, highlight=False, color_system=None,
                      file=io.StringIO())
    console.print(explanation_view(explanation, digits=digits))
    return console.export_text()
