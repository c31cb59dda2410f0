"""A forward quantity explained: a pre-activation as its sum of products, an
activation or the loss as its record's formula with the numbers put in, an updated
weight as one gradient-descent step."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..exact import Exact
from ..numbers_text import compact, element_text
from ..ops import LOSS_NODE, LOSSES, OPS
from .model import ZERO, Equation, Explanation, Formula, latex_number, latex_text, paren
from .paths import check_total, magnitude

if TYPE_CHECKING:
    from .network import NetworkElements


def forward_element(net: NetworkElements, name: str, quantity: Any, internal: tuple,
                    explanation: Explanation) -> Explanation:
    node = net.graph.nodes[quantity.node]
    explanation.kind = "forward"
    value = net.value((node.id, internal))
    digits = 6
    if node.is_leaf:
        explanation.kind = "given"
        explanation.summary.append(f"{explanation.quantity} is given in the problem file.")
        return explanation
    if node.op == "linear":
        n, j = internal
        a_node, W_node = node.inputs[0], node.inputs[1]
        terms, numbers = [], []
        values = net.ev.values
        names: list[str] = []
        for i in range(np.shape(values[a_node])[1]):
            w = (j, i) if net.problem.convention == "Wx" else (i, j)
            names += [net.name((W_node, w)), net.name((a_node, (n, i)))]
            terms.append(f"{{{len(names) - 2}}}·{{{len(names) - 1}}}")
            numbers.append((values[W_node][w], values[a_node][n, i]))
        bias = None
        if len(node.inputs) == 3:
            names.append(net.name((node.inputs[2], (j,))))
            terms.append(f"{{{len(names) - 1}}}")
            bias = values[node.inputs[2]][j]
        rule = Formula(" + ".join(terms), tuple(names))
        text = " + ".join(f"{paren(compact(w, digits))}·{paren(compact(a, digits))}"
                          for w, a in numbers)
        text_latex = " + ".join(
            f"{paren(latex_number(compact(w, digits)))} \\cdot "
            f"{paren(latex_number(compact(a, digits)))}" for w, a in numbers)
        if bias is not None:
            text += " + " + paren(compact(bias, digits))
            text_latex += " + " + paren(latex_number(compact(bias, digits)))
        total = ZERO
        for w, a in numbers:
            total = total + w * a
        if bias is not None:
            total = total + bias
        check_total(total, value, explanation.quantity,
                     magnitude([w * a for w, a in numbers]))
        explanation.equation = Equation(explanation.quantity, rule, text, text_latex,
                                        result=value)
        explanation.summary.append(
            f"A pre-activation is a sum of products: each weight times the input it "
            f"multiplies{', plus the bias' if bias is not None else ''}.")
        return explanation
    if node.op == LOSS_NODE:
        return _loss_explanation(net, explanation)
    z = net.name((node.inputs[0], internal))
    zv = net.value((node.inputs[0], internal))
    record = OPS[node.op]
    if record.couples:
        n = internal[0]
        row = net.ev.values[node.inputs[0]][n]
        names = tuple(net.name((node.inputs[0], (n, q))) for q in range(len(row)))
        denominator = " + ".join(f"exp({{{q}}})" for q in range(len(row)))
        rule = Formula(f"exp({{{internal[1]}}}) / ({denominator})", names)
        numbers = (f"exp({compact(zv, digits)}) / ("
                   + " + ".join(f"exp({compact(v, digits)})" for v in row) + ")")
        explanation.equation = Equation(explanation.quantity, rule, numbers,
                                        latex_text(numbers), result=value)
        explanation.summary.append("softmax: the exponential of this unit's "
                                   "pre-activation over the sum over all units.")
        return explanation
    rule = Formula(record.formula, (z,))
    numbers = record.formula.format(compact(zv, digits))
    explanation.equation = Equation(explanation.quantity, rule, numbers, latex_text(numbers),
                                    result=value)
    extra = record.definition.format(**node.attrs)
    if extra:
        explanation.summary.append(f"The activation applied to its pre-activation: {extra}.")
    return explanation


def _loss_explanation(net: NetworkElements, explanation: Explanation) -> Explanation:
    kind = net.loss.attrs["kind"]
    divisor = net.loss.attrs["divisor"]
    L = len(net.problem.layers)
    p_node, t_node = net.loss.inputs[:2]
    values = net.ev.values
    pieces, names = [], []
    numbers = []
    record = LOSSES[kind]
    term = record.negated_term or record.formula
    for index in np.ndindex(np.shape(values[p_node])):
        names += [net.name((p_node, index)), net.name((t_node, index))]
        i, j = len(names) - 2, len(names) - 1
        pieces.append(term.format(f"{{{i}}}", f"{{{j}}}"))
        numbers.append(term.format(paren(compact(values[p_node][index], 6)),
                                   paren(compact(values[t_node][index], 6))))
    inner, number_text = " + ".join(pieces), " + ".join(numbers)
    if record.negated_term:  # −Σ t·log p
        inner, number_text = f"−({inner})", f"−({number_text})"
    if divisor != 1:
        inner = f"{inner} / {divisor}" if record.negated_term else f"({inner}) / {divisor}"
        number_text = (f"{number_text} / {divisor}" if record.negated_term
                       else f"({number_text}) / {divisor}")
    decay = net.loss.attrs.get("weight_decay")
    if decay is not None:
        lam = compact(Exact.of(decay), 6)
        weights = [net.graph.nodes[i].name for i in net.loss.inputs[2:]]
        inner += f" + {lam}/2·(" + " + ".join(f"Σ{w}²" for w in weights) + ")"
        number_text += f" + {lam}/2·(" + " + ".join(f"Σ{w}²" for w in weights) + ")"
    rule_text = inner
    explanation.equation = Equation("L", Formula(rule_text, tuple(names)), number_text,
                                    latex_text(number_text), result=explanation.value)
    reduction = net.problem.reduction
    explanation.summary.append(
        f"The loss ({kind}, reduction {reduction}) compares a{L} with the target t term by "
        f"term" + (f" and divides by {divisor}." if divisor != 1 else "."))
    return explanation


def forward_whole(net: NetworkElements, name: str, quantity: Any,
                  explanation: Explanation) -> Explanation:
    node = net.graph.nodes[quantity.node]
    ex = net.layout
    explanation.kind = "rule"
    if node.is_leaf:
        explanation.kind = "given"
        explanation.summary.append(f"{name} is given in the problem file.")
        return explanation
    if node.op == LOSS_NODE:
        explanation.kind = "forward"
        return _loss_explanation(net, explanation)
    k = node.layer
    if node.op == "linear":
        before = "x" if k == 1 else f"a{k - 1}"
        W, b = f"W{k}", (f"b{k}" if len(node.inputs) == 3 else None)
        if net.problem.convention == "xW":
            text = "{0} · {1}"
        elif net.problem.single:
            text = "{1} · {0}"
        else:
            text = "{0} · {1}ᵀ"
        names = (before, W) + ((b,) if b else ())
        if b:
            text += " + {2}"
        operands = [(n, ex(n)) for n in (W, before) + ((b,) if b else ())]
        rule = Formula(text, names)
        explanation.summary.append(
            "Each pre-activation is the weighted sum of the layer's inputs plus its bias"
            + (" (one row per example)." if not net.problem.single else "."))
    else:
        z = f"z{k}"
        record = OPS[node.op]
        rule = Formula(f"{record.symbol}({{0}})" + (" (elementwise)" if not record.couples
                                                    else " (per example)"), (z,))
        operands = [(z, ex(z))]
    explanation.equation = Equation(name, rule, operands=operands, result=ex(name))
    return explanation


def update(net: NetworkElements, name: str, quantity: Any, index: tuple | None,
           explanation: Explanation) -> Explanation:
    base = name[: -len("_new")]
    rate = net.problem.learning_rate
    explanation.kind = "update"
    old = net.layout(base)
    grad = net.solution.exact(f"dL/d{base}")
    if index is not None:
        old, grad = old[index], grad[index]
    element = element_text(base, index)
    rule = Formula("{0} − η·{1}", (element, f"∂L/∂{element}"))
    numbers = (f"{compact(old, 6) if index is not None else base} − "
               f"{compact(Exact.of(rate), 6)}·"
               + (paren(compact(grad, 6)) if index is not None else f"dL/d{base}"))
    operands = [] if index is not None else [(base, old), (f"dL/d{base}", grad)]
    explanation.equation = Equation(explanation.quantity, rule, numbers,
                                    latex_text(numbers), operands, explanation.value)
    explanation.summary.append(
        f"One gradient-descent step with learning rate η = "
        f"{compact(Exact.of(rate), 6)}: move against the gradient.")
    if index is not None:
        check_total(old - Exact.of(rate) * grad, explanation.value, explanation.quantity)
    return explanation
