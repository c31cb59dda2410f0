"""A whole gradient by its vector rule (``W2ᵀ · dL/dz2 ⊙ relu′(z1)``): the rule as the
op records write it, its operands' numbers, and the result checked element by element
against the backward pass."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..backends import EXACT
from ..evaluate import _normalise
from ..exact import Exact
from ..graph import Node
from ..numbers_text import compact, element_text
from ..ops import LOSSES, OPS
from ..problem import NetworkProblem
from ..solution import Solution
from .model import Equation, Explanation, Formula
from .paths import check_total

if TYPE_CHECKING:
    from .network import NetworkElements


def vector_rule(net: NetworkElements, name: str, quantity: Any,
                explanation: Explanation) -> Explanation:
    explanation.kind = "rule"
    node = net.graph.nodes[quantity.node]
    problem = net.problem
    single = problem.single
    L = len(problem.layers)
    base = name.split("/d", 1)[1]
    ex = net.layout

    def op(text: str, names: tuple[str, ...]) -> Formula:
        return Formula(text, names)

    operands: list[tuple[str, Any]] = []
    if node.id == net.graph.output:
        rule = op("1", ())
        result = ex(name)
    elif node.op == "param" or node.op == "input" or node.name.startswith("a"):
        k = node.layer or 0
        if node.op == "param":
            before = "x" if k == 1 else f"a{k - 1}"
            dz = f"dL/dz{k}"
            if base.startswith("W"):
                if problem.convention == "xW":
                    rule = op("{0}ᵀ · {1}", (before, dz))
                    result = ex(before).reshape(problem.examples, -1).T.dot(
                        ex(dz).reshape(problem.examples, -1))
                elif single:
                    rule = op("{1} · {0}ᵀ", (before, dz))
                    result = np.outer(ex(dz), ex(before))
                else:
                    rule = op("{1}ᵀ · {0}", (before, dz))
                    result = ex(dz).T.dot(ex(before))
                operands = [(before, ex(before)), (dz, ex(dz))]
                decay = net.loss.attrs.get("weight_decay")
                if decay is not None:  # + λ·WK from λ/2·ΣW² in the loss
                    lam = compact(Exact.of(decay), 6)
                    rule = op(rule.template + f" + {lam}·{{2}}", rule.names + (base,))
                    result = np.asarray(result, dtype=object).reshape(
                        np.shape(ex(name))) + Exact.of(decay) * ex(base)
                    operands.append((base, ex(base)))
            else:
                rule = op("{0}", (dz,)) if single else op("Σ over examples of {0} "
                                                           "(column sums)", (dz,))
                result = ex(dz) if single else ex(dz).sum(axis=0)
                operands = [(dz, ex(dz))]
        elif node.id == net.last.id:
            rule = loss_derivative(net.loss, "a" + str(L), "t", whole=True)
            operands = [(f"a{L}", ex(f"a{L}")), ("t", net.target_layout())]
            result = ex(name)
        else:
            k = 0 if node.op == "input" else int(node.name[1:])
            dz, W = f"dL/dz{k + 1}", f"W{k + 1}"
            if problem.convention == "xW":
                rule = op("{0} · {1}ᵀ", (dz, W))
                result = ex(dz).reshape(problem.examples, -1).dot(
                    _weights(net, k + 1).T)
            elif single:
                rule = op("{1}ᵀ · {0}", (dz, W))
                result = _weights(net, k + 1).T.dot(ex(dz))
            else:
                rule = op("{0} · {1}", (dz, W))
                result = ex(dz).dot(_weights(net, k + 1))
            operands = [(W, ex(W)), (dz, ex(dz))]
    else:  # dL/dzK
        k = int(node.name[1:])
        layer = problem.layers[k - 1]
        a, z, da = f"a{k}", f"z{k}", f"dL/da{k}"
        if k == L and net.fused:
            n = problem.examples
            rule = op("{0} − t" if n == 1 else f"({{0}} − t) / {n}", (a,))
            operands = [(a, ex(a)), ("t", net.target_layout())]
            result = (ex(a) - net.target_layout()) / n
            explanation.notes.append(
                "softmax with cross-entropy: ∂L/∂z = Σ_p ∂L/∂ŷ[p]·∂ŷ[p]/∂z = ŷ − y "
                "(the coupled terms collapse because the target sums to 1)")
        elif OPS[layer.activation].couples:
            rule = op(_named(OPS[layer.activation].vector_rule), (da, z, a))
            operands = [(a, ex(a)), (da, ex(da))]
            result = _vjp_layout(net, k)
        else:
            derivative, text = _activation_prime(net, k)
            rule = op("{0} ⊙ " + text, (da, z, a))
            operands = [(da, ex(da)), (Formula(text, (da, z, a)), derivative)]
            if OPS[layer.activation].gates:
                operands.insert(1, (z, ex(z)))
                blocked = [i for i, v in np.ndenumerate(ex(z)) if v.sign() <= 0]
                if blocked:
                    where = ", ".join(element_text(z, i) for i in blocked)
                    explanation.notes.append(
                        f"the ReLU blocks the gradient where {z} ≤ 0 ({where}): those "
                        f"entries of {name} are 0 whatever {da} is; keeping them is the "
                        f"classic slip")
            result = ex(da) * derivative
    result = np.asarray(result, dtype=object).reshape(np.shape(ex(name)))
    scale = 1.0
    for _, operand in operands:
        scale *= 1.0 + max((abs(float(Exact.of(v))) for v in np.ravel(operand)), default=0.0)
    scale *= max(np.size(result), 1)
    for got, want in zip(np.ravel(result), np.ravel(ex(name)), strict=True):
        check_total(Exact.of(got), Exact.of(want), name, scale)
    explanation.equation = Equation(name, rule, operands=operands, result=ex(name))
    explanation.summary.append(_rule_summary(name, node, problem, node.id == net.last.id))
    return explanation


def _weights(net: NetworkElements, k: int) -> np.ndarray:
    """Wk as a matrix (a flat one-unit W is one row in Wx, one column in xW)."""
    return net.ev.values[net.graph.by_name[f"W{k}"]]


def _activation_prime(net: NetworkElements, k: int) -> tuple[np.ndarray, str]:
    layer = net.problem.layers[k - 1]
    z_node = net.graph.by_name[f"z{k}"]
    a_node = net.graph.by_name[f"a{k}"]
    op = OPS[layer.activation]
    values = net.ev.values
    ones = EXACT.asarray(np.ones(np.shape(values[z_node]), dtype=int))
    derivative = _normalise(EXACT, op.vjp(0)(EXACT, ones, values[a_node], values[z_node],
                                              **net.graph.nodes[a_node].attrs))
    quantity = net.graph.quantities[f"z{k}"]
    derivative = quantity.to_layout(derivative)
    return derivative, _named(op.vector_factor())


def _vjp_layout(net: NetworkElements, k: int) -> np.ndarray:
    """dL/dzK from dL/daK by the activation's own vjp, in the problem's layout."""
    z_node, a_node = net.graph.by_name[f"z{k}"], net.graph.by_name[f"a{k}"]
    values, grads = net.ev.values, net.ev.grads
    op = OPS[net.graph.nodes[a_node].op]
    result = _normalise(EXACT, op.vjp(0)(EXACT, grads[a_node], values[a_node],
                                          values[z_node], **net.graph.nodes[a_node].attrs))
    return net.graph.quantities[f"z{k}"].to_layout(result)

# ----- forward quantities


def _rule_summary(name: str, node: Node, problem: NetworkProblem, last: bool) -> str:
    base = name.split("/d", 1)[1]
    if last:
        return (f"The loss's derivative with respect to the network's output, element by "
                f"element ({problem.loss}, reduction {problem.reduction}).")
    if base.startswith("W"):
        return ("A weight's gradient is its unit's δ = ∂L/∂z times the input it multiplies "
                + ("(an outer product)." if problem.single
                   else "(summed over the examples of the batch)."))
    if base.startswith("b"):
        return "A bias's gradient is its unit's δ = ∂L/∂z" + (
            "." if problem.single else ", summed over the examples.")
    if base.startswith("z"):
        return ("δ = ∂L/∂z: the gradient arriving at the activation times the activation's "
                "derivative, element by element.")
    if base == "L":
        return "The loss's gradient with respect to itself is 1."
    return ("The gradient flows back through the weights: each input collects ∂L/∂z of every "
            "unit it feeds, weighted by the connecting weight.")


def fused_softmax_ce(solution: Solution) -> bool:
    """Softmax output with cross-entropy and targets summing to 1: ∂L/∂z = ŷ − y."""
    problem = solution.problem
    if not isinstance(problem, NetworkProblem):
        return False
    fused_with = LOSSES[problem.loss].fused_with
    if not fused_with or problem.layers[-1].activation != fused_with:
        return False
    return all(sum(row) == 1 for row in problem.target)


def _named(template: str) -> str:
    """A record's template ({g}, {z}, {a}) as a Formula's ({0}, {1}, {2})."""
    return template.replace("{g}", "{0}").replace("{z}", "{1}").replace("{a}", "{2}")


def loss_derivative(loss: Node, p: str, t: str, whole: bool = False) -> Formula:
    """∂L/∂p as written, from the loss record (the whole-array form for ``whole``)."""
    record = LOSSES[loss.attrs["kind"]]
    divisor = loss.attrs["divisor"]
    template = record.vector_rule if whole else record.derivative
    if divisor != 1:
        template = f"{template} / {divisor}"
    return Formula(template, (p, t))


def activation_derivative(op: Any, z: str, a: str, z_value: Exact, attrs: dict
                          ) -> tuple[Formula, str]:
    """The local derivative ∂a/∂z of an elementwise activation (from its record), and
    why it has its value."""
    if op.derivative == "1":
        return Formula("1"), ""
    if op.branches:
        above, below = op.branches
        shown = compact(z_value, 6)
        params = {k: compact(Exact.of(v), 6) for k, v in attrs.items()}
        why = (above if z_value.sign() > 0 else below).format(z=z, value=shown, **params)
        return Formula(f"{op.symbol}′({{0}})", (z,)), why
    return Formula(f"{op.symbol}′({{0}}) = " + op.derivative.replace("{z}", "{0}")
                   .replace("{a}", "{1}"), (z, a)), ""
