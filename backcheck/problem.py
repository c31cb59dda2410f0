"""Problem files (FORMAT.md §1 and §2) → validated, exact :class:`Problem` objects.

Every check that can fail because of the file happens here, with the file, line and
column of the offending value and what was expected. Nothing downstream needs to
second-guess the shapes.
"""

from __future__ import annotations

import difflib
import keyword
import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from .errors import Mark, quoted
from .literals import Document, load_yaml
from .ops import ACTIVATIONS, LOSSES, REDUCTIONS

Matrix = list[list[Fraction]]

#: Work limit for the exact evaluator, in multiply-add equivalents (see ``exact_work``):
#: a network at the limit solves exactly in about 1.5 s. Larger networks are refused
#: with a pointer to ``--float-only``.
MAX_EXACT_WORK = 400_000
#: one activation element (its function, derivative and every use in both passes) costs
#: about as much as this many multiply-adds; one parameter (gradient, update, checks) this
ELEMENT_WORK = 16
PARAMETER_WORK = 3
MAX_UNITS = 4096
MAX_LAYERS = 64
MAX_EXAMPLES = 4096
MAX_STEPS = 500
#: all steps of a scalar problem together (a hand-worked one has a few hundred)
MAX_STEP_CHARS = 20_000

NETWORK_KEYS = ("title", "description", "source", "convention", "x", "layers", "target",
                "loss", "learning_rate", "weight_decay", "answers", "symbols", "at")
#: symbols in one problem (FORMAT §8), and the symbolic evaluator's work limit (same units
#: as MAX_EXACT_WORK: formulas grow with every layer, so far fewer than numbers)
MAX_SYMBOLS = 200
MAX_SYMBOLIC_WORK = 4_000
LAYER_KEYS = ("W", "b", "activation")  # and the parameters of the activations (slope, …)


def _layer_keys() -> tuple[str, ...]:
    """A layer's keys: the fixed ones and every activation record's parameters."""
    params = dict.fromkeys(p.name for op in ACTIVATIONS.values() for p in op.params)
    return LAYER_KEYS + tuple(params)
EXPRESSION_KEYS = ("title", "description", "source", "values", "steps", "output", "answers",
                   "symbols", "at")


@dataclass
class Layer:
    W: Matrix  # as written (Wx: out × in; xW: in × out)
    b: list[Fraction] | None
    activation: str
    slope: Fraction  # leaky_relu only
    W_flat: bool = False  # written as a flat list (one unit's weights)
    #: the activation record's parameters (slope, alpha, …), defaults filled in
    params: dict[str, Fraction] = field(default_factory=dict)


@dataclass
class NetworkProblem:
    file: str
    title: str | None
    convention: str
    x: Matrix  # examples × inputs (one row for a single example)
    single: bool  # x was written as one flat example
    layers: list[Layer]
    target: Matrix  # examples × outputs
    loss: str
    reduction: str
    learning_rate: Fraction | None
    document: Document = field(repr=False)
    answers: Any = None  # an `answers:` mapping inside the problem file, if any
    #: the exact evaluator's cost of one forward and backward pass, in multiply-add
    #: equivalents (``exact_work``; refused above MAX_EXACT_WORK). A caller that evaluates
    #: the graph many times (the grader) can budget with it.
    exact_work: int = 0
    #: the loss record's parameters (huber's delta), defaults filled in
    loss_params: dict[str, Fraction] = field(default_factory=dict)
    #: λ of the weight decay λ/2·ΣW² added to the loss (None: no decay)
    weight_decay: Fraction | None = None
    #: FORMAT §8: declared symbols (name → SymPy symbol) and the point ``at:`` (or None)
    symbols: dict[str, Any] = field(default_factory=dict)
    at: dict[str, Fraction] | None = None

    kind = "network"

    @property
    def sizes(self) -> list[int]:
        return [len(self.x[0])] + [_units(layer, self.convention) for layer in self.layers]

    @property
    def examples(self) -> int:
        return len(self.x)


@dataclass
class ExpressionProblem:
    file: str
    title: str | None
    values: dict[str, Fraction]
    steps: list[Any]  # expression.Step
    output: str
    document: Document = field(repr=False)
    answers: Any = None
    symbols: dict[str, Any] = field(default_factory=dict)
    at: dict[str, Fraction] | None = None

    kind = "expression"


Problem = NetworkProblem | ExpressionProblem


def exact_work(inputs: int, units: int, examples: int) -> int:
    """The exact evaluator's cost of one layer, in multiply-add equivalents."""
    return examples * units * (inputs + ELEMENT_WORK) + PARAMETER_WORK * (inputs + 1) * units


#: a layer whose numbers share denominators of up to this many digits costs the plain
#: estimate; beyond, exact sums grow (the lcm of unlike denominators) and cost more
FREE_DIGITS = 12
#: stop computing the lcm once it has this many digits (the factor is already huge)
LCM_DIGITS_CAP = 2000


def digit_factor(*matrices: Any) -> int:
    """How much more than ``exact_work`` a layer costs because of the size of its numbers.

    Exact sums of fractions with unlike denominators grow: 4096 weights with distinct
    52-digit denominators make a dot product whose denominator has ~200,000 digits (37 s,
    2.9 GB where the plain estimate saw 8 × 4096 multiply-adds). The cost grows with the
    digits of the lcm of the denominators (and of the largest numerator), squared as
    big-number multiplication does; decimals with up to 12 places cost nothing extra."""
    from math import lcm

    common = 1
    longest = 0
    bound = 10**LCM_DIGITS_CAP
    for matrix in matrices:
        if matrix is None:
            continue
        for row in matrix:
            for value in row:
                if isinstance(value, Fraction):
                    if common < bound and common % value.denominator:
                        common = lcm(common, value.denominator)
                    longest = max(longest, value.numerator.bit_length())
    digits = max(len(str(common)) if common < bound else LCM_DIGITS_CAP,
                 longest * 3 // 10)
    return max(1, (digits // FREE_DIGITS) ** 2)


def _units(layer: Layer, convention: str) -> int:
    return len(layer.W) if convention == "Wx" else len(layer.W[0])


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s" if not noun.endswith("y") else \
        f"{n} {noun[:-1]}ies"


def _shown(doc: Document, value: Any, path: tuple) -> str:
    """A value as the user wrote it, for messages (``7``, not ``Fraction(7, 1)``)."""
    if isinstance(value, str):
        return quoted(value)
    text = doc.texts.get(tuple(path))
    if text is not None:
        return quoted(text) if not isinstance(value, Fraction) else text
    if value is None:
        return "nothing (null)"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return str(value)


def did_you_mean(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def load_problem(path: str) -> Problem:
    """Read and validate a problem file (network or scalar expression)."""
    return problem_from_document(load_yaml(path))


def problem_from_text(text: str, file: str = "<string>") -> Problem:
    """A validated problem from YAML text (``new`` reads back what it wrote; notebooks)."""
    from .literals import parse_yaml

    return problem_from_document(parse_yaml(text, file))


def problem_from_document(doc: Document) -> Problem:
    data = doc.data
    if not isinstance(data, dict):
        kind = ("a list" if isinstance(data, list) else
                f"the number {_shown(doc, data, ())}" if isinstance(data, Fraction) else
                f"the text {_shown(doc, data, ())}" if isinstance(data, str) else
                _shown(doc, data, ()))
        raise doc.error(
            f"expected a mapping with keys such as x, layers, target, loss (or values, steps); "
            f"found {kind}"
        )
    if "symbols" in data:
        _read_symbols(doc, data)
    if "steps" in data or "values" in data:
        values = data.get("values")
        if "layers" not in data and ("constants" in data or isinstance(values, dict) and any(
                isinstance(v, list) for v in values.values())):
            # a tensor problem (FORMAT §7); numpy is imported only for those
            from .tensor import tensor_problem

            return tensor_problem(doc, data)  # type: ignore[return-value]
        if "layers" in data:
            raise doc.error(
                "a problem is either a network (layers) or a scalar expression (values, steps), "
                "not both", ("layers",)
            )
        return _expression(doc, data)
    if "layers" not in data and "x" not in data:
        if "problem" in data and "answers" in data:
            raise doc.error(
                "this is an answers file, not a problem",
                hint="run `backcheck verify` on answers files",
            )
        raise doc.error(
            "not a backcheck problem: expected keys x, layers, target, loss "
            "(a network) or values, steps (a scalar expression)"
        )
    return _network(doc, data)


def _check_keys(doc: Document, data: dict, allowed: tuple[str, ...], path: tuple,
                what: str) -> None:
    for key in data:
        if key not in allowed:
            raise doc.error(
                f"unknown key {quoted(key)} in {what}{did_you_mean(key, allowed)}",
                path + (key,),
                hint="known keys: " + ", ".join(allowed),
            )


def _require(doc: Document, data: dict, key: str, path: tuple, what: str) -> Any:
    if key not in data or data[key] is None:
        raise doc.error(f"missing key {key!r} ({what})", path)
    return data[key]


def read_vector(doc: Document, value: Any, path: tuple, what: str) -> list[Fraction]:
    if not isinstance(value, list):
        return [doc.number(value, path, f"{what} (a number or a list of numbers)")]
    if not value:
        raise doc.error(f"{what} is empty", path)
    return [doc.number(v, path + (i,), f"a number in {what}") for i, v in enumerate(value)]


def read_matrix(doc: Document, value: Any, path: tuple, what: str) -> tuple[Matrix, bool]:
    """A rectangular matrix; a flat list is one row (returned flag: it was flat)."""
    if not isinstance(value, list) or not value:
        raise doc.error(f"expected {what} as a list of rows, e.g. [[1, 2], [3, 4]]", path)
    if not any(isinstance(row, list) for row in value):
        return [read_vector(doc, value, path, what)], True
    rows: Matrix = []
    for i, row in enumerate(value):
        if not isinstance(row, list):
            raise doc.error(
                f"row {i + 1} of {what} is a single number but other rows are lists", path + (i,)
            )
        rows.append(read_vector(doc, row, path + (i,), f"row {i + 1} of {what}"))
        if len(rows[-1]) != len(rows[0]):
            raise doc.error(
                f"{what} is ragged: row {i + 1} has {_plural(len(rows[-1]), 'entry')}, "
                f"row 1 has {len(rows[0])}",
                path + (i,),
            )
    return rows, False


def _network(doc: Document, data: dict) -> NetworkProblem:
    _check_keys(doc, data, NETWORK_KEYS, (), "a network problem")
    title = data.get("title")
    convention = data.get("convention", "Wx")
    if convention not in ("Wx", "xW"):
        raise doc.error(
            f"unknown convention {_shown(doc, convention, ('convention',))}; expected Wx "
            f"(z = W·a + b, W is out × in) "
            f"or xW (z = a·W + b, W is in × out)",
            ("convention",),
        )
    x_value = _require(doc, data, "x", (), "the input: a list of numbers, or one row per example")
    x, single = read_matrix(doc, x_value, ("x",), "x")
    if len(x) > MAX_EXAMPLES or len(x[0]) > MAX_UNITS:
        raise doc.error(
            f"x is too large ({_plural(len(x), 'example')} of {_plural(len(x[0]), 'input')}; "
            f"backcheck takes at most {MAX_EXAMPLES} examples of {MAX_UNITS} inputs)", ("x",))

    layers_value = _require(doc, data, "layers", (), "a list of layers, each with W")
    if not isinstance(layers_value, list) or not layers_value:
        raise doc.error("layers must be a non-empty list of layers (each a mapping with W)",
                        ("layers",))
    if len(layers_value) > MAX_LAYERS:
        raise doc.error(f"too many layers ({len(layers_value)}; at most {MAX_LAYERS})",
                        ("layers",))
    layers: list[Layer] = []
    width = len(x[0])
    work = 0
    for k, spec in enumerate(layers_value, start=1):
        path = ("layers", k - 1)
        if not isinstance(spec, dict):
            raise doc.error(f"layer {k} must be a mapping with W (and b, activation)", path)
        _check_keys(doc, spec, _layer_keys(), path, f"layer {k}")
        W, flat = read_matrix(doc, _require(doc, spec, "W", path, f"layer {k}'s weights"),
                              path + ("W",), f"W{k}")
        if flat and convention == "xW":
            W = [[w] for w in W[0]]  # one unit's weights, written flat: a column in xW
        rows, cols = len(W), len(W[0])
        inputs, units = (cols, rows) if convention == "Wx" else (rows, cols)
        if inputs != width:
            source = "x has" if k == 1 else f"layer {k - 1} has"
            noun = "input" if k == 1 else "unit"
            if convention == "Wx":
                detail = (f"W{k} is {rows} × {cols}, so it takes {_plural(cols, 'input')} "
                          f"(Wx: W is out × in)")
            else:
                detail = (f"W{k} is {rows} × {cols}, so it takes {_plural(rows, 'input')} "
                          f"(xW: W is in × out)")
            raise doc.error(f"shape mismatch: {detail}, but {source} {_plural(width, noun)}",
                            path + ("W",))
        if units > MAX_UNITS:
            raise doc.error(f"layer {k} is too wide ({units} units; at most {MAX_UNITS})",
                            path + ("W",))
        work += exact_work(inputs, units, len(x)) * digit_factor(W, x if k == 1 else None)
        b = None
        if spec.get("b") is not None:
            b = read_vector(doc, spec["b"], path + ("b",), f"b{k}")
            if len(b) != units:
                raise doc.error(
                    f"shape mismatch: b{k} has {_plural(len(b), 'entry')} but layer {k} has "
                    f"{_plural(units, 'unit')}",
                    path + ("b",),
                )
        activation = spec.get("activation", "identity")
        if activation is None:
            activation = "identity"
        if not isinstance(activation, str) or activation not in ACTIVATIONS:
            raise doc.error(
                f"unknown activation {_shown(doc, activation, path + ('activation',))}"
                f"{did_you_mean(activation, ACTIVATIONS)}",
                path + ("activation",),
                hint="known activations: " + ", ".join(ACTIVATIONS),
            )
        params = _params(doc, spec, ACTIVATIONS[activation], path, f"layer {k} is {activation}")
        layers.append(Layer(W, b, activation, params.get("slope", Fraction(1, 100)), flat,
                            params))
        width = units

    target_value = _require(doc, data, "target", (), "the target output")
    target, target_flat = read_matrix(doc, target_value, ("target",), "target")
    if single and len(x) == 1 and target_flat is False and len(target) > 1 and width == 1:
        target = [[row[0] for row in target]]  # [[4]] style column for one output unit
    if (len(target), len(target[0])) != (len(x), width):
        def values(n: int) -> str:
            return f"{n} value{'s' if n != 1 else ''}"

        want = values(width) if single else f"{len(x)} rows of {width}"
        got = (values(len(target[0])) if len(target) == 1
               else f"{len(target)} rows of {len(target[0])}")
        raise doc.error(
            f"shape mismatch: the network outputs {want} but target has {got}", ("target",)
        )

    loss, reduction, loss_params = _loss(doc, data)
    learning_rate = None
    if data.get("learning_rate") is not None:
        learning_rate = doc.number(data["learning_rate"], ("learning_rate",), "a learning rate")
    weight_decay = None
    if data.get("weight_decay") is not None:
        weight_decay = doc.number(data["weight_decay"], ("weight_decay",),
                                  "the weight decay λ (the loss adds λ/2·ΣW²)")
        if weight_decay < 0:
            raise doc.error("weight_decay must not be negative (the loss adds λ/2·ΣW²)",
                            ("weight_decay",))
    problem = NetworkProblem(str(doc.file), title if isinstance(title, str) else None, convention,
                             x, single, layers, target, loss, reduction, learning_rate, doc,
                             data.get("answers"), exact_work=work, loss_params=loss_params,
                             weight_decay=weight_decay)
    _attach_symbols(doc, data, problem)
    if problem.symbols and work > MAX_SYMBOLIC_WORK:
        raise doc.error(
            f"network too large for formulas (about {work:,} operations; symbolic solving "
            f"takes up to {MAX_SYMBOLIC_WORK:,}, e.g. 3 layers of 8 units)",
            hint="give numbers for some of the symbols, or use a smaller network")
    if work > MAX_EXACT_WORK:
        error = doc.error(
            f"network too large for exact arithmetic (about {work:,} operations; the exact "
            f"evaluator takes up to {MAX_EXACT_WORK:,}, e.g. 4 layers of 64 units with a "
            f"batch of 16)",
            hint="`backcheck solve --float-only` gives float64 results without the exact "
                 "cross-check",
        )
        error.too_large_for_exact = True  # type: ignore[attr-defined]
        error.problem = problem  # type: ignore[attr-defined]
        raise error
    return problem


def _params(doc: Document, spec: dict, op: Any, path: tuple, what: str) -> dict[str, Fraction]:
    """An op record's parameters from a mapping (defaults for those not given)."""
    values = op.param_defaults()
    known = {p.name: p for p in op.params}
    for key in spec:
        if key not in known and key in _param_owners():
            owners = " or ".join(_param_owners()[key])
            raise doc.error(f"{key} applies only to {owners} ({what})", path + (key,))
    for name, param in known.items():
        if name in spec:
            value = doc.number(spec[name], path + (name,), param.what)
            if param.positive and value <= 0:
                raise doc.error(f"{param.what} must be positive", path + (name,))
            values[name] = value
    return values


def _param_owners() -> dict[str, list[str]]:
    """Every parameter name → the ops (activations and losses) that take it."""
    owners: dict[str, list[str]] = {}
    for op in list(ACTIVATIONS.values()) + list(LOSSES.values()):
        for param in op.params:
            owners.setdefault(param.name, []).append(op.name)
    return owners


def _loss(doc: Document, data: dict) -> tuple[str, str, dict[str, Fraction]]:
    spec = _require(doc, data, "loss", (), "one of " + ", ".join(LOSSES))
    path: tuple = ("loss",)
    reduction = None
    params_spec: dict = {}
    if isinstance(spec, dict):
        keys = ("name", "reduction") + tuple(
            dict.fromkeys(p.name for op in LOSSES.values() for p in op.params))
        _check_keys(doc, spec, keys, path, "loss")
        name = _require(doc, spec, "name", path, "the loss name")
        reduction = spec.get("reduction")
        params_spec = spec
        path = ("loss", "name")
    else:
        name = spec
    if not isinstance(name, str) or name not in LOSSES:
        raise doc.error(f"unknown loss {_shown(doc, name, path)}{did_you_mean(name, LOSSES)}",
                        path,
                        hint="known losses: " + ", ".join(LOSSES))
    record = LOSSES[name]
    params = _params(doc, {k: v for k, v in params_spec.items() if k not in ("name", "reduction")},
                     record, ("loss",), f"the loss is {name}")
    if reduction is None:
        reduction = record.default_reduction
    elif reduction not in REDUCTIONS:
        raise doc.error(
            f"unknown reduction {_shown(doc, reduction, ('loss', 'reduction'))}; expected mean "
            f"(over every element), "
            f"sum, or batch_mean (sum per example, mean over examples)",
            ("loss", "reduction"),
        )
    if record.mean_over == "examples" and reduction == "mean":
        reduction = "batch_mean"  # PyTorch's meaning: the mean over examples
    return name, reduction, params


def _expression(doc: Document, data: dict) -> ExpressionProblem:
    from .expression import parse_steps

    _check_keys(doc, data, EXPRESSION_KEYS, (), "a scalar-expression problem")
    values_spec = _require(doc, data, "values", (), "the input values, e.g. {x: -2, y: 5}")
    if not isinstance(values_spec, dict) or not values_spec:
        raise doc.error("values must be a mapping of names to numbers, e.g. {x: -2, y: 5}",
                        ("values",))
    values: dict[str, Any] = {}
    value_marks: dict[str, Mark | None] = {}
    for name, value in values_spec.items():
        if not name.isidentifier():
            raise doc.error(f"{quoted(name)} is not a valid name (letters, digits, _)",
                            ("values", name))
        values[name] = doc.number(value, ("values", name), f"a number for {name}")
        value_marks[name] = doc.mark(("values", name))
    steps_spec = _require(doc, data, "steps", (), "a list of steps such as 'q = x + y'")
    if not isinstance(steps_spec, list) or not steps_spec:
        raise doc.error("steps must be a non-empty list of strings such as 'q = x + y'",
                        ("steps",))
    if len(steps_spec) > MAX_STEPS:
        raise doc.error(f"too many steps ({len(steps_spec)}; at most {MAX_STEPS})", ("steps",))
    raw_steps: list[tuple[str, Mark | None]] = []
    total = 0
    for i, step in enumerate(steps_spec):
        if not isinstance(step, str):
            raise doc.error(f"step {i + 1} must be a string such as 'q = x + y'", ("steps", i))
        total += len(step)
        if total > MAX_STEP_CHARS:
            raise doc.error(
                f"the steps are too long in total (over {MAX_STEP_CHARS:,} characters by "
                f"step {i + 1})", ("steps", i),
                hint="backcheck checks hand-sized calculations; split the problem up",
            )
        raw_steps.append((step, doc.mark(("steps", i))))
    for name, symbol in doc.symbols.items():
        # a declared symbol used in the steps without a value is an input of its own
        if name not in values and any(re.search(rf"(?<![\w.]){name}(?!\w)", text)
                                      for text, _ in raw_steps):
            values[name] = symbol
            value_marks[name] = doc.mark(("symbols",))
    steps = parse_steps(raw_steps, value_marks, file=doc.file)
    names = list(values) + [s.name for s in steps]
    output = data.get("output", steps[-1].name)
    if not isinstance(output, str) or output not in names:
        raise doc.error(f"output {quoted(output)} is not a defined name"
                        f"{did_you_mean(output, names)}",
                        ("output",))
    title = data.get("title")
    problem = ExpressionProblem(str(doc.file), title if isinstance(title, str) else None, values,
                                steps, output, doc, data.get("answers"))
    _attach_symbols(doc, data, problem)
    return problem


def _read_symbols(doc: Document, data: dict) -> None:
    """``symbols: [w1, w2, b]`` → ``doc.symbols`` (then any number may be one of them)."""
    from .expression import FUNCTIONS

    spec = data["symbols"]
    if isinstance(spec, str):
        spec = spec.replace(",", " ").split()
    if not isinstance(spec, list) or not spec:
        raise doc.error("symbols must be a list of names, e.g. [w1, w2, b]", ("symbols",))
    if len(spec) > MAX_SYMBOLS:
        raise doc.error(f"too many symbols ({len(spec)}; at most {MAX_SYMBOLS})", ("symbols",))
    import sympy

    reserved = set(FUNCTIONS) | _SYMPY_NAMES
    if "layers" in data:
        reserved |= {"x", "y_hat", "L"}
    for i, name in enumerate(spec):
        path = ("symbols", i) if isinstance(data["symbols"], list) else ("symbols",)
        if (not isinstance(name, str) or not name.isidentifier() or name.startswith("_")
                or keyword.iskeyword(name)):
            raise doc.error(f"symbol {_shown(doc, name, path)} is not a valid name "
                            "(letters, digits and _, not starting with a digit)", path)
        if name in reserved or _QUANTITY_NAME.fullmatch(name):
            suggestion = re.sub(r"(\d+)$", r"_\1", name) if name[-1].isdigit() else name + "_"
            raise doc.error(f"symbol {quoted(name)} is reserved (a function, a constant or a "
                            f"quantity name such as x, z1, W2, b1)", path,
                            hint=f"choose another name, e.g. {suggestion}")
        if name in doc.symbols:
            raise doc.error(f"symbol {quoted(name)} is declared twice", path)
        doc.symbols[name] = sympy.Symbol(name, real=True)


#: names that SymPy's parser reads as constants or functions: a symbol with one of these
#: names would not read back from ``solve --json``
_SYMPY_NAMES = {"E", "I", "N", "O", "Q", "S", "pi", "oo", "nan", "zoo", "beta", "gamma",
                "zeta", "sign", "Abs", "exp", "log", "sigmoid", "Piecewise"}
_QUANTITY_NAME = re.compile(r"(?:[zaWb]|dz|da|dW|db)\d+")


def _attach_symbols(doc: Document, data: dict, problem: Any) -> None:
    """Record the declared symbols and the optional point ``at:`` on the problem."""
    problem.symbols = dict(doc.symbols)
    if "at" not in data or data["at"] is None:
        return
    if not doc.symbols:
        raise doc.error("at: gives values for symbols, but the problem declares no symbols",
                        ("at",), hint="declare them with symbols: [w1, w2]")
    spec = data["at"]
    if not isinstance(spec, dict):
        raise doc.error("at must be a mapping of symbols to numbers, e.g. {w1: 0.5, w2: -1}",
                        ("at",))
    at: dict[str, Fraction] = {}
    for name, value in spec.items():
        if name not in doc.symbols:
            raise doc.error(f"at: {quoted(name)} is not a declared symbol"
                            f"{did_you_mean(name, doc.symbols)}", ("at", name))
        saved, doc.symbols = doc.symbols, {}
        try:
            at[name] = doc.number(value, ("at", name), f"a number for {name}")
        finally:
            doc.symbols = saved
    missing = [n for n in doc.symbols if n not in at]
    if missing:
        raise doc.error("at: gives no value for " + ", ".join(missing), ("at",),
                        hint="at: must give a number for every declared symbol")
    problem.at = at
