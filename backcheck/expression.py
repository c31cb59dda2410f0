"""Reading the steps of a scalar problem (``d = a*b + b**3``) safely and exactly.

Problem and answer files are hostile, so a step is never evaluated, compiled or handed
to sympy: it is parsed with :func:`ast.parse` and the tree is walked with an allow-list
(numbers, names, ``+ - * / **``, unary minus and the functions in :data:`FUNCTIONS`).
Anything else is a :class:`BackcheckError` naming the construct and its column.

The result is a tree of plain tuples (hashable, easy to walk)::

    ("num", Fraction)           a literal, read exactly from its source text (0.1 == 1/10)
    ("name", str)               a value or an earlier step
    ("neg", Expr)               unary minus (unary plus disappears)
    ("add"|"sub"|"mul"|"div"|"pow", Expr, Expr)
    ("call", fname, Expr)       fname in FUNCTIONS, exactly one argument

Size limits are checked *before* :func:`ast.parse`, whose C parser can crash or raise
odd errors (RecursionError, MemoryError) on deeply nested input.
"""

from __future__ import annotations

import ast
import difflib
import keyword
import re
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

from .errors import BackcheckError, Mark
from .literals import parse_number_text

FUNCTIONS = ("exp", "log", "sqrt", "tanh", "sigmoid", "relu", "sin", "cos", "abs")

MAX_CHARS = 500  # characters in one step
MAX_PARENS = 50  # nesting of ( [ {
MAX_NODES = 500  # expression nodes in one step
MAX_DEPTH = 100  # nesting of the tree (e.g. ---x or sigmoid(sigmoid(…))), so evaluators may
#                 recurse; a flat run of sums or products (a+b+c+…) is long, not deep

Expr = tuple  # see the module docstring

_FUNCTION_LIST = ", ".join(FUNCTIONS)
_ALLOWED = f"a step may use numbers, names, + - * / **, parentheses and {_FUNCTION_LIST}"
_BINOPS = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div", ast.Pow: "pow"}
_BAD_BINOPS = {
    ast.BitXor: ("`^` (bitwise xor)", "use ** for powers, e.g. x**2"),
    ast.FloorDiv: ("`//` (floor division)", "use / for division"),
    ast.Mod: ("`%` (remainder)", None),
    ast.MatMult: ("`@` (matrix product)", "use * for multiplication"),
    ast.LShift: ("`<<` (shift)", None),
    ast.RShift: ("`>>` (shift)", None),
    ast.BitOr: ("`|` (bitwise or)", None),
    ast.BitAnd: ("`&` (bitwise and)", None),
}
_COMPARE = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Is: "is",
    ast.IsNot: "is not",
    ast.In: "in",
    ast.NotIn: "not in",
}
_CONSTRUCTS = {
    ast.Attribute: "attribute access (`.`)",
    ast.Subscript: "indexing (`[...]`)",
    ast.Slice: "slicing (`:`)",
    ast.Lambda: "`lambda`",
    ast.IfExp: "an `if ... else` expression",
    ast.BoolOp: "`and` / `or`",
    ast.List: "a list (`[...]`)",
    ast.Tuple: "a tuple (`,`)",
    ast.Set: "a set (`{...}`)",
    ast.Dict: "a dictionary (`{...}`)",
    ast.ListComp: "a list comprehension",
    ast.SetComp: "a set comprehension",
    ast.DictComp: "a dictionary comprehension",
    ast.GeneratorExp: "a generator expression",
    ast.Starred: "`*` unpacking",
    ast.JoinedStr: "an f-string",
    ast.FormattedValue: "an f-string",
    ast.NamedExpr: "`:=` assignment",
    ast.Await: "`await`",
    ast.Yield: "`yield`",
    ast.YieldFrom: "`yield from`",
}


@dataclass(frozen=True)
class Step:
    """One parsed step: ``name = expr``, with its source text and position."""

    name: str
    expr: Expr
    text: str
    mark: Mark | None


def _shift(mark: Mark | None, offset: int) -> Mark | None:
    return None if mark is None else Mark(mark.line, mark.column + offset)


def _short(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _listing(names: Iterable[str], limit: int = 20) -> str:
    names = sorted(names) if isinstance(names, (set, frozenset)) else list(names)
    shown = ", ".join(names[:limit])
    return shown + (", …" if len(names) > limit else "") if names else "(none)"


def _check_size(text: str, what: str, file: str | None, mark: Mark | None) -> None:
    """Refuse input that is too big before any parser sees it."""
    if len(text) > MAX_CHARS:
        raise BackcheckError(
            f"{what} too long ({len(text):,} characters; at most {MAX_CHARS})",
            file=file,
            mark=mark,
            hint="split a long calculation into several steps",
        )
    depth = 0
    for index, char in enumerate(text):
        if char in "([{":
            depth += 1
            if depth > MAX_PARENS:
                raise BackcheckError(
                    f"{what} nests parentheses too deeply (at most {MAX_PARENS} levels)",
                    file=file,
                    mark=_shift(mark, index),
                )
        elif char in ")]}":
            depth = max(depth - 1, 0)


class _Reader:
    """Walks one parsed expression, turning allowed nodes into tuples and the rest into errors."""

    def __init__(self, text: str, known: Iterable[str], file: str | None, mark: Mark | None):
        self.text = text
        self.lines = text.split("\n")
        self.known = known
        self.file = file
        self.mark = mark

    def segment(self, node: ast.AST) -> str:
        return ast.get_source_segment(self.text, node) or ""

    def where(self, node: ast.AST) -> Mark | None:
        """The caller's mark moved to the node's column (only when the node is on line 1)."""
        if self.mark is None or getattr(node, "lineno", None) != 1:
            return self.mark
        column = len(self.lines[0].encode("utf-8")[: node.col_offset].decode("utf-8", "replace"))
        return _shift(self.mark, column)

    def fail(self, message: str, node: ast.AST, hint: str | None = None) -> BackcheckError:
        return BackcheckError(message, file=self.file, mark=self.where(node), hint=hint)

    def forbidden(self, what: str, node: ast.AST, hint: str | None = None) -> BackcheckError:
        return self.fail(
            f"{what} is not allowed in a step (found {_short(self.segment(node))!r})",
            node,
            hint or _ALLOWED,
        )

    def read(self, node: ast.AST, depth: int = 0) -> Expr:
        if depth > MAX_DEPTH:
            raise self.fail(f"step nested too deeply (at most {MAX_DEPTH} levels)", node)
        depth += 1
        if isinstance(node, ast.BinOp):
            op = type(node.op)
            if op in (ast.Add, ast.Sub, ast.Mult, ast.Div):
                return self.chain(node, depth)
            if op in _BINOPS:
                return (_BINOPS[op], self.read(node.left, depth), self.read(node.right, depth))
            what, hint = _BAD_BINOPS.get(op, ("this operator", None))
            raise self.forbidden(what, node, hint)
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                return ("neg", self.read(node.operand, depth))
            if isinstance(node.op, ast.UAdd):
                return self.read(node.operand, depth)
            what = "`not`" if isinstance(node.op, ast.Not) else "`~` (bitwise not)"
            raise self.forbidden(what, node)
        if isinstance(node, ast.Constant):
            return self.number(node)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        if isinstance(node, ast.Compare):
            raise self.forbidden(f"`{_COMPARE.get(type(node.ops[0]), '==')}` comparison", node)
        raise self.forbidden(_CONSTRUCTS.get(type(node), f"`{type(node).__name__}`"), node)

    def chain(self, node: ast.BinOp, depth: int) -> Expr:
        """A flat run of sums or products (``a + b - c + …``, ``a * b / c …``), read
        along its left spine without counting it as nesting: a long flat sum is long,
        not deep (the step-length limit bounds it)."""
        family = (ast.Add, ast.Sub) if isinstance(node.op, (ast.Add, ast.Sub)) else (
            ast.Mult, ast.Div)
        rights: list[tuple[str, ast.AST]] = []
        while isinstance(node, ast.BinOp) and isinstance(node.op, family):
            rights.append((_BINOPS[type(node.op)], node.right))
            node = node.left
        result = self.read(node, depth)
        for op, right in reversed(rights):
            result = (op, result, self.read(right, depth))
        return result

    def number(self, node: ast.Constant) -> Expr:
        """A literal's exact value, read from its source text (never from Python's float)."""
        value = node.value
        if isinstance(value, bool) or value is None or value is Ellipsis:
            raise self.forbidden("`...`" if value is Ellipsis else f"`{value!r}`", node)
        if isinstance(value, complex):
            raise self.forbidden("a complex number", node)
        if not isinstance(value, (int, float)):  # str, bytes
            raise self.forbidden("a string" if isinstance(value, str) else "a bytes string", node)
        source = self.segment(node).replace("_", "")
        try:
            exact = parse_number_text(source)
        except BackcheckError as error:
            raise error.located(self.file, self.where(node)) from None
        if exact is None:  # 0x10, 0o7, 0b1
            raise self.fail(
                f"write numbers in decimal (found {_short(source)!r})",
                node,
                "hexadecimal, octal and binary literals are not allowed",
            )
        return ("num", exact)

    def name(self, node: ast.Name) -> Expr:
        # The source text, not node.id: Python NFKC-normalises identifiers ("ｘ" -> "x"),
        # and names must match the file's keys exactly.
        name = self.segment(node) or node.id
        if name in self.known:
            return ("name", name)
        if name in FUNCTIONS:
            raise self.fail(f"{name!r} is a function, not a value; call it like {name}(x)", node)
        raise self.unknown(name, node)

    def unknown(self, name: str, node: ast.AST) -> BackcheckError:
        close = difflib.get_close_matches(name, list(self.known) + list(FUNCTIONS), n=1, cutoff=0.5)
        hint = None
        if close:
            hint = f"did you mean {close[0] + '(...)' if close[0] in FUNCTIONS else close[0]!r}?"
        return self.fail(f"unknown name {name!r}; known: {_listing(self.known)}", node, hint)

    def call(self, node: ast.Call, depth: int) -> Expr:
        func = node.func
        if not isinstance(func, ast.Name):
            if type(func) in _CONSTRUCTS:
                raise self.forbidden(_CONSTRUCTS[type(func)], func)
            raise self.forbidden(
                f"calling {_short(self.segment(func))!r}", node, "use * for multiplication"
            )
        name = self.segment(func) or func.id
        if name not in FUNCTIONS:
            if name in self.known:
                raise self.fail(
                    f"{name!r} is a value, not a function; write {name}*(...) to multiply",
                    node,
                )
            raise self.fail(f"unknown function {name!r}; allowed: {_FUNCTION_LIST}", func)
        if node.keywords:
            keyword_node = node.keywords[0]
            raise self.forbidden("a keyword argument", keyword_node)
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise self.forbidden(_CONSTRUCTS[ast.Starred], arg)
        if len(node.args) != 1:
            raise self.fail(
                f"{name}() takes exactly one argument, found {len(node.args)} "
                f"in {_short(self.segment(node))!r}",
                node,
            )
        return ("call", name, self.read(node.args[0], depth))


def parse_expression(
    text: str, known_names: Iterable[str], *, file: str | None, mark: Mark | None
) -> Expr:
    """Parse the right-hand side of a step into a tree, allowing only safe arithmetic.

    ``mark`` is where ``text`` starts in the file; error columns are shifted from it.
    """
    _check_size(text, "step", file, mark)
    stripped = text.lstrip()  # ast.parse treats leading spaces as an indent
    mark = _shift(mark, len(text) - len(stripped))
    text = stripped.rstrip()
    if not text:
        raise BackcheckError("expected an expression, found nothing", file=file, mark=mark)
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as error:
        if re.search(r"(?<![=<>!:])=(?!=)", text):
            message = f"a step has exactly one '=' (found {_short(text)!r})"
        else:
            message = f"cannot read step: {error.msg} (in {_short(text)!r})"
        column = (error.offset or 1) - 1 if error.lineno in (1, None) else 0
        raise BackcheckError(message, file=file, mark=_shift(mark, column), hint=_ALLOWED) from None
    except (RecursionError, MemoryError, ValueError, OverflowError):
        raise BackcheckError(f"cannot read step {_short(text)!r}", file=file, mark=mark) from None
    count = sum(isinstance(node, ast.expr) for node in ast.walk(tree))
    if count > MAX_NODES:
        raise BackcheckError(
            f"step too long ({count} terms; at most {MAX_NODES})", file=file, mark=mark
        )
    reader = _Reader(text, known_names, file, mark)
    try:
        return reader.read(tree.body)
    except RecursionError:  # cannot happen below MAX_DEPTH, but never crash
        raise BackcheckError("step nested too deeply", file=file, mark=mark) from None


def _check_name(name: str, what: str, file: str | None, mark: Mark | None) -> None:
    """A name must be something a later step can refer to."""
    if not name.isidentifier() or keyword.iskeyword(name):
        raise BackcheckError(
            f"{what} {name!r} is not a valid name; expected letters, digits and _ "
            "(not starting with a digit, not a Python keyword)",
            file=file,
            mark=mark,
        )
    if name in FUNCTIONS:
        raise BackcheckError(
            f"{what} {name!r} is the name of a function; choose another name",
            file=file,
            mark=mark,
        )


def parse_step(
    text: str,
    known_names: Iterable[str],
    defined_at: dict[str, Mark | None],
    *,
    file: str | None,
    mark: Mark | None,
) -> Step:
    """Parse ``name = expression``; the name must be new and the expression safe."""
    _check_size(text, "step", file, mark)
    equals = text.find("=")
    before = text[equals - 1 : equals] if equals > 0 else ""
    if equals < 0 or text[equals + 1 : equals + 2] == "=" or before in ("<", ">", "!", ":"):
        raise BackcheckError(
            f"expected 'name = expression', found {_short(text)!r}",
            file=file,
            mark=mark,
            hint="each step defines one new name, e.g. 'q = x + y'",
        )
    left = text[:equals]
    name = left.strip()
    name_mark = _shift(mark, len(left) - len(left.lstrip()))
    if not name:
        raise BackcheckError(
            f"expected 'name = expression', the name before '=' is missing in {_short(text)!r}",
            file=file,
            mark=mark,
        )
    _check_name(name, "step name", file, name_mark)
    if name in known_names or name in defined_at:
        first = defined_at.get(name)
        first_at = f"line {first.line}" if first else "earlier"
        here = f" on line {mark.line}" if mark else ""
        raise BackcheckError(
            f"{name!r}{here} is already defined ({first_at}); each step must define a new name",
            file=file,
            mark=name_mark,
            hint=f"pick another name, e.g. '{name}2'",
        )
    expr = parse_expression(
        text[equals + 1 :], known_names, file=file, mark=_shift(mark, equals + 1)
    )
    return Step(name=name, expr=expr, text=text.strip(), mark=mark)


def parse_steps(
    steps: list[tuple[str, Mark | None]],
    values: dict[str, Mark | None],
    *,
    file: str | None,
) -> list[Step]:
    """Parse steps in order; each may use the values and the steps before it only."""
    defined_at: dict[str, Mark | None] = {}
    for name, where in values.items():
        _check_name(name, "value", file, where)
        defined_at[name] = where
    parsed = []
    for text, where in steps:
        if not isinstance(text, str):
            found = {list: "a list", dict: "a mapping", type(None): "nothing"}.get(
                type(text), "a number" if isinstance(text, (int, Fraction)) else "something else"
            )
            raise BackcheckError(
                f"expected a step 'name = expression', found {found}",
                file=file,
                mark=where,
            )
        step = parse_step(text, defined_at.keys(), defined_at, file=file, mark=where)
        defined_at[step.name] = where
        parsed.append(step)
    return parsed


def free_names(expr: Expr) -> set[str]:
    """The value and step names an expression refers to."""
    names: set[str] = set()
    stack = [expr]
    while stack:
        node = stack.pop()
        if node[0] == "name":
            names.add(node[1])
        elif node[0] == "neg":
            stack.append(node[1])
        elif node[0] == "call":
            stack.append(node[2])
        elif node[0] in ("add", "sub", "mul", "div", "pow"):
            stack.extend(node[1:])
    return names


# Precedence for printing: higher binds tighter.
_PREC = {"add": 1, "sub": 1, "mul": 2, "div": 2, "neg": 3, "pow": 4}
_SYMBOL = {"add": " + ", "sub": " - ", "mul": "*", "div": "/", "pow": "**"}
_ATOM = 5


def _number_text(value: Fraction) -> tuple[str, int]:
    """A number as text and its precedence (a non-decimal fraction prints as a division)."""
    sign, value = ("-" if value < 0 else ""), abs(value)
    prec = _PREC["neg"] if sign else _ATOM
    rest, twos, fives = value.denominator, 0, 0
    while rest % 2 == 0:
        rest, twos = rest // 2, twos + 1
    while rest % 5 == 0:
        rest, fives = rest // 5, fives + 1
    if rest != 1:
        return f"{sign}{value.numerator}/{value.denominator}", _PREC["div"]
    scale = max(twos, fives)
    digits = str(int(value * 10**scale))  # value == digits * 10**-scale
    if scale <= 12 and len(digits) - scale <= 15:
        if scale:
            digits = digits.rjust(scale + 1, "0")
            digits = f"{digits[:-scale]}.{digits[-scale:]}"
        return sign + digits, prec
    stripped = digits.rstrip("0")
    exponent = len(digits) - len(stripped) - scale + len(stripped) - 1
    mantissa = stripped[0] + ("." + stripped[1:] if len(stripped) > 1 else "")
    return f"{sign}{mantissa}e{exponent}", prec


def _to_text(expr: Expr) -> tuple[str, int]:
    kind = expr[0]
    if kind == "num":
        return _number_text(expr[1])
    if kind == "name":
        return expr[1], _ATOM
    if kind == "call":
        return f"{expr[1]}({_to_text(expr[2])[0]})", _ATOM
    if kind == "neg":
        inner, prec = _to_text(expr[1])
        return "-" + (inner if prec >= _PREC["neg"] else f"({inner})"), _PREC["neg"]
    prec = _PREC[kind]
    (left, left_prec), (right, right_prec) = _to_text(expr[1]), _to_text(expr[2])
    if kind == "pow":  # right-associative; (-x)**2 and (a**b)**c need parentheses
        left_paren, right_paren = left_prec <= prec, right_prec < _PREC["neg"]
    else:  # left-associative; a - (b - c) keeps its parentheses
        left_paren, right_paren = left_prec < prec, right_prec <= prec
    left = f"({left})" if left_paren else left
    right = f"({right})" if right_paren else right
    return left + _SYMBOL[kind] + right, prec


def expr_to_text(expr: Expr) -> str:
    """Readable infix with minimal parentheses, e.g. ``a*b + b**3``, ``-(x + y)``, ``exp(-x)``."""
    return _to_text(expr)[0]


__all__ = [
    "FUNCTIONS",
    "Expr",
    "Step",
    "expr_to_text",
    "free_names",
    "parse_expression",
    "parse_step",
    "parse_steps",
]
