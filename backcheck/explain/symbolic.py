"""``--symbolic``: the quantity as a SymPy formula in the problem's own symbols.

A network runs its forward pass on the SymPy backend: every activation and the loss are
their records' own rules (an activation whose record names a SymPy function, relu, is
written with it, so it prints as relu(z)); a scalar problem's steps become SymPy through
our parsed tree (:func:`expr_to_sympy`, through the formulas module's one walker). The
formula is checked at the problem's numbers against the engine before it is shown.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

import numpy as np

from ..errors import InternalError
from ..exact import Exact
from ..ops import LOSSES, OPS
from ..problem import ExpressionProblem, NetworkProblem
from ..solution import Solution
from .model import Symbolic, as_exact

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


class SymbolicTooLarge(Exception):
    pass


def _call(name: str, argument: Any) -> Any:
    """A step's function call in SymPy, as its record says: the record's SymPy function
    where it names one (relu prints as relu(z)), else its forward rule on the SymPy
    backend (σ, tanh, exp, log, |·|, …)."""
    from ..backends import SYMPY

    record = OPS[name]
    if record.sympy_function is not None:
        return record.sympy_function()(argument)
    return SYMPY.asarray(record.forward(SYMPY, SYMPY.asarray(argument))).item()


def _sympy_str(expression: Any) -> str:
    """``sympy.sstr`` with each op written by its record's symbol (σ for the sigmoid)."""
    from sympy.printing.str import StrPrinter

    from ..symfuncs import sigmoid

    class Printer(StrPrinter):
        def _print_Function(self, expr: Any) -> str:
            if isinstance(expr, sigmoid):
                return f"{OPS['sigmoid'].symbol}({self._print(expr.args[0])})"
            return super()._print_Function(expr)

    return Printer().doprint(expression)


def _rational(value: Fraction) -> Any:
    import sympy

    return sympy.Rational(value.numerator, value.denominator)


def expr_to_sympy(expr: tuple, symbols: dict[str, Any] | None = None,
                  names: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
    """Our parsed step tree → SymPy, built with SymPy's constructors (never from text),
    by the one walker of step trees (:func:`backcheck.formulas.sympy_of`: every operation
    its record's rule on the SymPy backend), each call written as :func:`_call` says.

    ``names`` maps a name to an expression to inline (earlier steps); other names
    become symbols.
    """
    from ..formulas import sympy_of
    from ..ops.scalar import STEP_FUNCTIONS

    symbols = {} if symbols is None else symbols
    functions = {name: (lambda value, name=name: _call(name, value))
                 for name in STEP_FUNCTIONS}
    return sympy_of(expr, names, symbols, functions), symbols


def sympy_template(expression: Any, symbols: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
    """A SymPy expression as a Formula template: symbols become placeholders."""
    import sympy

    names = [n for n, s in symbols.items() if expression.has(s)]
    dummies = {symbols[n]: sympy.Symbol(f"BCPH{i}X") for i, n in enumerate(names)}
    text = _sympy_str(expression.xreplace(dummies))
    text = text.replace("{", "{{").replace("}", "}}")
    for i in range(len(names)):
        text = text.replace(f"BCPH{i}X", "{" + str(i) + "}")
    text = text.replace("**", "^").replace("*", "·").replace("-", "−")
    return text, tuple(names)


def sympy_text(expression: Any) -> str:
    """One line, as a person writes it: 2·x_2·(σ(z1_1) − t_1)."""

    text = _sympy_str(expression)
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


def numeric(expression: Any) -> Any:
    """Replace the display-only functions (σ, relu, relu′) by their definitions, so plain
    SymPy can evaluate the formula."""
    import sympy

    from ..symfuncs import sigmoid

    expression = expression.replace(sigmoid, lambda a: 1 / (1 + sympy.exp(-a)))
    return expression.replace(lambda e: isinstance(e, sympy.Function) and hasattr(e, "plain"),
                              lambda e: e.plain())


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
        nestings[step.name] = nesting(step.expr, nestings)
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


def nesting(expr: tuple, nestings: dict[str, int]) -> int:
    """How many functions are applied one inside another (through earlier steps, whose
    nesting is in ``nestings``): what SymPy's evaluation time grows with."""
    kind = expr[0]
    if kind == "num":
        return 0
    if kind == "name":
        return nestings.get(expr[1], 0)
    if kind == "neg":
        return nesting(expr[1], nestings)
    if kind == "call":
        return 1 + nesting(expr[2], nestings)
    return max(nesting(expr[1], nestings), nesting(expr[2], nestings))


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
            substitutions[symbol] = _exact_to_sympy(as_exact(value))
    return _evaluate_formula(result, substitutions, as_exact(solution.exact(name)), name)


def _evaluate_formula(result: Any, substitutions: dict, expected: Exact, name: str
                      ) -> Exact | None:
    import sympy

    try:
        number = float(sympy.N(numeric(result).xreplace(substitutions), 30))
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
        from ..backends import SYMPY

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
        """A layer's activation on a SymPy matrix: its record's SymPy function where it
        names one (relu(z)), else its forward rule run on the SymPy backend (σ(z), tanh,
        softmax's exp(zᵢ)/Σexp(zⱼ), a Piecewise for leaky_relu, any new record)."""
        import sympy

        from ..backends import SYMPY

        record = OPS[layer.activation]
        if record.sympy_function is not None:
            return z.applyfunc(record.sympy_function())
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
        substitutions[symbol] = numeric(expression).xreplace(network.values)
    expected = as_exact(solution.exact(name)[index] if index is not None
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


def _idx(n: int, i: int, single: bool) -> str:
    return f"{i + 1}" if single else f"{n + 1},{i + 1}"


def _too_large_text(name: str) -> str:
    return (f"the formula for {name} would be too large to read (over {MAX_SYMBOLIC_SIZE:,} "
            f"terms); the chain-rule explanation above gives the same number step by step")
