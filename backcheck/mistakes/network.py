"""The slips of layered networks and scalar expressions, each a :class:`Mistake`
(:mod:`backcheck.mistakes.record`): the activation slips of the op records, the loss's,
the linear layer's (z for a, W not transposed, bias not summed), a path missed where a
value is used twice, the update's, and slips of writing a quantity down (transposed,
sign flipped).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..graph import Graph, Quantity
from ..ops import LOSSES, OPS
from .record import (
    Finding,
    Mistake,
    QuantityValues,
    Structure,
    Swaps,
    Variant,
    fmt,
    forward_affects,
    grad_affects,
    rule_variant,
)


def _layers(graph: Graph) -> int:
    problem = graph.problem
    return len(problem.layers) if getattr(problem, "kind", None) == "network" else 0


def _act(graph: Graph, k: int) -> str:
    return graph.nodes[graph.by_name[f"a{k}"]].op


# ----------------------------------------------------------------------------- 1. forward
#
# The activation mistakes are the slips of the op records (``OPS[act].slips``): each
# slip's rule is built from the record's own forward or vjp, so every activation brings
# its own buggy rules and a new activation needs no change here.


def _find_slips(mistake: Mistake, graph: Graph, structure: Structure) -> list[Variant]:
    """Every place an activation slip reported as ``mistake`` can happen."""
    mistake_name = mistake.name
    variants = []
    if _layers(graph):
        for k in range(1, _layers(graph) + 1):
            node = graph.by_name[f"a{k}"]
            z = graph.by_name[f"z{k}"]
            record = OPS[graph.nodes[node].op]
            for slip, rule in record.slip_rules(mistake_name):
                if slip.forward:
                    variants.append(rule_variant(
                        mistake, f"{mistake_name}@a{k}", node, "forward", rule, entry=f"a{k}",
                        affects=forward_affects(graph, structure, node),
                        info={"k": k, "act": record.name, "code": slip.code}))
                elif _kink_reached(slip, record, structure, z):
                    variants.append(rule_variant(
                        mistake, _slip_key(mistake_name, slip, f"a{k}"), node, 0, rule,
                        entry=graph.grad_name(f"z{k}"),
                        affects=grad_affects(graph, structure, {z}),
                        info={"k": k, "act": record.name, "z": f"z{k}", "taken": slip.label,
                              "written": slip.written, "code": slip.code}))
        return variants
    # scalar expressions: every activation node (vjp slips only)
    for node in graph.nodes:
        record = OPS.get(node.op)
        if record is None or record.kind != "activation":
            continue
        source = graph.nodes[node.inputs[0]]
        for slip, rule in record.slip_rules(mistake_name):
            if slip.forward or not _kink_reached(slip, record, structure, source.id):
                continue
            if node.name is None and not slip.label:
                continue
            entry = graph.grad_name(source.name) if source.name else None
            variants.append(rule_variant(
                mistake, _slip_key(mistake_name, slip, node.name or str(node.id)), node.id, 0,
                rule, entry=entry, affects=grad_affects(graph, structure, {source.id}),
                info={"node": node.name, "source": source.name or source.label,
                      "act": node.op, "z": source.name or source.label,
                      "taken": slip.label, "written": slip.written, "code": slip.code}))
    return variants


def _slip_key(mistake_name: str, slip: Any, where: str) -> str:
    label = {"1": "_1", "½": "_½"}.get(slip.label, f"_{slip.label}" if slip.label else "")
    return f"{mistake_name}{label}@{where}"


def _kink_reached(slip: Any, record: Any, structure: Structure, source: int) -> bool:
    """A slip at a kink (relu′(0)) can only show where an input sits exactly on it."""
    if not slip.label or not record.kinks:
        return True
    values = structure.values[source] if structure.values else None
    return values is not None and any(v == kink for v in np.ravel(values)
                                      for kink in record.kinks)


def _title(act: str) -> str:
    return OPS[act].title


def _explain_not_applied(f: Finding) -> str:
    k, act = f.info["k"], _title(f.info["act"])
    if f.at_entry:
        return (f"{f.lead}, which is z{k}{f.idx()}: the {act} was not applied; "
                f"a{k} = {f.info['act']}(z{k}), so a{k}{f.idx()} = {fmt(f.right)}{f.suffix}.")
    return (f"{f.lead}, which follows from a{k} = z{k}, the {act} of layer {k} not applied; "
            f"{f.element} = {fmt(f.right)}{f.suffix}.")


ACTIVATION_NOT_APPLIED = Mistake(
    "activation_not_applied", "the activation was not applied (aK written as zK)",
    _find_slips, _explain_not_applied, code="activation-not-applied")


# ----------------------------------------------------------------------------- 2. σ′ etc.


def _local(f: Finding, k: int) -> Any:
    """The activation's local derivative ∂aK/∂zK at this element, by its record's vjp."""
    base = f.base
    node = base.graph.nodes[base.node(f"a{k}")]
    record = OPS[node.op]
    z, a = base.value(f"z{k}"), base.value(f"a{k}")
    local = record.local_derivative(base.backend, z, a, **node.attrs)
    return np.ravel(np.asarray(local, dtype=object))[f.flat]


def _written(template: str, z: str, a: str) -> str:
    return template.replace("{z}", z).replace("{a}", a)


def _derivative_text(f: Finding) -> str:
    """Why the activation's derivative matters at this element, ending in its value."""
    k, act = f.info.get("k"), f.info["act"]
    record = OPS[act]
    z = f.at(f"z{k}")
    i = f.idx(f"z{k}")
    sym = record.symbol
    if record.gates or record.kinks:
        kink = record.kinks[0] if record.kinks else 0
        where = (f"z{k}{i} = {fmt(z)} < 0" if z < kink
                 else f"z{k}{i} = {fmt(z)} > 0" if z > kink
                 else f"z{k}{i} = 0 ({act}′(0) taken as {fmt(_local(f, k))})")
        return (f"{where}, so {act}′(z{k}{i}) = {fmt(_local(f, k))} and {f.element} = "
                f"{fmt(f.right)}")
    if record.couples:
        return (f"{act} couples the units: dL/dz{k} = a{k} ⊙ (dL/da{k} − Σ a{k}·dL/da{k}), "
                f"so {f.element} = {fmt(f.right)}")
    return (f"{sym}′(z{k}{i}) = {_written(record.derivative, f'z{k}{i}', f'a{k}{i}')} = "
            f"{fmt(_local(f, k))}, so {f.element} = dL/da{k}{i}·{sym}′(z{k}{i}) = "
            f"{fmt(f.right)}")


def _dl_da_formula(f: Finding, k: int) -> str:
    graph = f.base.graph
    n = _layers(graph)
    out = graph.output_name
    if k < n:
        if graph.problem.convention == "Wx":  # type: ignore[union-attr]
            return f"d{out}/da{k}{f.idx()} = (W{k + 1}ᵀ·d{out}/dz{k + 1}){f.idx()}"
        return f"d{out}/da{k}{f.idx()} = (d{out}/dz{k + 1}·W{k + 1}ᵀ){f.idx()}"
    return f"d{out}/da{k}{f.idx()}"


def _derivative_note(act: str, k: int) -> str:
    """The right derivative in a few words, for a gradient downstream of the slip."""
    record = OPS[act]
    if record.couples:
        return f"the {act} Jacobian"
    if record.gates:
        return f"{act}′(z{k}) = 0 wherever z{k} ≤ 0"
    return f"{record.symbol}′(z{k}) = {_written(record.derivative, f'z{k}', f'a{k}')}"


def _explain_no_derivative(f: Finding) -> str:
    act = f.info["act"]
    name = _title(act)
    k = f.info.get("k")
    if k is None:  # scalar expression
        return (f"{f.lead}, which skips the local derivative of {f.info['node']} = "
                f"{act}({f.info['source']}) (the activation derivative); "
                f"{f.element} = {fmt(f.right)}{f.suffix}.")
    if f.at_entry:
        extra = ""
        loss = getattr(f.base.graph.problem, "loss", "")
        if loss in LOSSES and LOSSES[loss].fused_with == act:
            extra = f" (with {loss.replace('_', '-')}: ŷ − y)"
        return (f"{f.lead}, which is {_dl_da_formula(f, k)} without the {name} derivative; "
                f"{_derivative_text(f)}{extra}{f.suffix}.")
    return (f"{f.lead}, which follows from dL/dz{k} taken as dL/da{k}, without the {name} "
            f"derivative ({_derivative_note(act, k)}); {f.element} = {fmt(f.right)}{f.suffix}.")


FORGOT_ACTIVATION_DERIVATIVE = Mistake(
    "forgot_activation_derivative",
    "forgot the activation derivative (dL/dzK written as dL/daK)",
    _find_slips,
    _explain_no_derivative, code="activation-derivative-missing",
    codes=tuple((op.name, slip.code) for op in OPS.values() for slip in op.slips
                if slip.mistake == "forgot_activation_derivative" and slip.code))


def _explain_prime_at_a(f: Finding) -> str:
    k = f.info.get("k")
    sym = OPS[f.info["act"]].symbol + "′"
    if k is None:
        return (f"{f.lead}, which takes {sym} at {f.info['node']} (the output) instead of at "
                f"its input {f.info['source']}; {f.element} = {fmt(f.right)}{f.suffix}.")
    if f.at_entry:
        where = f.idx(f"z{k}")
        return (f"{f.lead}, which uses {sym}(a{k}{where}): the derivative taken at the "
                f"activation a{k} instead of at z{k}; {_derivative_text(f)}{f.suffix}.")
    return (f"{f.lead}, which follows from {sym} taken at a{k} instead of at z{k} in "
            f"dL/dz{k}; {f.element} = {fmt(f.right)}{f.suffix}.")


SIGMA_PRIME_AT_A = Mistake(
    "derivative_at_activation", "σ′ (or tanh′) taken at aK instead of zK",
    _find_slips, _explain_prime_at_a,
    code="derivative-at-activation")


def _explain_prime_from_z(f: Finding) -> str:
    k = f.info.get("k")
    record = OPS[f.info["act"]]
    if k is None:
        src = f.info["source"]
        wrong = f.info["written"].replace("{z}", src)
        return (f"{f.lead}, which uses {wrong} as the derivative, with the input in place of "
                f"the output; {f.element} = {fmt(f.right)}{f.suffix}.")
    where = f.idx(f"z{k}") if f.at_entry else ""
    wrong = f.info["written"].replace("{z}", f"z{k}{where}")
    sym = record.symbol
    right = f"{sym}′(z) = " + _written(record.derivative, "z", f"{sym}(z)").replace(
        f"{sym}(z)²", f"{sym}²(z)")
    if f.at_entry:
        return (f"{f.lead}, which uses {wrong} for the derivative; {right}: "
                f"{_derivative_text(f)}{f.suffix}.")
    return (f"{f.lead}, which follows from dL/dz{k} with the derivative computed from z{k} "
            f"instead of a{k} ({right}); {f.element} = {fmt(f.right)}{f.suffix}.")


DERIVATIVE_FROM_Z = Mistake(
    "derivative_from_z", "σ′ written z(1 − z) instead of a(1 − a)",
    _find_slips, _explain_prime_from_z, code="derivative-from-z")


def _explain_kink(f: Finding) -> str:
    z = f.info["z"]
    return (f"{f.lead}, which takes relu′(0) = {f.info['taken']} where {z} is exactly 0; "
            f"backcheck follows PyTorch, relu′(0) = 0 (texts differ on this point: check "
            f"which your course uses), so {f.element} = {fmt(f.right)}{f.suffix}.")


RELU_AT_ZERO = Mistake(
    "relu_derivative_at_zero", "relu′(0) taken as 1 or ½ (backcheck uses 0)",
    _find_slips, _explain_kink, code="relu-derivative-at-zero")


# ----------------------------------------------------------------------------- 3. the loss


def _loss_variant(mistake: Mistake, graph: Graph, structure: Structure,
                  vjp: Callable[..., Any] | None, forward: Callable[..., Any] | None,
                  **info: Any) -> Variant:
    loss = graph.output
    swap: dict[Any, Callable[..., Any]] = {}
    if vjp is not None:
        swap[0] = vjp
    if forward is not None:
        swap["forward"] = forward
    prediction = graph.nodes[loss].inputs[0]
    affects = grad_affects(graph, structure, {prediction}) if vjp is not None else frozenset()
    if forward is not None:
        affects = affects | {graph.output_name}
    n = _layers(graph)
    return Variant(mistake, f"{mistake.name}@L", entry=graph.grad_name(f"a{n}"),
                   swaps=lambda base: {loss: dict(swap)}, affects=frozenset(affects),
                   info={"n": n, **info})


def _loss_info(graph: Graph) -> tuple[str, int] | None:
    if _layers(graph) == 0:
        return None
    node = graph.nodes[graph.output]
    return node.attrs["kind"], node.attrs["divisor"]


def _find_reversed(mistake: Mistake, graph: Graph, structure: Structure) -> list[Variant]:
    if _loss_info(graph) is None:
        return []
    base_vjp = OPS["loss"].vjps[0]
    n = _layers(graph)
    kind = _loss_info(graph)[0]
    fused = LOSSES[kind].cancels_with == _act(graph, n)
    return [_loss_variant(mistake, graph, structure,
                          lambda B, *a, **kw: -base_vjp(B, *a, **kw), None, fused=fused)]


def _explain_reversed(f: Finding) -> str:
    n = f.info["n"]
    name = f.quantity.name
    out = f.base.graph.output_name
    if f.info["fused"] and name == f"d{out}/dz{n}":
        record = LOSSES[f.base.graph.nodes[f.base.graph.output].attrs["kind"]]
        loss = f"{_act(f.base.graph, n)}-{record.title}"
        return (f"{f.lead}, which is t − p (y − ŷ): the sign is flipped; the {loss} gradient "
                f"is ŷ − y = p − t, so {f.element} = {fmt(f.right)}{f.suffix}.")
    record = LOSSES[f.base.graph.nodes[f.base.graph.output].attrs["kind"]]
    if f.at_entry and not record.squared:
        derivative = record.derivative.format("p", "t")
        return (f"{f.lead}, which has the sign flipped: for {record.title} dL/dp = "
                f"{derivative}, so {f.element} = {fmt(f.right)}{f.suffix}.")
    if f.at_entry:
        return (f"{f.lead}, which has the output error as t − p: the derivative of the loss "
                f"goes with p − t (e.g. d(p − t)²/dp = 2(p − t)), so {f.element} = "
                f"{fmt(f.right)}{f.suffix}.")
    what = "ŷ − y written as t − p" if f.info["fused"] else "the output error written t − p"
    return (f"{f.lead}: the right size with the wrong sign, as follows from {what} instead "
            f"of p − t (every gradient below it flips sign); {f.element} = "
            f"{fmt(f.right)}{f.suffix}.")


OUTPUT_REVERSED = Mistake(
    "output_error_reversed", "output error written t − p (softmax-CE gradient y − ŷ)",
    _find_reversed, _explain_reversed, code="output-error-reversed")


def _find_loss_slips(mistake: Mistake, graph: Graph, structure: Structure) -> list[Variant]:
    """The loss record's own slips reported as ``mistake`` (the factor 2 of a squared
    error left out, the ½ of half_sse ignored)."""
    info = _loss_info(graph)
    if info is None:
        return []
    record = LOSSES[info[0]]
    return [_loss_variant(mistake, graph, structure, rule,
                          slip.make_forward(record) if slip.make_forward else None,
                          kind=info[0], divisor=info[1])
            for slip, rule in record.slip_rules(mistake.name)]


def _explain_factor_missing(f: Finding) -> str:
    if f.at_entry:
        div = f"/{f.info['divisor']}" if f.info["divisor"] != 1 else ""
        return (f"{f.lead}, which is (p − t){div} without the factor 2 of d(p − t)²/dp = "
                f"2(p − t); {f.element} = {fmt(f.right)}{f.suffix}.")
    return (f"{f.lead}, half the right value: it follows from dL/da{f.info['n']} without the "
            f"factor 2 of the squared error (d(p − t)²/dp = 2(p − t)); {f.element} = "
            f"{fmt(f.right)}{f.suffix}.")


FACTOR_TWO_MISSING = Mistake(
    "factor_two_missing", "factor 2 of the squared error missing",
    _find_loss_slips, _explain_factor_missing, code="factor-two-missing")


def _explain_factor_extra(f: Finding) -> str:
    if f.quantity.name == f.base.graph.output_name:
        return (f"{f.lead}, which is Σ(p − t)² without the ½ of half_sse = ½·Σ(p − t)²; "
                f"{f.element} = {fmt(f.right)}{f.suffix}.")
    if f.at_entry:
        return (f"{f.lead}, which is 2(p − t): the ½ in half_sse = ½·Σ(p − t)² cancels the "
                f"factor 2, so {f.element} = p − t = {fmt(f.right)}{f.suffix}.")
    return (f"{f.lead}, twice the right value: it follows from dL/da{f.info['n']} = 2(p − t), "
            f"an extra factor 2 (the ½ of half_sse cancels it); {f.element} = "
            f"{fmt(f.right)}{f.suffix}.")


FACTOR_TWO_EXTRA = Mistake(
    "factor_two_extra", "extra factor 2 (the ½ of half_sse ignored)",
    _find_loss_slips, _explain_factor_extra, code="factor-two-extra")


def _find_mean(mistake: Mistake, graph: Graph, structure: Structure) -> list[Variant]:
    info = _loss_info(graph)
    if info is None or info[1] == 1:
        return []
    kind = info[0]
    record = LOSSES[kind]
    return [_loss_variant(
        mistake, graph, structure,
        lambda B, g, ans, p, t, *w, kind, divisor, **kw: record.vjp(0)(
            B, g, ans, p, t, *w, kind=kind, divisor=1, **kw),
        lambda B, p, t, *w, kind, divisor, **kw: record.forward(
            B, p, t, *w, kind=kind, divisor=1, **kw),
        kind=kind, divisor=info[1])]


def _mean_over(f: Finding) -> str:
    problem = f.base.graph.problem
    n = f.info["divisor"]
    if LOSSES[f.info["kind"]].mean_over == "examples" or n == problem.examples:  # type: ignore[union-attr]
        return f"the {n} examples"
    return f"all N = {n} output values (examples × outputs)"


def _explain_mean(f: Finding) -> str:
    kind, n = f.info["kind"], f.info["divisor"]
    if f.quantity.name == f.base.graph.output_name:
        return (f"{f.lead}, which is the sum, not the mean: {kind} averages over "
                f"{_mean_over(f)}, so {f.element} = {fmt(f.right)}{f.suffix}.")
    if f.at_entry:
        return (f"{f.lead}, which leaves out the 1/N of the mean: {kind} averages over "
                f"{_mean_over(f)}, so every dL/dp carries a factor 1/{n}; {f.element} = "
                f"{fmt(f.right)}{f.suffix}.")
    return (f"{f.lead}, {n}× the right value: it follows from leaving out the 1/N of the "
            f"mean ({kind} averages over {_mean_over(f)}); {f.element} = "
            f"{fmt(f.right)}{f.suffix}.")


MEAN_FORGOTTEN = Mistake(
    "mean_forgotten", "1/N of the mean forgotten", _find_mean, _explain_mean,
    code="mean-forgotten")


# ----------------------------------------------------------------------------- 4. linear


def _find_z_for_a(mistake: Mistake, graph: Graph, structure: Structure) -> list[Variant]:
    variants = []
    for k in range(2, _layers(graph) + 1):
        if _act(graph, k - 1) == "identity":
            continue
        node = graph.by_name[f"z{k}"]
        W = graph.by_name[f"W{k}"]
        previous = f"z{k - 1}"

        def swaps(base: QuantityValues, node: int = node, previous: str = previous) -> Swaps:
            zprev = base.value(previous)

            def vjp(B: Any, g: Any, ans: Any, a: Any, W: Any, b: Any = None, *,
                    convention: str) -> Any:
                return B.matmul(g.T, zprev) if convention == "Wx" else B.matmul(zprev.T, g)

            return {node: {1: vjp}}

        variants.append(Variant(mistake, f"z_for_a@W{k}", entry=graph.grad_name(f"W{k}"),
                                swaps=swaps, affects=grad_affects(graph, structure, {W}),
                                info={"k": k}))
    return variants


def _explain_z_for_a(f: Finding) -> str:
    k = f.info["k"]
    convention = f.base.graph.problem.convention  # type: ignore[union-attr]
    rule = (f"dL/dW{k} = dL/dz{k}·a{k - 1}ᵀ" if convention == "Wx"
            else f"dL/dW{k} = a{k - 1}ᵀ·dL/dz{k}")
    act = _act(f.base.graph, k - 1)
    if f.at_entry:
        return (f"{f.lead}, which uses z{k - 1} where a{k - 1} belongs: {rule} takes the "
                f"layer's input a{k - 1} = {act}(z{k - 1}), not z{k - 1}; {f.element} = "
                f"{fmt(f.right)}{f.suffix}.")
    return (f"{f.lead}, which follows from dL/dW{k} computed with z{k - 1} where a{k - 1} "
            f"belongs ({rule}); {f.element} = {fmt(f.right)}{f.suffix}.")


Z_FOR_A = Mistake(
    "z_for_a", "zK−1 used where aK−1 belongs in dL/dWK", _find_z_for_a, _explain_z_for_a,
    code="z-for-a")


def _find_not_transposed(mistake: Mistake, graph: Graph, structure: Structure
                         ) -> list[Variant]:
    variants = []
    for k in range(1, _layers(graph) + 1):
        W = graph.leaves[graph.by_name[f"W{k}"]]
        if W.ndim != 2 or W.shape[0] != W.shape[1] or all(
                W[i, j] == W[j, i] for i in range(W.shape[0]) for j in range(W.shape[0])):
            continue
        node = graph.by_name[f"z{k}"]
        source = graph.nodes[node].inputs[0]

        def vjp(B: Any, g: Any, ans: Any, a: Any, W: Any, b: Any = None, *,
                convention: str) -> Any:
            return B.matmul(g, W.T if convention == "Wx" else W)

        name = graph.nodes[source].name
        variants.append(rule_variant(
            mistake, f"weights_not_transposed@W{k}", node, 0, vjp, entry=graph.grad_name(name),
            affects=grad_affects(graph, structure, {source}), info={"k": k, "input": name}))
    return variants


def _explain_not_transposed(f: Finding) -> str:
    k, a = f.info["k"], f.info["input"]
    if f.base.graph.problem.convention == "Wx":  # type: ignore[union-attr]
        wrong, right = f"W{k}·dL/dz{k}", f"dL/d{a} = W{k}ᵀ·dL/dz{k}"
    else:
        wrong, right = f"dL/dz{k}·W{k}", f"dL/d{a} = dL/dz{k}·W{k}ᵀ"
    if f.at_entry:
        return (f"{f.lead}, which is ({wrong}){f.idx()}: going back through a layer uses the "
                f"transpose of W{k}, {right}; {f.element} = {fmt(f.right)}{f.suffix}.")
    return (f"{f.lead}, which follows from dL/d{a} computed as {wrong} instead of with "
            f"W{k}ᵀ ({right}); {f.element} = {fmt(f.right)}{f.suffix}.")


WEIGHTS_NOT_TRANSPOSED = Mistake(
    "weights_not_transposed", "W used where Wᵀ belongs going back through a layer",
    _find_not_transposed, _explain_not_transposed, code="weights-not-transposed")


def _find_bias(mistake: Mistake, graph: Graph, structure: Structure) -> list[Variant]:
    problem = graph.problem
    if _layers(graph) == 0 or problem.examples < 2:  # type: ignore[union-attr]
        return []
    variants = []
    n = problem.examples  # type: ignore[union-attr]
    for k in range(1, _layers(graph) + 1):
        if f"b{k}" not in graph.by_name:
            continue
        node = graph.by_name[f"z{k}"]
        b = graph.by_name[f"b{k}"]
        for how, rule in (
                ("first", lambda B, g, ans, a, W, b=None, *, convention: g[0]),
                ("mean", lambda B, g, ans, a, W, b=None, *, convention, n=n: B.sum(g, axis=0) / n)):
            variants.append(rule_variant(
                mistake, f"bias_not_summed_{how}@b{k}", node, 2, rule,
                entry=graph.grad_name(f"b{k}"), affects=grad_affects(graph, structure, {b}),
                info={"k": k, "how": how, "n": n}))
    return variants


def _explain_bias(f: Finding) -> str:
    k, n = f.info["k"], f.info["n"]
    if f.at_entry and f.info["how"] == "first":
        return (f"{f.lead}, which is dL/dz{k}[1,{f.flat + 1}], the first example's only: the "
                f"bias gradient sums dL/dz{k} over all {n} examples, dL/db{k} = Σₙ dL/dz{k}[n,:]"
                f"; {f.element} = {fmt(f.right)}{f.suffix}.")
    if f.at_entry:
        return (f"{f.lead}, which is the mean of dL/dz{k} over the batch: the bias gradient is "
                f"the sum over the {n} examples (the loss's own 1/N is already inside "
                f"dL/dz{k}); {f.element} = {fmt(f.right)}{f.suffix}.")
    return (f"{f.lead}, which follows from dL/db{k} not summed over the batch; "
            f"{f.element} = {fmt(f.right)}{f.suffix}.")


def _shape_bias(q: Quantity, given: np.ndarray, truth: QuantityValues,
                answers: dict[str, np.ndarray]) -> str | None:
    graph = truth.graph
    out = graph.output_name
    if q.kind != "grad" or not q.name.startswith(f"d{out}/db"):
        return None
    k = q.name[len(f"d{out}/db"):]
    z_name = f"d{out}/dz{k}"
    if z_name not in graph.quantities:
        return None
    z_shape = graph.quantities[z_name].shape
    if given.shape != z_shape or len(z_shape) != 2:
        return None
    n = z_shape[0]
    msg = (f"{q.name}: you wrote one row per example ({n} × {z_shape[1]}); the bias gradient "
           f"sums dL/dz{k} over the batch: dL/db{k} = Σₙ dL/dz{k}[n,:], one number per unit")
    theirs = answers.get(z_name)
    if theirs is not None and theirs.shape == given.shape and all(
            a is not None and b is not None and a == b
            for a, b in zip(theirs.ravel(), given.ravel(), strict=True)):
        return msg + f" (what you wrote is your dL/dz{k}, not summed)."
    return msg + "."


BIAS_NOT_SUMMED = Mistake(
    "bias_not_summed", "bias gradient not summed over the batch",
    _find_bias, _explain_bias, shape=_shape_bias, code="bias-not-summed")


# ----------------------------------------------------------------------------- 5. scalar


def _find_missed_path(mistake: Mistake, graph: Graph, structure: Structure) -> list[Variant]:
    if _layers(graph) != 0:
        return []
    variants = []
    for node in graph.nodes:
        uses = [(c, k) for c, k in structure.consumers[node.id]
                if graph.nodes[c].id <= graph.output]
        if len(uses) < 2 or not node.requires_grad or node.name is None:
            continue
        for c, k in uses:
            # this use's gradient left out: zeros of the input's shape (an array input
            # of a tensor step too)
            def left_out(B: Any, g: Any, ans: Any, *inputs: Any, k: int = k, **kw: Any) -> Any:
                return inputs[k] * 0

            variants.append(rule_variant(
                mistake, f"missed_path@{node.name}:{c}.{k}", c, k, left_out,
                entry=graph.grad_name(node.name),
                affects=grad_affects(graph, structure, {node.id}),
                info={"name": node.name, "uses": len(uses),
                      "through": graph.nodes[c].text or graph.nodes[c].label}))
    return variants


def _explain_missed_path(f: Finding) -> str:
    name = f.info["name"]
    if f.at_entry:
        return (f"{f.lead}, which leaves out the path through {f.info['through']}: {name} is "
                f"used {f.info['uses']} times, and its gradient is the sum over every use "
                f"(micrograd's +=); {f.element} = {fmt(f.right)}{f.suffix}.")
    return (f"{f.lead}, which follows from d…/d{name} missing the path through "
            f"{f.info['through']} ({name} is used {f.info['uses']} times; gradients add up); "
            f"{f.element} = {fmt(f.right)}{f.suffix}.")


MISSED_PATH = Mistake(
    "missed_path", "a value used twice: only one path's gradient counted",
    _find_missed_path, _explain_missed_path, code="missed-path")


# ----------------------------------------------------------------------------- 6. updates


def _update_transform(sign: int, with_rate: bool
                      ) -> Callable[[Quantity, QuantityValues], list[Any] | None]:
    def transform(q: Quantity, base: QuantityValues) -> list[Any] | None:
        if q.kind != "update":
            return None
        ev = base.evaluation
        g = ev.grads.get(q.node)
        if g is None:
            return None
        step = base.rate() * g if with_rate else g
        values = ev.values[q.node] + step if sign > 0 else ev.values[q.node] - step
        return list(np.ravel(np.asarray(values, dtype=object)))

    return transform


def _find_updates(sign: int, with_rate: bool
                  ) -> Callable[[Mistake, Graph, Structure], list[Variant]]:
    def find(mistake: Mistake, graph: Graph, structure: Structure) -> list[Variant]:
        updates = frozenset(n for n, q in graph.quantities.items() if q.kind == "update")
        if not updates:
            return []
        return [Variant(mistake, mistake.name, transform=_update_transform(sign, with_rate),
                        affects=updates)]

    return find


def _param(f: Finding) -> str:
    return f.quantity.name[: -len("_new")]


def _explain_update_sign(f: Finding) -> str:
    p = _param(f)
    return (f"{f.lead}, which is {p} + lr·dL/d{p}: gradient descent steps against the "
            f"gradient, {p}_new = {p} − lr·dL/d{p} = {fmt(f.right)}{f.suffix}.")


def _explain_update_rate(f: Finding) -> str:
    p = _param(f)
    rate = f.base.graph.problem.learning_rate  # type: ignore[union-attr]
    return (f"{f.lead}, which is {p} − dL/d{p}, without the learning rate: "
            f"{p}_new = {p} − {fmt(rate)}·dL/d{p} = {fmt(f.right)}{f.suffix}.")


UPDATE_WRONG_SIGN = Mistake(
    "update_wrong_sign", "update with the wrong sign (W + lr·dW)",
    _find_updates(+1, True), _explain_update_sign,
    code="update-wrong-sign")
UPDATE_WITHOUT_RATE = Mistake(
    "update_without_learning_rate", "update without the learning rate (W − dW)",
    _find_updates(-1, False), _explain_update_rate,
    code="update-without-learning-rate")


# ----------------------------------------------------------------------------- 7. writing


def _transpose(q: Quantity, base: QuantityValues) -> list[Any] | None:
    if len(q.shape) != 2 or q.shape[0] != q.shape[1] or q.shape[0] < 2:
        return None
    array = np.asarray(base.flat(q.name), dtype=object).reshape(q.shape)
    return list(array.T.ravel())


def _find_transposed(mistake: Mistake, graph: Graph, structure: Structure) -> list[Variant]:
    names = frozenset(n for n, q in graph.quantities.items()
                      if len(q.shape) == 2 and min(q.shape) >= 2)
    return [Variant(mistake, "transposed", transform=_transpose, affects=names)] if names else []


def _transposed_rule(graph: Graph, name: str) -> str:
    out = graph.output_name
    prefix = f"d{out}/dW"
    if not name.startswith(prefix) or _layers(graph) == 0:
        return ""
    k = int(name[len(prefix):])
    a = "x" if k == 1 else f"a{k - 1}"
    if graph.problem.convention == "Wx":  # type: ignore[union-attr]
        return (f" (a·δᵀ instead of δ·aᵀ: in convention Wx, dL/dW{k} = dL/dz{k}·{a}ᵀ has "
                f"W{k}'s shape, out × in)")
    return (f" (δᵀ·a instead of aᵀ·δ: in convention xW, dL/dW{k} = {a}ᵀ·dL/dz{k} has "
            f"W{k}'s shape, in × out)")


def _explain_transposed(f: Finding) -> str:
    i, j = np.unravel_index(f.flat, f.quantity.shape)
    other = f"{f.quantity.name}[{j + 1},{i + 1}]"
    return (f"{f.lead}, which is {other}: the matrix is transposed"
            f"{_transposed_rule(f.base.graph, f.quantity.name)}; {f.element} = "
            f"{fmt(f.right)}{f.suffix}.")


def _shape_transposed(q: Quantity, given: np.ndarray, truth: QuantityValues,
                      answers: dict[str, np.ndarray]) -> str | None:
    if len(q.shape) != 2 or given.shape != q.shape[::-1] or q.shape[0] == q.shape[1]:
        return None
    rows, cols = q.shape
    return (f"{q.name}: you wrote it transposed ({cols} × {rows}); it is {rows} × {cols}"
            f"{_transposed_rule(truth.graph, q.name)}.")


TRANSPOSED = Mistake(
    "transposed", "transposed (dL/dW as a·δᵀ, or the whole matrix)",
    _find_transposed, _explain_transposed, shape=_shape_transposed, code="transposed")


def _negate(q: Quantity, base: QuantityValues) -> list[Any] | None:
    return [-v for v in base.flat(q.name)]


def _find_sign(mistake: Mistake, graph: Graph, structure: Structure) -> list[Variant]:
    return [Variant(mistake, "sign_flipped", transform=_negate,
                    affects=frozenset(graph.quantities))]


def _explain_sign(f: Finding) -> str:
    return (f"{f.lead}: the right size with the wrong sign; {f.element} = "
            f"{fmt(f.right)}{f.suffix}.")


SIGN_FLIPPED = Mistake("sign_flipped", "sign flipped", _find_sign, _explain_sign,
                       code="sign-flipped")
