"""``backcheck new``: fresh practice problems whose numbers are pleasant to work by hand.

A problem is drawn from ``random.Random(seed)`` alone (never global state, never hash
order), so the same seed and options give byte-identical files. Numbers are small and
simple by construction (integers, or one decimal where sigmoid/tanh make everything
irrational anyway) and every candidate is *solved exactly* with
:func:`backcheck.solution.solve` and kept only if it is hand-friendly (below);
otherwise it is thrown away and another is drawn, a bounded number of times.

Hand-friendly, precisely (checked on the exact solution of every problem written):

1. every rational value — forward pass, loss, every gradient, every updated parameter —
   is an integer or has at most two decimals, and every value is at most 100 in
   magnitude. For networks of relu/identity (and leaky_relu) layers with mse, sse or
   half_sse every value is rational, so every answer is an exact short decimal;
2. no ReLU (or leaky ReLU) pre-activation is exactly 0 (the ambiguous kink);
3. every unit matters: for every layer K and every unit j, dL/dzK[n, j] is non-zero
   for at least one example n, unless a ReLU blocks that unit in every example (then the
   file says so, naming the weights whose gradient the mask makes 0). In problems graded
   to decimals it must also be visible there: |dL/dzK[n, j]| ≥ 0.0005;
4. no layer's gradients vanish: every dL/dWK has an entry that is non-zero (≥ 0.0005
   in problems graded to decimals);
5. nothing saturates: sigmoid inputs within ±2.5, tanh inputs within ±2, every softmax
   probability between 0.02 and 0.98;
6. a file that says it practises the ReLU mask ("blocked where z < 0") has a negative
   ReLU input, so the mask is part of the exercise (with one example too).

Mean squared error divides by N·outputs, which would make long decimals: targets are
chosen *from* the network's output, ŷ − t a small multiple of a step that makes every
∂L/∂ŷ an integer (or, for large N·outputs, a short decimal) — see ``_error_unit``.

Python API::

    from backcheck import generate
    problem = generate(seed=7, difficulty="hard")
    problem.problem_text, problem.sheet_text, problem.key_text
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

from . import __version__
from .errors import BackcheckError
from .numbers_text import yaml_number
from .ops import ACTIVATIONS, LOSSES, OPS

DIFFICULTIES = ("easy", "medium", "hard")

#: what each --difficulty means; a tuple of activations is chosen from by the seed
PRESETS: dict[str, dict[str, Any]] = {
    "easy": {"layers": (2, 2, 1), "hidden_activation": "relu", "output_activation": "identity",
             "loss": "mse", "batch": 1, "convention": "Wx", "learning_rate": None},
    "medium": {"layers": (3, 3, 3, 3), "hidden_activation": "relu",
               "output_activation": "softmax", "loss": "cross_entropy", "batch": 1,
               "convention": "Wx", "learning_rate": Fraction(1, 10)},
    "hard": {"layers": (2, 2, 2), "hidden_activation": ("sigmoid", "tanh"),
             "output_activation": "sigmoid", "loss": "mse", "batch": 2, "convention": "Wx",
             "learning_rate": Fraction(1, 2)},
}

LEAKY_SLOPE = Fraction(1, 10)
#: the parameters generated problems use where an op's default is not hand-friendly
PRACTICE_PARAMS: dict[str, Fraction] = {"slope": LEAKY_SLOPE}


def _rational(activation: str) -> bool:
    """Rational in, rational out (the record says): answers are exact short decimals."""
    return OPS[activation].rational


def _squared(loss: str) -> bool:
    return LOSSES[loss].squared


def practice_params(activation: str) -> dict[str, Fraction]:
    """The activation record's parameters as a generated problem writes them."""
    return {p.name: PRACTICE_PARAMS.get(p.name, p.default) for p in OPS[activation].params}

# Hand-worked sizes: larger networks are not practice by hand (and bound the search).
MAX_LAYERS = 5  # weight layers
MAX_WIDTH = 6  # units per layer, inputs included
MAX_BATCH = 6
MAX_COUNT = 500
MAX_SEED = 2**63 - 1

#: bounds on the search: candidate networks, and single unit draws over all candidates
MAX_CANDIDATES = 2_000
MAX_UNIT_DRAWS = 30_000
UNIT_TRIES = 200

MAGNITUDE_LIMIT = 100
DECIMALS_EXACT = 2  # rational values have at most this many decimals
DECIMAL_PLACES = 4  # problems with irrational values are graded to this many decimals
DECIMAL_TOLERANCE = Fraction(1, 10**DECIMAL_PLACES)
EXACT_TOLERANCE = Fraction(1, 1000)
VISIBLE = Fraction(5, 10**DECIMAL_PLACES)  # a gradient that shows at 4 decimals

SIGMOID_LIMIT = Fraction(5, 2)
TANH_LIMIT = Fraction(2)
SOFTMAX_RANGE = (0.02, 0.98)

KEY_DIGITS = 20  # significant digits of irrational values in a key


# ----- options ----------------------------------------------------------------------
@dataclass
class GenerateOptions:
    """What ``backcheck new`` was asked for; None means "the difficulty's default"."""

    seed: int | None = None
    difficulty: str | None = None  # easy (default), medium, hard
    layers: Any = None  # "2,3,1" or a sequence of sizes, inputs included
    hidden_activation: str | None = None
    output_activation: str | None = None
    loss: str | None = None
    batch: int | None = None
    convention: str | None = None  # Wx or xW
    learning_rate: Any = None  # "0.1", a Fraction or an int
    #: the problem file's name as the answer sheet and key refer to it (same folder)
    problem_file: str = "practice.yaml"


@dataclass(frozen=True)
class Spec:
    """Options resolved against the difficulty preset (the seed may pick activations)."""

    difficulty: str
    sizes: tuple[int, ...]
    hidden_activation: str
    output_activation: str
    loss: str
    batch: int
    convention: str
    learning_rate: Fraction | None

    @property
    def activations(self) -> list[str]:
        hidden = [self.hidden_activation] * (len(self.sizes) - 2)
        return hidden + [self.output_activation]

    @property
    def exact_family(self) -> bool:
        """Every value rational: answers are exact short decimals."""
        return all(_rational(a) for a in self.activations) and _squared(self.loss)

    @property
    def integer_numbers(self) -> bool:
        """Integers for x, W, b (else one decimal): when no hidden layer is smooth."""
        hidden = self.activations[:-1]
        if hidden:
            return all(_rational(a) for a in hidden)
        return _rational(self.output_activation)

    @property
    def tolerance(self) -> Fraction:
        return EXACT_TOLERANCE if self.exact_family else DECIMAL_TOLERANCE

    @property
    def threshold(self) -> Fraction:
        """How large a gradient must be to count as non-zero."""
        return Fraction(0) if self.exact_family else VISIBLE


@dataclass
class GeneratedProblem:
    """One generated problem: the three files' text, and what they were made from."""

    seed: int
    spec: Spec
    command: str  # the `backcheck new` command that reproduces it
    problem_text: str
    sheet_text: str
    key_text: str
    problem: Any = field(repr=False)  # NetworkProblem
    solution: Any = field(repr=False)  # Solution
    quantities: list[str] = field(default_factory=list)  # the sheet's names, in order
    grading: str = ""  # how answers are graded, one line
    candidates: int = 0  # networks drawn before this one was accepted


def _error(message: str, hint: str | None = None) -> BackcheckError:
    return BackcheckError(message, file="backcheck new", hint=hint)


def _choice_error(what: str, value: Any, choices: Any) -> BackcheckError:
    from .problem import did_you_mean

    return _error(f"unknown {what} {value!r}{did_you_mean(value, choices)}",
                  hint=f"known {what}s: " + ", ".join(choices))


def parse_layers(value: Any) -> tuple[int, ...]:
    """``"2,3,1"`` (or a sequence) → sizes, inputs first; clear errors otherwise."""
    if isinstance(value, str):
        parts = [p.strip() for p in value.replace(" ", ",").split(",") if p.strip()]
        sizes = []
        for part in parts:
            if not part.lstrip("+").isdigit():
                raise _error(f"--layers: {part!r} is not a whole number of units",
                             hint="write the sizes including the inputs, e.g. --layers 2,3,1")
            sizes.append(int(part))
    else:
        try:
            sizes = [int(v) for v in value]
        except (TypeError, ValueError):
            raise _error(f"--layers: cannot read {value!r} as sizes") from None
    if len(sizes) < 2:
        raise _error(
            f"--layers needs at least two sizes, the inputs and the outputs (got {len(sizes)})",
            hint="e.g. --layers 2,1 (one neuron), --layers 2,2,1 (one hidden layer)")
    if len(sizes) - 1 > MAX_LAYERS:
        raise _error(f"--layers: {len(sizes) - 1} weight layers are too many to work by hand "
                     f"(at most {MAX_LAYERS})")
    for size in sizes:
        if size < 1:
            raise _error(f"--layers: every size must be at least 1 (got {size})")
        if size > MAX_WIDTH:
            raise _error(f"--layers: {size} units are too many to work by hand "
                         f"(at most {MAX_WIDTH} per layer)")
    return tuple(sizes)


def parse_learning_rate(value: Any) -> Fraction | None:
    if value is None:
        return None
    from .literals import parse_number_text

    if isinstance(value, bool):
        raise _error(f"--learning-rate: {value!r} is not a number")
    if isinstance(value, (int, Fraction)):
        rate = Fraction(value)
    else:
        text = str(value)
        try:
            rate = parse_number_text(text)
        except BackcheckError as error:
            raise _error(f"--learning-rate: {error.message}") from None
        if rate is None:
            raise _error(f"--learning-rate: {text!r} is not a number",
                         hint="e.g. --learning-rate 0.1 (or a fraction such as 1/2)")
    if not 0 < rate <= 10:
        raise _error(f"--learning-rate must be above 0 and at most 10 (got {value})")
    return rate


def resolve(options: GenerateOptions, rng: random.Random | None = None) -> Spec:
    """Validate the options and fill in the difficulty's defaults.

    Raises :class:`BackcheckError` for anything impossible. Where the preset offers a
    choice (hard: sigmoid or tanh) it is drawn from ``rng``.
    """
    difficulty = options.difficulty or "easy"
    if difficulty not in DIFFICULTIES:
        raise _choice_error("difficulty", difficulty, DIFFICULTIES)
    preset = PRESETS[difficulty]
    for what, value, choices in (
        ("activation", options.hidden_activation, ACTIVATIONS),
        ("activation", options.output_activation, ACTIVATIONS),
        ("loss", options.loss, LOSSES),
        ("convention", options.convention, ("Wx", "xW")),
    ):
        if value is not None and value not in choices:
            raise _choice_error(what, value, choices)
    sizes = parse_layers(options.layers) if options.layers is not None else preset["layers"]
    batch = preset["batch"] if options.batch is None else options.batch
    if isinstance(batch, bool) or not isinstance(batch, int):
        raise _error(f"--batch must be a whole number (got {batch!r})")
    if batch < 1:
        raise _error(f"--batch must be at least 1 example (got {batch})")
    if batch > MAX_BATCH:
        raise _error(f"--batch {batch} is too many examples to work by hand "
                     f"(at most {MAX_BATCH})")
    rate = (parse_learning_rate(options.learning_rate) if options.learning_rate is not None
            else preset["learning_rate"])

    hidden = options.hidden_activation or preset["hidden_activation"]
    if isinstance(hidden, tuple):
        hidden = (rng or random.Random(0)).choice(hidden)
    output, loss = options.output_activation, options.loss
    if output is None:
        if loss is not None and LOSSES[loss].cancels_with:
            output = LOSSES[loss].cancels_with  # the output the loss is made for
        else:  # the preset's (softmax with a squared error is allowed, if asked for)
            output = preset["output_activation"]
    if loss is None:
        made_for = [name for name, record in LOSSES.items() if record.fused_with == output]
        if made_for:
            loss = made_for[0]
        elif _squared(preset["loss"]):
            loss = preset["loss"]
        else:
            loss = "mse"
    if OPS[hidden].output_only and len(sizes) > 2:
        raise _error(f"{hidden} is an output activation: it cannot be a hidden layer's",
                     hint="use relu, sigmoid or tanh for --hidden-activation")
    if OPS[output].couples and sizes[-1] < 2:
        raise _error(f"{output} needs at least two outputs (with one output it is always 1); "
                     f"--layers ends with {sizes[-1]}",
                     hint="e.g. --layers 2,3,2, or --output-activation sigmoid for one output")
    needs = LOSSES[loss].cancels_with if LOSSES[loss].output != "any" else ""
    if needs and output != needs:
        hint = (f"add --output-activation {needs}" + (", or use --loss bce with sigmoid"
                                                     if needs == "softmax" else ""))
        raise _error(f"{loss} needs a {needs} output layer (got {output})", hint=hint)
    convention = options.convention or preset["convention"]
    spec = Spec(difficulty, tuple(sizes), hidden, output, loss, batch, convention, rate)
    if spec.exact_family and rate is not None and (rate * 100).denominator != 1:
        raise _error(
            f"--learning-rate {yaml_number(rate)} would give updates with more than two decimals",
            hint="for hand-friendly updates use a multiple of 0.01, e.g. 0.1, 0.05 or 0.5")
    return spec


# ----- drawing a network ------------------------------------------------------------
class _Exhausted(Exception):
    pass


class _Draw:
    """One search: a random stream and the budget of unit draws."""

    def __init__(self, rng: random.Random, spec: Spec) -> None:
        self.rng = rng
        self.spec = spec
        self.draws = 0
        if spec.integer_numbers:
            self.weights = [-3, -2, -2, -1, -1, -1, 0, 1, 1, 1, 2, 2, 3]
            self.biases = [-2, -1, -1, 0, 0, 1, 1, 2]
            self.inputs = [-3, -2, -1, -1, 0, 1, 1, 2, 3]
            self.small_weights = [-1, -1, 0, 1, 1]
        else:
            tenths = [Fraction(i, 10) for i in range(1, 11)]
            self.weights = [-t for t in tenths] + tenths
            self.biases = [Fraction(i, 10) for i in range(-5, 6)]
            self.inputs = [-t for t in tenths] + tenths
            self.small_weights = [-t for t in tenths[:5]] + tenths[:5]

    def inputs_matrix(self) -> list[list[Any]]:
        rows: list[list[Any]] = []
        while len(rows) < self.spec.batch:
            row = [self.rng.choice(self.inputs) for _ in range(self.spec.sizes[0])]
            if any(row) and row not in rows:
                rows.append(row)
            self._count()
        return rows

    def _count(self) -> None:
        self.draws += 1
        if self.draws > MAX_UNIT_DRAWS:
            raise _Exhausted

    def unit(self, inputs: list[list[Any]], activation: str, output: bool,
             taken: list[tuple[list[Any], Any]]) -> tuple | None:
        """A weight row and bias whose pre-activations meet the unit's constraints (and
        that differ from the layer's units ``taken`` so far: no twin units)."""
        limit = _z_limit(self.spec, activation, output)
        for attempt in range(UNIT_TRIES):
            self._count()
            # after many misses (large inputs, a narrow range), smaller weights
            pool = self.weights if attempt < UNIT_TRIES // 2 else self.small_weights
            weights = [self.rng.choice(pool) for _ in inputs[0]]
            bias = self.rng.choice(self.biases)
            z = [sum(w * a for w, a in zip(weights, row, strict=True)) + bias for row in inputs]
            if any(abs(v) > limit for v in z):
                continue
            if any(v == kink for v in z for kink in OPS[activation].kinks):
                continue
            if OPS[activation].gates and output and not any(_local_derivative(activation, z)):
                continue  # a hidden ReLU may be off (the mask); the output must not
            if not any(weights) or (weights, bias) in taken:
                continue
            return weights, bias, z
        return None


def _local_derivative(activation: str, z: list[Any]) -> list[Any]:
    """∂a/∂z of one unit over the examples, by the record's own vjp (float64)."""
    import numpy as np

    from .backends import FLOAT

    record = OPS[activation]
    values = FLOAT.asarray([[v] for v in z])
    params = practice_params(activation)
    local = record.local_derivative(FLOAT, values, record.forward(FLOAT, values, **params),
                                    **params)
    return list(np.ravel(local))


def _z_limit(spec: Spec, activation: str, output: bool) -> Any:
    record = OPS[activation]
    if record.couples:  # logits close together: no probability near 0 or 1
        wide = spec.sizes[-1] > 3
        if spec.integer_numbers:
            return 1 if wide else 2
        return Fraction(3, 2) if wide else SIGMOID_LIMIT
    if record.practice_limit is not None:  # unsaturated: sigmoid ±2.5, tanh ±2
        limit = record.practice_limit
        return min(limit, 2) if spec.integer_numbers else limit
    if not spec.integer_numbers:
        return 3
    if spec.exact_family:
        return 12 if output else 10
    return 6  # integer hidden layers feeding a smooth output


def _activate(activation: str, z: list[list[Any]]) -> list[list[Any]]:
    """The layer's activation by its record: exact where the record keeps rationals
    rational (relu: Fractions stay Fractions), float64 otherwise."""
    from .backends import EXACT, FLOAT

    record = OPS[activation]
    params = practice_params(activation)
    if record.rational and all(isinstance(v, (int, Fraction)) for row in z for v in row):
        out = EXACT.asarray(record.forward(EXACT, EXACT.asarray(z), **params))
        return [[v.q for v in row] for row in out.tolist()]
    return FLOAT.asarray(record.forward(FLOAT, FLOAT.asarray(z), **params)).tolist()


@dataclass
class _Network:
    x: list[list[Any]]
    weights: list[list[list[Any]]]  # per layer, out × in (internal)
    biases: list[list[Any]]
    target: list[list[Any]]


def _draw_network(draw: _Draw) -> _Network | None:
    spec = draw.spec
    x = draw.inputs_matrix()
    activations = spec.activations
    current = x
    weights, biases = [], []
    for k, activation in enumerate(activations, start=1):
        output = k == len(activations)
        rows, bias, columns = [], [], []
        for _ in range(spec.sizes[k]):
            unit = draw.unit(current, activation, output, taken=list(zip(rows, bias, strict=True)))
            if unit is None:
                return None
            rows.append(unit[0])
            bias.append(unit[1])
            columns.append(unit[2])
        z = [list(values) for values in zip(*columns, strict=True)]
        weights.append(rows)
        biases.append(bias)
        current = _activate(activation, z)
    return _Network(x, weights, biases, _targets(draw, current))


def _targets(draw: _Draw, prediction: list[list[Any]]) -> list[list[Any]]:
    spec, rng = draw.spec, draw.rng
    n, m = len(prediction), len(prediction[0])
    record = LOSSES[spec.loss]
    if record.target == "one_hot" or OPS[spec.output_activation].couples:
        targets = []
        for row in prediction:  # the right class is not one the network all but rules out
            likely = [j for j, p in enumerate(row) if float(p) >= 0.15] or list(range(m))
            hot = rng.choice(likely)
            targets.append([1 if j == hot else 0 for j in range(m)])
        return targets
    if record.target == "probability" or spec.output_activation == "sigmoid":
        return [[rng.choice((0, 1)) for _ in range(m)] for _ in range(n)]
    if spec.exact_family:
        unit = _error_unit(spec, n * m)
        # mse's loss is the mean of (ŷ − t)²: with a large step, some errors are 0
        steps = [-2, -1, -1, 1, 1, 2] if unit <= 3 else [-1, 1] if unit <= 6 else [-1, 0, 0, 1]
        return [[p - rng.choice(steps) * unit for p in row] for row in prediction]
    if spec.output_activation == "tanh":
        pool = [Fraction(i, 10) for i in (-9, -5, -2, 2, 5, 9)]
    else:
        pool = [Fraction(i, 10) for i in range(-10, 11)]
    return [[rng.choice(pool) for _ in range(m)] for _ in range(n)]


def _error_unit(spec: Spec, elements: int) -> int:
    """The step for ŷ − t in squared-error problems.

    ∂L/∂ŷ = c·(ŷ − t) with c = 2/(N·outputs) for mse, 2 for sse, 1 for half_sse. The
    error ŷ − t is a multiple of the returned integer u, chosen as the smallest that makes
    c·u an integer (else one decimal, else two) while u stays small, and keeps
    learning_rate·c·u at two decimals; the mean's 1/N then makes no long decimals.
    """
    from .backends import EXACT

    record = LOSSES[spec.loss]  # ∂term/∂p = c·(p − t): c from the record, at p − t = 1
    slope = record.term_vjp(EXACT, EXACT.asarray([[1]]), EXACT.asarray([[0]])).item()
    c = Fraction(slope.q) / record.divisor(record.default_reduction, 1, elements)
    rate = spec.learning_rate

    def fits(u: int, scale: int) -> bool:
        if (c * u * scale).denominator != 1:
            return False
        return rate is None or (rate * c * u * 100).denominator == 1

    smallest = 1
    for scale in (1, 10, 100):
        u = next((u for u in range(1, 201) if fits(u, scale)), None)
        if u is not None:
            smallest = u
            if u <= 4:
                break
    return smallest


# ----- checking a candidate ---------------------------------------------------------
def _plain(value: Any) -> Fraction | float:
    """An Exact as a Fraction when rational, else a float."""
    return value.q if value.q is not None else float(value)


def _flat(value: Any) -> list[Any]:
    if isinstance(value, list):
        return [v for item in value for v in _flat(item)]
    return [value]


def solution_values(solution: Any) -> dict[str, Any]:
    """Every quantity of a solution as nested lists (activations: examples × units) of
    Fractions where rational and floats otherwise."""
    import numpy as np

    values = {}
    for name in solution.names:
        quantity = solution.quantity(name)
        array = quantity.to_internal(solution.exact(name))
        values[name] = np.vectorize(_plain, otypes=[object])(array).tolist() if array.size \
            else array.tolist()
    return values


def check_hand_friendly(solution: Any, spec: Spec) -> list[str]:
    """Every way ``solution`` falls short of the module docstring's rules (empty: none)."""
    return list(solution.warnings) + _violations(solution_values(solution), spec)


def _violations(values: dict[str, Any], spec: Spec) -> list[str]:
    problems: list[str] = []
    for name, value in values.items():
        for v in _flat(value):
            if abs(v) > MAGNITUDE_LIMIT:
                problems.append(f"{name} has {float(v):g}, above {MAGNITUDE_LIMIT}")
                break
            if spec.exact_family:
                if not isinstance(v, (int, Fraction)):
                    problems.append(f"{name} is not rational")
                    break
                if (Fraction(v) * 10**DECIMALS_EXACT).denominator != 1:
                    problems.append(f"{name} has {v}, more than {DECIMALS_EXACT} decimals")
                    break
    threshold = spec.threshold
    relu_off = False
    for k, activation in enumerate(spec.activations, start=1):
        z = _flat(values[f"z{k}"])
        record = OPS[activation]
        if record.kinks:
            if any(v == kink for v in z for kink in record.kinks):
                problems.append(f"z{k} has an entry exactly 0")
            if record.gates and any(v < kink for v in z for kink in record.kinks):
                relu_off = True
        limit = record.practice_limit
        if limit is not None and not record.couples and any(abs(v) > limit for v in z):
            problems.append(f"z{k} saturates the {record.title}")
        if record.couples:
            low, high = SOFTMAX_RANGE
            if any(not low <= float(v) <= high for v in _flat(values[f"a{k}"])):
                problems.append(f"a{k} has a softmax probability outside [{low}, {high}]")
        delta = values[f"dL/dz{k}"]
        rows = values[f"z{k}"]
        for j in range(len(delta[0])):
            if record.gates and all(row[j] < 0 for row in rows):
                continue  # blocked by the mask in every example: said in the file
            if not any(abs(row[j]) > threshold for row in delta):
                problems.append(f"unit {j + 1} of layer {k} gets no gradient")
        if not any(abs(v) > threshold for v in _flat(values[f"dL/dW{k}"])):
            problems.append(f"dL/dW{k} vanishes")
    if teaches_relu_mask(spec) and not relu_off:
        problems.append("no ReLU input is negative, though the file says it practises the "
                        "mask")
    return problems


def teaches_relu_mask(spec: Spec) -> bool:
    """Does the file say it practises the ReLU mask ("blocked where z < 0")? Then some
    ReLU input in it is negative."""
    return any(OPS[a].gates for a in spec.activations) and len(spec.activations) > 1


def zero_gradient_notes(spec: Spec, network: _Network) -> tuple[list[str], bool]:
    """Why some weights of this very problem get a zero gradient, one sentence per cause
    (a unit the ReLU mask blocks in every example, an input that is 0 in every example),
    and whether every exactly-0 weight or bias gradient is accounted for by them."""
    values = _fast_values(spec, network)
    lines = blocked_units(spec, network, values)
    explained: set[tuple[str, int, int]] = set()  # ("W"|"b", layer, unit/row, column)
    inputs = [network.x] + [values[f"a{k}"] for k in range(1, len(spec.activations))]
    for k, activation in enumerate(spec.activations, start=1):
        z = values[f"z{k}"]
        for j in range(len(z[0])):
            if OPS[activation].gates and all(row[j] < 0 for row in z):
                explained |= {("W", k, j, i) for i in range(len(inputs[k - 1][0]))}
                explained.add(("b", k, j, 0))
        for i in range(len(inputs[k - 1][0])):
            if all(row[i] == 0 for row in inputs[k - 1]):
                explained |= {("W", k, j, i) for j in range(len(z[0]))}
    for i in range(len(network.x[0])):
        if all(row[i] == 0 for row in network.x):
            column = "column" if spec.convention == "Wx" else "row"
            every = "" if spec.batch == 1 else " in every example"
            lines.append(f"x[{i + 1}] = 0{every}, so the weights that multiply it ({column} "
                         f"{i + 1} of W1) get a zero gradient")
    unexplained = False
    for k in range(1, len(spec.activations) + 1):
        gradient = values[f"dL/dW{k}"]  # the problem's layout: out × in only in Wx
        if spec.convention == "xW":
            gradient = [list(column) for column in zip(*gradient, strict=True)]
        for j, row in enumerate(gradient):
            for i, g in enumerate(row):
                unexplained |= g == 0 and ("W", k, j, i) not in explained
        for j, g in enumerate(values[f"dL/db{k}"]):
            unexplained |= g == 0 and ("b", k, j, 0) not in explained
    return lines, not unexplained


def blocked_units(spec: Spec, network: _Network, values: dict[str, Any]) -> list[str]:
    """What the ReLU mask does in this very problem, one sentence per blocked unit: which
    gradient it zeroes, and which weights get a zero gradient because of it."""
    lines = []
    for k, activation in enumerate(spec.activations, start=1):
        if not OPS[activation].gates:
            continue
        z = values[f"z{k}"]
        for j in range(len(z[0])):
            off = [n for n, row in enumerate(z) if row[j] < 0]
            if not off:
                continue
            unit = f"z{k}[{j + 1}]" if spec.batch == 1 else f"unit {j + 1} of z{k}"
            if len(off) < len(z):
                examples = ", ".join(str(n + 1) for n in off)
                lines.append(f"{unit} is negative for example{'s' if len(off) > 1 else ''} "
                             f"{examples}: the ReLU blocks it there (dL/dz{k} = 0 in that "
                             f"row), and the other examples still give its weights a gradient")
                continue
            row = (f"row {j + 1} of W{k}" if spec.convention == "Wx"
                   else f"column {j + 1} of W{k}")
            above = ""
            if k < len(spec.activations):
                above = (f"; a{k}[{j + 1}] = 0, so the weights that multiply it in layer "
                         f"{k + 1} ({'column' if spec.convention == 'Wx' else 'row'} "
                         f"{j + 1} of W{k + 1}) get a zero gradient too")
            lines.append(f"{unit} is negative{'' if spec.batch == 1 else ' in every example'}"
                         f": the ReLU blocks it, so dL/dz{k}[{j + 1}] = 0 and {row} and "
                         f"b{k}[{j + 1}] get a zero gradient{above}")
    return lines


def _fast_values(spec: Spec, network: _Network) -> dict[str, Any]:
    """The quantities :func:`_violations` reads (examples × units lists; Fractions in
    the exact family, floats otherwise): the same graph and op records as ``solve``, on
    the float64 backend (exact only where every value is rational, which is cheap).

    A cheap first filter: the engine's exact solution is the judge (:func:`_search`).
    """
    import numpy as np

    from .backends import EXACT, FLOAT
    from .evaluate import evaluate
    from .graph import build_graph

    graph = build_graph(_as_problem(spec, network))
    backend = EXACT if spec.exact_family else FLOAT
    evaluation = evaluate(graph, backend)
    plain = (lambda v: v.q) if spec.exact_family else float
    rate = spec.learning_rate
    values: dict[str, Any] = {}
    for name, quantity in graph.quantities.items():
        node = quantity.node
        if quantity.kind == "value":
            array = evaluation.values[node]
        else:
            array = evaluation.grads.get(node)
            if array is None:
                array = backend.asarray(np.zeros(np.shape(evaluation.values[node]), dtype=int))
            if quantity.kind == "update":
                array = evaluation.values[node] - (rate if spec.exact_family else float(rate)
                                                   ) * array
        array = np.asarray(array, dtype=object)
        values[name] = (np.vectorize(plain, otypes=[object])(array).tolist() if array.size
                        else array.tolist())
    return values


def _as_problem(spec: Spec, network: _Network) -> Any:
    """A candidate network as a :class:`NetworkProblem` (internal layouts: W out × in)."""
    from .problem import Layer, NetworkProblem

    layers = []
    for W, b, activation in zip(network.weights, network.biases, spec.activations,
                                strict=True):
        matrix = W if spec.convention == "Wx" else [list(c) for c in zip(*W, strict=True)]
        params = practice_params(activation)
        layers.append(Layer([[Fraction(v) for v in row] for row in matrix],
                            [Fraction(v) for v in b], activation,
                            params.get("slope", Fraction(1, 100)), False, params))
    record = LOSSES[spec.loss]
    return NetworkProblem(
        "candidate", None, spec.convention, [[Fraction(v) for v in row] for row in network.x],
        False, layers, [[Fraction(v) if not isinstance(v, float) else v for v in row]
                        for row in network.target],
        spec.loss, record.default_reduction, spec.learning_rate, None)  # type: ignore[arg-type]


def _search(spec: Spec, rng: random.Random, file: str, seed: int,
            command: str) -> tuple[str, Any, Any, int]:
    """Draw networks until one is hand-friendly: (its YAML text, the problem read back
    from that text, its exact solution, how many networks were drawn)."""
    from .problem import problem_from_text
    from .solution import solve

    draw = _Draw(rng, spec)
    candidates = 0
    try:
        while candidates < MAX_CANDIDATES:
            candidates += 1
            network = _draw_network(draw)
            if network is None or _violations(_fast_values(spec, network), spec):
                continue
            if not zero_gradient_notes(spec, network)[1]:
                continue  # a weight with a zero gradient the file could not explain
            # the judge is the engine itself, on the very text that will be written
            text = problem_yaml(spec, network, seed, command)
            problem = problem_from_text(text, file)
            try:
                solution = solve(problem)
            except BackcheckError:
                continue
            if not check_hand_friendly(solution, spec):
                return text, problem, solution, candidates
    except _Exhausted:
        pass
    raise _error(
        f"could not find hand-friendly numbers for a {_sizes_text(spec.sizes)} "
        f"{_activations_text(spec)} network with {spec.loss}"
        f"{'' if spec.batch == 1 else f' and a batch of {spec.batch}'} "
        f"(tried {candidates} networks)",
        hint="try a smaller network or batch, another loss (sse keeps numbers small), "
             "or a learning rate such as 0.1",
    )


# ----- the public entry point -------------------------------------------------------
def new_seed() -> int:
    """A fresh seed for when none was given (printed, so it can be reproduced)."""
    return random.SystemRandom().randrange(1, 1_000_000)


def generate(options: GenerateOptions | None = None, /, **overrides: Any) -> GeneratedProblem:
    """Generate one practice problem: the problem, answer-sheet and key YAML texts.

    ``generate(seed=3, difficulty="medium")`` and ``generate(GenerateOptions(...))`` are
    the same. Raises :class:`BackcheckError` for impossible options.
    """
    options = replace(options or GenerateOptions(), **overrides)
    seed = options.seed if options.seed is not None else new_seed()
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise _error(f"--seed must be a whole number from 0 to {MAX_SEED} (got {seed!r})")
    rng = random.Random(seed)
    spec = resolve(options, rng)
    problem_file = os.path.basename(options.problem_file) or "practice.yaml"
    command = reproduce_command(options, seed)
    problem_text, problem, solution, candidates = _search(spec, rng, problem_file, seed,
                                                          command)
    sheet_name, key_name = companion_names(problem_file)
    names = [n for n in solution.names if n != "x"]
    sheet = answers_yaml(spec, solution, names, seed, problem_file, sheet_name, key=False)
    key = answers_yaml(spec, solution, names, seed, problem_file, key_name, key=True)
    return GeneratedProblem(seed, spec, command, problem_text, sheet, key, problem, solution,
                            names, grading_text(spec), candidates)


def companion_names(problem_path: str) -> tuple[str, str]:
    """``practice.yaml`` → (``practice.answers.yaml``, ``practice.key.yaml``)."""
    stem = strip_yaml_suffix(problem_path)
    return f"{stem}.answers.yaml", f"{stem}.key.yaml"


def strip_yaml_suffix(path: str) -> str:
    for suffix in (".yaml", ".yml"):
        if path.lower().endswith(suffix) and len(path) > len(suffix):
            return path[: -len(suffix)]
    return path


def reproduce_command(options: GenerateOptions, seed: int) -> str:
    parts = ["backcheck new"]
    if options.difficulty:
        parts.append(f"--difficulty {options.difficulty}")
    if options.layers is not None:
        parts.append("--layers " + ",".join(str(s) for s in parse_layers(options.layers)))
    for flag, value in (("--hidden-activation", options.hidden_activation),
                        ("--output-activation", options.output_activation),
                        ("--loss", options.loss), ("--batch", options.batch),
                        ("--convention", options.convention)):
        if value is not None:
            parts.append(f"{flag} {value}")
    if options.learning_rate is not None:
        parts.append(f"--learning-rate {yaml_number(parse_learning_rate(options.learning_rate))}")
    parts.append(f"--seed {seed}")
    return " ".join(parts)


# ----- writing YAML -----------------------------------------------------------------
def _flow(values: list[Any], render: Any = yaml_number) -> str:
    return "[" + ", ".join(render(v) for v in values) + "]"


def _matrix_lines(key: str, rows: list[list[Any]], indent: str, render: Any = yaml_number,
                  comment: str = "") -> list[str]:
    flow = "[" + ", ".join(_flow(row, render) for row in rows) + "]"
    if len(rows) == 1 or len(indent) + len(key) + len(flow) + 2 <= 60:
        return [f"{indent}{key}: {flow}{comment}"]
    return [f"{indent}{key}:{comment}"] + [f"{indent}  - {_flow(row, render)}" for row in rows]


def _sizes_text(sizes: tuple[int, ...]) -> str:
    return "-".join(str(s) for s in sizes)


def _activations_text(spec: Spec) -> str:
    hidden = spec.activations[:-1]
    if not hidden:
        return spec.output_activation
    return f"{spec.hidden_activation} → {spec.output_activation}"


def describe(spec: Spec) -> str:
    """``2-2-1 network, relu → identity, mean squared error, one example``."""
    batch = "one example" if spec.batch == 1 else f"a batch of {spec.batch}"
    return (f"{_sizes_text(spec.sizes)} network, {_activations_text(spec)}, "
            f"{LOSSES[spec.loss].description}, {batch}")


def grading_text(spec: Spec) -> str:
    if spec.exact_family:
        return ("every answer is exact here, an integer or at most two decimals: write it in "
                f"full (graded to ±{yaml_number(EXACT_TOLERANCE)})")
    return (f"answers are graded to {DECIMAL_PLACES} decimal places "
            f"(±{yaml_number(DECIMAL_TOLERANCE)}); values that are exact integers or short "
            "decimals can be written as they are")


def _practises(spec: Spec) -> list[str]:
    L = len(spec.activations)
    mult = "W·a + b" if spec.convention == "Wx" else "a·W + b"
    lines = [f"the forward pass, layer by layer: z = {mult}, then the activation"]
    loss = LOSSES[spec.loss]
    divisor = loss.divisor(loss.default_reduction, spec.batch, spec.sizes[-1])
    divided = "" if divisor == 1 else f" / {divisor}"
    if spec.output_activation == loss.cancels_with:  # softmax + CE, sigmoid + BCE
        lines.append(f"{spec.output_activation} with {loss.description}: dL/dz{L} = ŷ − y "
                     f"directly{divided}")
    else:
        lines.append(f"the {loss.description} gradient dL/dŷ = "
                     f"{loss.derivative.format('ŷ', 'y')}{divided}")
    for name in dict.fromkeys(spec.activations):  # each once, in layer order
        record = OPS[name]
        if record.gates:
            if teaches_relu_mask(spec):
                lines.append(f"the {record.title} derivative: gradient passes where z > 0 and "
                             f"is blocked where z < 0")
            continue
        if record.couples or record.derivative == "1":
            continue  # softmax: folded into the loss above; identity: nothing to practise
        derivative = record.derivative.replace("{z}", "z").replace("{a}", "a")
        params = ", ".join(f"{p.name} {yaml_number(PRACTICE_PARAMS.get(p.name, p.default))}"
                           for p in record.params)
        from_a = "{a}" in record.derivative and "{z}" not in record.derivative
        lines.append(f"{record.symbol}′(z) = {derivative}" + (f" ({params})" if params else "")
                     + (", from the activations you already have" if from_a else ""))
    if spec.convention == "Wx":
        lines.append("dL/dW = dL/dz·(layer input)ᵀ, dL/db = dL/dz, and dL/da = Wᵀ·dL/dz for "
                     "the layer below")
    else:
        lines.append("dL/dW = (layer input)ᵀ·dL/dz, dL/db = dL/dz, and dL/da = dL/dz·Wᵀ for "
                     "the layer below (rows are examples, x @ W style)")
    if spec.batch > 1:
        lines.append(f"a batch of {spec.batch}: dL/dW and dL/db add up over the examples")
    if spec.learning_rate is not None:
        lines.append(f"one gradient-descent step W ← W − {yaml_number(spec.learning_rate)}·dL/dW")
    return lines


def _comment_block(lines: list[str], width: int = 88) -> list[str]:
    import textwrap

    from .text import escape

    out = []
    for line in lines:
        if not line:
            out.append("#")
            continue
        wrapped = textwrap.wrap(escape(line), width - 4, subsequent_indent="    ",
                                break_long_words=False, break_on_hyphens=False)
        out.extend("# " + part for part in wrapped)
    return out


def problem_yaml(spec: Spec, network: _Network, seed: int, command: str) -> str:
    header = [f"backcheck practice problem ({spec.difficulty}, seed {seed}): {describe(spec)}.",
              "",
              "Practises:"]
    header += ["  - " + line for line in _practises(spec)]
    promises = ["every value, gradient and update is an integer or has at most two "
                "decimals, none above 100 in size" if spec.exact_family else
                "inputs and weights are small and simple; " + grading_text(spec)]
    if any(OPS[a].kinks for a in spec.activations):
        promises.append("no ReLU input is exactly 0")
    notes, _ = zero_gradient_notes(spec, network)
    masked = any(line.startswith("z") or line.startswith("unit") for line in notes)
    promises.append("every unit not blocked by a ReLU gets a gradient" if masked else
                    "every unit gets a gradient")
    header += ["",
               "Numbers: " + "; ".join(promises) + "."]
    if notes:
        header += ["", "Zero gradients in this problem, and why:"]
        header += ["  - " + line for line in notes]
    header += ["",
               "Work it on paper, fill in the answer sheet written next to this file, then "
               "run `backcheck verify` on the sheet.",
               "",
               f"Made by backcheck {__version__}: {command}",
               "(the same command gives this file again, byte for byte)"]
    lines = _comment_block(header)
    title = (f"Practice ({spec.difficulty}, seed {seed}): {_sizes_text(spec.sizes)} "
             f"{_activations_text(spec)}, {spec.loss}")
    lines.append(f'title: "{title}"')
    lines.append(f"convention: {spec.convention}"
                 + ("       # z = W·a + b, W is (out × in)" if spec.convention == "Wx"
                    else "       # z = a·W + b, W is (in × out), rows are examples"))
    if spec.batch == 1:
        lines.append(f"x: {_flow(network.x[0])}")
    else:
        lines += _matrix_lines("x", network.x, "", comment="   # one row per example")
    lines.append("layers:")
    for W, b, activation in zip(network.weights, network.biases, spec.activations,
                                strict=True):
        matrix = W if spec.convention == "Wx" else [list(c) for c in zip(*W, strict=True)]
        flow = "[" + ", ".join(_flow(row) for row in matrix) + "]"
        if len(matrix) == 1 or len(flow) <= 52:
            lines.append(f"  - W: {flow}")
        else:
            lines.append("  - W:")
            lines += [f"      - {_flow(row)}" for row in matrix]
        lines.append(f"    b: {_flow(b)}")
        lines.append(f"    activation: {activation}")
        for name, value in practice_params(activation).items():
            lines.append(f"    {name}: {yaml_number(value)}")
    if spec.batch == 1:
        lines.append(f"target: {_flow(network.target[0])}")
    else:
        lines += _matrix_lines("target", network.target, "", comment="   # one row per example")
    lines.append(f"loss: {spec.loss}")
    if spec.learning_rate is not None:
        lines.append(f"learning_rate: {yaml_number(spec.learning_rate)}")
    return "\n".join(lines) + "\n"


def _shape_text(shape: tuple[int, ...]) -> str:
    if not shape:
        return "a number"
    if len(shape) == 1:
        return f"vector of {shape[0]}"
    return f"{shape[0]} × {shape[1]}"


def quantity_description(spec: Spec, name: str, shape: tuple[int, ...]) -> str:
    """What a quantity is and its shape, for the answer sheet's comments."""
    L = len(spec.activations)
    batch_rows = " (one row per example)" if spec.batch > 1 else ""
    w_layout = "out × in" if spec.convention == "Wx" else "in × out"
    shape_text = _shape_text(shape)
    if name == "L":
        return f"the loss, {LOSSES[spec.loss].description} — a number"
    if name.endswith("_new"):
        param = name[: -len("_new")]
        rate = yaml_number(spec.learning_rate) if spec.learning_rate is not None else "lr"
        return f"{param} after one step: {param} − {rate}·dL/d{param} — {shape_text}"
    if name.startswith("dL/d"):
        of = name[len("dL/d"):]
        if of == "x":
            return f"gradient of the loss with respect to the input x — {shape_text}{batch_rows}"
        if of[0] in "Wb":
            like = f", like {of}" + (f" ({w_layout})" if of[0] == "W" else "")
            return f"gradient of the loss with respect to {of} — {shape_text}{like}"
        extra = " (δ)" if of[0] == "z" else ""
        return f"gradient of the loss with respect to {of}{extra} — {shape_text}{batch_rows}"
    k = int(name[1:])
    source = "x" if k == 1 else f"a{k - 1}"
    if name[0] == "z":
        formula = (f"W{k}·{source} + b{k}" if spec.convention == "Wx"
                   else f"{source}·W{k} + b{k}")
        return f"pre-activation of layer {k}, {name} = {formula} — {shape_text}{batch_rows}"
    activation = spec.activations[k - 1]
    output = " = ŷ, the network's output" if k == L else ""
    formula = OPS[activation].formula.format(f"z{k}")
    return f"activation of layer {k}, {name} = {formula}{output} — {shape_text}{batch_rows}"


def key_number(value: Any) -> str:
    """One exact value for a key: a YAML number, a "p/q" string, or 20 certain digits
    (trailing zeros kept, so an irrational never looks like a short exact decimal)."""
    if value.q is not None:
        return yaml_number(value.q)
    if value.undecided:  # zero to thousands of digits (solve warns): written as 0
        return "0"
    # fixed notation (as a learner writes), except for the tiniest values
    return value.nstr(KEY_DIGITS, strip_zeros=False, min_fixed=-30, max_fixed=10**9)


SECTIONS = {"forward": "forward pass", "backward": "backward pass",
            "update": "one gradient-descent step"}


def answers_yaml(spec: Spec, solution: Any, names: list[str], seed: int, problem_file: str,
                 own_name: str, *, key: bool) -> str:
    import numpy as np

    if key:
        header = [f"backcheck ANSWER KEY for {problem_file} (seed {seed}): every quantity, "
                  "exactly.",
                  "Integers and short decimals here are exact; \"p/q\" strings are exact "
                  f"fractions; long decimals are irrational values to {KEY_DIGITS} significant "
                  f"digits.",
                  f"Check it: backcheck verify {own_name}   (every entry is correct)"]
        tolerance = "auto"
    else:
        header = [f"backcheck answer sheet for {problem_file} (seed {seed}).",
                  "Work the problem by hand and replace each ~ with your number; a ~ left in "
                  "place counts as not attempted. Fractions such as \"1/3\" are fine too.",
                  "Grading: " + grading_text(spec) + ".",
                  "Vectors are [..]; matrices are one row per line (- [..]), in the "
                  "problem's own layout.",
                  f"Check it: backcheck verify {own_name}"]
        tolerance = "{abs: " + yaml_number(spec.tolerance) + "}"
    from .text import yaml_string

    lines = _comment_block(header)
    lines.append(f"problem: {yaml_string(problem_file)}")
    lines.append(f"tolerance: {tolerance}")
    lines.append("answers:")
    section = None
    for name in names:
        quantity = solution.quantity(name)
        if quantity.section != section:
            section = quantity.section
            title = SECTIONS.get(section, section)
            if section == "update":
                title += f" (learning rate {yaml_number(spec.learning_rate)})"
            if lines[-1] != "answers:":
                lines.append("")
            lines.append(f"  # ── {title} ──")
        lines.append(f"  # {name}: {quantity_description(spec, name, quantity.shape)}")
        if key:
            values = solution.exact(name)
            render = key_number
        else:
            values = np.full(quantity.shape, None, dtype=object)
            render = lambda _: "~"  # noqa: E731
        if values.ndim == 0:
            lines.append(f"  {name}: {render(values.item())}")
        elif values.ndim == 1:
            lines.append(f"  {name}: {_flow(list(values), render)}")
        else:
            lines.append(f"  {name}:")
            lines += [f"    - {_flow(list(row), render)}" for row in values]
    return "\n".join(lines) + "\n"


# ----- file names for `backcheck new` -------------------------------------------------
def target_paths(output: str, count: int | None) -> list[tuple[str, str, str]]:
    """(problem, sheet, key) paths: one set, or ``<stem>-1.yaml`` … for ``count``."""
    if count is None:
        return [(output, *companion_names(output))]
    stem = strip_yaml_suffix(output)
    suffix = output[len(stem):] or ".yaml"
    sets = []
    for i in range(1, count + 1):
        problem = f"{stem}-{i}{suffix}"
        sets.append((problem, *companion_names(problem)))
    return sets
