"""Tensor problems (FORMAT §7): ``values`` that are numbers, vectors, matrices or integer
arrays, optional ``constants``, and ``steps`` over arrays, lowered to the one
:class:`~backcheck.graph.Graph` every command reads.

Everything that can go wrong because of the file is found here, while the graph is
built: each step is run once in float64 as it is lowered, so a broadcast that does not
fit, an index out of range or a shape that does not match is reported with the step's
line and both shapes, before any evaluator runs. Integer arrays (every value used as an
index, and ``constants``) never get a gradient.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from .errors import BackcheckError, Mark, quoted
from .literals import Document
from .ops import arrays  # noqa: F401  (registers the array records in ops.OPS)

#: elements in one array (a value or a step's result)
MAX_ELEMENTS = 250_000
#: elements over every node of the graph
MAX_TOTAL_ELEMENTS = 4_000_000
#: exact evaluator's budget in multiply-add equivalents (see ``_work``): the lecture-size
#: backprop-ninja problem needs about 2.1 million and solves exactly in about 2 s
MAX_TENSOR_EXACT_WORK = 3_000_000
MAX_NDIM = 4
TENSOR_KEYS = ("title", "description", "source", "values", "constants", "steps", "output",
               "answers", "symbols", "at")
#: a tensor problem with symbols (FORMAT §8): the SymPy evaluator's budget, in the units of
#: ``exact_work`` (both passes); every element of every step is a formula, so far below
#: the exact evaluator's (a 2 × 3 linear layer with softmax-CE needs about 3,000; a batch
#: of 16 through a 6 × 6 symbolic layer and softmax-CE about 22,000, solved in about 5 s)
MAX_SYMBOLIC_TENSOR_WORK = 30_000


@dataclass
class TensorProblem:
    file: str
    title: str | None
    values: dict[str, np.ndarray]  # object arrays of Fraction (0-d for a number)
    constants: set[str]
    steps: list[Any]  # expression.Step with array trees
    output: str
    document: Document = field(repr=False)
    answers: Any = None
    exact_work: int = 0
    integer_names: set[str] = field(default_factory=set)
    graph: Any = field(default=None, repr=False)
    #: FORMAT §8: declared symbols (name → SymPy symbol) and the point ``at:`` (or None)
    symbols: dict[str, Any] = field(default_factory=dict)
    at: dict[str, Fraction] | None = None
    #: symbol → the number the lowering's shape checks use (``at:``, or a seeded point)
    probe: dict[Any, Fraction] = field(default_factory=dict, repr=False)

    kind = "tensor"
    learning_rate = None


def _shape_text(shape: tuple[int, ...]) -> str:
    if not shape:
        return "a number"
    if len(shape) == 1:
        return f"a vector of {shape[0]}"
    return " × ".join(map(str, shape))


def _read_array(doc: Document, value: Any, path: tuple, name: str) -> np.ndarray:
    """A number or a rectangular nested list of numbers, exactly."""
    if not isinstance(value, list):
        return np.asarray(doc.number(value, path, f"a number or an array for {name}"),
                          dtype=object)
    shape: list[int] = []
    probe = value
    while isinstance(probe, list):
        if not probe:
            raise doc.error(f"{name} has an empty list", path)
        shape.append(len(probe))
        probe = probe[0]
    if len(shape) > MAX_NDIM:
        raise doc.error(f"{name} has {len(shape)} dimensions (at most {MAX_NDIM})", path)
    size = int(np.prod(shape))
    if size > MAX_ELEMENTS:
        raise doc.error(f"{name} has {size:,} elements (at most {MAX_ELEMENTS:,})", path)
    flat: list[Fraction] = []

    def walk(item: Any, where: tuple, depth: int) -> None:
        if depth == len(shape):
            if isinstance(item, list):
                raise doc.error(f"{name} is ragged: expected a number at depth {depth}, "
                                f"found a list", where)
            flat.append(doc.number(item, where, f"a number in {name}"))
            return
        if not isinstance(item, list):
            raise doc.error(f"{name} is ragged: expected a list of {shape[depth]} at depth "
                            f"{depth + 1}, found a number", where)
        if len(item) != shape[depth]:
            raise doc.error(f"{name} is ragged: a list of {len(item)} where the first has "
                            f"{shape[depth]}", where)
        for i, sub in enumerate(item):
            walk(sub, where + (i,), depth + 1)

    walk(value, path, 0)
    array = np.empty(size, dtype=object)
    array[:] = flat
    return array.reshape(shape)


def tensor_problem(doc: Document, data: dict) -> TensorProblem:
    from .array_steps import parse_array_steps
    from .problem import MAX_STEP_CHARS, MAX_STEPS, _check_keys, _require, did_you_mean

    _check_keys(doc, data, TENSOR_KEYS, (), "a tensor problem")
    values_spec = _require(doc, data, "values", (), "the given arrays, e.g. {X: [[1, 2]]}")
    if not isinstance(values_spec, dict) or not values_spec:
        raise doc.error("values must be a mapping of names to numbers or arrays", ("values",))
    values: dict[str, np.ndarray] = {}
    marks: dict[str, Mark | None] = {}
    for name, value in values_spec.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise doc.error(f"{quoted(name)} is not a valid name (letters, digits, _)",
                            ("values", name))
        values[name] = _read_array(doc, value, ("values", name), name)
        marks[name] = doc.mark(("values", name))
    constants: set[str] = set()
    spec = data.get("constants")
    if spec is not None:
        if not isinstance(spec, list):
            raise doc.error("constants must be a list of value names, e.g. [y]", ("constants",))
        for i, name in enumerate(spec):
            if not isinstance(name, str) or name not in values:
                raise doc.error(f"constant {quoted(name)} is not one of the values"
                                f"{did_you_mean(name, values)}", ("constants", i))
            constants.add(name)
    steps_spec = _require(doc, data, "steps", (), "a list of steps such as 'h = X @ W'")
    if not isinstance(steps_spec, list) or not steps_spec:
        raise doc.error("steps must be a non-empty list of strings such as 'h = X @ W'",
                        ("steps",))
    if len(steps_spec) > MAX_STEPS:
        raise doc.error(f"too many steps ({len(steps_spec)}; at most {MAX_STEPS})", ("steps",))
    raw: list[tuple[str, Mark | None]] = []
    total = 0
    for i, step in enumerate(steps_spec):
        if not isinstance(step, str):
            raise doc.error(f"step {i + 1} must be a string such as 'h = X @ W'", ("steps", i))
        total += len(step)
        if total > MAX_STEP_CHARS:
            raise doc.error(f"the steps are too long in total (over {MAX_STEP_CHARS:,} "
                            f"characters by step {i + 1})", ("steps", i))
        raw.append((step, doc.mark(("steps", i))))
    for name, symbol in doc.symbols.items():
        if name in values:
            raise doc.error(f"symbol {quoted(name)} is also the name of a value",
                            ("values", name), hint="a symbol stands for a number inside a "
                            "value, e.g. W: [[w11, w12]]; choose another name")
        # a declared symbol used in the steps without a value is an input of its own
        if any(re.search(rf"(?<![\w.]){name}(?!\w)", text) for text, _ in raw):
            values[name] = np.asarray(symbol, dtype=object)
            marks[name] = doc.mark(("symbols",))
    steps = parse_array_steps(raw, marks, file=doc.file)
    names = list(values) + [s.name for s in steps]
    clash = next((s.name for s in steps if s.name in doc.symbols), None)
    if clash is not None:
        raise doc.error(f"symbol {quoted(clash)} is also the name of a step", ("symbols",),
                        hint="choose another name for the symbol or the step")
    output = data.get("output", steps[-1].name)
    if not isinstance(output, str) or output not in names:
        raise doc.error(f"output {quoted(output)} is not a defined name"
                        f"{did_you_mean(output, names)}", ("output",))
    title = data.get("title")
    problem = TensorProblem(str(doc.file), title if isinstance(title, str) else None, values,
                            constants, steps, output, doc, data.get("answers"))
    from .problem import _attach_symbols

    _attach_symbols(doc, data, problem)
    if problem.symbols:
        problem.probe = probe_point(problem)
    problem.graph = build_tensor_graph(problem)
    if problem.symbols and problem.exact_work > MAX_SYMBOLIC_TENSOR_WORK:
        raise doc.error(
            f"problem too large for formulas (about {problem.exact_work:,} operations; "
            f"symbolic solving takes up to {MAX_SYMBOLIC_TENSOR_WORK:,})",
            hint="give numbers for some of the symbols, or use smaller arrays")
    if problem.exact_work > MAX_TENSOR_EXACT_WORK:
        error = doc.error(
            f"problem too large for exact arithmetic (about {problem.exact_work:,} operations; "
            f"the exact evaluator takes up to {MAX_TENSOR_EXACT_WORK:,})",
            hint="`backcheck solve --float-only` gives float64 results without the exact "
                 "cross-check")
        error.too_large_for_exact = True  # type: ignore[attr-defined]
        error.problem = problem  # type: ignore[attr-defined]
        raise error
    return problem


def probe_point(problem: TensorProblem) -> dict[Any, Fraction]:
    """Numbers for the symbols while the steps are lowered (shapes, the position of a
    maximum): ``at:`` where given, else a seeded point of small non-zero numbers."""
    import random

    rng = random.Random(20261127)
    out = {}
    for name, symbol in problem.symbols.items():
        if problem.at is not None:
            out[symbol] = problem.at[name]
        else:
            out[symbol] = Fraction(rng.choice((-1, 1)) * rng.randint(100, 900), 1000)
    return out


def has_symbols(value: Any) -> bool:
    return any(hasattr(v, "free_symbols") for v in np.asarray(value, dtype=object).flat)


def at_probe(value: Any, probe: dict[Any, Fraction]) -> np.ndarray:
    """A value with its symbols replaced by the probe's numbers (exact Fractions)."""
    array = np.asarray(value, dtype=object)
    out = np.empty(array.shape, dtype=object)
    for index, v in np.ndenumerate(array):
        if hasattr(v, "free_symbols"):
            number = v.xreplace({s: _rational(q) for s, q in probe.items()})
            out[index] = Fraction(int(number.p), int(number.q))
        else:
            out[index] = v
    return out


def _rational(q: Fraction) -> Any:
    import sympy

    return sympy.Rational(q.numerator, q.denominator)


# ===================================================================== lowering to a graph
_ELEMENTWISE = ("exp", "log", "sqrt", "tanh", "sigmoid", "relu", "sin", "cos", "abs")
_BINARY_SYMBOL = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**"}


def integer_names(problem: TensorProblem) -> set[str]:
    """Values used as indices (inside ``[...]``, ``one_hot``'s labels, ``arange``'s
    bounds): integer arrays, never differentiated."""
    from .array_steps import array_free_names, subexpressions

    found: set[str] = set()
    for step in problem.steps:
        stack = [step.expr]
        while stack:
            node = stack.pop()
            if node[0] == "index":
                for part in node[2]:
                    if part[0] == "at":
                        found |= array_free_names(part[1])
            elif node[0] == "fn" and node[1] in ("one_hot", "arange"):
                for arg in node[2]:
                    found |= array_free_names(arg)
            stack.extend(subexpressions(node))
    return found & set(problem.values)


class _Lowering:
    def __init__(self, problem: TensorProblem) -> None:
        from .graph import Graph

        self.problem = problem
        self.graph = Graph(problem, output_name=problem.output)
        self.floats: dict[int, np.ndarray] = {}
        self.known: dict[int, np.ndarray] = {}  # exact values of nodes that need no step
        self.masks: set[int] = set()
        self.symbolic: set[int] = set()  # leaves holding symbols (never an index)
        self.step: Any = None
        self.work = 0
        self.elements = 0

    # ----- messages ---------------------------------------------------------------
    def fail(self, message: str, hint: str | None = None) -> BackcheckError:
        step = self.step
        where = f"step '{step.name} = …' (line {step.mark.line})" if step and step.mark else (
            f"step '{step.name}'" if step else "")
        return BackcheckError(f"{where}: {message}" if where else message,
                              file=self.problem.file, mark=step.mark if step else None,
                              hint=hint)

    def text(self, expr: tuple) -> str:
        from .array_steps import array_expr_to_text

        shown = array_expr_to_text(expr)
        return shown if len(shown) <= 40 else shown[:39] + "…"

    def shape(self, node: int) -> tuple[int, ...]:
        return tuple(np.shape(self.floats[node]))

    # ----- nodes --------------------------------------------------------------------
    def leaf(self, op: str, value: np.ndarray, *, name: str | None = None,
             label: str | None = None, requires_grad: bool = False) -> int:
        from .backends import EXACT, FLOAT

        node = self.graph.add(op, name=name, label=label, value=value,
                              requires_grad=requires_grad)
        symbolic = bool(self.problem.symbols) and has_symbols(value)
        probe = at_probe(value, self.problem.probe) if symbolic else value
        self.floats[node] = FLOAT.asarray(probe) if np.size(value) else np.zeros(np.shape(value))
        if not requires_grad and not symbolic:
            self.known[node] = EXACT.asarray(value)
        if symbolic:
            self.symbolic.add(node)
        self.count(self.floats[node].size)
        return node

    def count(self, size: int, cost: int = 0) -> None:
        if size > MAX_ELEMENTS:
            raise self.fail(f"the result has {size:,} elements (at most {MAX_ELEMENTS:,})")
        self.elements += size
        if self.elements > MAX_TOTAL_ELEMENTS:
            raise self.fail(f"the problem's arrays hold over {MAX_TOTAL_ELEMENTS:,} elements "
                            f"in all")
        self.work += cost

    def node(self, op: str, inputs: tuple[int, ...], expr: tuple, *, grad_inputs: Any = None,
             cost_per_element: int = 16, cost: int = 0, **attrs: Any) -> int:
        """Add an op node, computing its float64 value now (shape checks happen before)."""
        from .backends import EXACT, FLOAT
        from .ops import OPS

        needs = grad_inputs if grad_inputs is not None else inputs
        requires_grad = any(self.graph.nodes[i].requires_grad for i in needs)
        node = self.graph.add(op, inputs, label=self.text(expr), requires_grad=requires_grad,
                              **attrs)
        rule = OPS[op].forward
        with np.errstate(all="ignore"):
            try:
                value = rule(FLOAT, *(self.floats[i] for i in inputs), **attrs)
            except (ValueError, IndexError, TypeError) as error:  # a check we missed
                raise self.fail(f"cannot compute {self.text(expr)}: {error}") from None
        self.floats[node] = np.asarray(value, dtype=np.float64)
        size = self.floats[node].size
        self.count(size, cost + size * cost_per_element)
        if not requires_grad and all(i in self.known for i in inputs) and size <= 10_000:
            try:
                self.known[node] = EXACT.asarray(rule(EXACT, *(self.known[i] for i in inputs),
                                                      **attrs))
            except (ArithmeticError, ValueError):
                pass
        return node

    # ----- the tree -------------------------------------------------------------------
    def lower(self, expr: tuple) -> int:
        kind = expr[0]
        if kind == "num":
            from .graph import _number_label

            return self.leaf("const", np.asarray(expr[1], dtype=object),
                             label=_number_label(expr[1]))
        if kind == "name":
            return self.graph.by_name[expr[1]]
        if kind == "neg":
            return self.node("neg", (self.lower(expr[1]),), expr)
        if kind == "call":
            return self.node(expr[1], (self.lower(expr[2]),), expr)
        if kind in _BINARY_SYMBOL:
            left, right = self.lower(expr[1]), self.lower(expr[2])
            self.broadcast(expr, [(expr[1], left), (expr[2], right)], _BINARY_SYMBOL[kind])
            return self.node(kind, (left, right), expr)
        if kind == "matmul":
            return self.matmul(expr, self.lower(expr[1]), self.lower(expr[2]))
        if kind == "T":
            inner = self.lower(expr[1])
            return self.node("transpose", (inner,), expr, cost_per_element=1)
        if kind == "cmp":
            left, right = self.lower(expr[2]), self.lower(expr[3])
            self.broadcast(expr, [(expr[2], left), (expr[3], right)], expr[1])
            node = self.node("compare", (left, right), expr, grad_inputs=(), relation=expr[1])
            self.masks.add(node)
            return node
        if kind == "index":
            return self.index(expr)
        if kind == "fn":
            return self.function(expr)
        if kind == "dim":
            return self.leaf("const", np.asarray(Fraction(self.dim(expr)), dtype=object),
                             label=self.text(expr))
        raise self.fail(f"{self.text(expr)} cannot stand on its own here")

    def dim(self, expr: tuple) -> int:
        """``X.shape[i]``: the size, from X's shape."""
        shape = self.shape(self.lower(expr[1]))
        if not -len(shape) <= expr[2] < len(shape):
            raise self.fail(f"{self.text(expr)}: {self.text(expr[1])} is {_shape_text(shape)}, "
                            f"it has no axis {expr[2]}")
        return shape[expr[2]]

    def broadcast(self, expr: tuple, operands: list[tuple[tuple, int]], symbol: str) -> None:
        shapes = [self.shape(node) for _, node in operands]
        try:
            np.broadcast_shapes(*shapes)
        except ValueError:
            described = ", ".join(f"{self.text(e)} is {_shape_text(s)}"
                                  for (e, _), s in zip(operands, shapes, strict=True))
            raise self.fail(
                f"cannot broadcast in {self.text(expr)}: {described}",
                hint="NumPy broadcasting: shapes are compared from the right, and each pair "
                     "of sizes must be equal or one of them 1") from None

    def matmul(self, expr: tuple, left: int, right: int) -> int:
        a, b = self.shape(left), self.shape(right)
        names = self.text(expr[1]), self.text(expr[2])
        if not (1 <= len(a) <= 2 and 1 <= len(b) <= 2):
            raise self.fail(f"@ takes vectors and matrices: {names[0]} is {_shape_text(a)}, "
                            f"{names[1]} is {_shape_text(b)}")
        inner_a = a[-1]
        inner_b = b[0]
        if inner_a != inner_b:
            raise self.fail(
                f"shapes do not fit in {self.text(expr)}: {names[0]} is {_shape_text(a)} and "
                f"{names[1]} is {_shape_text(b)} ({inner_a} columns against {inner_b} rows)",
                hint="a @ b needs a's last size equal to b's first; perhaps a transpose (.T)?")
        m = a[0] if len(a) == 2 else 1
        n = b[1] if len(b) == 2 else 1
        return self.node("matmul", (left, right), expr, cost=3 * m * inner_a * n,
                         cost_per_element=2)

    def integer_array(self, expr: tuple, what: str) -> np.ndarray:
        node = self.lower(expr)
        if node in self.masks:
            raise self.fail(f"{what} {self.text(expr)} is a comparison (a mask); masks select "
                            f"with where(mask, A, 0) or A * mask",)
        if node in self.symbolic or (not self.graph.nodes[node].requires_grad
                                     and node not in self.known and self._symbolic(node)):
            raise self.fail(f"{what} {self.text(expr)} holds symbols; an index must be "
                            f"whole numbers (FORMAT §8: symbols stand for differentiable "
                            f"numbers)")
        if self.graph.nodes[node].requires_grad or node not in self.known:
            raise self.fail(
                f"{what} {self.text(expr)} depends on differentiable values; an index must "
                f"be an integer array from values or constants (it is never differentiated)")
        values = self.known[node]
        ints = np.empty(np.shape(values), dtype=np.int64)
        for position, value in np.ndenumerate(values):
            if value.q is None or value.q.denominator != 1:
                raise self.fail(f"{what} {self.text(expr)} is not an integer array "
                                f"(element {_position(position)} is {float(value):g})")
            if abs(value.q) > 10**9:
                raise self.fail(f"{what} {self.text(expr)} holds {value.q}, far out of range")
            ints[position] = int(value.q)
        return ints

    def _symbolic(self, node: int) -> bool:
        """Does the node depend on a leaf holding symbols?"""
        stack = [node]
        seen: set[int] = set()
        while stack:
            n = stack.pop()
            if n in self.symbolic:
                return True
            if n not in seen:
                seen.add(n)
                stack.extend(self.graph.nodes[n].inputs)
        return False

    def integer(self, expr: tuple, what: str) -> int:
        values = self.integer_array(expr, what)
        if values.ndim != 0:
            raise self.fail(f"{what} {self.text(expr)} must be one whole number")
        return int(values)

    def index(self, expr: tuple) -> int:
        base = self.lower(expr[1])
        shape = self.shape(base)
        parts = expr[2]
        if len(parts) > len(shape):
            raise self.fail(f"too many indices in {self.text(expr)}: {self.text(expr[1])} is "
                            f"{_shape_text(shape)} ({len(shape)} dimension"
                            f"{'s' if len(shape) != 1 else ''}), indexed with {len(parts)}")
        key: list[tuple] = []
        index_nodes: list[int] = []
        for axis, part in enumerate(parts):
            if part[0] == "slice":
                key.append(part)
                continue
            ints = self.integer_array(part[1], "the index")
            index_nodes.append(self.graph.by_name.get(part[1][1], -1) if part[1][0] == "name"
                               else -1)
            size = shape[axis]
            bad = (ints >= size) | (ints < -size)
            if bad.any():
                position = tuple(np.argwhere(bad)[0])
                value = int(ints[position]) if ints.ndim else int(ints)
                raise self.fail(
                    f"index {value} is out of range in {self.text(expr)}: axis {axis} of "
                    f"{self.text(expr[1])} has {size} entries (0-based: 0 to {size - 1})")
            key.append(("at", ints))
        try:
            out_shape = np.empty(shape, dtype=np.int8)[tuple(
                p[1] if p[0] == "at" else slice(*p[1:]) for p in key)].shape
        except IndexError as error:
            raise self.fail(f"cannot index {self.text(expr)}: {error}") from None
        if 0 in out_shape:
            raise self.fail(f"{self.text(expr)} selects nothing (an empty slice)")
        inputs = (base,) + tuple(n for n in index_nodes if n >= 0)
        return self.node("index", inputs, expr, grad_inputs=(base,), cost_per_element=2,
                         key=tuple(key))

    def axis(self, expr: tuple, axis: Any, ndim: int, tuple_ok: bool = True) -> None:
        axes = axis if isinstance(axis, tuple) else (axis,)
        if isinstance(axis, tuple) and not tuple_ok:
            raise self.fail(f"{expr[1]}() takes one axis, found {axis}")
        for a in axes:
            if a is not None and not -ndim <= a < ndim:
                raise self.fail(f"axis {a} is out of range in {self.text(expr)}: "
                                f"{self.text(expr[2][0])} has {ndim} dimension"
                                f"{'s' if ndim != 1 else ''} (axes 0 to {ndim - 1})")

    def function(self, expr: tuple) -> int:
        name, args, keywords = expr[1], expr[2], dict(expr[3])
        if name == "arange":
            bounds = [self.integer(a, "arange's bound") for a in args]
            if len(bounds) == 1:
                bounds = [0] + bounds
            if not 0 < bounds[1] - bounds[0] <= MAX_ELEMENTS:
                raise self.fail(f"{self.text(expr)} is empty or too long")
            return self.leaf("const", np.arange(*bounds).astype(object), label=self.text(expr))
        if name == "one_hot":
            labels = self.integer_array(args[0], "one_hot's labels")
            classes = self.integer(args[1], "one_hot's class count")
            if classes < 1 or labels.size * classes > MAX_ELEMENTS:
                raise self.fail(f"bad class count {classes} in {self.text(expr)}")
            if labels.size and (labels.min() < 0 or labels.max() >= classes):
                raise self.fail(f"label {labels.max() if labels.max() >= classes else labels.min()}"
                                f" is out of range in {self.text(expr)} (classes 0 to "
                                f"{classes - 1})")
            value = (labels[..., None] == np.arange(classes)).astype(int).astype(object)
            node = self.leaf("const", value, label=self.text(expr))
            return node
        if name == "concat":
            parts = [self.lower(e) for e in args[0][1]]
            axis = keywords.get("axis", 0)
            shapes = [self.shape(p) for p in parts]
            ndim = len(shapes[0])
            from .ops.arrays import MAX_CONCAT

            if len(parts) > MAX_CONCAT:
                raise self.fail(f"concat takes at most {MAX_CONCAT} arrays")
            if ndim == 0 or any(len(s) != ndim for s in shapes) or not -ndim <= axis < ndim:
                raise self.fail(f"concat needs arrays with the same number of dimensions and "
                                f"a valid axis: {', '.join(_shape_text(s) for s in shapes)}")
            rest = {tuple(s[:axis % ndim] + s[axis % ndim + 1:]) for s in shapes}
            if len(rest) != 1:
                raise self.fail(f"concat along axis {axis} needs every other size equal: "
                                f"{', '.join(_shape_text(s) for s in shapes)}")
            return self.node("concat", tuple(parts), expr, cost_per_element=2, axis=axis)
        if name == "where":
            nodes = [self.lower(a) for a in args]
            self.broadcast(expr, list(zip(args, nodes, strict=True)), ",")
            return self.node("where", tuple(nodes), expr, grad_inputs=tuple(nodes[1:]),
                             cost_per_element=2)
        x_expr = args[0]
        x = self.lower(x_expr)
        shape = self.shape(x)
        if name in ("sum", "mean", "max", "min", "var"):
            axis = keywords.get("axis")
            self.axis(expr, axis, len(shape), tuple_ok=name not in ("max", "min"))
            if isinstance(axis, tuple) and len({a % len(shape) for a in axis}) != len(axis):
                raise self.fail(f"repeated axis in {self.text(expr)}")
            attrs = {"axis": axis, "keepdims": keywords.get("keepdims", False)}
            if name == "var":
                attrs["ddof"] = keywords.get("ddof", 0)
                from .ops.arrays import _count

                if _count(shape, axis) - attrs["ddof"] <= 0:
                    raise self.fail(f"{self.text(expr)} divides by n − ddof ≤ 0")
            return self.node(name, (x,), expr, cost=8 * self.floats[x].size, **attrs)
        if name in ("softmax", "log_softmax"):
            axis = keywords.get("axis", -1)
            self.axis(expr, axis, len(shape), tuple_ok=False)
            if not shape:
                raise self.fail(f"{name} needs an array, {self.text(x_expr)} is a number")
            op = "softmax_axis" if name == "softmax" else "log_softmax"
            return self.node(op, (x,), expr, cost_per_element=40, axis=axis)
        if name == "reshape":
            target = tuple(self.dim(v) if isinstance(v, tuple) else v for v in args[1][1])
            size = int(np.prod(shape)) if shape else 1
            if sum(1 for s in target if s == -1) > 1 or any(s < -1 or s == 0 for s in target):
                raise self.fail(f"bad shape {target} in {self.text(expr)} (whole numbers ≥ 1, "
                                f"at most one -1)")
            known = int(np.prod([s for s in target if s != -1])) if target else 1
            if -1 in target:
                if size % known:
                    raise self.fail(f"cannot reshape {self.text(x_expr)} ({_shape_text(shape)}, "
                                    f"{size} elements) to {target}")
                target = tuple(size // known if s == -1 else s for s in target)
            if int(np.prod(target)) != size:
                raise self.fail(f"cannot reshape {self.text(x_expr)} ({_shape_text(shape)}, "
                                f"{size} elements) to {target} ({int(np.prod(target))} elements)")
            return self.node("reshape", (x,), expr, cost_per_element=1, shape=tuple(target))
        if name == "transpose":
            return self.node("transpose", (x,), expr, cost_per_element=1)
        if name == "matmul":
            return self.matmul(("matmul", args[0], args[1]), x, self.lower(args[1]))
        if name == "conv2d":
            kernel = self.lower(args[1])
            k_shape = self.shape(kernel)
            stride, padding = keywords.get("stride", 1), keywords.get("padding", 0)
            if len(shape) != 2 or len(k_shape) != 2:
                raise self.fail(f"conv2d takes a 2-D input and a 2-D kernel: "
                                f"{self.text(x_expr)} is {_shape_text(shape)}, "
                                f"{self.text(args[1])} is {_shape_text(k_shape)}")
            padded = (shape[0] + 2 * padding) * (shape[1] + 2 * padding)
            windows = ((shape[0] + 2 * padding - k_shape[0]) // stride + 1) * (
                (shape[1] + 2 * padding - k_shape[1]) // stride + 1)
            if padded > MAX_ELEMENTS or max(windows, 1) * int(np.prod(k_shape)) > MAX_ELEMENTS:
                raise self.fail(f"conv2d is too large here (padding {padding}, stride {stride}: "
                                f"more than {MAX_ELEMENTS:,} elements to read)")
            if any(k > s + 2 * padding for k, s in zip(k_shape, shape, strict=True)):
                raise self.fail(f"the kernel ({_shape_text(k_shape)}) is larger than the "
                                f"padded input ({_shape_text(shape)} with padding {padding})")
            return self.node("conv2d", (x, kernel), expr, stride=stride, padding=padding,
                             cost_per_element=3 * int(np.prod(k_shape)) + 4)
        if name == "maxpool2d":
            size = keywords.get("size", 2)
            if len(shape) != 2 or size > min(shape):
                raise self.fail(f"maxpool2d takes a 2-D input at least {size} × {size}: "
                                f"{self.text(x_expr)} is {_shape_text(shape)}")
            return self.node("maxpool2d", (x,), expr, cost_per_element=size * size + 4,
                             size=size)
        raise self.fail(f"unknown function {name!r}")  # parser refuses it first


def _position(position: tuple) -> str:
    return "[" + ",".join(str(i + 1) for i in position) + "]" if position else ""


def build_tensor_graph(problem: TensorProblem) -> Any:
    """Lower a tensor problem to the graph (checking every step as it goes)."""
    if problem.graph is not None:
        return problem.graph
    lowering = _Lowering(problem)
    graph = lowering.graph
    integers = integer_names(problem)
    problem.integer_names = integers
    for name, value in problem.values.items():
        differentiable = name not in integers and name not in problem.constants
        lowering.leaf("input" if differentiable else "const", value, name=name,
                      requires_grad=differentiable)
    for step in problem.steps:
        lowering.step = step
        top = lowering.lower(step.expr)
        node = graph.nodes[top]
        if node.name is not None or node.op == "const":
            top = lowering.node("identity", (top,), step.expr, cost_per_element=1)
            node = graph.nodes[top]
        node.name = step.name
        node.text = step.text
        node.label = step.name
        graph.by_name[step.name] = top
    lowering.step = None
    graph.output = graph.by_name[problem.output]
    out_shape = lowering.shape(graph.output)
    if int(np.prod(out_shape)) != 1:
        step = next((s for s in problem.steps if s.name == problem.output), None)
        raise BackcheckError(
            f"the output {problem.output} is {_shape_text(out_shape)}; it must be one number "
            f"(a loss), e.g. sum(...) or mean(...)", file=problem.file,
            mark=step.mark if step else problem.document.mark(("output",)))
    if not graph.nodes[graph.output].requires_grad:
        raise BackcheckError(f"the output {problem.output} does not depend on any value that "
                             f"is differentiated (every value it uses is a constant or an "
                             f"integer array)", file=problem.file)
    names = list(problem.values) + [s.name for s in problem.steps]
    for name in names:
        node_id = graph.by_name[name]
        what = ("an integer array (an index)" if name in integers else
                "a constant" if name in problem.constants else "")
        graph.add_quantity(name, "value", node_id, lowering.shape(node_id), "forward",
                           description=what)
        graph.quantities[name].internal_shape = lowering.shape(node_id)
    for name in names:
        node_id = graph.by_name[name]
        if graph.nodes[node_id].requires_grad:
            shape = lowering.shape(node_id)
            grad = graph.grad_name(name)
            graph.add_quantity(grad, "grad", node_id, shape, "backward",
                               description=f"gradient of {problem.output} with respect to {name}")
            graph.quantities[grad].internal_shape = shape
    # both passes: the forward costs counted as lowered, the backward about twice that
    problem.exact_work = 3 * lowering.work
    problem.graph = graph
    return graph
