"""Reading the steps of a tensor problem (FORMAT §7) safely: the scalar whitelist of
:mod:`backcheck.expression`, grown to arrays.

Nothing is evaluated: the step is parsed with :func:`ast.parse` and walked with an
allow-list, as for scalar steps. On top of the scalar grammar a tensor step may use
``@``, ``.T``, indexing and gathering (``A[i]``, ``A[:, j]``, ``logits[arange(4), y]``),
comparisons (``h > 0``, for masks), the array functions of :data:`ARRAY_FUNCTIONS` with
keyword arguments (``sum(x, axis=1, keepdims=True)``), and the same functions as methods
(``x.sum(1, keepdims=True)``, ``x.view(4, -1)``), as NumPy/PyTorch code is written.

Trees are tuples, as for scalar steps, with these kinds added::

    ("matmul", A, B)                     A @ B
    ("T", A)                             A.T
    ("index", A, (part, ...))            part: ("at", Expr) | ("slice", start, stop, step)
    ("cmp", "<"|"<="|">"|">="|"=="|"!=", A, B)
    ("fn", name, (Expr, ...), ((key, literal), ...))
    ("shape", (int, ...))                a tuple of integers (a reshape's shape)
    ("list", (Expr, ...))                concat's list of arrays

Single-argument elementwise functions stay ``("call", name, Expr)`` so every reader of
scalar trees keeps working.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from fractions import Fraction

from .errors import BackcheckError, Mark
from .expression import (
    _BINOPS,
    _CONSTRUCTS,
    FUNCTIONS,
    MAX_DEPTH,
    Expr,
    Step,
    _check_name,
    _check_size,
    _listing,
    _Reader,
    _shift,
    _short,
    expr_to_text,
)

#: array functions: name → (positional parameter names, keyword parameters with defaults)
ARRAY_FUNCTIONS: dict[str, tuple[tuple[str, ...], dict[str, object]]] = {
    "sum": (("x", "axis"), {"axis": None, "keepdims": False}),
    "mean": (("x", "axis"), {"axis": None, "keepdims": False}),
    "max": (("x", "axis"), {"axis": None, "keepdims": False}),
    "min": (("x", "axis"), {"axis": None, "keepdims": False}),
    "var": (("x", "axis"), {"axis": None, "keepdims": False, "ddof": 0}),
    "softmax": (("x", "axis"), {"axis": -1}),
    "log_softmax": (("x", "axis"), {"axis": -1}),
    "arange": (("start", "stop"), {}),
    "one_hot": (("y", "classes"), {}),
    "reshape": (("x", "shape"), {}),
    "concat": (("arrays", "axis"), {"axis": 0}),
    "where": (("condition", "x", "y"), {}),
    "conv2d": (("x", "kernel", "stride", "padding"), {"stride": 1, "padding": 0}),
    "maxpool2d": (("x", "size"), {"size": 2}),
    "transpose": (("x",), {}),
    "matmul": (("a", "b"), {}),
}
#: other spellings people write (NumPy / PyTorch) → our name
ALIASES = {"range": "arange", "concatenate": "concat", "cat": "concat", "view": "reshape",
           "amax": "max", "amin": "min", "dot": "matmul"}
#: keyword spellings from PyTorch
KEYWORD_ALIASES = {"dim": "axis", "keepdim": "keepdims", "correction": "ddof"}
#: elementwise functions also usable as methods (``x.exp()``)
METHODS = set(ARRAY_FUNCTIONS) | set(FUNCTIONS) | set(ALIASES)
ALL_FUNCTIONS = tuple(FUNCTIONS) + tuple(ARRAY_FUNCTIONS) + tuple(ALIASES)

_ALLOWED = ("a tensor step may use numbers, names, + - * / ** @, .T, indexing A[i, j], "
            "comparisons, and the functions "
            + ", ".join(tuple(FUNCTIONS) + tuple(ARRAY_FUNCTIONS)))
_CMP = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}


class _ArrayReader(_Reader):
    """The scalar reader with the array constructs allowed."""

    def read(self, node: ast.AST, depth: int = 0) -> Expr:
        if depth > MAX_DEPTH:
            raise self.fail(f"step nested too deeply (at most {MAX_DEPTH} levels)", node)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
            return ("matmul", self.read(node.left, depth + 1), self.read(node.right, depth + 1))
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            return (_BINOPS[type(node.op)], self.read(node.left, depth + 1),
                    self.read(node.right, depth + 1))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            inner = self.read(node.operand, depth + 1)
            return ("neg", inner) if isinstance(node.op, ast.USub) else inner
        if isinstance(node, ast.Attribute):
            if node.attr == "T":
                return ("T", self.read(node.value, depth + 1))
            if node.attr == "values" and _is_reduction_call(node.value, ("max", "min")):
                return self.read(node.value, depth + 1)  # PyTorch's x.max(1).values
            raise self.forbidden(f"the attribute .{node.attr}", node,
                                 "only .T (transpose) and methods such as .sum(1) are allowed")
        if isinstance(node, ast.Subscript):
            return self.subscript(node, depth + 1)
        if isinstance(node, ast.Compare):
            if len(node.ops) != 1:
                raise self.forbidden("a chained comparison", node,
                                     "compare two things at a time, e.g. h > 0")
            op = _CMP.get(type(node.ops[0]))
            if op is None:
                raise self.forbidden("this comparison", node)
            return ("cmp", op, self.read(node.left, depth + 1),
                    self.read(node.comparators[0], depth + 1))
        if isinstance(node, ast.Call):
            return self.array_call(node, depth + 1)
        if isinstance(node, ast.Name) and node.id in ALL_FUNCTIONS and node.id not in self.known:
            raise self.fail(f"{node.id!r} is a function, not a value; call it like "
                            f"{node.id}(x)", node)
        return super().read(node, depth)

    def forbidden(self, what: str, node: ast.AST, hint: str | None = None) -> BackcheckError:
        return self.fail(
            f"{what} is not allowed in a step (found {_short(self.segment(node))!r})",
            node, hint or _ALLOWED)

    # ----- indexing -------------------------------------------------------------------
    def subscript(self, node: ast.Subscript, depth: int) -> Expr:
        dim = self.dimension(node, depth)
        if dim is not None:
            return dim
        base = self.read(node.value, depth)
        index = node.slice
        items = index.elts if isinstance(index, ast.Tuple) else [index]
        if not items:
            raise self.forbidden("an empty index", node)
        parts = []
        for item in items:
            if isinstance(item, ast.Slice):
                parts.append(("slice", self.slice_bound(item.lower), self.slice_bound(item.upper),
                              self.slice_bound(item.step)))
            else:
                parts.append(("at", self.read(item, depth + 1)))
        return ("index", base, tuple(parts))

    def dimension(self, node: ast.AST, depth: int = 0) -> Expr | None:
        """``X.shape[0]``: one size of an array, a whole number known when lowered."""
        if not (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute)
                and node.value.attr == "shape"):
            return None
        index = self.literal(node.slice)
        if not isinstance(index, int) or isinstance(index, bool):
            raise self.fail("X.shape[i] takes one whole number i", node)
        return ("dim", self.read(node.value.value, depth + 1), index)

    def slice_bound(self, node: ast.AST | None) -> int | None:
        if node is None:
            return None
        value = self.literal(node)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.fail(f"a slice bound must be a whole number (found "
                            f"{_short(self.segment(node))!r})", node)
        return value

    # ----- literals (keyword values, shapes) -------------------------------------------
    def literal(self, node: ast.AST) -> object:
        """A keyword value: an integer, a number, True/False/None, or a tuple of integers."""
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            inner = self.literal(node.operand)
            if isinstance(inner, (int, Fraction)) and not isinstance(inner, bool):
                return -inner
            raise self.fail(f"expected a number (found {_short(self.segment(node))!r})", node)
        if isinstance(node, ast.Constant):
            if node.value is None or isinstance(node.value, bool):
                return node.value
            number = self.number(node)[1]
            return int(number) if number.denominator == 1 else number
        if isinstance(node, ast.Tuple):
            values = tuple(self.literal(e) for e in node.elts)
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
                raise self.fail(f"expected a tuple of whole numbers (found "
                                f"{_short(self.segment(node))!r})", node)
            return values
        raise self.fail(f"expected a number, True, False, None or a tuple of whole numbers "
                        f"(found {_short(self.segment(node))!r})", node)

    # ----- calls ----------------------------------------------------------------------
    def array_call(self, node: ast.Call, depth: int) -> Expr:
        func = node.func
        args = list(node.args)
        if isinstance(func, ast.Attribute):  # a method: x.sum(1)
            name = func.attr
            if name not in METHODS:
                raise self.forbidden(f"the method .{name}()", node,
                                     "methods allowed: " + ", ".join(sorted(METHODS)))
            receiver: ast.AST | None = func.value
        elif isinstance(func, ast.Name):
            name = self.segment(func) or func.id
            receiver = None
            if name not in ALL_FUNCTIONS:
                if name in self.known:
                    raise self.fail(f"{name!r} is a value, not a function; write "
                                    f"{name}*(...) to multiply", node)
                raise self.fail(f"unknown function {name!r}; allowed: "
                                f"{', '.join(tuple(FUNCTIONS) + tuple(ARRAY_FUNCTIONS))}", func)
        else:
            if type(func) in _CONSTRUCTS:
                raise self.forbidden(_CONSTRUCTS[type(func)], func)
            raise self.forbidden(f"calling {_short(self.segment(func))!r}", node)
        for arg in args:
            if isinstance(arg, ast.Starred):
                raise self.forbidden(_CONSTRUCTS[ast.Starred], arg)
        name = ALIASES.get(name, name)
        if name in FUNCTIONS:  # elementwise: exactly one array argument
            operand = receiver if receiver is not None else None
            count = len(args) + (receiver is not None)
            if node.keywords or count != 1:
                raise self.fail(f"{name}() takes exactly one argument (found "
                                f"{_short(self.segment(node))!r})", node)
            operand = receiver if receiver is not None else args[0]
            return ("call", name, self.read(operand, depth))
        positional, defaults = ARRAY_FUNCTIONS[name]
        keywords: dict[str, object] = {}
        for keyword_node in node.keywords:
            if keyword_node.arg is None:
                raise self.forbidden("`**` unpacking", keyword_node)
            key = KEYWORD_ALIASES.get(keyword_node.arg, keyword_node.arg)
            if key not in defaults:
                allowed = ", ".join(defaults) or "none"
                raise self.fail(f"{name}() has no keyword {keyword_node.arg!r} (keywords: "
                                f"{allowed})", keyword_node)
            if key in keywords:
                raise self.fail(f"{name}() is given {key!r} twice", keyword_node)
            keywords[key] = self.literal(keyword_node.value)
        if receiver is not None:
            args = [receiver] + args
        if name == "reshape" and len(args) > 2:  # x.view(4, -1): the shape spread out
            shape = tuple(self.dimension(a, depth) or self.literal(a) for a in args[1:])
            if not all(isinstance(v, int) or isinstance(v, tuple) and v and v[0] == "dim"
                       for v in shape):
                raise self.fail("a shape is whole numbers, e.g. reshape(A, (4, 4))", node)
            return ("fn", "reshape", (self.read(args[0], depth), ("shape", shape)), ())
        if name == "concat" and receiver is None and args and not isinstance(
                args[0], (ast.List, ast.Tuple)):
            raise self.fail("concat takes a list of arrays, e.g. concat([A, B], axis=1)", node)
        array_args = [p for p in positional if p not in defaults]
        if len(args) > len(positional):
            raise self.fail(f"{name}() takes at most {len(positional)} positional arguments "
                            f"({', '.join(positional)}), found {len(args)}", node)
        if name == "arange":
            array_args = ["start"]
        elif len(args) < len(array_args):
            raise self.fail(f"{name}() needs {', '.join(array_args)} (found "
                            f"{_short(self.segment(node))!r})", node)
        read_args: list[Expr] = []
        for position, arg in enumerate(args):
            param = positional[position]
            if param in defaults:  # a positional keyword: sum(x, 1)
                if param in keywords:
                    raise self.fail(f"{name}() is given {param!r} twice", arg)
                keywords[param] = self.literal(arg)
            elif name == "reshape" and param == "shape":
                shape = self.literal(arg)
                shape = (shape,) if isinstance(shape, int) else shape
                if not isinstance(shape, tuple):
                    raise self.fail("a shape is whole numbers, e.g. reshape(A, (4, 4))", arg)
                read_args.append(("shape", shape))
            elif name == "concat" and param == "arrays":
                if not isinstance(arg, (ast.List, ast.Tuple)) or not arg.elts:
                    raise self.fail("concat takes a list of arrays, e.g. concat([A, B], axis=1)",
                                    arg)
                read_args.append(("list", tuple(self.read(e, depth) for e in arg.elts)))
            elif name in ("arange", "one_hot") and param in ("stop", "classes", "start"):
                read_args.append(self.read(arg, depth))
            else:
                read_args.append(self.read(arg, depth))
        for key, value in keywords.items():
            self.check_keyword(name, key, value, node)
        ordered = tuple((key, keywords[key]) for key in defaults if key in keywords)
        return ("fn", name, tuple(read_args), ordered)

    def check_keyword(self, name: str, key: str, value: object, node: ast.AST) -> None:
        def whole(v: object) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        if key == "axis" and not (value is None or whole(value) or (
                isinstance(value, tuple) and name in ("sum", "mean", "var"))):
            raise self.fail(f"{name}(): axis must be a whole number (0-based) or None", node)
        if key == "keepdims" and not isinstance(value, bool):
            raise self.fail(f"{name}(): keepdims must be True or False", node)
        if key in ("ddof", "padding") and not (whole(value) and value >= 0):  # type: ignore
            raise self.fail(f"{name}(): {key} must be a whole number ≥ 0", node)
        if key in ("stride", "size") and not (whole(value) and value >= 1):  # type: ignore
            raise self.fail(f"{name}(): {key} must be a whole number ≥ 1", node)


def _is_reduction_call(node: ast.AST, names: tuple[str, ...]) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return ALIASES.get(name, name) in names


def parse_array_expression(text: str, known_names: Iterable[str], *, file: str | None,
                           mark: Mark | None) -> Expr:
    """Parse the right-hand side of a tensor step into a tree (never evaluated)."""
    _check_size(text, "step", file, mark)
    stripped = text.lstrip()
    mark = _shift(mark, len(text) - len(stripped))
    text = stripped.rstrip()
    if not text:
        raise BackcheckError("expected an expression, found nothing", file=file, mark=mark)
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as error:
        column = (error.offset or 1) - 1 if error.lineno in (1, None) else 0
        raise BackcheckError(f"cannot read step: {error.msg} (in {_short(text)!r})", file=file,
                             mark=_shift(mark, column), hint=_ALLOWED) from None
    except (RecursionError, MemoryError, ValueError, OverflowError):
        raise BackcheckError(f"cannot read step {_short(text)!r}", file=file, mark=mark) from None
    from .expression import MAX_NODES

    count = sum(isinstance(node, ast.expr) for node in ast.walk(tree))
    if count > MAX_NODES:
        raise BackcheckError(f"step too long ({count} terms; at most {MAX_NODES})", file=file,
                             mark=mark)
    reader = _ArrayReader(text, known_names, file, mark)
    try:
        return reader.read(tree.body)
    except RecursionError:
        raise BackcheckError("step nested too deeply", file=file, mark=mark) from None


def parse_array_steps(steps: list[tuple[str, Mark | None]], values: dict[str, Mark | None], *,
                      file: str | None) -> list[Step]:
    """Parse tensor steps in order; each may use the values and earlier steps only."""
    defined: dict[str, Mark | None] = {}
    for name, where in values.items():
        _check_name(name, "value", file, where)
        if name in ALL_FUNCTIONS:
            raise BackcheckError(f"value {name!r} is the name of a function; choose another "
                                 "name", file=file, mark=where)
        defined[name] = where
    parsed = []
    for text, where in steps:
        equals = text.find("=")
        if equals < 0 or text[equals + 1: equals + 2] == "=" or (
                equals > 0 and text[equals - 1] in "<>!"):
            raise BackcheckError(f"expected 'name = expression', found {_short(text)!r}",
                                 file=file, mark=where,
                                 hint="each step defines one new name, e.g. 'h = x @ W'")
        left = text[:equals]
        name = left.strip()
        name_mark = _shift(where, len(left) - len(left.lstrip()))
        if not name:
            raise BackcheckError(f"the name before '=' is missing in {_short(text)!r}",
                                 file=file, mark=where)
        _check_name(name, "step name", file, name_mark)
        if name in ALL_FUNCTIONS:
            raise BackcheckError(f"step name {name!r} is the name of a function; choose "
                                 "another name", file=file, mark=name_mark)
        if name in defined:
            first = defined[name]
            first_at = f"line {first.line}" if first else "earlier"
            raise BackcheckError(f"{name!r} is already defined ({first_at}); each step must "
                                 f"define a new name", file=file, mark=name_mark,
                                 hint=f"pick another name, e.g. '{name}2'")
        expr = parse_array_expression(text[equals + 1:], defined.keys(), file=file,
                                      mark=_shift(where, equals + 1))
        defined[name] = where
        parsed.append(Step(name=name, expr=expr, text=text.strip(), mark=where))
    return parsed


# ----- printing -------------------------------------------------------------------------
def _literal_text(value: object) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(map(str, value)) + ("," if len(value) == 1 else "") + ")"
    return str(value)


def array_expr_to_text(expr: Expr) -> str:
    """Readable text of a tensor-step tree (scalar trees print as before)."""
    kind = expr[0]
    if kind in ("num", "name"):
        return expr_to_text(expr)
    if kind == "matmul":
        return f"{_atom(expr[1])} @ {_atom(expr[2])}"
    if kind == "T":
        return f"{_atom(expr[1])}.T"
    if kind == "index":
        parts = []
        for part in expr[2]:
            if part[0] == "at":
                parts.append(array_expr_to_text(part[1]))
            else:
                start, stop, step = part[1:]
                text = f"{'' if start is None else start}:{'' if stop is None else stop}"
                parts.append(text + (f":{step}" if step is not None else ""))
        return f"{_atom(expr[1])}[{', '.join(parts)}]"
    if kind == "cmp":
        return f"{_atom(expr[2])} {expr[1]} {_atom(expr[3])}"
    if kind == "fn":
        args = [array_expr_to_text(a) for a in expr[2]]
        args += [f"{k}={_literal_text(v)}" for k, v in expr[3]]
        return f"{expr[1]}({', '.join(args)})"
    if kind == "shape":
        return "(" + ", ".join(array_expr_to_text(v) if isinstance(v, tuple) else str(v)
                               for v in expr[1]) + ("," if len(expr[1]) == 1 else "") + ")"
    if kind == "dim":
        return f"{_atom(expr[1])}.shape[{expr[2]}]"
    if kind == "list":
        return "[" + ", ".join(array_expr_to_text(e) for e in expr[1]) + "]"
    if kind == "call":
        return f"{expr[1]}({array_expr_to_text(expr[2])})"
    if kind == "neg":
        return "-" + _atom(expr[1])
    symbol = {"add": " + ", "sub": " - ", "mul": "*", "div": "/", "pow": "**"}[kind]
    return _atom(expr[1]) + symbol + _atom(expr[2], right=True, parent=kind)


_SIMPLE = ("num", "name", "T", "index", "fn", "call", "shape", "list", "dim")


def _atom(expr: Expr, right: bool = False, parent: str = "") -> str:
    text = array_expr_to_text(expr)
    if expr[0] in _SIMPLE:
        if expr[0] == "num" and expr[1] < 0:
            return f"({text})"
        return text
    if expr[0] in ("mul", "div") and parent in ("add", "sub") and not right:
        return text
    if expr[0] in ("mul", "div") and parent in ("add",):
        return text
    return f"({text})"


def subexpressions(node: Expr) -> list[Expr]:
    """The sub-trees of one node of a tensor-step tree (a name or a number has none):
    the one place that knows each node's layout, for every walk over the tree."""
    kind = node[0]
    if kind in ("neg", "T", "dim"):
        return [node[1]]
    if kind == "call":
        return [node[2]]
    if kind in ("add", "sub", "mul", "div", "pow", "matmul"):
        return list(node[1:])
    if kind == "cmp":
        return list(node[2:])
    if kind == "shape":
        return [v for v in node[1] if isinstance(v, tuple)]
    if kind == "index":
        return [node[1]] + [part[1] for part in node[2] if part[0] == "at"]
    if kind == "fn":
        return list(node[2])
    if kind == "list":
        return list(node[1])
    return []


def array_free_names(expr: Expr) -> set[str]:
    """The value and step names a tensor-step tree refers to."""
    names: set[str] = set()
    stack = [expr]
    while stack:
        node = stack.pop()
        if node[0] == "name":
            names.add(node[1])
        stack.extend(subexpressions(node))
    return names


__all__ = ["ARRAY_FUNCTIONS", "array_expr_to_text", "array_free_names", "subexpressions",
           "parse_array_expression", "parse_array_steps", "_listing"]
