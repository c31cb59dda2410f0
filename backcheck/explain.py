"""``explain``: one quantity, the way the teaching material works it out.

* The gradient of one element (``dL/dW1[1,2]``): the chain rule along every path from
  the loss down to that element (PadhAI's path for W₁₁₁), each factor named
  (∂L/∂a2[1] · ∂a2[1]/∂z2[1] · ∂z2[1]/∂W1[1,2]), with its formula and its number, the
  product per path, and the sum over paths where several meet (a hidden unit feeding
  several outputs, softmax coupling, a batch summing over examples).
* A whole gradient (``dL/dz1``): the vector rule (``W2ᵀ · dL/dz2 ⊙ relu′(z1)``) with its
  operands' numbers.
* A forward quantity (``z2[1]``): its sum of products; an activation, the loss, an
  updated weight: their formula with the numbers put in.
* A scalar-expression problem: the paths from the output to the name through the steps,
  each factor the partial derivative of one step.
* ``symbolic=True``: the gradient as a SymPy formula in the problem's own symbols, when
  the problem is small enough.

Every number comes from the engine (the exact evaluator and the vector-Jacobian products
of :mod:`backcheck.ops`); the local derivatives are those same rules applied to a one-hot
upstream gradient, so there is no second copy of the calculus. The sum over paths is
checked against the engine's exact gradient before anything is shown
(:class:`~backcheck.errors.InternalError` if they ever disagree).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from .backends import EXACT
from .errors import BackcheckError, InternalError
from .evaluate import _normalise
from .exact import Exact
from .graph import Graph, Node
from .names import resolve, split_element
from .numbers_text import compact, element_text
from .ops import LOSS_NODE, LOSSES, OPS
from .problem import ExpressionProblem, NetworkProblem
from .solution import Solution

#: paths listed in full; with more, the paths are cut at a higher node whose gradient is
#: taken from the backward pass (shared sub-products, as PadhAI reuses them)
MAX_PATHS = 16
#: a symbolic formula is shown only when it is this small (tree nodes, after naming the
#: pre-activations), and built only when the expanded loss stays under the work limit
MAX_SYMBOLIC_SIZE = 3000
MAX_SYMBOLIC_WORK = 100_000
MAX_SYMBOLIC_PARAMETERS = 60
#: functions applied to functions in one step's ∂ formula: SymPy's own evaluation of
#: nested tanh grows about 3.5× per level (9 levels: 2 s, 12: minutes), so a deeper step
#: gets its formula as ∂(…)/∂x and its number from the engine
MAX_FORMULA_NESTING = 6
#: the same for --symbolic's whole formula (checking it at the problem's numbers with
#: evalf grows exponentially with nested sigmoids: 10 levels take seconds, 50 forever)
MAX_SYMBOLIC_NESTING = 8

ZERO = Exact(Fraction(0))
ONE = Exact(Fraction(1))


# ============================================================================ data


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
        return sympy_text(self.expression if expression is None else expression)

    def latex(self, expression: Any = None) -> str:
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


# ============================================================================ naming

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


# ============================================================================ entry


def _alias(graph: Any, raw: str, index: tuple[int, ...] | None,
           parameters: dict) -> tuple[str, tuple[int, ...] | None]:
    """The names verify accepts (:func:`backcheck.names.answer_name`: Mazur's ``net_h1``,
    ``∂E_total/∂w5``, fast.ai's ``w1.g``, …); a bare weight ``w5`` is that element of its
    matrix. Raises the first name's error when none fits."""
    from .names import answer_name

    try:
        name, alias_index = answer_name(raw.strip(), graph, scalar=True)
    except BackcheckError as error:
        if "/" in raw or index is not None:
            raise
        try:  # w5: the weight itself, an element of W2
            grad, alias_index = answer_name(f"d{graph.output_name}/d{raw.strip()}", graph,
                                            scalar=True)
        except BackcheckError:
            raise error from None
        param = next((p for p in parameters if graph.grad_name(p) == grad), None)
        if param is None:
            raise error from None
        return param, alias_index
    return name, alias_index if alias_index else index


def parse_quantity(solution: Solution, raw: str) -> tuple[str, tuple[int, ...] | None]:
    """``'dL/dW1[1,2]'`` → ``("dL/dW1", (0, 1))`` (0-based, problem layout), checked."""
    if not isinstance(raw, str) or not raw.strip():
        raise BackcheckError("name a quantity to explain, e.g. 'dL/dW1[1,2]' or 'z2'")
    if len(raw) > 200:
        raise BackcheckError("the quantity name is too long")
    text, index = split_element(raw)
    graph = solution.graph
    known = solution.names
    parameters = {n.name: n for n in graph.nodes if n.op == "param"}
    if text.strip() in ("target", "t") and isinstance(solution.problem, NetworkProblem):
        name = "target"
        problem = solution.problem
        shape = (problem.sizes[-1],) if problem.single else (problem.examples, problem.sizes[-1])
    elif text.strip() in parameters:  # W1, b2: given numbers, not quantities of their own
        name = text.strip()
        shape = graph.quantities[graph.grad_name(name)].shape
    else:
        try:
            name = resolve(text, list(known) + list(parameters), graph.output_name)
        except BackcheckError:
            name, index = _alias(graph, raw, index, parameters)
        shape = (graph.quantities[graph.grad_name(name)].shape if name in parameters
                 else solution.quantity(name).shape)
    if index is None:
        return name, None
    shape_text = " × ".join(str(s) for s in shape)
    if not shape:
        written = ",".join(map(str, index))
        raise BackcheckError(f"{name} is a single number; drop the index [{written}]",
                             hint=f"explain {name}")
    if len(index) != len(shape):
        example = ",".join(["1"] * len(shape))
        kind = "a vector of" if len(shape) == 1 else "a matrix of"
        raise BackcheckError(
            f"{name} is {kind} shape {shape_text}: an element needs {len(shape)} "
            f"index{'es' if len(shape) > 1 else ''}, e.g. {name}[{example}]; got "
            f"[{','.join(map(str, index))}]")
    for position, (i, size) in enumerate(zip(index, shape, strict=True)):
        if not 1 <= i <= size:
            which = "" if len(shape) == 1 else f" (position {position + 1})"
            raise BackcheckError(
                f"index {i}{which} is out of range in {name}[{','.join(map(str, index))}]: "
                f"{name} has shape {shape_text}, so indices run from 1 to {size}",
                hint="indices are 1-based, [row, column] in the problem's own layout")
    return name, tuple(i - 1 for i in index)


def explain(solution: Solution, quantity: str, *, symbolic: bool = False) -> Explanation:
    """Explain one quantity (a name as FORMAT §3 writes it, optionally with ``[i,j]``)."""
    if solution.exact_evaluation is None:
        raise BackcheckError("explain needs the exact solution (not --float-only)")
    try:
        name, index = parse_quantity(solution, quantity)
    except BackcheckError as error:
        raise error.located(solution.problem.file) from None
    if isinstance(solution.problem, NetworkProblem):
        explanation = NetworkExplainer(solution).explain(name, index)
    elif getattr(solution.problem, "kind", None) == "tensor":
        from .tensor_explain import TensorElements

        explanation = TensorElements(solution).explain(name, index)
    else:
        explanation = ExpressionExplainer(solution).explain(name, index)
    explanation.title = solution.problem.title or ""
    if symbolic:
        try:
            explanation.symbolic = symbolic_formula(solution, name, index)
        except SymbolicTooLarge as error:
            explanation.symbolic_error = str(error)
    return explanation


# ============================================================================ paths


class ElementGraph:
    """What path finding needs: elements (hashable), their order, parents and factors."""

    output: Any

    def order(self, element: Any) -> int:
        raise NotImplementedError

    def parents(self, element: Any) -> list[tuple[Any, Factor]]:
        raise NotImplementedError

    def cut_factor(self, element: Any) -> Factor:
        raise NotImplementedError

    def name(self, element: Any) -> str:
        raise NotImplementedError

    def grad(self, element: Any) -> Exact:
        raise NotImplementedError

    def max_order(self, start: Any) -> int:
        """Elements at or above this order are always terminal (fused losses)."""
        return self.order(self.output) + 1

    def orders_above(self, start: Any) -> set[int]:
        raise NotImplementedError


def _count(graph: ElementGraph, start: Any, threshold: int, cache: dict) -> int:
    """Number of paths from ``start`` up to the output or to the first element at or
    above ``threshold`` (iterative, memoised)."""
    memo: dict[Any, int] = {}
    stack = [(start, False)]
    while stack:
        element, ready = stack.pop()
        if element in memo:
            continue
        if element != start and (element == graph.output or graph.order(element) >= threshold):
            memo[element] = 1
            continue
        if element not in cache:
            cache[element] = graph.parents(element)
        parents = cache[element]
        if ready:
            memo[element] = sum(memo[p] for p, _ in parents)
            continue
        stack.append((element, True))
        for parent, _ in parents:
            if parent not in memo:
                stack.append((parent, False))
    return memo[start]


def _enumerate(graph: ElementGraph, start: Any, threshold: int, cache: dict) -> list[Path]:
    paths: list[Path] = []
    # each stack entry: (element, factors so far from start up, elements so far)
    stack: list[tuple[Any, list[Factor], list[Any]]] = [(start, [], [start])]
    while stack:
        element, factors, elements = stack.pop()
        terminal = element != start and (element == graph.output
                                          or graph.order(element) >= threshold)
        if terminal:
            chain = list(reversed(factors))
            if element != graph.output:
                chain.insert(0, graph.cut_factor(element))
            product = ONE
            for factor in chain:
                product = product * factor.value
            names = [graph.name(e) for e in reversed(elements)]
            if element != graph.output:
                names.insert(0, graph.name(graph.output))
            paths.append(Path(names, chain, product))
            continue
        if element not in cache:
            cache[element] = graph.parents(element)
        for parent, factor in reversed(cache[element]):
            stack.append((parent, factors + [factor], elements + [parent]))
    return paths


def agrees(a: Exact, b: Exact, scale: float = 0.0) -> bool:
    """Exact equality for rationals; otherwise agreement to 40 significant digits (50 are
    kept) of the larger of the two and ``scale``, the size of the terms that were summed
    (a sum that cancels to 0 leaves a residue of about 1e-60 of its terms)."""
    if a.q is not None and b.q is not None:
        return a.q == b.q
    difference = a - b
    if difference.sign() == 0:
        return True
    reference = max(abs(float(a)), abs(float(b)), abs(scale), 1e-300)
    return abs(float(difference.approx)) <= 1e-40 * reference


def _magnitude(values: Any) -> float:
    """Σ|v| over some numbers: the scale of a sum of them."""
    return float(sum(abs(float(Exact.of(v))) for v in np.ravel(np.asarray(values, dtype=object))))


def chain_rule(graph: ElementGraph, start: Any) -> tuple[list[Path], int, str]:
    """All paths from the output down to ``start``, cut where there would be too many.

    Returns the paths, the threshold used and a sentence on how they were chosen.
    """
    cache: dict = {}
    full = graph.max_order(start)
    candidates = sorted({graph.order(start) + 1, full}
                        | {o for o in graph.orders_above(start) if o < full}, reverse=True)
    chosen = candidates[-1]
    for threshold in candidates:
        if _count(graph, start, threshold, cache) <= MAX_PATHS:
            chosen = threshold
            break
    paths = _enumerate(graph, start, chosen, cache)
    return paths, chosen, ""


def _check_total(total: Exact, expected: Exact, what: str, scale: float = 0.0) -> None:
    if not agrees(total, expected, scale):
        raise InternalError(
            f"the chain-rule paths for {what} sum to {total!r}, but the backward pass gives "
            f"{expected!r}; this is a bug in backcheck, please report it with the problem file")


def _distinct_factors(paths: list[Path]) -> list[Factor]:
    """Each factor once, top down: by distance from the element being explained."""
    seen: dict[tuple[str, str], tuple[int, int, Factor]] = {}
    for path in paths:
        for position, factor in enumerate(path.factors):
            if factor.key() not in seen:
                seen[factor.key()] = (position - len(path.factors), len(seen), factor)
    return [item[2] for item in sorted(seen.values(), key=lambda item: item[:2])]


# ============================================================================ networks


class NetworkElements(ElementGraph):
    """Elements of a network's tensors: (node id, internal index)."""

    def __init__(self, solution: Solution) -> None:
        self.solution = solution
        self.graph: Graph = solution.graph
        self.problem: NetworkProblem = solution.problem  # type: ignore[assignment]
        self.ev = solution.exact_evaluation
        self.output = (self.graph.output, ())
        self.consumers = {node.id: [] for node in self.graph.nodes}
        for node in self.graph.nodes:
            for k, i in enumerate(node.inputs):
                self.consumers[i].append((node, k))
        self.loss = self.graph.nodes[self.graph.output]
        self.last = self.graph.nodes[self.loss.inputs[0]]  # aN
        self.fused = fused_softmax_ce(self.solution)
        self._local: dict = {}

    # ----- names and values
    def node(self, element: Any) -> Node:
        return self.graph.nodes[element[0]]

    def name(self, element: Any) -> str:
        node_id, index = element
        node = self.graph.nodes[node_id]
        if node.op == "target":
            layout = index if not self.problem.single else index[1:]
            return f"t[{','.join(str(i + 1) for i in layout)}]"
        quantity = self.graph.quantities.get(node.name) or self.graph.quantities.get(
            self.graph.grad_name(node.name or ""))
        if quantity is None or not quantity.shape:
            return node.name or node.label
        flat = int(np.ravel_multi_index(index, quantity.internal_shape))
        layout = np.unravel_index(flat, quantity.shape)
        return f"{node.name}[{','.join(str(int(i) + 1) for i in layout)}]"

    def value(self, element: Any) -> Exact:
        return self.ev.values[element[0]][element[1]]

    def grad(self, element: Any) -> Exact:
        return self.ev.grads[element[0]][element[1]]

    def order(self, element: Any) -> int:
        return element[0]

    def orders_above(self, start: Any) -> set[int]:
        return {n.id for n in self.graph.nodes if n.id > start[0] and not n.is_leaf}

    def max_order(self, start: Any) -> int:
        full = self.graph.output + 1
        z_last = self.last.inputs[0]
        if self.fused and start[0] < z_last:
            return z_last  # ∂L/∂zN = ŷ − y, one factor
        return full

    # ----- structure
    def parents(self, element: Any) -> list[tuple[Any, Factor]]:
        node_id, c = element
        result = []
        for parent, k in self.consumers[node_id]:
            if parent.id > self.graph.output:
                continue
            for p in self._dependents(parent, k, c):
                result.append(((parent.id, p), self.factor(parent, p, k, c)))
        return result

    def _dependents(self, parent: Node, k: int, c: tuple) -> list[tuple]:
        shape = np.shape(self.ev.values[parent.id])
        if parent.op == LOSS_NODE:
            return [()]
        if parent.op == "linear":
            examples, units = shape
            if k == 0:
                return [(c[0], j) for j in range(units)]
            if k == 1:
                j = c[0] if self.problem.convention == "Wx" else c[1]
                return [(n, j) for n in range(examples)]
            return [(n, c[0]) for n in range(examples)]
        if OPS[parent.op].couples:
            return [(c[0], q) for q in range(shape[1])]
        return [c]  # elementwise

    # ----- factors
    def local(self, parent: Node, p: tuple, k: int, c: tuple) -> Exact:
        """∂parent[p]/∂input_k[c], from the op's own vector-Jacobian product."""
        if parent.op == "linear":
            # ∂z[n,j]/∂a[n,i] = W[j,i], ∂z[n,j]/∂W[j,i] = a[n,i], ∂z/∂b = 1: read them,
            # never one vector-Jacobian product (a matmul) per element (that made explain
            # near the work limit take minutes)
            values = self.ev.values
            if k == 0:
                w = (p[1], c[1]) if self.problem.convention == "Wx" else (c[1], p[1])
                return Exact.of(values[parent.inputs[1]][w])
            if k == 1:
                i = c[1] if self.problem.convention == "Wx" else c[0]
                return Exact.of(values[parent.inputs[0]][(p[0], i)])
            return ONE
        key = (parent.id, p, k)
        if key not in self._local:
            op = OPS[parent.op]
            values = self.ev.values
            inputs = [values[i] for i in parent.inputs]
            if op.couples:
                row = p[0]
                g = np.full((1, np.shape(values[parent.id])[1]), ZERO, dtype=object)
                g[0, p[1]] = ONE
                result = op.vjp(k)(EXACT, g, values[parent.id][row:row + 1],
                                    *[x[row:row + 1] for x in inputs], **parent.attrs)
                full = np.full(np.shape(values[parent.id]), ZERO, dtype=object)
                full[row] = _normalise(EXACT, result)[0]
                self._local[key] = full
            elif op.elementwise:
                g = EXACT.asarray(ONE)
                result = op.vjp(k)(EXACT, g, EXACT.asarray(values[parent.id][p]),
                                    *[EXACT.asarray(x[p]) for x in inputs], **parent.attrs)
                self._local[key] = {p: _normalise(EXACT, result).item()}
            else:
                g = np.full(np.shape(values[parent.id]), ZERO, dtype=object)
                if p:
                    g[p] = ONE
                else:
                    g = EXACT.asarray(ONE)
                result = op.vjp(k)(EXACT, g, values[parent.id], *inputs, **parent.attrs)
                self._local[key] = _normalise(EXACT, result)
        table = self._local[key]
        if isinstance(table, dict):
            return table[c]
        return table[c]

    def factor(self, parent: Node, p: tuple, k: int, c: tuple) -> Factor:
        child = self.graph.nodes[parent.inputs[k]]
        top, bottom = self.name((parent.id, p)), self.name((child.id, c))
        value = self.local(parent, p, k, c)
        if parent.op == "linear":
            if k == 0:
                w = (p[1], c[1]) if self.problem.convention == "Wx" else (c[1], p[1])
                formula = Formula("{0}", (self.name((parent.inputs[1], w)),))
            elif k == 1:
                i = c[1] if self.problem.convention == "Wx" else c[0]
                formula = Formula("{0}", (self.name((parent.inputs[0], (p[0], i))),))
            else:
                formula = Formula("1")
            return Factor(top, bottom, formula, value)
        if parent.op == LOSS_NODE:
            if k >= 2:  # weight decay λ/2·ΣW²: ∂/∂W = λ·W
                lam = compact(Exact.of(parent.attrs["weight_decay"]), 6)
                return Factor(top, bottom, Formula(f"{lam}·{{0}}", (bottom,)), value,
                              why="weight decay λ/2·ΣW²")
            target = self.name((parent.inputs[1], c))
            return Factor(top, bottom, loss_derivative(self.loss, bottom, target), value)
        op = OPS[parent.op]
        if op.couples:
            diagonal, across = op.jacobian or ("∂{a}/∂z", "∂{a}/∂z")
            if p[1] == c[1]:
                formula = Formula(diagonal.replace("{a}", "{0}"), (top,))
            else:
                formula = Formula(across.replace("{a}", "{0}").replace("{b}", "{1}"),
                                  (top, self.name((parent.id, c))))
            return Factor(top, bottom, formula, value)
        formula, why = activation_derivative(op, bottom, top, self.value((child.id, c)),
                                             parent.attrs)
        return Factor(top, bottom, formula, value, why=why)

    def cut_factor(self, element: Any) -> Factor:
        name = self.name(element)
        node = self.graph.nodes[element[0]]
        if self.fused and node.id == self.last.inputs[0]:
            index = element[1]
            target = self.name((self.loss.inputs[1], index))
            output = self.name((self.last.id, index))
            n = self.problem.examples
            template = "{0} − {1}" if n == 1 else f"({{0}} − {{1}}) / {n}"
            return Factor("L", name, Formula(template, (output, target)), self.grad(element),
                          source="fused")
        return Factor("L", name, Formula("from the backward pass"), self.grad(element),
                      source="backward")

    def layout(self, name: str) -> np.ndarray:
        """A value by name in the problem's layout (parameters too, which are not
        quantities themselves)."""
        if name in self.graph.quantities:
            return self.solution.exact(name)
        if name in ("target", "t"):
            return self._target_layout()
        node = self.graph.by_name[name]
        quantity = self.graph.quantities[self.graph.grad_name(name)]
        return quantity.to_layout(self.ev.values[node])

    # ----- explain
    def explain(self, name: str, index: tuple[int, ...] | None) -> Explanation:
        if name not in self.graph.quantities:  # a parameter
            value = self.layout(name)
            value = value if index is None else value[index]
            explanation = Explanation(element_text(name, index), "given", value)
            if name == "target":
                explanation.summary.append(f"{explanation.quantity} is the target given in the "
                                           f"problem file (t in the formulas).")
            else:
                explanation.summary.append(
                    f"{explanation.quantity} is a parameter given in the problem file; its "
                    f"gradient is dL/d{explanation.quantity}.")
            return explanation
        quantity = self.solution.quantity(name)
        full = self.solution.exact(name)
        value = full if index is None else full[index]
        if isinstance(value, np.ndarray) and value.ndim == 0:
            value = value.item()
        explanation = Explanation(element_text(name, index), "", value, network=True)
        internal = None
        if index is not None or not quantity.shape:
            flat = int(np.ravel_multi_index(index or (), quantity.shape)) if quantity.shape else 0
            internal = tuple(int(i) for i in np.unravel_index(flat, quantity.internal_shape)) \
                if quantity.internal_shape else ()
        if quantity.kind == "grad":
            if internal is None:
                return self.vector_rule(name, quantity, explanation)
            return self.element_gradient(quantity, internal, explanation)
        if quantity.kind == "update":
            return self.update(name, quantity, index, explanation)
        if internal is None:
            return self.forward_whole(name, quantity, explanation)
        return self.forward_element(name, quantity, internal, explanation)

    def element_gradient(self, quantity: Any, internal: tuple, explanation: Explanation
                         ) -> Explanation:
        start = (quantity.node, internal)
        explanation.kind = "paths"
        if start == self.output:
            explanation.summary.append("the loss's gradient with respect to itself is 1")
            explanation.total = ONE
            return explanation
        paths, threshold, _ = chain_rule(self, start)
        _fill_paths(explanation, paths, self.grad(start), explanation.quantity)
        explanation.summary.extend(self._path_summary(start, paths))
        return explanation

    def _path_summary(self, start: Any, paths: list[Path]) -> list[str]:
        target = self.name(start)
        lines = []
        count = len(paths)
        if count == 1:
            lines.append(f"One path leads from L down to {target}: the gradient is the product "
                         f"of the local derivatives along it.")
        else:
            lines.append(f"{count} paths lead from L down to {target}; the gradient is the sum "
                         f"of the products along them (the chain rule adds where paths meet).")
        reasons = []
        examples = {p.elements[-2] for p in paths if len(p.elements) > 1}
        if self.problem.examples > 1 and len({e.split("[")[1].split(",")[0]
                                              for e in examples if "[" in e}) > 1:
            reasons.append("each example of the batch contributes its own paths (the "
                           "gradient of a shared weight is summed over examples)")
        if any(f.top.startswith(f"a{k}") and f.bottom.startswith(f"z{k}") and
               f.top.split("[")[1] != f.bottom.split("[")[1]
               for p in paths for f in p.factors for k in [self._layer(f.top)]):
            reasons.append("softmax couples its outputs: every a[p] depends on every z[q]")
        fan = [f for p in paths for f in p.factors if f.bottom.startswith("a") or
               f.bottom.startswith("x")]
        if len({(f.top, f.bottom) for f in fan}) > len({f.bottom for f in fan}):
            reasons.append("a unit feeds several units of the next layer, and each is a path")
        if reasons:
            lines.append("Several paths because " + "; ".join(reasons) + ".")
        cuts = {p.factors[0].source for p in paths if p.factors}
        if "fused" in cuts:
            n = self.problem.examples
            lines.append("Softmax with cross-entropy: ∂L/∂z" + str(len(self.problem.layers))
                         + " = ŷ − y" + (f" (divided by the {n} examples)" if n > 1 else "")
                         + ", so the paths start there (explain 'dL/dz"
                         + f"{len(self.problem.layers)}[…]' for the coupled sum behind it).")
        if "backward" in cuts:
            lines.append(f"With more than {MAX_PATHS} full paths, each path starts at a node "
                         f"whose gradient the backward pass already has (a shared sub-product); "
                         f"explain that node to expand it.")
        return lines

    def _layer(self, name: str) -> str:
        match = re.match(r"^[a-zA-Z]+(\d+)", name)
        return match.group(1) if match else ""

    # ----- whole gradients: the vector rule
    def vector_rule(self, name: str, quantity: Any, explanation: Explanation) -> Explanation:
        explanation.kind = "rule"
        node = self.graph.nodes[quantity.node]
        problem = self.problem
        single = problem.single
        L = len(problem.layers)
        base = name.split("/d", 1)[1]
        ex = self.layout

        def op(text: str, names: tuple[str, ...]) -> Formula:
            return Formula(text, names)

        operands: list[tuple[str, Any]] = []
        if node.id == self.graph.output:
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
                    decay = self.loss.attrs.get("weight_decay")
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
            elif node.id == self.last.id:
                rule = loss_derivative(self.loss, "a" + str(L), "t", whole=True)
                operands = [(f"a{L}", ex(f"a{L}")), ("t", self._target_layout())]
                result = ex(name)
            else:
                k = 0 if node.op == "input" else int(node.name[1:])
                dz, W = f"dL/dz{k + 1}", f"W{k + 1}"
                if problem.convention == "xW":
                    rule = op("{0} · {1}ᵀ", (dz, W))
                    result = ex(dz).reshape(problem.examples, -1).dot(
                        self._weights(k + 1).T)
                elif single:
                    rule = op("{1}ᵀ · {0}", (dz, W))
                    result = self._weights(k + 1).T.dot(ex(dz))
                else:
                    rule = op("{0} · {1}", (dz, W))
                    result = ex(dz).dot(self._weights(k + 1))
                operands = [(W, ex(W)), (dz, ex(dz))]
        else:  # dL/dzK
            k = int(node.name[1:])
            layer = problem.layers[k - 1]
            a, z, da = f"a{k}", f"z{k}", f"dL/da{k}"
            if k == L and self.fused:
                n = problem.examples
                rule = op("{0} − t" if n == 1 else f"({{0}} − t) / {n}", (a,))
                operands = [(a, ex(a)), ("t", self._target_layout())]
                result = (ex(a) - self._target_layout()) / n
                explanation.notes.append(
                    "softmax with cross-entropy: ∂L/∂z = Σ_p ∂L/∂ŷ[p]·∂ŷ[p]/∂z = ŷ − y "
                    "(the coupled terms collapse because the target sums to 1)")
            elif OPS[layer.activation].couples:
                rule = op(_named(OPS[layer.activation].vector_rule), (da, z, a))
                operands = [(a, ex(a)), (da, ex(da))]
                result = self._vjp_layout(k)
            else:
                derivative, text = self._activation_prime(k)
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
            _check_total(Exact.of(got), Exact.of(want), name, scale)
        explanation.equation = Equation(name, rule, operands=operands, result=ex(name))
        explanation.summary.append(_rule_summary(name, node, problem, node.id == self.last.id))
        return explanation

    def _target_layout(self) -> np.ndarray:
        target = EXACT.asarray(self.graph.leaves[self.loss.inputs[1]])
        return target[0] if self.problem.single else target

    def _weights(self, k: int) -> np.ndarray:
        """Wk as a matrix (a flat one-unit W is one row in Wx, one column in xW)."""
        return self.ev.values[self.graph.by_name[f"W{k}"]]

    def _activation_prime(self, k: int) -> tuple[np.ndarray, str]:
        layer = self.problem.layers[k - 1]
        z_node = self.graph.by_name[f"z{k}"]
        a_node = self.graph.by_name[f"a{k}"]
        op = OPS[layer.activation]
        values = self.ev.values
        ones = EXACT.asarray(np.ones(np.shape(values[z_node]), dtype=int))
        derivative = _normalise(EXACT, op.vjp(0)(EXACT, ones, values[a_node], values[z_node],
                                                  **self.graph.nodes[a_node].attrs))
        quantity = self.graph.quantities[f"z{k}"]
        derivative = quantity.to_layout(derivative)
        return derivative, _named(op.vector_factor())

    def _vjp_layout(self, k: int) -> np.ndarray:
        """dL/dzK from dL/daK by the activation's own vjp, in the problem's layout."""
        z_node, a_node = self.graph.by_name[f"z{k}"], self.graph.by_name[f"a{k}"]
        values, grads = self.ev.values, self.ev.grads
        op = OPS[self.graph.nodes[a_node].op]
        result = _normalise(EXACT, op.vjp(0)(EXACT, grads[a_node], values[a_node],
                                              values[z_node], **self.graph.nodes[a_node].attrs))
        return self.graph.quantities[f"z{k}"].to_layout(result)

    # ----- forward quantities
    def forward_element(self, name: str, quantity: Any, internal: tuple,
                        explanation: Explanation) -> Explanation:
        node = self.graph.nodes[quantity.node]
        explanation.kind = "forward"
        value = self.value((node.id, internal))
        digits = 6
        if node.is_leaf:
            explanation.kind = "given"
            explanation.summary.append(f"{explanation.quantity} is given in the problem file.")
            return explanation
        if node.op == "linear":
            n, j = internal
            a_node, W_node = node.inputs[0], node.inputs[1]
            terms, numbers = [], []
            values = self.ev.values
            names: list[str] = []
            for i in range(np.shape(values[a_node])[1]):
                w = (j, i) if self.problem.convention == "Wx" else (i, j)
                names += [self.name((W_node, w)), self.name((a_node, (n, i)))]
                terms.append(f"{{{len(names) - 2}}}·{{{len(names) - 1}}}")
                numbers.append((values[W_node][w], values[a_node][n, i]))
            bias = None
            if len(node.inputs) == 3:
                names.append(self.name((node.inputs[2], (j,))))
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
            _check_total(total, value, explanation.quantity,
                         _magnitude([w * a for w, a in numbers]))
            explanation.equation = Equation(explanation.quantity, rule, text, text_latex,
                                            result=value)
            explanation.summary.append(
                f"A pre-activation is a sum of products: each weight times the input it "
                f"multiplies{', plus the bias' if bias is not None else ''}.")
            return explanation
        if node.op == LOSS_NODE:
            return self._loss_explanation(explanation)
        z = self.name((node.inputs[0], internal))
        zv = self.value((node.inputs[0], internal))
        record = OPS[node.op]
        if record.couples:
            n = internal[0]
            row = self.ev.values[node.inputs[0]][n]
            names = tuple(self.name((node.inputs[0], (n, q))) for q in range(len(row)))
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

    def _loss_explanation(self, explanation: Explanation) -> Explanation:
        kind = self.loss.attrs["kind"]
        divisor = self.loss.attrs["divisor"]
        L = len(self.problem.layers)
        p_node, t_node = self.loss.inputs[:2]
        values = self.ev.values
        pieces, names = [], []
        numbers = []
        record = LOSSES[kind]
        term = record.negated_term or record.formula
        for index in np.ndindex(np.shape(values[p_node])):
            names += [self.name((p_node, index)), self.name((t_node, index))]
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
        decay = self.loss.attrs.get("weight_decay")
        if decay is not None:
            lam = compact(Exact.of(decay), 6)
            weights = [self.graph.nodes[i].name for i in self.loss.inputs[2:]]
            inner += f" + {lam}/2·(" + " + ".join(f"Σ{w}²" for w in weights) + ")"
            number_text += f" + {lam}/2·(" + " + ".join(f"Σ{w}²" for w in weights) + ")"
        rule_text = inner
        explanation.equation = Equation("L", Formula(rule_text, tuple(names)), number_text,
                                        latex_text(number_text), result=explanation.value)
        reduction = self.problem.reduction
        explanation.summary.append(
            f"The loss ({kind}, reduction {reduction}) compares a{L} with the target t term by "
            f"term" + (f" and divides by {divisor}." if divisor != 1 else "."))
        return explanation

    def forward_whole(self, name: str, quantity: Any, explanation: Explanation) -> Explanation:
        node = self.graph.nodes[quantity.node]
        ex = self.layout
        explanation.kind = "rule"
        if node.is_leaf:
            explanation.kind = "given"
            explanation.summary.append(f"{name} is given in the problem file.")
            return explanation
        if node.op == LOSS_NODE:
            explanation.kind = "forward"
            return self._loss_explanation(explanation)
        k = node.layer
        if node.op == "linear":
            before = "x" if k == 1 else f"a{k - 1}"
            W, b = f"W{k}", (f"b{k}" if len(node.inputs) == 3 else None)
            if self.problem.convention == "xW":
                text = "{0} · {1}"
            elif self.problem.single:
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
                + (" (one row per example)." if not self.problem.single else "."))
        else:
            z = f"z{k}"
            record = OPS[node.op]
            rule = Formula(f"{record.symbol}({{0}})" + (" (elementwise)" if not record.couples
                                                        else " (per example)"), (z,))
            operands = [(z, ex(z))]
        explanation.equation = Equation(name, rule, operands=operands, result=ex(name))
        return explanation

    def update(self, name: str, quantity: Any, index: tuple | None,
               explanation: Explanation) -> Explanation:
        base = name[: -len("_new")]
        rate = self.problem.learning_rate
        explanation.kind = "update"
        old = self.layout(base)
        grad = self.solution.exact(f"dL/d{base}")
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
            _check_total(old - Exact.of(rate) * grad, explanation.value, explanation.quantity)
        return explanation


def _fill_paths(explanation: Explanation, paths: list[Path], expected: Exact, what: str) -> None:
    """Set an explanation's total, shown/hidden paths and factors from its chain-rule
    paths, after checking that the paths add up to the backward pass's gradient."""
    total = ZERO
    for path in paths:
        total = total + path.product
    _check_total(total, expected, what, _magnitude([p.product for p in paths]))
    explanation.total = total
    explanation.paths, explanation.hidden_paths, explanation.hidden_total = _shown(paths)
    explanation.factors = _distinct_factors(explanation.paths)


def _shown(paths: list[Path]) -> tuple[list[Path], int, Exact | None]:
    if len(paths) <= MAX_PATHS:
        return paths, 0, None
    hidden = ZERO
    for path in paths[MAX_PATHS:]:
        hidden = hidden + path.product
    return paths[:MAX_PATHS], len(paths) - MAX_PATHS, hidden


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


# ============================================================================ expressions


class StepElements(ElementGraph):
    """A scalar problem's names (values and steps): (node id, ()) elements; an edge is
    "step S uses name N", its factor ∂S/∂N the step's partial derivative."""

    def __init__(self, solution: Solution) -> None:
        self.solution = solution
        self.graph: Graph = solution.graph
        self.problem: ExpressionProblem = solution.problem  # type: ignore[assignment]
        self.ev = solution.exact_evaluation
        self.output = (self.graph.output, ())
        self.steps = {s.name: s for s in self.problem.steps}
        named = [n for n in self.graph.nodes if n.name is not None and n.id <= self.graph.output]
        self.named = {n.id: n for n in named}
        self.uses: dict[int, list[int]] = {n.id: [] for n in named}  # name → steps using it
        self.partials: dict[int, dict[int, Exact]] = {}
        for node in named:
            if node.name in self.steps:
                partials = self._partials(node)
                self.partials[node.id] = partials
                for used in partials:
                    self.uses[used].append(node.id)

    def _partials(self, top: Node) -> dict[int, Exact]:
        """∂top/∂name for each name its step uses: a backward pass inside the step."""
        grads: dict[int, Exact] = {top.id: ONE}
        result: dict[int, Exact] = {}
        values = self.ev.values
        for node in reversed(self.graph.nodes[: top.id + 1]):
            if node.id not in grads:
                continue
            if node.id != top.id and node.name is not None:
                result[node.id] = result.get(node.id, ZERO) + grads[node.id]
                continue
            if node.is_leaf:
                continue
            op = OPS[node.op]
            inputs = [values[i] for i in node.inputs]
            for k, i in enumerate(node.inputs):
                if not self.graph.nodes[i].requires_grad:
                    continue
                contribution = _item(_normalise(EXACT, op.vjp(k)(
                    EXACT, EXACT.asarray(grads[node.id]), values[node.id], *inputs,
                    **node.attrs)))
                grads[i] = grads[i] + contribution if i in grads else contribution
        # a name used through several operations is one factor (their sum)
        return {i: result[i] for i in sorted(result)}

    def name(self, element: Any) -> str:
        return self.graph.nodes[element[0]].name

    def order(self, element: Any) -> int:
        return element[0]

    def orders_above(self, start: Any) -> set[int]:
        return {i for i in self.named if i > start[0]}

    def grad(self, element: Any) -> Exact:
        grad = self.ev.grads.get(element[0])
        if grad is None:
            return ZERO
        return grad.item() if isinstance(grad, np.ndarray) else Exact.of(grad)

    def parents(self, element: Any) -> list[tuple[Any, Factor]]:
        result = []
        for step_id in self.uses.get(element[0], []):
            result.append(((step_id, ()), self.factor(step_id, element[0])))
        return result

    def factor(self, step_id: int, used: int) -> Factor:
        step = self.graph.nodes[step_id]
        name = self.graph.nodes[used].name
        formula = step_partial_formula(self.steps[step.name], name)
        return Factor(step.name, name, formula, self.partials[step_id][used])

    def cut_factor(self, element: Any) -> Factor:
        out = self.graph.output_name
        return Factor(out, self.name(element), Formula("from the backward pass", network=False),
                      self.grad(element), source="backward")

    def explain(self, name: str, index: Any) -> Explanation:
        quantity = self.solution.quantity(name)
        value = _item(self.solution.exact(name))
        explanation = Explanation(name, "", value, network=False)
        node = self.graph.nodes[quantity.node]
        if quantity.kind == "grad":
            explanation.kind = "paths"
            start = (node.id, ())
            out = self.graph.output_name
            if start == self.output:
                explanation.summary.append(f"The gradient of {out} with respect to itself is 1.")
                explanation.total = ONE
                return explanation
            if node.id > self.graph.output or start[0] not in self.uses:
                explanation.summary.append(
                    f"{out} does not depend on {node.name}: the gradient is 0.")
                explanation.total = ZERO
                return explanation
            paths, _, _ = chain_rule(self, start)
            _fill_paths(explanation, paths, self.grad(start), name)
            count = len(paths)
            if not paths:
                explanation.summary.append(
                    f"{out} does not depend on {node.name}: the gradient is 0.")
            elif count == 1:
                explanation.summary.append(
                    f"One path through the steps leads from {out} down to {node.name}: the "
                    f"gradient is the product of each step's partial derivative along it.")
            else:
                explanation.summary.append(
                    f"{count} paths through the steps lead from {out} down to {node.name} "
                    f"(a value used more than once collects gradient from every use): the "
                    f"gradient is the sum of the products along them.")
            if any(p.factors and p.factors[0].source == "backward" for p in paths):
                explanation.summary.append(
                    f"With more than {MAX_PATHS} full paths, each path starts at a step whose "
                    f"gradient the backward pass already has; explain that step to expand it.")
            return explanation
        if node.name not in self.steps:
            explanation.kind = "given"
            explanation.summary.append(f"{name} is given in the problem's values.")
            return explanation
        explanation.kind = "forward"
        step = self.steps[node.name]
        values = {n.name: _item(self.ev.values[n.id]) for n in self.named.values()}
        numbers, numbers_latex = substitute(step.expr, values, 6)
        expression = step.text.split("=", 1)[1].strip()
        explanation.equation = Equation(name, Formula(expr_template(step.expr)[0],
                                                      expr_template(step.expr)[1],
                                                      network=False),
                                        numbers, numbers_latex, result=value)
        explanation.summary.append(f"Step {step.name} = {expression}, with the values put in.")
        return explanation


def _item(value: Any) -> Exact:
    return Exact.of(value.item() if isinstance(value, np.ndarray) else value)


ExpressionExplainer = StepElements
NetworkExplainer = NetworkElements


# ----- step formulas from the parsed tree (never from the user's text)

_PREC = {"add": 1, "sub": 1, "mul": 2, "div": 2, "neg": 3, "pow": 4}


def expr_template(expr: tuple) -> tuple[str, tuple[str, ...]]:
    """A parsed step as a Formula template (names as placeholders)."""
    names: list[str] = []

    def walk(e: tuple) -> tuple[str, int]:
        kind = e[0]
        if kind == "num":
            from .expression import _number_text

            text, prec = _number_text(e[1])
            return text.replace("-", "−"), prec
        if kind == "name":
            if e[1] not in names:
                names.append(e[1])
            return "{" + str(names.index(e[1])) + "}", 5
        if kind == "call":
            symbol = "σ" if e[1] == "sigmoid" else e[1]
            return f"{symbol}({walk(e[2])[0]})", 5
        if kind == "neg":
            inner, prec = walk(e[1])
            return "−" + (inner if prec >= 3 else f"({inner})"), 3
        prec = _PREC[kind]
        (left, lp), (right, rp) = walk(e[1]), walk(e[2])
        if kind == "pow":
            left = left if lp > prec else f"({left})"
            right = right if rp >= 5 else f"({right})"
            return f"{left}^{right}", prec
        left = left if lp >= prec else f"({left})"
        right = right if rp > prec or (rp == prec and kind in ("add", "mul")) else f"({right})"
        symbol = {"add": " + ", "sub": " − ", "mul": "·", "div": " / "}[kind]
        return left + symbol + right, prec

    return walk(expr)[0], tuple(names)


def substitute(expr: tuple, values: dict[str, Exact], digits: int) -> tuple[str, str]:
    """The step's expression with every name replaced by its number (text, LaTeX)."""
    template, names = expr_template(expr)
    numbers = tuple(paren(compact(values[n], digits)) for n in names)
    text = template.format(*numbers)
    latex_numbers = tuple(paren(latex_number(compact(values[n], digits))) for n in names)
    marks = [f"\x00{i}\x00" for i in range(len(names))]
    latex = latex_text(template.format(*marks))
    for i, number in enumerate(latex_numbers):
        latex = latex.replace(f"\x00{i}\x00", "{" + number + "}")
    return text, latex


def step_partial_formula(step: Any, name: str) -> Formula:
    """∂step/∂name as a formula in the step's names (SymPy on our own parsed tree)."""
    try:
        if _nesting(step.expr, {}) > MAX_FORMULA_NESTING:
            raise SymbolicTooLarge(step.text)  # the fallback below: bounded work
        expression, symbols = expr_to_sympy(step.expr)
        import sympy

        derivative = sympy.diff(expression, symbols[name])
        template, names = sympy_template(derivative, symbols)
        return Formula(template, names, network=False)
    except Exception:  # a formula is a nicety; the number comes from the engine
        return Formula(f"∂({step.text.split('=', 1)[1].strip()})/∂{name}", network=False)


# ============================================================================ sympy


class SymbolicTooLarge(Exception):
    pass


def _sympy_functions() -> dict[str, Any]:
    import sympy

    class sigma(sympy.Function):  # noqa: N801 - SymPy's naming
        nargs = 1

        def fdiff(self, argindex: int = 1) -> Any:
            s = sigma(self.args[0])
            return s * (1 - s)

        def _latex(self, printer: Any, exp: Any = None) -> str:
            body = rf"\sigma\left({printer._print(self.args[0])}\right)"
            return body if exp is None else rf"{body}^{{{exp}}}"

        def _sympystr(self, printer: Any) -> str:
            return f"σ({printer._print(self.args[0])})"

        def _pretty(self, printer: Any) -> Any:
            from sympy.printing.pretty.stringpict import prettyForm

            argument = prettyForm(*printer._print(self.args[0]).parens())
            return prettyForm(*argument.left("σ"))

    class relu_prime(sympy.Function):  # noqa: N801
        nargs = 1

        def fdiff(self, argindex: int = 1) -> Any:
            return sympy.S.Zero

        def _latex(self, printer: Any, exp: Any = None) -> str:
            body = rf"\operatorname{{relu}}'\left({printer._print(self.args[0])}\right)"
            return body if exp is None else rf"{body}^{{{exp}}}"

        def _sympystr(self, printer: Any) -> str:
            return f"relu′({printer._print(self.args[0])})"

        def _pretty(self, printer: Any) -> Any:
            from sympy.printing.pretty.stringpict import prettyForm

            argument = prettyForm(*printer._print(self.args[0]).parens())
            return prettyForm(*argument.left("relu′"))

    class relu(sympy.Function):  # noqa: N801
        nargs = 1

        def fdiff(self, argindex: int = 1) -> Any:
            return relu_prime(self.args[0])

        def _latex(self, printer: Any, exp: Any = None) -> str:
            body = rf"\operatorname{{relu}}\left({printer._print(self.args[0])}\right)"
            return body if exp is None else rf"{body}^{{{exp}}}"

    return {"sigma": sigma, "relu": relu, "relu_prime": relu_prime}


_FUNCS: dict[str, Any] = {}


def funcs() -> dict[str, Any]:
    if not _FUNCS:
        _FUNCS.update(_sympy_functions())
    return _FUNCS


def _rational(value: Fraction) -> Any:
    import sympy

    return sympy.Rational(value.numerator, value.denominator)


def expr_to_sympy(expr: tuple, symbols: dict[str, Any] | None = None,
                  names: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
    """Our parsed step tree → SymPy, built with SymPy's constructors (never from text).

    ``names`` maps a name to an expression to inline (earlier steps); other names
    become symbols.
    """
    import sympy

    symbols = {} if symbols is None else symbols
    names = names or {}
    f = funcs()

    def walk(e: tuple) -> Any:
        kind = e[0]
        if kind == "num":
            return _rational(e[1])
        if kind == "name":
            if e[1] in names:
                return names[e[1]]
            if e[1] not in symbols:
                symbols[e[1]] = sympy.Symbol(e[1], real=True)
            return symbols[e[1]]
        if kind == "neg":
            return -walk(e[1])
        if kind == "call":
            arg = walk(e[2])
            fname = e[1]
            if fname == "sigmoid":
                return f["sigma"](arg)
            if fname == "relu":
                return f["relu"](arg)
            if fname == "abs":
                return sympy.Abs(arg)
            return getattr(sympy, fname)(arg)
        left, right = walk(e[1]), walk(e[2])
        if kind == "add":
            return left + right
        if kind == "sub":
            return left - right
        if kind == "mul":
            return left * right
        if kind == "div":
            return left / right
        return sympy.Pow(left, right)

    return walk(expr), symbols


def sympy_template(expression: Any, symbols: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
    """A SymPy expression as a Formula template: symbols become placeholders."""
    import sympy

    names = [n for n, s in symbols.items() if expression.has(s)]
    dummies = {symbols[n]: sympy.Symbol(f"BCPH{i}X") for i, n in enumerate(names)}
    text = sympy.sstr(expression.xreplace(dummies))
    text = text.replace("{", "{{").replace("}", "}}")
    for i in range(len(names)):
        text = text.replace(f"BCPH{i}X", "{" + str(i) + "}")
    text = text.replace("**", "^").replace("*", "·").replace("-", "−")
    return text, tuple(names)


def sympy_text(expression: Any) -> str:
    """One line, as a person writes it: 2·x_2·(σ(z1_1) − t_1)."""
    import sympy

    text = sympy.sstr(expression)
    return text.replace("**", "^").replace("*", "·").replace(" - ", " − ")


_LATEX_SYMBOL = re.compile(r"^(?P<base>[A-Za-z]+)(?P<layer>\d*)(?:_(?P<index>[\d,]+))?$")


def sympy_latex(expression: Any) -> str:
    """LaTeX with our symbol names: W1_12 → W^{(1)}_{12}, x_2 → x_{2}."""
    import sympy

    names = {}
    for symbol in expression.free_symbols:
        match = _LATEX_SYMBOL.match(str(symbol))
        if not match:
            continue
        base = match.group("base")
        if match.group("layer") and base in ("W", "b", "z", "a"):
            base = f"{base}^{{({match.group('layer')})}}"
        elif match.group("layer"):
            base = f"{base}_{{{match.group('layer')}}}"
        if match.group("index"):
            base += f"_{{{match.group('index')}}}"
        names[symbol] = base
    return sympy.latex(expression, symbol_names=names)


def _size_at_most(expression: Any, limit: int) -> bool:
    import sympy

    count = 0
    for _ in sympy.preorder_traversal(expression):
        count += 1
        if count > limit:
            return False
    return True


def _numeric(expression: Any) -> Any:
    """Replace our display-only functions by their definitions, for evaluation."""
    import sympy

    f = funcs()
    from .symfuncs import sigmoid

    expression = expression.replace(f["sigma"], lambda a: 1 / (1 + sympy.exp(-a)))
    expression = expression.replace(sigmoid, lambda a: 1 / (1 + sympy.exp(-a)))
    expression = expression.replace(f["relu"], lambda a: sympy.Max(a, 0))
    expression = expression.replace(
        f["relu_prime"], lambda a: sympy.Piecewise((1, a > 0), (0, True)))
    return expression


def symbolic_formula(solution: Solution, name: str, index: tuple[int, ...] | None) -> Symbolic:
    """The quantity as a SymPy formula in the problem's own symbols (small problems)."""
    if isinstance(solution.problem, NetworkProblem):
        return _network_symbolic(solution, name, index)
    return _expression_symbolic(solution, name)


def _expression_symbolic(solution: Solution, name: str) -> Symbolic:
    import sympy

    problem: ExpressionProblem = solution.problem  # type: ignore[assignment]
    quantity = solution.quantity(name)
    node = solution.graph.nodes[quantity.node]
    target = node.name
    steps = {s.name: s for s in problem.steps}
    order = [s.name for s in problem.steps]
    # estimate the inlined size first: inlining can grow exponentially
    sizes: dict[str, int] = dict.fromkeys(problem.values, 1)
    nestings: dict[str, int] = {}
    for step in problem.steps:
        sizes[step.name] = _tree_size(step.expr, sizes)
        nestings[step.name] = _nesting(step.expr, nestings)
        if step.name == target and quantity.kind == "grad":
            sizes[step.name] = 1  # held as a symbol
            nestings[step.name] = 0
    symbols: dict[str, Any] = {n: sympy.Symbol(n, real=True) for n in problem.values}
    out = problem.output if quantity.kind == "grad" else target
    if sizes.get(out, 1) > MAX_SYMBOLIC_SIZE:
        raise SymbolicTooLarge(
            f"the formula for {out} in terms of the values would have about "
            f"{sizes[out]:,} terms (at most {MAX_SYMBOLIC_SIZE:,}); the chain-rule paths above "
            f"show the same gradient step by step")
    if nestings.get(out, 0) > MAX_SYMBOLIC_NESTING:
        raise SymbolicTooLarge(
            f"the formula for {out} in terms of the values nests {nestings[out]} functions "
            f"(at most {MAX_SYMBOLIC_NESTING}); the chain-rule paths above show the same "
            f"gradient step by step")
    inlined: dict[str, Any] = {}
    for step_name in order:
        if quantity.kind == "grad" and step_name == target:
            symbols[step_name] = sympy.Symbol(step_name, real=True)
            inlined[step_name] = symbols[step_name]
        else:
            inlined[step_name], _ = expr_to_sympy(steps[step_name].expr, symbols, inlined)
        if step_name == out:
            break
    expression = inlined[out] if out in inlined else symbols[out]
    if quantity.kind == "grad":
        wrt = symbols[target]
        result = sympy.diff(expression, wrt)
    else:
        result = expression
        wrt = None
    if not _size_at_most(result, MAX_SYMBOLIC_SIZE):
        raise SymbolicTooLarge(f"the formula for {name} is too large to be useful")
    legend: dict[str, str] = {}
    if wrt is not None and target in steps:
        legend[target] = f"the step {steps[target].text}"
    check = _check_symbolic(result, symbols, solution, name)
    return Symbolic(result, target if wrt is not None else "", legend, check)


def _nesting(expr: tuple, nestings: dict[str, int]) -> int:
    """How many functions are applied one inside another (through earlier steps, whose
    nesting is in ``nestings``): what SymPy's evaluation time grows with."""
    kind = expr[0]
    if kind == "num":
        return 0
    if kind == "name":
        return nestings.get(expr[1], 0)
    if kind == "neg":
        return _nesting(expr[1], nestings)
    if kind == "call":
        return 1 + _nesting(expr[2], nestings)
    return max(_nesting(expr[1], nestings), _nesting(expr[2], nestings))


def _tree_size(expr: tuple, sizes: dict[str, int]) -> int:
    kind = expr[0]
    if kind == "num":
        return 1
    if kind == "name":
        return sizes.get(expr[1], 1)
    if kind in ("neg",):
        return 1 + _tree_size(expr[1], sizes)
    if kind == "call":
        return 1 + _tree_size(expr[2], sizes)
    return 1 + _tree_size(expr[1], sizes) + _tree_size(expr[2], sizes)


def _check_symbolic(result: Any, symbols: dict[str, Any], solution: Solution, name: str
                    ) -> Exact | None:
    """Evaluate the formula at the problem's numbers; it must agree with the engine."""
    graph = solution.graph
    substitutions = {}
    for key, symbol in symbols.items():
        if key in graph.by_name:
            value = solution.exact_evaluation.values[graph.by_name[key]]
            substitutions[symbol] = _exact_to_sympy(_item(value))
    return _evaluate_formula(result, substitutions, _item(solution.exact(name)), name)


def _evaluate_formula(result: Any, substitutions: dict, expected: Exact, name: str
                      ) -> Exact | None:
    import sympy

    try:
        number = float(sympy.N(_numeric(result).xreplace(substitutions), 30))
    except (TypeError, ValueError, ArithmeticError):
        return None
    if not np.isfinite(number):
        return None
    want = float(expected)
    if abs(number - want) > 1e-9 * max(1.0, abs(want)):
        raise InternalError(f"the symbolic formula for {name} gives {number!r} at the "
                            f"problem's numbers, the engine {want!r}; this is a bug in backcheck")
    return Exact.of(Fraction(number))


def _exact_to_sympy(value: Exact) -> Any:
    import sympy

    if value.q is not None:
        return _rational(value.q)
    return sympy.Float(value.nstr(40), 40)


class _SymbolicNetwork:
    """A small network's forward pass in SymPy: symbols x_i, W1_jk, b1_j, t_m."""

    def __init__(self, problem: NetworkProblem) -> None:
        import sympy

        self.problem = problem
        self.held: dict[Any, Any] = {}  # symbol standing for an intermediate → its formula
        self.legend: dict[str, str] = {}
        self.values: dict[Any, Any] = {}
        single = problem.single
        self.x = sympy.Matrix([[self.symbol("x", (n, i), f"x[{_idx(n, i, single)}]", v)
                                for i, v in enumerate(row)] for n, row in enumerate(problem.x)])
        self.W, self.b = [], []
        for k, layer in enumerate(problem.layers, start=1):
            flat = layer.W_flat  # one unit's weights, written as a flat list

            def weight(r: int, c: int, v: Fraction, k: int = k, flat: bool = flat) -> Any:
                if not flat:
                    return self.symbol(f"W{k}", (r, c), f"W{k}[{r + 1},{c + 1}]", v)
                i = c if problem.convention == "Wx" else r
                return self.symbol(f"W{k}", (i,), f"W{k}[{i + 1}]", v)

            self.W.append(sympy.Matrix([[weight(r, c, v) for c, v in enumerate(row)]
                                        for r, row in enumerate(layer.W)]))
            self.b.append(None if layer.b is None else [
                self.symbol(f"b{k}", (j,), f"b{k}[{j + 1}]", v) for j, v in enumerate(layer.b)])
        self.t = sympy.Matrix([[self.symbol("t", (n, j), f"target[{_idx(n, j, single)}]", v)
                                for j, v in enumerate(row)]
                               for n, row in enumerate(problem.target)])

    def symbol(self, base: str, index: tuple[int, ...], what: str, value: Fraction) -> Any:
        import sympy

        if self.problem.single and base in ("x", "t"):
            index = index[1:]
        sep = "" if all(i < 9 for i in index) else ","
        text = base + ("_" + sep.join(str(i + 1) for i in index) if index else "")
        result = sympy.Symbol(text, real=True)
        self.legend[text] = what
        self.values[result] = _rational(value)
        return result

    def forward(self, held: str | None = None) -> dict[str, Any]:
        """Every level (x, z1, a1, …, L); ``held`` (e.g. "z2") is made of fresh symbols
        z2_1, z2_2, … so a derivative with respect to it reads like the textbook's."""
        import sympy

        problem = self.problem
        levels: dict[str, Any] = {"x": self.x}
        a = self.x
        for k, layer in enumerate(problem.layers, start=1):
            W = self.W[k - 1]
            z = a * (W.T if problem.convention == "Wx" else W)
            if self.b[k - 1] is not None:
                z = z + sympy.Matrix([self.b[k - 1]] * z.rows)
            if held == f"z{k}":
                z = self.held_matrix(f"z{k}", z)
            levels[f"z{k}"] = z
            a = self.activate(z, layer)
            if held == f"a{k}":
                a = self.held_matrix(f"a{k}", a)
            levels[f"a{k}"] = a
        # the loss record's own terms, run on the SymPy backend (branches decided at
        # the problem's numbers)
        from .backends import SYMPY

        record = LOSSES[problem.loss]
        backend = SYMPY.at(self.values)
        params = {**record.param_defaults(), **problem.loss_params}
        terms = backend.asarray(record.term(backend, backend.asarray(a.tolist()),
                                            backend.asarray(self.t.tolist()), **params))
        divisor = record.divisor(problem.reduction, problem.examples, problem.sizes[-1])
        total = sympy.Add(*[sympy.sympify(v) for v in np.ravel(terms)])
        levels["L"] = total / divisor
        if problem.weight_decay is not None:
            lam = _rational(problem.weight_decay)
            levels["L"] = levels["L"] + lam / 2 * sympy.Add(*[w * w for W in self.W for w in W])
        if not _size_at_most(levels["L"], MAX_SYMBOLIC_WORK):
            raise SymbolicTooLarge("")
        return levels

    def held_matrix(self, base: str, expressions: Any) -> Any:
        import sympy

        single = self.problem.single
        rows = []
        for n in range(expressions.rows):
            row = []
            for j in range(expressions.cols):
                index = f"{j + 1}" if single else f"{n + 1},{j + 1}"
                text = f"{base}_{index.replace(',', '') if max(n, j) < 9 else index}"
                symbol = sympy.Symbol(text, real=True)
                self.legend[text] = f"{base}[{index}]"
                self.held[symbol] = expressions[n, j]
                row.append(symbol)
            rows.append(row)
        return sympy.Matrix(rows)

    @staticmethod
    def activate(z: Any, layer: Any) -> Any:
        import sympy

        if layer.activation == "softmax":
            rows = []
            for r in range(z.rows):
                exps = [sympy.exp(v) for v in z.row(r)]
                total = sympy.Add(*exps)
                rows.append([e / total for e in exps])
            return sympy.Matrix(rows)
        if OPS[layer.activation].name in _PRINTABLE:
            return z.applyfunc(lambda v: _activate(v, layer.activation, layer.slope))
        # any other activation: its record's forward rule on the SymPy backend
        from .backends import SYMPY

        record = OPS[layer.activation]
        out = record.forward(SYMPY, SYMPY.asarray(z.tolist()), **layer.params)
        return sympy.Matrix(np.asarray(out, dtype=object).tolist())


def _network_symbolic(solution: Solution, name: str, index: tuple[int, ...] | None) -> Symbolic:
    import sympy

    problem: NetworkProblem = solution.problem  # type: ignore[assignment]
    graph = solution.graph
    quantity = graph.quantities.get(name)
    numbers = sum(len(layer.W) * len(layer.W[0]) + (len(layer.b) if layer.b else 0)
                  for layer in problem.layers)
    numbers += len(problem.x) * len(problem.x[0]) + len(problem.target) * len(problem.target[0])
    if numbers > MAX_SYMBOLIC_PARAMETERS or len(problem.layers) > 3:
        raise SymbolicTooLarge(
            f"--symbolic is for small networks (at most 3 layers and "
            f"{MAX_SYMBOLIC_PARAMETERS} numbers in x, W, b and the target; this one has "
            f"{len(problem.layers)} layers and {numbers}); the chain-rule explanation "
            f"above gives the same gradient step by step")
    if quantity is None:
        raise SymbolicTooLarge(f"{name} is a number given in the problem file; it is one of "
                               f"the symbols, not a formula")
    if quantity.kind == "update":
        raise SymbolicTooLarge("--symbolic covers values and gradients; an update is "
                               "W − η·dL/dW, with the gradient's formula from "
                               "--symbolic on dL/dW")
    if index is None and quantity.shape:
        example = ",".join(["1"] * len(quantity.shape))
        raise SymbolicTooLarge(f"--symbolic gives one element at a time; add an index, "
                               f"e.g. {name}[{example}]")
    network = _SymbolicNetwork(problem)
    internal: tuple[int, ...] = ()
    if index is not None:
        flat = int(np.ravel_multi_index(index, quantity.shape))
        internal = tuple(int(i) for i in np.unravel_index(flat, quantity.internal_shape))
    base = name.split("/d", 1)[1] if quantity.kind == "grad" else name
    held = base if quantity.kind == "grad" and base[0] in "za" and base[1:].isdigit() else None
    try:
        levels = network.forward(held)
    except SymbolicTooLarge:
        raise SymbolicTooLarge(_too_large_text(name)) from None
    wrt = ""
    if quantity.kind == "value":
        result = levels["L"] if name == "L" else levels[name][internal]
    else:
        loss = levels["L"]
        if base == "L":
            result = sympy.S.One
        elif held is not None:
            variable = levels[base][internal]
            result = sympy.diff(loss, variable)
            wrt = str(variable)
        else:
            if base == "x":
                variable = network.x[internal]
            elif base.startswith("W"):
                W = network.W[int(base[1:]) - 1]
                variable = W[internal] if len(internal) == 2 else W[0, internal[0]]
            else:
                variable = network.b[int(base[1:]) - 1][internal[0]]
            result = sympy.diff(loss, variable)
            wrt = str(variable)
    if not _size_at_most(result, MAX_SYMBOLIC_WORK):
        raise SymbolicTooLarge(_too_large_text(name))
    substitutions = dict(network.values)
    for symbol, expression in network.held.items():
        substitutions[symbol] = _numeric(expression).xreplace(network.values)
    expected = _item(solution.exact(name)[index] if index is not None
                     else solution.exact(name))
    value = _evaluate_formula(result, substitutions, expected, name)
    shown, definitions = _abbreviate(result, network, levels)
    if not _size_at_most(shown, MAX_SYMBOLIC_SIZE):
        raise SymbolicTooLarge(_too_large_text(name))
    used = {str(s) for s in shown.free_symbols}
    for expression in definitions.values():
        used |= {str(s) for s in expression.free_symbols}
    legend = {k: v for k, v in network.legend.items() if k in used}
    return Symbolic(shown, wrt, legend, value, definitions)


def _abbreviate(result: Any, network: _SymbolicNetwork, levels: dict[str, Any]
                ) -> tuple[Any, dict[Any, Any]]:
    """Name each pre-activation: σ(W1_11·x_1 + …) becomes σ(z1_1) with z1_1 defined once."""
    import sympy

    problem = network.problem
    single = problem.single
    replacements: dict[Any, Any] = {}
    definitions: dict[Any, Any] = {}
    for k in range(1, len(problem.layers) + 1):
        z = levels[f"z{k}"]
        for n in range(z.rows):
            for j in range(z.cols):
                expression = z[n, j]
                if expression.is_Symbol:
                    continue
                shown = expression.xreplace(replacements)
                index = f"{j + 1}" if single else f"{n + 1},{j + 1}"
                text = f"z{k}_{index.replace(',', '') if max(n, j) < 9 else index}"
                symbol = sympy.Symbol(text, real=True)
                network.legend.setdefault(text, f"z{k}[{index}]")
                replacements[expression] = symbol
                replacements[shown] = symbol
                definitions[symbol] = shown
    abbreviated = result.xreplace(replacements)
    needed: dict[Any, Any] = {}
    pending = [s for s in abbreviated.free_symbols if s in definitions]
    while pending:
        symbol = pending.pop()
        if symbol in needed:
            continue
        needed[symbol] = definitions[symbol]
        pending.extend(s for s in definitions[symbol].free_symbols if s in definitions)
    order = list(definitions)
    return abbreviated, {s: needed[s] for s in order if s in needed}


#: activations with a SymPy function of their own that prints as people write it
#: (relu(z), σ(z)); every other one is its record's forward rule run on the SymPy backend
_PRINTABLE = ("identity", "relu", "sigmoid", "tanh", "leaky_relu")


def _activate(v: Any, activation: str, slope: Fraction) -> Any:
    import sympy

    f = funcs()
    if activation == "identity":
        return v
    if activation == "relu":
        return f["relu"](v)
    if activation == "sigmoid":
        return f["sigma"](v)
    if activation == "tanh":
        return sympy.tanh(v)
    if activation == "leaky_relu":
        return sympy.Piecewise((v, v > 0), (_rational(slope) * v, True))
    raise SymbolicTooLarge(f"no symbolic form for {activation}")


def _idx(n: int, i: int, single: bool) -> str:
    return f"{i + 1}" if single else f"{n + 1},{i + 1}"


def _too_large_text(name: str) -> str:
    return (f"the formula for {name} would be too large to read (over {MAX_SYMBOLIC_SIZE:,} "
            f"terms); the chain-rule explanation above gives the same number step by step")
