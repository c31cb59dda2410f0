"""Formula answers (FORMAT §8): ``dL/dz2: "(a2 - t) * a2 * (1 - a2)"``.

A formula is read with the step grammar's whitelisted parser (:mod:`backcheck.expression`,
never ``eval``/``sympify``), widened by ``@``, ``.T`` and 1-based indexing, and may use
the problem's symbols and its quantity names (``x``, ``zK``, ``aK``, ``WK``, ``bK``,
``t``, ``y_hat``, ``L``, gradients ``dzK``/``δK``, ``daK``, ``dWK``, ``dbK``, ``dx``; in a
scalar problem its values and steps, and ``dv`` for the gradient of the output with
respect to ``v``). In a network's formula vectors are columns under ``Wx`` and rows under
``xW``.

A formula is right when it equals the true quantity *as a function of the problem's free
inputs* (its symbols; for a numeric problem x, every W and b, and t), not only at the
given numbers. It is checked at the problem's own point and at seeded random points (the
graph re-solved there by the same evaluator): two functions that agree at several random
points of a space of this size are equal for every practical purpose, and a missing
transpose or factor shows at once. Where the evaluation cannot decide (an overflow), SymPy
simplification of the difference decides, under a time limit.

``carried``: what follows, at every point, from the student's own earlier formulas put in
place of those quantities (the evaluator's override hook), one of which was wrong.
``wrong``: with the diagnosis of a known slip (:mod:`backcheck.mistakes`, the grader's own
buggy rules, evaluated at the same points) that the formula reproduces at every point.
"""

from __future__ import annotations

import ast
import random
import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from .errors import BackcheckError, Mark
from .expression import FUNCTIONS, MAX_DEPTH, MAX_NODES, _check_size, _Reader, _shift, _short

#: random points (besides the problem's own) a formula is checked at
POINTS = 4
SEED = 20261127
RTOL = 1e-7
FORMULA_FUNCTIONS = FUNCTIONS + ("sum",)


# ============================================================================ parsing


class _FormulaReader(_Reader):
    """The step grammar plus ``@``, ``.T`` and indexing ``a1[2]`` (1-based)."""

    def read(self, node: ast.AST, depth: int = 0) -> tuple:
        if depth > MAX_DEPTH:
            raise self.fail(f"formula nested too deeply (at most {MAX_DEPTH} levels)", node)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
            return ("matmul", self.read(node.left, depth + 1), self.read(node.right, depth + 1))
        if isinstance(node, ast.Attribute):
            if node.attr != "T":
                raise self.forbidden(f"attribute .{node.attr}", node,
                                     "a formula may use .T (the transpose) only")
            return ("T", self.read(node.value, depth + 1))
        if isinstance(node, ast.Subscript):
            return self.subscript(node, depth)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and (
                (self.segment(node.func) or node.func.id) == "sum"):
            if len(node.args) != 1 or node.keywords:
                raise self.fail("sum() takes exactly one argument (the sum of every element)",
                                node)
            return ("call", "sum", self.read(node.args[0], depth + 1))
        return super().read(node, depth)

    def subscript(self, node: ast.Subscript, depth: int) -> tuple:
        parts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        index = []
        for part in parts:
            if not (isinstance(part, ast.Constant) and type(part.value) is int):
                raise self.forbidden("an index that is not a whole number", part,
                                     "elements are 1-based whole numbers, e.g. a1[2], W1[1,2]")
            if part.value < 1:
                raise self.fail(f"index {part.value} in {_short(self.segment(node))!r}: "
                                "indices start at 1", part)
            index.append(part.value)
        return ("index", self.read(node.value, depth + 1), tuple(index))

    def forbidden(self, what: str, node: ast.AST, hint: str | None = None) -> BackcheckError:
        return self.fail(
            f"{what} is not allowed in a formula (found {_short(self.segment(node))!r})", node,
            hint or "a formula uses names, numbers, + - * / ** @ .T, [i, j], parentheses and "
            + ", ".join(FORMULA_FUNCTIONS))

    def unknown(self, name: str, node: ast.AST) -> BackcheckError:
        error = super().unknown(name, node)
        error.message = error.message.replace("unknown name", "unknown name in a formula")
        return error


def _tensor_reader() -> type:
    from .array_steps import _ArrayReader

    class _TensorFormulaReader(_ArrayReader):
        """A tensor problem's formulas: the step grammar of FORMAT §7 (``@``, ``.T``,
        ``sum(x, axis=0)``, ``softmax(z, axis=1)``, ``one_hot(y, 3)``, comparisons for
        masks), with elements written 1-based as in answers (``dW[1,2]``)."""

        subscript = _FormulaReader.subscript

        def forbidden(self, what: str, node: ast.AST, hint: str | None = None
                      ) -> BackcheckError:
            return self.fail(
                f"{what} is not allowed in a formula (found {_short(self.segment(node))!r})",
                node, hint or "a formula uses the step grammar: names, numbers, + - * / ** @, "
                ".T, elements [i, j] (1-based), and the step functions")

        def unknown(self, name: str, node: ast.AST) -> BackcheckError:
            error = super().unknown(name, node)
            error.message = error.message.replace("unknown name", "unknown name in a formula")
            return error

    return _TensorFormulaReader


#: how formulas are written by hand and in code, read as the grammar's spelling (text
#: only: nothing is evaluated): − · × ⊙ for - * * *, Xᵀ for X.T, σ(z) for sigmoid(z), and
#: the np./numpy./torch. prefix of a call (np.sum(dz, axis=0))
_SPELLINGS = (("−", "-"), ("·", "*"), ("×", "*"), ("⊙", "*"), ("ᵀ", ".T"),
              ("σ(", "sigmoid("))
_LIBRARY_CALL = re.compile(r"(?<![\w.])(?:np|numpy|torch)\.(?=[A-Za-z_]\w*\s*\()")


def _as_written(text: str) -> str:
    for written, read in _SPELLINGS:
        text = text.replace(written, read)
    return _LIBRARY_CALL.sub("", text)


def parse_formula(text: str, known: list[str], *, file: str | None,
                  mark: Mark | None, tensor: bool = False) -> tuple:
    """A formula's tree; one located error (with its column) for anything else."""
    _check_size(text, "formula", file, mark)
    stripped = text.lstrip()
    mark = _shift(mark, len(text) - len(stripped))
    text = _as_written(stripped.rstrip())
    if not text:
        raise BackcheckError("expected a formula, found nothing", file=file, mark=mark)
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as error:
        column = (error.offset or 1) - 1 if error.lineno in (1, None) else 0
        raise BackcheckError(f"cannot read the formula: {error.msg} (in {_short(text)!r})",
                             file=file, mark=_shift(mark, column),
                             hint="a formula uses names, numbers, + - * / ** @ .T, "
                                  "parentheses and " + ", ".join(FORMULA_FUNCTIONS)) from None
    except (RecursionError, MemoryError, ValueError, OverflowError):
        raise BackcheckError(f"cannot read the formula {_short(text)!r}", file=file,
                             mark=mark) from None
    count = sum(isinstance(n, ast.expr) for n in ast.walk(tree))
    if count > MAX_NODES:
        raise BackcheckError(f"formula too long ({count} terms; at most {MAX_NODES})",
                             file=file, mark=mark)
    reader = (_tensor_reader() if tensor else _FormulaReader)(text, known, file, mark)
    try:
        return reader.read(tree.body)
    except RecursionError:
        raise BackcheckError("formula nested too deeply", file=file, mark=mark) from None


def formula_names(expr: tuple) -> set[str]:
    out: set[str] = set()
    stack = [expr]
    while stack:
        node = stack.pop()
        if node[0] == "name":
            out.add(node[1])
        elif node[0] in ("neg", "T"):
            stack.append(node[1])
        elif node[0] == "call":
            stack.append(node[2])
        elif node[0] == "index":
            stack.append(node[1])
        elif node[0] in ("add", "sub", "mul", "div", "pow", "matmul"):
            stack.extend(node[1:3])
        elif node[0] == "cmp":
            stack.extend(node[2:4])
        elif node[0] == "fn":
            stack.extend(a for a in node[2] if a[0] not in ("shape",))
        elif node[0] == "list":
            stack.extend(node[1])
    return out


# ============================================================================ names


def _aliases(graph: Any) -> dict[str, tuple[str, str]]:
    """formula name → (quantity, how it is oriented: "vector" | "as_is")."""
    problem = graph.problem
    out: dict[str, tuple[str, str]] = {}
    quantities = graph.quantities
    output = graph.output_name
    if problem.kind == "network":
        for name, q in quantities.items():
            if q.kind == "update":
                continue
            base = name if q.kind == "value" else name[len(f"d{output}/d"):]
            orient = "as_is" if re.fullmatch(r"W\d+", base) else "vector"
            if base == "L":
                orient = "as_is"
            if q.kind == "value":
                out[base] = (name, orient)
            else:
                out["d" + base] = (name, orient)
                match = re.fullmatch(r"z(\d+)", base)
                if match:
                    out["δ" + match.group(1)] = (name, orient)
                    out["delta" + match.group(1)] = (name, orient)
        for node in getattr(graph, "nodes", []):
            if node.op == "param" and node.name:
                orient = "as_is" if node.name.startswith("W") else "vector"
                out[node.name] = (f"__node__{node.id}", orient)
        last = max(int(k[1:]) for k in quantities if re.fullmatch(r"a\d+", k))
        out["y_hat"] = (f"a{last}", "vector")
        out["t"] = ("__target__", "vector")
        out.setdefault("y", ("__target__", "vector"))
    else:  # a scalar or tensor problem: its values and steps, dv for dOUT/dv
        for name, q in quantities.items():
            if q.kind == "value":
                out[name] = (name, "as_is")
        for name, q in quantities.items():
            if q.kind == "grad":
                out.setdefault("d" + name[len(f"d{output}/d"):], (name, "as_is"))
    for symbol in getattr(problem, "symbols", {}) or {}:
        out[symbol] = ("__symbol__", "as_is")
    return out


# ============================================================================ points


@dataclass
class Point:
    """The problem solved (float64) at one point of its free inputs."""

    problem: Any
    graph: Any
    evaluation: Any
    symbols: dict[str, float]
    target: np.ndarray | None
    _env: dict[str, np.ndarray] = field(default_factory=dict)


def _random_network(problem: Any, rng: random.Random) -> Any:
    import copy

    def r(scale: int = 1000) -> Fraction:
        return Fraction(rng.randint(-scale, scale), scale)

    clone = copy.copy(problem)
    clone.x = [[r() for _ in row] for row in problem.x]
    clone.layers = [copy.copy(layer) for layer in problem.layers]
    for layer in clone.layers:
        layer.W = [[r() for _ in row] for row in layer.W]
        layer.b = None if layer.b is None else [r() for _ in layer.b]
    if problem.loss == "cross_entropy":
        target = []
        for row in problem.target:
            raw = [Fraction(rng.randint(1, 1000), 1000) for _ in row]
            total = sum(raw)
            target.append([v / total for v in raw])
        clone.target = target
    elif problem.loss == "bce":
        clone.target = [[Fraction(rng.randint(1, 999), 1000) for _ in row]
                        for row in problem.target]
    else:
        clone.target = [[r() for _ in row] for row in problem.target]
    return clone


def _random_expression(problem: Any, rng: random.Random) -> Any:
    import copy

    clone = copy.copy(problem)
    values = {}
    for name, value in problem.values.items():
        v = Fraction(value)
        scale = Fraction(rng.randint(600, 1400), 1000)
        values[name] = v * scale if v != 0 else Fraction(rng.randint(-500, 500), 1000)
    clone.values = values
    return clone


def _random_tensor(problem: Any, rng: random.Random) -> Any:
    """Every value that is not an index at new numbers: each entry scaled by its own
    random factor (signs kept, so a log's argument stays positive; a symmetric matrix
    stops being symmetric, so a missing transpose shows), a zero replaced."""
    import copy

    from .tensor import build_tensor_graph

    clone = copy.copy(problem)
    values = {}
    for name, value in problem.values.items():
        if name in problem.integer_names:
            values[name] = value
            continue
        array = np.asarray(value, dtype=object)
        out = np.empty(array.shape, dtype=object)
        for index, v in np.ndenumerate(array):
            v = Fraction(v)
            out[index] = (v * Fraction(rng.randint(600, 1400), 1000) if v != 0 else
                          Fraction(rng.randint(-500, 500), 1000))
        values[name] = out
    clone.values = values
    clone.graph = None
    clone.graph = build_tensor_graph(clone)
    return clone


def _random_symbols(problem: Any, rng: random.Random) -> dict[str, Fraction]:
    at = problem.at or {}
    out = {}
    for name in problem.symbols:
        if name in at and at[name] != 0:
            out[name] = at[name] * Fraction(rng.randint(500, 1500), 1000)
        else:
            out[name] = Fraction(rng.randint(-1000, 1000), 1000)
    return out


def _solve_at(problem: Any, symbols: dict[str, Fraction]) -> Point:
    from .backends import FLOAT
    from .evaluate import evaluate
    from .graph import build_graph

    graph = build_graph(problem)
    with np.errstate(all="ignore"):
        evaluation = evaluate(graph, FLOAT)
    target = None
    if problem.kind == "network":
        target = np.asarray(graph.leaves[graph.by_name["target"]], dtype=np.float64)
    return Point(problem, graph, evaluation, {k: float(v) for k, v in symbols.items()}, target)


def make_points(problem: Any, numeric: Any, count: int = POINTS) -> list[Point]:
    """The problem's own point first, then ``count`` seeded random ones."""
    from .evaluate import EvaluationError

    rng = random.Random(SEED)
    symbolic = bool(getattr(problem, "symbols", None))
    own = {k: v for k, v in (problem.at or {}).items()} if symbolic else {}
    if symbolic and not own:
        own = _random_symbols(problem, rng)
    points = [_solve_at(numeric, own)]
    tries = 0
    while len(points) < count + 1 and tries < 8 * count:
        tries += 1
        try:
            if symbolic:
                from .symbolic import numeric_problem

                values = _random_symbols(problem, rng)
                points.append(_solve_at(numeric_problem(problem, values), values))
            elif problem.kind == "network":
                points.append(_solve_at(_random_network(numeric, rng), {}))
            elif problem.kind == "tensor":
                points.append(_solve_at(_random_tensor(numeric, rng), {}))
            else:
                points.append(_solve_at(_random_expression(numeric, rng), {}))
        except (EvaluationError, ArithmeticError, ValueError, TypeError, BackcheckError):
            continue
    return points


# ============================================================================ evaluation


class FormulaError(Exception):
    """The formula cannot be evaluated (shapes that don't fit): a wrong answer.
    ``mistake`` names a known slip the failure shows (a missing transpose)."""

    def __init__(self, message: str, mistake: str | None = None) -> None:
        super().__init__(message)
        self.mistake = mistake


def _orient(problem: Any, array: np.ndarray, orient: str, q: Any) -> np.ndarray:
    """Internal array → the formula's orientation (columns under Wx)."""
    if orient != "vector" or problem.kind != "network":
        return np.asarray(array, dtype=np.float64)
    array = np.asarray(array, dtype=np.float64)
    if array.ndim == 1:
        array = array.reshape(1, -1)
    return array.T if problem.convention == "Wx" else array


def _from_formula(problem: Any, array: np.ndarray, orient: str, q: Any) -> np.ndarray:
    """The inverse of :func:`_orient`, to the quantity's internal shape."""
    array = np.asarray(array, dtype=np.float64)
    if orient == "vector" and problem.kind == "network" and problem.convention == "Wx":
        array = array.T if array.ndim == 2 else array
    if array.size == 1:
        return np.full(q.internal_shape, float(array.reshape(-1)[0]))
    return array.reshape(q.internal_shape)


def truth_internal(point: Point, name: str, overridden: Any = None) -> np.ndarray:
    from .mistakes import QuantityValues

    base = QuantityValues(point.graph, overridden or point.evaluation, "truth")
    return np.asarray(base.internal(name), dtype=np.float64)


def environment(point: Point, aliases: dict, evaluation: Any = None) -> dict[str, Any]:
    from .mistakes import QuantityValues

    base = QuantityValues(point.graph, evaluation or point.evaluation, "truth")
    env: dict[str, Any] = {}
    for alias, (name, orient) in aliases.items():
        if name == "__symbol__":
            env[alias] = np.float64(point.symbols.get(alias, np.nan))
        elif name == "__target__":
            env[alias] = _orient(point.problem, point.target, "vector", None)
        elif name.startswith("__node__"):
            value = base.evaluation.values[int(name[8:])]
            env[alias] = _orient(point.problem, value, orient, None)
        else:
            q = point.graph.quantities[name]
            env[alias] = _orient(point.problem, base.internal(name), orient, q)
    return env


#: array functions a formula may call (the step grammar's, FORMAT §7), with their records
_RECORDS = {"softmax": "softmax_axis", "log_softmax": "log_softmax", "sum": "sum",
            "mean": "mean", "max": "max", "min": "min", "var": "var", "where": "where",
            "transpose": "transpose", "reshape": "reshape", "conv2d": "conv2d",
            "maxpool2d": "maxpool2d"}
_SYMBOL = {"matmul": "@", "add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**"}


def evaluate_formula(expr: tuple, env: Any, layouts: dict[str, Any],
                     backend: Any = None, functions: dict[str, Any] | None = None) -> Any:
    """A formula's (or a step's) value in an environment of named arrays, every operation
    run by its op record (:mod:`backcheck.ops`) on ``backend``: float64 (the default), or
    SymPy for the formula as a function of the inputs. The one walker of step-grammar
    trees (scalar steps, tensor steps, formula answers); ``functions`` (SymPy only) puts
    display functions in place of elementwise records (explain's σ and relu)."""
    from .backends import FLOAT

    B = backend or FLOAT
    if functions:
        B = _WithFunctions(B, functions)
    try:
        return _walk(expr, env, layouts, B)
    except FormulaError:
        raise
    except (ValueError, IndexError, TypeError) as error:
        raise FormulaError(f"it cannot be computed ({_short_error(error)})") from None


class _WithFunctions:
    """The SymPy backend with some elementwise functions given by the caller."""

    def __init__(self, backend: Any, functions: dict[str, Any]) -> None:
        self._backend = backend
        self.functions = functions

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)


def sympy_of(expr: tuple, names: dict[str, Any] | None = None,
             symbols: dict[str, Any] | None = None,
             functions: dict[str, Any] | None = None) -> Any:
    """A scalar step tree as one SymPy expression (built by SymPy's constructors through
    the walker above, never from text). ``names`` maps a name to an expression to put in
    (earlier steps); any other name becomes a real symbol, collected in ``symbols``."""
    import sympy

    from .backends import SYMPY

    names = names or {}
    symbols = {} if symbols is None else symbols

    class Env(dict):
        def __missing__(self, key: str) -> Any:
            if key in names:
                return SYMPY.asarray(np.asarray(names[key], dtype=object))
            if key not in symbols:
                symbols[key] = sympy.Symbol(key, real=True)
            return SYMPY.asarray(np.asarray(symbols[key], dtype=object))

    value = evaluate_formula(expr, Env(), {}, SYMPY, functions)
    array = np.asarray(value, dtype=object)
    return array.reshape(-1)[0] if array.size == 1 else array


def _short_error(error: Exception) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= 80 else text[:79] + "…"


def _constant(value: Fraction, B: Any) -> Any:
    if B.name == "float64":
        return np.float64(float(value))
    return B.asarray(np.asarray(value, dtype=object))


def _walk(expr: tuple, env: dict[str, Any], layouts: dict[str, Any], B: Any) -> Any:
    from .ops import OPS

    kind = expr[0]
    if kind == "num":
        return _constant(expr[1], B)
    if kind == "name":
        return env[expr[1]]
    if kind == "neg":
        return OPS["neg"].forward(B, _walk(expr[1], env, layouts, B))
    if kind == "T":
        return np.asarray(_walk(expr[1], env, layouts, B)).T if B.name == "float64" else (
            B.asarray(np.asarray(_walk(expr[1], env, layouts, B), dtype=object).T))
    if kind == "call":
        inner = _walk(expr[2], env, layouts, B)
        if expr[1] == "sum":  # the sum of every element
            return OPS["sum"].forward(B, _array(inner, B))
        given = getattr(B, "functions", {}).get(expr[1])
        if given is not None:
            return B.asarray(np.frompyfunc(given, 1, 1)(_array(inner, B)))
        return OPS[expr[1]].forward(B, _array(inner, B))
    if kind == "index":
        return _index(expr, env, layouts, B)
    if kind == "fn":
        return _function(expr, env, layouts, B)
    if kind == "cmp":
        left = _array(_walk(expr[2], env, layouts, B), B)
        right = _array(_walk(expr[3], env, layouts, B), B)
        _fits(expr[1], left, right)
        return OPS["compare"].forward(B, left, right, relation=expr[1])
    left = _walk(expr[1], env, layouts, B)
    right = _walk(expr[2], env, layouts, B)
    if kind == "matmul":
        return _matmul(expr, left, right, B)
    _fits(_SYMBOL.get(kind, "**"), left, right)
    return OPS[kind].forward(B, left, right)


def _array(value: Any, B: Any) -> Any:
    if B.name == "float64":
        return np.asarray(value, dtype=np.float64)
    return B.asarray(value)


#: elements in any array a formula makes (an outer product of two long vectors would
#: otherwise fill the memory): the tensor problems' limit over all steps
MAX_FORMULA_ELEMENTS = 4_000_000


def _bounded(shape: tuple[int, ...]) -> None:
    if int(np.prod(shape, dtype=np.int64)) > MAX_FORMULA_ELEMENTS:
        raise FormulaError(f"it makes an array of {'×'.join(map(str, shape))} elements "
                           f"(at most {MAX_FORMULA_ELEMENTS:,})")


def _fits(symbol: str, left: Any, right: Any) -> None:
    try:
        shape = np.broadcast_shapes(np.shape(left), np.shape(right))
    except ValueError:
        raise FormulaError(f"the shapes don't fit: {_shape_of(left)} {symbol} "
                           f"{_shape_of(right)}") from None
    _bounded(shape)


def _shape_of(value: Any) -> str:
    return "×".join(map(str, np.shape(value))) or "scalar"


def _matmul(expr: tuple, left: Any, right: Any, B: Any) -> Any:
    from .ops import OPS

    a, b = np.shape(left), np.shape(right)
    if not a or not b:
        raise FormulaError("@ needs arrays on both sides (use * for a number)")
    if a[-1] != b[0]:
        hint = ""
        from .array_steps import array_expr_to_text

        sides = [array_expr_to_text(e) for e in expr[1:3]]
        if len(a) == 2 and a[0] == b[0]:
            hint = f" (a missing transpose? {sides[0]}.T @ {sides[1]} fits)"
        elif len(b) == 2 and a[-1] == b[1]:
            hint = f" (a missing transpose? {sides[0]} @ {sides[1]}.T fits)"
        raise FormulaError(f"the shapes don't fit: {_shape_of(left)} @ {_shape_of(right)}"
                           + hint, "matmul_not_transposed" if hint else None)
    _bounded(a[:-1] + b[1:])
    if B.name == "float64":
        return np.matmul(np.asarray(left, dtype=np.float64), np.asarray(right, dtype=np.float64))
    return OPS["matmul"].forward(B, B.asarray(left), B.asarray(right))


def _index(expr: tuple, env: dict[str, Any], layouts: dict[str, Any], B: Any) -> Any:
    inner = expr[1]
    index = tuple(i - 1 for i in expr[2])
    if inner[0] == "name" and inner[1] in layouts:
        array = np.asarray(layouts[inner[1]])
    else:
        array = np.asarray(_walk(inner, env, layouts, B))
    try:
        if len(index) == 1 and array.ndim == 2 and 1 in array.shape:
            return array.reshape(-1)[index[0]]
        if len(index) == 1 and array.ndim == 0 and index[0] == 0:
            return array
        return array[index]
    except IndexError:
        raise FormulaError(f"index {list(expr[2])} is outside an array of shape "
                           f"{'×'.join(map(str, array.shape)) or 'scalar'}") from None


def _whole(value: Any) -> np.ndarray:
    numbers = np.asarray(value, dtype=object)
    out = np.empty(numbers.shape, dtype=np.int64)
    for position, v in np.ndenumerate(numbers):
        number = float(v)
        if number != int(number):
            raise FormulaError(f"{number:g} is used as a whole number (a class or a size)")
        out[position] = int(number)
    return out


def _function(expr: tuple, env: dict[str, Any], layouts: dict[str, Any], B: Any) -> Any:
    """An array function of the step grammar (``sum(x, axis=0)``, ``softmax(z, axis=1)``,
    ``one_hot(y, 3)``), by its record."""
    from .array_steps import ARRAY_FUNCTIONS
    from .ops import OPS

    name, args, keywords = expr[1], expr[2], dict(expr[3])
    attrs = {k: v for k, v in ARRAY_FUNCTIONS[name][1].items()}
    attrs.update(keywords)
    if name == "one_hot":
        labels = _whole(_walk(args[0], env, layouts, B))
        classes = int(_whole(_walk(args[1], env, layouts, B)))
        if not 0 < classes <= 10_000 or labels.size and (labels.min() < 0 or
                                                          labels.max() >= classes):
            raise FormulaError(f"one_hot: labels outside 0 … {classes - 1}")
        return _array((labels[..., None] == np.arange(classes)).astype(int), B)
    if name == "arange":
        bounds = [int(_whole(_walk(a, env, layouts, B))) for a in args]
        bounds = [0] + bounds if len(bounds) == 1 else bounds
        if not 0 < bounds[1] - bounds[0] <= 10_000:
            raise FormulaError("arange: empty or too long")
        return _array(np.arange(*bounds), B)
    if name == "matmul":
        return _matmul(("matmul",) + tuple(args), _walk(args[0], env, layouts, B),
                       _walk(args[1], env, layouts, B), B)
    if name == "concat":
        parts = [_array(_walk(e, env, layouts, B), B) for e in args[0][1]]
        return OPS["concat"].forward(B, *parts, axis=attrs["axis"])
    if name == "reshape":
        shape = tuple(v if isinstance(v, int) else -1 for v in args[1][1])
        return OPS["reshape"].forward(B, _array(_walk(args[0], env, layouts, B), B),
                                      shape=shape)
    inputs = [_array(_walk(a, env, layouts, B), B) for a in args]
    if name == "conv2d":
        pad, shape = attrs["padding"], np.shape(inputs[0])
        if len(shape) != 2 or np.ndim(inputs[1]) != 2:
            raise FormulaError("conv2d takes a 2-D input and a 2-D kernel")
        _bounded((shape[0] + 2 * pad, shape[1] + 2 * pad, max(1, np.size(inputs[1]))))
    if name == "where":
        return OPS["where"].forward(B, *inputs)
    x = inputs[0]
    axis = attrs.get("axis")
    for a in axis if isinstance(axis, tuple) else (axis,):
        if a is not None and not -max(x.ndim, 1) <= a < max(x.ndim, 1):
            raise FormulaError(f"{name}: axis {a} is out of range for a {_shape_of(x)} array")
    if name in ("softmax", "log_softmax") and x.ndim == 0:
        raise FormulaError(f"{name} needs an array")
    return OPS[_RECORDS[name]].forward(B, *inputs, **attrs)


def layouts(point: Point, aliases: dict, evaluation: Any = None) -> dict[str, Any]:
    """Named quantities in the problem's §3 layout, for 1-based element indexing."""
    from .mistakes import QuantityValues

    base = QuantityValues(point.graph, evaluation or point.evaluation, "truth")
    out: dict[str, Any] = {}
    for alias, (name, _) in aliases.items():
        if name in ("__symbol__",):
            out[alias] = np.float64(point.symbols.get(alias, np.nan))
        elif name == "__target__":
            t = point.target
            out[alias] = t.reshape(-1) if point.problem.single else t
        elif name.startswith("__node__"):
            out[alias] = np.asarray(base.evaluation.values[int(name[8:])], dtype=np.float64)
        else:
            q = point.graph.quantities[name]
            out[alias] = q.to_layout(np.asarray(base.internal(name), dtype=np.float64))
    return out


# ============================================================================ comparing


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return False
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return bool(np.array_equal(a, b))
    scale = max(1.0, float(np.max(np.abs(b))) if b.size else 1.0)
    return bool(np.all(np.abs(a - b) <= RTOL * np.abs(b) + 1e-9 * scale))


def fit(result: Any, truth: np.ndarray, matrix: bool = False
        ) -> tuple[np.ndarray | None, str | None]:
    """The formula's value in the truth's shape, or (None, why not). A vector may be
    written as a row or a column; a matrix (``matrix``) must have its own shape."""
    result = np.asarray(result, dtype=np.float64)
    if result.shape == truth.shape:
        return result, None
    if result.size == 1:
        return np.full(truth.shape, float(result.reshape(-1)[0])), None
    if truth.size == 1 and result.size != 1:
        return None, f"it gives {_shape(result)} values where one number belongs"
    is_vector = sum(s != 1 for s in truth.shape) <= 1 and not matrix
    if is_vector and result.size == truth.size and sum(s != 1 for s in result.shape) <= 1:
        return result.reshape(truth.shape), None
    if result.ndim == 2 and truth.ndim == 2 and result.shape == truth.shape[::-1]:
        return None, "transposed"
    return None, f"it gives a {_shape(result)} array where {_shape(truth)} belongs"


def _shape(array: np.ndarray) -> str:
    return " × ".join(map(str, array.shape)) or "scalar"


# ============================================================================ grading


@dataclass
class FormulaAnswer:
    name: str  # quantity
    flat: int | None  # element (layout order), None for the whole quantity
    text: str
    expr: tuple
    path: tuple


class FormulaChecker:
    """One problem's points, and formula answers checked against them."""

    def __init__(self, ctx: Any, problem: Any) -> None:
        self.ctx = ctx
        self.problem = problem  # the problem as written (it may have symbols)
        self.graph = ctx.graph
        self.aliases = _aliases(self.graph if not getattr(problem, "symbols", None)
                                else _graph_with_symbols(self.graph, problem))
        self.points = make_points(problem, ctx.problem)
        self.envs = [environment(p, self.aliases) for p in self.points]
        self.layouts = [layouts(p, self.aliases) for p in self.points]
        self._variants: list[Any] | None = None
        self._sym: Any = None
        #: (quantity, element) → formulas already shown right, as normalised trees: the
        #: first layer (an exact structural match) for the sheets of a class
        self.proven: dict[tuple[str, int | None], set[tuple]] = {}
        self._buggy: list[dict[str, Any]] = [{} for _ in self.points]

    @property
    def known(self) -> list[str]:
        return list(self.aliases)

    def parse(self, text: str, doc: Any, path: tuple) -> tuple:
        return parse_formula(text, self.known, file=doc.file, mark=doc.mark(path),
                             tensor=self.problem.kind == "tensor")

    def truth(self, k: int, name: str, flat: int | None) -> np.ndarray:
        point = self.points[k]
        q = point.graph.quantities[name]
        orient = self._orient_of(name)
        internal = truth_internal(point, name)
        if flat is not None:
            return np.asarray(np.ravel(internal)[flat])
        return _orient(point.problem, internal, orient, q)

    def _orient_of(self, name: str) -> str:
        q = self.graph.quantities[name]
        if self.problem.kind != "network":
            return "as_is"
        node = self.graph.nodes[q.node].name or ""
        return "as_is" if re.fullmatch(r"W\d+", node) or name == "L" else "vector"

    def value(self, k: int, answer: FormulaAnswer, env: dict | None = None,
              lay: dict | None = None) -> np.ndarray:
        return evaluate_formula(answer.expr, env or self.envs[k], lay or self.layouts[k])

    def is_matrix(self, answer: FormulaAnswer) -> bool:
        q = self.graph.quantities[answer.name]
        return answer.flat is None and self._orient_of(answer.name) == "as_is" and len(
            q.shape) == 2

    def matches(self, answer: FormulaAnswer, targets: list[np.ndarray | None],
                values: list[Any], truth: bool = False) -> bool:
        """Equal at every point; a point where either side is not finite (an overflow)
        decides nothing. With too few deciding points, for the truth, SymPy decides."""
        conclusive = 0
        for value, target in zip(values, targets, strict=True):
            if target is None or value is None:
                return False
            fitted, _ = fit(value, target, self.is_matrix(answer))
            if fitted is None:
                return False
            if not (np.all(np.isfinite(fitted)) and np.all(np.isfinite(target))):
                continue
            if not _close(fitted, target):
                return False
            conclusive += 1
        if conclusive >= min(3, len(values)):
            return True
        return bool(truth and self.sympy_equal(answer))

    def sympy_equal(self, answer: FormulaAnswer) -> bool:
        """The last layer: the formula minus the quantity, both in the free inputs,
        simplified by SymPy under a time limit (False if it cannot show they are equal)."""
        if not _tame(answer.expr):
            return False  # a power tower (9**9**9) would take SymPy forever
        if not self._small_enough():
            return False  # the whole problem in symbols would take too long
        try:
            import sympy

            from .backends import SYMPY
            from .symfuncs import to_plain

            if self._sym is None:
                self._sym = _symbolic_point(self)
            env, lay, truths = self._sym
            value = np.asarray(evaluate_formula(answer.expr, env, lay, SYMPY), dtype=object)
            truth = truths(answer)
            if value.size == 1:
                value = np.full(truth.shape, value.reshape(-1)[0], dtype=object)
            if value.size != truth.size:
                return False
            if value.shape != truth.shape and not (
                    sum(d != 1 for d in truth.shape) <= 1 and not self.is_matrix(answer)):
                return False
            import time

            deadline = time.monotonic() + SYMPY_SECONDS
            for a, b in zip(value.reshape(-1), truth.reshape(-1), strict=True):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False  # undecided in the time given: not shown equal
                difference = to_plain(sympy.sympify(a) - sympy.sympify(b))
                if _simplify_limited(difference, min(SIMPLIFY_SECONDS, left)) != 0:
                    return False
            return True
        except Exception:  # undecided: not shown equal
            return False

    def _small_enough(self) -> bool:
        """The SymPy layer solves the whole problem with every input a symbol: only for
        problems the symbolic evaluator takes (FORMAT §8's work limits)."""
        from .problem import MAX_SYMBOLIC_WORK

        problem = self.ctx.problem
        if problem.kind == "tensor":
            from .tensor import MAX_SYMBOLIC_TENSOR_WORK

            return problem.exact_work <= MAX_SYMBOLIC_TENSOR_WORK
        if problem.kind == "network":
            return problem.exact_work <= MAX_SYMBOLIC_WORK
        return len(problem.steps) <= 100

    def variants(self) -> list[Any]:
        if self._variants is None:
            from .mistakes import Structure, variants

            structure = Structure.of(self.graph)
            structure.values = self.points[0].evaluation.values
            try:
                self._variants = variants(self.graph, structure)
            except Exception:  # a diagnosis is a nicety; never fail a sheet over it
                self._variants = []
        return self._variants

    def buggy(self, k: int, variant: Any, name: str, flat: int | None) -> np.ndarray | None:
        from .backends import FLOAT
        from .evaluate import evaluate
        from .mistakes import QuantityValues

        point = self.points[k]
        cache = self._buggy[k]
        key = (variant.key, name)
        if key not in cache:
            truth = QuantityValues(point.graph, point.evaluation, "truth")
            try:
                with np.errstate(all="ignore"):
                    if variant.transform is not None:
                        flat_values = variant.transform(point.graph.quantities[name], truth)
                    else:
                        swaps = variant.swaps(truth)
                        run = QuantityValues(
                            point.graph, evaluate(point.graph, FLOAT, swaps=swaps), "truth")
                        flat_values = run.flat(name)
            except Exception:
                flat_values = None
            cache[key] = None if flat_values is None else np.asarray(
                [float(v) for v in flat_values])
        values = cache[key]
        if values is None:
            return None
        q = point.graph.quantities[name]
        if flat is not None:
            return np.asarray(values[flat])
        return _orient(point.problem, values.reshape(q.internal_shape), self._orient_of(name), q)


#: SymPy's simplification of one element, and of one whole answer, at most (seconds)
SIMPLIFY_SECONDS = 2
SYMPY_SECONDS = 4


def _tame(expr: tuple) -> bool:
    """Only powers with a small constant exponent: safe to hand to SymPy."""
    stack = [expr]
    while stack:
        node = stack.pop()
        if node[0] == "pow":
            exponent = node[2]
            if exponent[0] == "neg":
                exponent = exponent[1]
            if exponent[0] != "num" or abs(exponent[1]) > 16 or exponent[1].denominator > 2:
                return False
        for child in node[1:]:
            if isinstance(child, tuple) and child and isinstance(child[0], str):
                stack.append(child)
    return True


def _simplify_limited(expression: Any, seconds: float = SIMPLIFY_SECONDS) -> Any:
    """``sympy.simplify`` under a time limit (a SIGALRM in the main thread; elsewhere a
    cheaper ``cancel``), never hanging on a pathological formula."""
    import signal
    import threading

    import sympy

    if threading.current_thread() is not threading.main_thread() or not hasattr(
            signal, "SIGALRM"):
        return sympy.cancel(expression)

    def stop(signum: int, frame: Any) -> None:
        raise TimeoutError

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return sympy.simplify(expression)
    except TimeoutError:
        return expression
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _symbolic_point(checker: FormulaChecker) -> tuple[dict, dict, Any]:
    """The problem with every free input a SymPy symbol, run on the SymPy backend:
    the formula environment and the true quantities, as functions of the inputs."""
    import sympy

    from .backends import SYMPY
    from .evaluate import evaluate
    from .graph import build_graph
    from .symbolic import symbol_array

    problem = checker.problem
    if getattr(problem, "symbols", None):
        graph = build_graph(problem)
    else:
        import copy

        graph = copy.copy(build_graph(checker.ctx.problem))  # a tensor graph is cached
        graph.leaves = dict(graph.leaves)
        integers = getattr(checker.ctx.problem, "integer_names", set())
        for node_id, value in list(graph.leaves.items()):
            node = graph.nodes[node_id]
            if problem.kind == "tensor":
                if node.name and node.name not in integers:  # a value (not an index)
                    graph.leaves[node_id] = symbol_array(node.name, np.shape(value))
            elif node.op in ("input", "param", "target") and node.name:
                label = "t" if node.op == "target" else node.name
                graph.leaves[node_id] = symbol_array(label, np.shape(value))
    evaluation = evaluate(graph, SYMPY)

    def oriented(value: Any, orient: str) -> np.ndarray:
        array = np.asarray(value, dtype=object)
        if orient != "vector" or problem.kind != "network":
            return array
        if array.ndim == 1:
            array = array.reshape(1, -1)
        return array.T if problem.convention == "Wx" else array

    from .mistakes import QuantityValues

    base = QuantityValues(graph, evaluation, "truth")
    env: dict[str, Any] = {}
    lay: dict[str, Any] = {}
    for alias, (name, orient) in checker.aliases.items():
        if name == "__symbol__":
            env[alias] = lay[alias] = sympy.Symbol(alias, real=True)
        elif name == "__target__":
            target = graph.leaves[graph.by_name["target"]]
            env[alias] = oriented(target, "vector")
            lay[alias] = np.asarray(target, dtype=object).reshape(-1) if problem.single \
                else np.asarray(target, dtype=object)
        elif name.startswith("__node__"):
            value = evaluation.values[int(name[8:])]
            env[alias] = oriented(value, orient)
            lay[alias] = np.asarray(value, dtype=object)
        else:
            q = graph.quantities[name]
            internal = base.internal(name)
            env[alias] = oriented(internal, orient)
            lay[alias] = q.to_layout(np.asarray(internal, dtype=object))

    def truths(answer: FormulaAnswer) -> np.ndarray:
        internal = np.asarray(base.internal(answer.name), dtype=object)
        if answer.flat is not None:
            return np.asarray(internal.reshape(-1)[answer.flat], dtype=object).reshape(())
        return oriented(internal, checker._orient_of(answer.name))

    return env, lay, truths


def _graph_with_symbols(graph: Any, problem: Any) -> Any:
    """The numeric graph, but naming the problem's symbols too (for aliases)."""
    class View:
        pass

    view = View()
    view.problem = problem  # type: ignore[attr-defined]
    view.quantities = graph.quantities  # type: ignore[attr-defined]
    view.output_name = graph.output_name  # type: ignore[attr-defined]
    view.nodes = graph.nodes  # type: ignore[attr-defined]
    return view


def grade_formula_answers(checker: FormulaChecker, answers: list[FormulaAnswer],
                          numbers: list[Any] | None = None) -> list[Any]:
    """Verdicts for formula answers, as grading ``Item`` s grouped by quantity.
    ``numbers``: the sheet's number answers, graded (their values feed ``carried``)."""
    from .grading import Item, QuantityResult

    graph = checker.graph
    ctx = checker.ctx
    npoints = len(checker.points)
    values: dict[int, list[Any]] = {}
    errors: dict[int, str] = {}
    for i, answer in enumerate(answers):
        row = []
        for k in range(npoints):
            try:
                with np.errstate(all="ignore"):
                    row.append(np.asarray(checker.value(k, answer), dtype=np.float64))
            except FormulaError as error:
                errors[i] = (f"[{error.mistake}] a matrix product without the transpose: "
                             if error.mistake else "[formula_shapes] the formula cannot be "
                             "evaluated: ") + str(error)
                row = [None] * npoints
                break
        values[i] = row
    verdicts: dict[int, tuple] = {}
    for i, answer in enumerate(answers):
        key = (answer.name, answer.flat)
        if answer.expr in checker.proven.get(key, ()):
            verdicts[i] = ("correct", None, None, None)  # structurally one already proven
            continue
        targets = [checker.truth(k, answer.name, answer.flat) for k in range(npoints)]
        if i not in errors and checker.matches(answer, targets, values[i], truth=True):
            verdicts[i] = ("correct", None, None, None)
            checker.proven.setdefault(key, set()).add(answer.expr)
    # carried: what follows from the student's other formulas, put in their places
    for i, answer in enumerate(answers):
        if i in verdicts:
            continue
        verdict = None if i in errors else _carried(checker, answers, values, verdicts, i,
                                                    numbers or [])
        if verdict is not None:
            verdicts[i] = verdict
            continue
        verdicts[i] = ("wrong", _diagnose(checker, answer, values[i], errors.get(i)), None,
                       None)
    by_name: dict[str, list[Any]] = {}
    order: list[str] = []
    for i, answer in enumerate(answers):
        verdict, diagnosis, cause, origin = verdicts[i][:4]
        follows = verdicts[i][4] if len(verdicts[i]) > 4 else None
        q = graph.quantities[answer.name]
        truth = ctx.truth_flat[answer.name]
        flats = [answer.flat] if answer.flat is not None else list(range(len(truth)))
        value0 = values[i][0]
        fitted = None
        if value0 is not None:
            fitted, _ = fit(value0, checker.truth(0, answer.name, answer.flat),
                            checker.is_matrix(answer))
        for position, flat in enumerate(flats):
            given = None
            if fitted is not None:
                number = float(np.ravel(fitted)[position if answer.flat is None else 0])
                given = Fraction(number) if np.isfinite(number) else None
            index = tuple(int(j) + 1 for j in np.unravel_index(flat, q.shape)) if q.shape else ()
            item = Item(answer.name, flat, index, truth[flat], given, answer.text)
            item.verdict = verdict
            item.diagnosis = diagnosis
            item.cause = cause
            item.origin = origin
            if follows is not None:
                item.follows = follows[position if answer.flat is None else 0]
            item.formula = True  # type: ignore[attr-defined]
            if verdict == "wrong" and diagnosis and diagnosis.startswith("["):
                item.mistake, item.diagnosis = diagnosis[1:].split("] ", 1)
            if answer.name not in by_name:
                by_name[answer.name] = []
                order.append(answer.name)
            by_name[answer.name].append(item)
    return [QuantityResult(name, graph.quantities[name], by_name[name], name) for name in order]


def _number_overrides(checker: FormulaChecker, numbers: list[Any], deps: set[str]
                      ) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], list[str]]:
    """The sheet's number answers of the quantities a formula rests on, as overrides
    (quantity → (mask, values), internal shape; the same numbers at every point: a number
    is not a function of the inputs), and the names of those not correct."""
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    wrong: list[str] = []
    for result in numbers:
        q = checker.graph.quantities.get(result.name)
        if q is None or q.kind == "update" or result.name not in deps:
            continue
        if all(item.verdict == "correct" for item in result.items):
            continue  # a right number feeds nothing a formula could carry
        size = int(np.prod(q.shape or (1,)))
        given = np.zeros(size, dtype=object)
        mask = np.zeros(size, dtype=bool)
        for item in result.items:
            if item.given is not None and 0 <= item.flat < size:
                given[item.flat], mask[item.flat] = Fraction(item.given), True
        if not mask.any():
            continue
        out[result.name] = (np.asarray(q.to_internal(mask.reshape(q.shape)), dtype=bool),
                            np.asarray(q.to_internal(given.reshape(q.shape)), dtype=object))
        wrong.append(result.name)
    return out, wrong


def _carried(checker: FormulaChecker, answers: list[FormulaAnswer], values: dict,
             verdicts: dict, i: int, numbers: list[Any]) -> tuple | None:
    """``carried`` when the answer follows at every point from the student's other
    (whole-quantity) formulas and number answers put in their places, and one of the
    quantities it rests on was not correct. The 5th element is what follows, at the
    problem's own point, element by element (the verify view's "from your answers")."""
    from .backends import FLOAT
    from .evaluate import evaluate
    from .mistakes import Structure

    answer = answers[i]
    graph = checker.graph
    structure = getattr(checker, "_structure", None) or Structure.of(graph)
    checker._structure = structure  # type: ignore[attr-defined]
    deps = structure.deps.get(answer.name, set())
    others = [j for j, a in enumerate(answers)
              if j != i and a.flat is None and a.name in deps and values[j][0] is not None]
    wrong = [answers[j].name for j in others if verdicts.get(j, ("wrong",))[0] != "correct"]
    from_numbers, wrong_numbers = _number_overrides(checker, numbers, deps)
    if not wrong and not wrong_numbers:
        return None
    targets = []
    for k, point in enumerate(checker.points):
        overrides = {}
        for name, (mask, given) in from_numbers.items():
            q = point.graph.quantities[name]
            overrides[(q.kind, q.node)] = (mask, np.vectorize(float, otypes=[np.float64])(
                given))
        for j in others:
            other = answers[j]
            q = point.graph.quantities[other.name]
            if q.kind == "update":
                continue
            fitted, _ = fit(values[j][k], checker.truth(k, other.name, None),
                            checker.is_matrix(other))
            if fitted is None:
                continue
            internal = _from_formula(point.problem, fitted, checker._orient_of(other.name), q)
            overrides[(q.kind, q.node)] = (np.ones(q.internal_shape, dtype=bool), internal)
        try:
            with np.errstate(all="ignore"):
                run = evaluate(point.graph, FLOAT, overrides=overrides)
        except Exception:
            return None
        internal = truth_internal(point, answer.name, run)
        q = point.graph.quantities[answer.name]
        if answer.flat is not None:
            targets.append(np.asarray(np.ravel(internal)[answer.flat]))
        else:
            targets.append(_orient(point.problem, internal, checker._orient_of(answer.name), q))
    if not checker.matches(answer, targets, values[i]):
        return None
    position = structure.position
    names = sorted(set(wrong) | set(wrong_numbers), key=lambda n: position.get(n, 0))
    cause = names[-1]  # the nearest earlier answer; the first is the original slip
    origin = next((answers[j].name for j in others
                   if verdicts.get(j, ("wrong",))[0] == "wrong"),
                  names[0])
    what = "formula" if cause in wrong else "answer"
    follows = _follows(checker, answer, from_numbers, targets[0], exact=not wrong)
    return ("carried", f"follows from your {what} for {cause}", cause, origin, follows)


def _follows(checker: FormulaChecker, answer: FormulaAnswer, from_numbers: dict,
             target: np.ndarray, exact: bool) -> list[Any]:
    """What follows at the problem's own point, flat in layout order: exactly when only
    number answers feed it (the exact evaluator with the same overrides), else the
    float64 value (shown with its honest digits)."""
    from .exact import Exact

    q = checker.graph.quantities[answer.name]
    if exact:
        try:
            from .backends import EXACT
            from .evaluate import evaluate
            from .mistakes import QuantityValues

            graph = checker.points[0].graph
            overrides = {}
            for name, (mask, given) in from_numbers.items():
                other = graph.quantities[name]
                overrides[(other.kind, other.node)] = (mask, given)
            run = evaluate(graph, EXACT, overrides=overrides)
            flat = list(QuantityValues(graph, run, "truth").flat(answer.name))
            return flat if answer.flat is None else [flat[answer.flat]]
        except Exception:  # noqa: BLE001 - fall back to the float64 value
            pass
    values = np.asarray(target, dtype=np.float64)
    if answer.flat is None and checker._orient_of(answer.name) == "vector" \
            and checker.problem.kind == "network":
        values = _from_formula(checker.points[0].problem, values,
                               checker._orient_of(answer.name), q)
        values = q.to_layout(values)
    return [Exact.of(Fraction(float(v))) if np.isfinite(v) else None
            for v in np.ravel(values)]


def _diagnose(checker: FormulaChecker, answer: FormulaAnswer, values: list[Any],
              error: str | None) -> str | None:
    if error is not None:
        return error
    if values[0] is None:
        return None
    truth0 = checker.truth(0, answer.name, answer.flat)
    _, why = fit(values[0], truth0, checker.is_matrix(answer))
    if why == "transposed":
        transposed = [None if v is None else np.asarray(v).T for v in values]
        targets = [checker.truth(k, answer.name, answer.flat) for k in range(len(values))]
        if checker.matches(answer, targets, transposed):
            return "[transposed] transposed: the formula gives the transpose of " + answer.name
        return (f"[formula_shapes] the formula gives a {_shape(np.asarray(values[0]))} "
                f"array; {answer.name} is {_shape(truth0)}")
    value0 = np.asarray(values[0])
    if why is not None and value0.ndim == truth0.ndim + 1 and value0.shape[1:] == truth0.shape:
        return ("[broadcast_not_summed] not summed over the examples: the formula gives one "
                f"row per example ({_shape(value0)}); {answer.name} is their sum over axis 0 "
                f"({_shape(truth0)})")
    if why is not None:
        return "[formula_shapes] " + why
    for variant in checker.variants():
        targets = [checker.buggy(k, variant, answer.name, answer.flat)
                   for k in range(len(checker.points))]
        if checker.matches(answer, targets, values):
            return f"[{variant.name}] {variant.mistake.summary}"
    fitted, _ = fit(values[0], truth0, checker.is_matrix(answer))
    if fitted is not None and _close(fitted, truth0):
        return ("[formula_numbers] right at the problem's numbers, but not as a formula of "
                "its inputs "
                "(it differs at other values of x, W, b, t or the symbols)")
    return None


# ============================================================================ sheets


def is_formula_value(value: Any) -> bool:
    """A sheet value that holds a formula: a string (at any depth) that is not a number."""
    from .literals import parse_number_text

    if isinstance(value, dict):
        return is_formula_value(value.get("value"))
    if isinstance(value, list):
        return any(is_formula_value(v) for v in value)
    if isinstance(value, str):
        text = value.strip().replace("−", "-").replace("–", "-")
        try:
            if parse_number_text(text) is not None:
                return False
        except BackcheckError:
            return False  # a number written wrongly: the number reader says what it is
        # a formula names something; 0x1F, 1e-3, 2001-01-01, 1:30 are number attempts
        return _NAME_START.search(text) is not None
    return False


_NAME_START = re.compile(r"(?<![0-9A-Za-z_.])[A-Za-z_\u0370-\u03ff]")


def read_formula_answers(checker: FormulaChecker, doc: Any, answers: dict,
                         answers_path: tuple) -> list[FormulaAnswer]:
    from .names import answer_name

    out: list[FormulaAnswer] = []
    for key, value in answers.items():
        path = answers_path + (key,)
        if isinstance(value, dict):
            value, path = value.get("value"), path + ("value",)
        try:
            name, index = answer_name(str(key), checker.graph,
                                      scalar=not isinstance(value, list))
        except BackcheckError as error:
            raise error.located(doc.file, doc.mark(answers_path + (key,))) from None
        q = checker.graph.quantities[name]
        if isinstance(value, str):
            flat = None
            if index is not None:
                from .grading import flat_index

                flat = flat_index(doc, q, index, answers_path + (key,))
            out.append(FormulaAnswer(name, flat, value.strip(),
                                     checker.parse(value, doc, path), path))
            continue
        array = np.asarray(value, dtype=object)
        if array.size != int(np.prod(q.shape or (1,))):
            raise doc.error(f"{key}: {array.size} formulas given but {name} has "
                            f"{int(np.prod(q.shape or (1,)))} elements", path)
        for flat, element in enumerate(array.reshape(-1)):
            where = path + tuple(int(j) for j in np.unravel_index(flat, array.shape))
            if element is None:
                continue
            text = element if isinstance(element, str) else doc.texts.get(where, str(element))
            out.append(FormulaAnswer(name, flat, str(text).strip(),
                                     checker.parse(str(text), doc, where), where))
    return out


def numeric_point(problem: Any) -> Any:
    """A problem with symbols as numbers: at ``at:``, or at a seeded point without it (only
    formula answers can be graded then)."""
    from .symbolic import numeric_problem

    at = problem.at or _random_symbols(problem, random.Random(SEED))
    return numeric_problem(problem, at)


def grade_sheet_formulas(ctx: Any, doc: Any, answers: dict, answers_path: tuple,
                         numbers: list[Any] | None = None) -> list[Any]:
    """The formula answers of one sheet (grading calls this, with the sheet's graded
    number answers: they feed the formulas' carried check)."""
    checker = getattr(ctx, "formula_checker", None)
    if checker is None:
        checker = FormulaChecker(ctx, getattr(ctx, "written", ctx.problem))
        ctx.formula_checker = checker
    parsed = read_formula_answers(checker, doc, answers, answers_path)
    return grade_formula_answers(checker, parsed, numbers)


__all__ = ["FormulaChecker", "grade_formula_answers", "is_formula_value", "parse_formula",
           "read_formula_answers"]
