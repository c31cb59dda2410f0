"""Formulas (FORMAT §8): every quantity of a problem as a function of its symbols.

The graph is the one :mod:`backcheck.graph` builds and the evaluator the one every number
goes through; only the backend differs (``SYMPY``, :mod:`backcheck.backends`), so the
calculus is the op table's and nothing here differentiates.

Each quantity gets two forms:

* ``full``: in the problem's free inputs only (its symbols and numbers), lightly
  simplified (common factors collected, no expansion);
* ``local``: in the named quantities just before it (``dz2[1]·a1[2]``,
  ``da2[1]·a2[1]·(1 − a2[1])``), the way a worked solution names intermediate results.
  It comes from the same evaluator with every named value and gradient replaced by a
  symbol (the evaluator's override hook).

``shown`` is the full form while it stays small and the local form once the full one
would swell. With ``at:`` every branch (ReLU, abs) is decided at that point and said so;
without it a branch is a Piecewise.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
import sympy

from .backends import SYMPY, SympyBackend
from .evaluate import Evaluation, EvaluationError, evaluate
from .graph import Graph, Quantity, build_graph
from .problem import ExpressionProblem, NetworkProblem, Problem
from .symfuncs import sigmoid, to_plain

#: a full formula with more operations than this is shown through named intermediates
SWELL = 40
#: formulas up to this many tree nodes are tidied (common factors collected)
SIMPLIFY_NODES = 120
#: a full formula this small is always shown as it is
SMALL = 12


def is_symbolic(problem: Problem) -> bool:
    return bool(getattr(problem, "symbols", None))


def element_symbol(name: str, index: tuple[int, ...], shape: tuple[int, ...]) -> Any:
    """The symbol for one element of a named quantity: ``a1[2]``, ``W1[1,2]``; a quantity
    with one element is its bare name (``a2``, ``L``)."""
    if int(np.prod(shape)) == 1:
        return sympy.Symbol(name, real=True)
    return sympy.Symbol(f"{name}[{','.join(str(i + 1) for i in index)}]", real=True)


def symbol_array(name: str, shape: tuple[int, ...]) -> np.ndarray:
    out = np.empty(shape, dtype=object)
    for index in np.ndindex(*shape):
        out[index] = element_symbol(name, index, shape)
    return out


def simplify_light(expression: Any) -> Any:
    """Collect common factors without expanding (fast and keeps σ(z) products intact)."""
    expression = sympy.sympify(expression)
    if expression.is_Atom or not _nodes_at_most(expression, SIMPLIFY_NODES):
        return expression  # large: left as the chain rule built it (already factored)
    try:
        return sympy.factor_terms(expression, clear=False)
    except Exception:  # simplification is a nicety; the formula is right either way
        return expression


def _nodes_at_most(expression: Any, limit: int) -> bool:
    for count, _ in enumerate(sympy.preorder_traversal(expression)):
        if count >= limit:
            return False
    return True


def size(expression: Any) -> int:
    return int(sympy.count_ops(expression, visual=False))


def _short_name(name: str, output: str) -> str:
    """``dL/dz1`` → ``dz1`` (the spelling a formula answer uses)."""
    prefix = f"d{output}/d"
    return "d" + name[len(prefix):] if name.startswith(prefix) else name


@dataclass
class SymbolicSolution:
    problem: Problem
    graph: Graph
    full: dict[str, np.ndarray]  # quantity → object array of SymPy (problem layout)
    local: dict[str, np.ndarray]
    #: in the inputs and the pre-activations zK (networks; the full form otherwise)
    zform: dict[str, np.ndarray]
    #: branch conditions decided at ``at:`` (condition, taken)
    decisions: list[tuple[Any, bool]] = field(default_factory=list)
    numeric: Any = None  # the numeric Solution at ``at:``, if given

    @property
    def names(self) -> list[str]:
        return list(self.graph.quantities)

    def quantity(self, name: str) -> Quantity:
        return self.graph.quantities[name]

    def shown(self, name: str) -> np.ndarray:
        """What a person reads: the full formula while small, else the named form."""
        full, zform = self.full[name], self.zform[name]
        full_size = max((size(e) for e in full.flat), default=0)
        z_size = max((size(e) for e in zform.flat), default=0)
        if full_size <= SMALL or (full_size <= SWELL and 2 * z_size > full_size):
            return full
        if z_size <= SWELL:
            return zform
        return self.local[name]

    def exact_at(self, name: str, index: tuple[int, ...], value: Any) -> Any:
        """The value at ``at:`` of one element: a Fraction when the formula is rational
        there (a formula that is 0 shows 0, not a ball around it), else ``value``."""
        point = _point(self.problem)
        element = np.asarray(self.full[name], dtype=object)[index]
        if point is None or not _nodes_at_most(sympy.sympify(element), SIMPLIFY_NODES):
            return value
        there = sympy.sympify(element).xreplace(point)
        if there.is_Rational:
            return Fraction(int(there.p), int(there.q))
        return value

    def uses_names(self, name: str) -> bool:
        return self.shown(name) is not self.full[name]

    def definitions(self) -> list[str]:
        """Named quantities that the shown formulas use, in order."""
        used: set[str] = set()
        for name in self.names:
            if self.uses_names(name):
                for e in self.local[name].flat:
                    used |= {str(s) for s in sympy.sympify(e).free_symbols}
        return [n for n in self.names if any(u == self._short(n) or
                                             u.startswith(self._short(n) + "[") for u in used)]

    def _short(self, name: str) -> str:
        return _short_name(name, self.graph.output_name)

    def decision_notes(self) -> list[str]:
        notes = []
        for condition, taken in self.decisions:
            shown = sympy.sstr(condition if taken else sympy.Not(condition))
            notes.append(f"branch decided at at: {shown}")
        return notes

    def to_json(self) -> dict[str, Any]:
        """``quantities``: plain SymPy strings in the problem's symbols (σ written with
        exp, so ``sympy.sympify`` reads them); ``readable``: the shown forms; ``values``:
        floats at ``at:``."""
        out: dict[str, Any] = {
            "symbols": list(self.problem.symbols),
            "quantities": {n: _nested(self.full[n], lambda e: sympy.sstr(to_plain(e)))
                           for n in self.names},
            "readable": {n: _nested(self.shown(n), sympy.sstr) for n in self.names},
        }
        if self.problem.at is not None:
            out["at"] = {k: _fraction_json(v) for k, v in self.problem.at.items()}
        if self.numeric is not None:
            out["values"] = {n: self.numeric.float(n).tolist() for n in self.names}
        if self.decisions:
            out["decisions"] = self.decision_notes()
        return out


def _fraction_json(value: Fraction) -> Any:
    return int(value) if value.denominator == 1 else str(value)


def _nested(array: np.ndarray, convert: Any) -> Any:
    def walk(item: Any) -> Any:
        return [walk(i) for i in item] if isinstance(item, list) else convert(item)

    return walk(np.asarray(array, dtype=object).tolist())


def _layout(graph: Graph, evaluation: Evaluation, quantity: Quantity, backend: Any,
            rate: Any) -> np.ndarray:
    if quantity.kind == "value":
        internal = evaluation.values[quantity.node]
    else:
        internal = evaluation.grads.get(quantity.node)
        if internal is None:
            internal = backend.asarray(np.zeros(quantity.internal_shape, dtype=int))
        if quantity.kind == "update":
            internal = evaluation.values[quantity.node] - backend.asarray(rate) * internal
    return np.asarray(quantity.to_layout(internal), dtype=object)


def _point(problem: Problem) -> dict[Any, Any] | None:
    if problem.at is None:
        return None
    return {problem.symbols[k]: sympy.Rational(v.numerator, v.denominator)
            for k, v in problem.at.items()}


def solve_symbolic(problem: Problem, *, with_numeric: bool = True) -> SymbolicSolution:
    """Every quantity as a formula (full and local forms), plus the numbers at ``at:``."""
    graph = build_graph(problem)
    point = _point(problem)
    backend = SympyBackend(point) if point is not None else SYMPY
    rate = getattr(problem, "learning_rate", None)
    try:
        evaluation = evaluate(graph, backend)
    except EvaluationError as error:  # log of a negative number, a power of zero …
        from .errors import BackcheckError

        raise BackcheckError(f"cannot build the formulas: {error.reason}",
                             file=problem.file) from None
    full = {name: _simplified(_layout(graph, evaluation, q, backend, rate))
            for name, q in graph.quantities.items()}
    overrides = named_overrides(graph)
    # the named forms decide their branches (ReLU, max) where the full ones did: at the
    # point, with every named quantity at its value there
    named_point = None if point is None else _named_point(evaluation, overrides, point)
    local = _named_forms(graph, overrides, named_point, rate)
    z_overrides = {key: value for key, value in overrides.items()
                   if key[0] == "value" and re.fullmatch(r"z\d+", graph.nodes[key[1]].name or "")}
    zform = _named_forms(graph, z_overrides, named_point, rate) if z_overrides else full
    decisions = list(backend.decisions)
    numeric = None
    if with_numeric and problem.at is not None:
        from .solution import solve

        numeric = solve(numeric_problem(problem, problem.at))
    return SymbolicSolution(problem, graph, full, local, zform, decisions, numeric)


def _named_point(evaluation: Evaluation, overrides: dict, point: dict) -> dict:
    """The point, plus each named quantity's symbols (``h[1,2]``) at their values there."""
    out = dict(point)
    for (kind, node), (_, symbols) in overrides.items():
        source = evaluation.values[node] if kind == "value" else evaluation.grads.get(node)
        if source is None:
            continue
        for symbol, expression in zip(np.asarray(symbols).flat, np.asarray(source).flat,
                                      strict=True):
            out[symbol] = sympy.sympify(expression).xreplace(point)
    return out


def _named_forms(graph: Graph, overrides: dict, point: Any, rate: Any) -> dict[str, np.ndarray]:
    local_backend = SympyBackend(point) if point is not None else SYMPY
    local_eval = evaluate(graph, local_backend, overrides=overrides)
    local = {}
    for name, q in graph.quantities.items():
        kind = "value" if q.kind == "value" else "grad"
        if (kind, q.node) in overrides:
            source = local_eval.computed_values if kind == "value" else local_eval.computed_grads
            internal = source[q.node]
            array = np.asarray(q.to_layout(internal), dtype=object)
        else:
            array = _layout(graph, local_eval, q, local_backend, rate)
        local[name] = _simplified(array)
    return local


def _simplified(array: np.ndarray) -> np.ndarray:
    out = np.empty(array.shape, dtype=object)
    for index in np.ndindex(*array.shape):
        out[index] = simplify_light(array[index])
    return out


def named_overrides(graph: Graph) -> dict:
    """Every named intermediate value (zK, aK, steps) and gradient as symbols."""
    overrides: dict = {}
    output = graph.output_name
    for name, q in graph.quantities.items():
        node = graph.nodes[q.node]
        if node.is_leaf or q.kind == "update":
            continue
        if q.kind == "value" and node.id == graph.output:
            continue
        label = name if q.kind == "value" else _short_name(name, output)
        symbols = symbol_array(label, q.shape).reshape(q.internal_shape)
        mask = np.ones(q.internal_shape, dtype=bool)
        overrides["value" if q.kind == "value" else "grad", node.id] = (mask, symbols)
    return overrides


def numeric_problem(problem: Problem, at: dict[str, Fraction]) -> Problem:
    """The problem with every symbol replaced by its number at ``at``."""
    table = {problem.symbols[k]: v for k, v in at.items()}

    def number(value: Any) -> Any:
        if isinstance(value, sympy.Basic):
            result = value.xreplace({s: sympy.Rational(v.numerator, v.denominator)
                                     for s, v in table.items()})
            if not result.is_Rational:
                raise ValueError(f"{value} has no number at at:")
            return Fraction(int(result.p), int(result.q))
        return value

    clone = copy.copy(problem)
    clone.symbols = {}
    clone.at = None
    if isinstance(problem, NetworkProblem):
        clone.x = [[number(v) for v in row] for row in problem.x]
        clone.target = [[number(v) for v in row] for row in problem.target]
        clone.layers = [copy.copy(layer) for layer in problem.layers]
        for layer in clone.layers:
            layer.W = [[number(v) for v in row] for row in layer.W]
            layer.b = None if layer.b is None else [number(v) for v in layer.b]
            layer.slope = number(layer.slope)
            if getattr(layer, "params", None):
                layer.params = {k: number(v) for k, v in layer.params.items()}
        if getattr(problem, "loss_params", None):
            clone.loss_params = {k: number(v) for k, v in problem.loss_params.items()}
        if getattr(problem, "weight_decay", None) is not None:
            clone.weight_decay = number(problem.weight_decay)
        if problem.learning_rate is not None:
            clone.learning_rate = number(problem.learning_rate)
    elif isinstance(problem, ExpressionProblem):
        clone.values = {k: number(v) for k, v in problem.values.items()}
    elif problem.kind == "tensor":
        from .tensor import build_tensor_graph

        clone.values = {k: _number_array(v, number) for k, v in problem.values.items()}
        clone.probe = {}
        clone.graph = None
        clone.graph = build_tensor_graph(clone)
    return clone


def _number_array(value: Any, number: Any) -> np.ndarray:
    array = np.asarray(value, dtype=object)
    out = np.empty(array.shape, dtype=object)
    for index, v in np.ndenumerate(array):
        out[index] = number(v)
    return out


_ELEMENT = re.compile(r"^(?P<d>d?)(?P<base>[A-Za-z_]+?)(?P<layer>\d*)(?:\[(?P<index>[\d,]+)\])?$")


def formula_text(expression: Any) -> str:
    """One line as a person writes it: x1·σ(z1)·(1 − σ(z1))·(σ(z1) − t)."""
    import sympy

    text = sympy.sstr(expression)
    text = text.replace("sigmoid(", "σ(").replace("**", "^").replace("*", "·")
    return text.replace(" - ", " − ").replace("(-", "(−").replace("-", "−") if text else text


def latex_symbol(name: str) -> str:
    """``W1[1,2]`` → ``W^{(1)}_{1,2}``, ``dz2[1]`` → ``\\delta^{(2)}_{1}``, ``x1`` → ``x_{1}``."""
    match = _ELEMENT.match(name)
    if not match:
        return name.replace("_", r"\_")
    base, layer, index = match.group("base"), match.group("layer"), match.group("index")
    derivative = match.group("d")
    if derivative and base == "z":
        body = r"\delta"
    elif derivative:
        body = rf"\partial {base}"
    else:
        body = base if len(base) == 1 else rf"\mathrm{{{base}}}"
    if layer and base in ("W", "b", "z", "a"):
        body += f"^{{({layer})}}"
    elif layer:
        index = layer if index is None else f"{layer},{index}"
    if index:
        body += f"_{{{index}}}"
    return body


def formula_latex(expression: Any) -> str:
    import sympy

    expression = sympy.sympify(expression)
    names = {s: latex_symbol(str(s)) for s in expression.free_symbols}
    return sympy.latex(expression, symbol_names=names)


def explain_symbolic(problem: Problem, quantity: str, *, symbolic: bool = True) -> Any:
    """``explain`` of a problem with symbols: the chain-rule paths with the numbers at
    ``at:``, and (``symbolic``) the very formula ``solve`` prints for that element."""
    from .errors import BackcheckError
    from .explain import explain, parse_quantity
    from .solution import solve

    if problem.at is None:
        raise BackcheckError("explain shows numbers: this problem has symbols but no at:",
                             file=problem.file,
                             hint="add at: {symbol: number, ...} (solve prints the formulas "
                                  "without it)")
    numeric = solve(numeric_problem(problem, problem.at))
    explanation = explain(numeric, quantity)
    FormulaSymbolic = _formula_symbolic()  # noqa: N806
    if symbolic:
        name, index = parse_quantity(numeric, quantity)
        formulas = solve_symbolic(problem, with_numeric=False)
        shown = np.asarray(formulas.shown(name), dtype=object)
        expression = shown.reshape(-1)[0] if index is None and shown.size == 1 else (
            shown[tuple(index)] if index is not None else None)
        if expression is None:
            explanation.symbolic_error = ("a whole array: give one element, e.g. "
                                          f"{name}[{','.join('1' * shown.ndim)}]")
        else:
            legend = {}
            for symbol in sorted(expression.free_symbols, key=str):
                label = str(symbol)
                base, _, rest = label.partition("[")
                if re.fullmatch(r"z\d+", base) and base in formulas.full:
                    full = formulas.full[base]
                    element = full.reshape(-1)[0] if not rest else full[tuple(
                        int(i) - 1 for i in rest[:-1].split(","))]
                    legend[label] = formula_text(element)
            explanation.symbolic = FormulaSymbolic(expression, "", legend)
            explanation.notes.extend(formulas.decision_notes())
    return explanation


def _formula_symbolic() -> Any:
    from .explain import Symbolic

    class FormulaSymbolic(Symbolic):
        """explain's symbolic part, printed as solve prints formulas."""

        def text(self, expression: Any = None) -> str:
            return formula_text(self.expression if expression is None else expression)

        def latex(self, expression: Any = None) -> str:
            return formula_latex(self.expression if expression is None else expression)

    return FormulaSymbolic


def plain(expression: Any) -> Any:
    """σ written out with exp (for SymPy readers and numeric evaluation)."""
    return to_plain(sympy.sympify(expression))


__all__ = ["SymbolicSolution", "is_symbolic", "numeric_problem", "plain", "sigmoid",
           "solve_symbolic", "symbol_array"]
