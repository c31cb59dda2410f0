"""Fuzzing (issue 6): random YAML documents, random bytes, and mutations of the curated
problems and of answers files for them. Whatever the input:

* never a traceback: success, or one BackcheckError message and exit 2 (verify may also
  exit 1, its "some answers are wrong");
* never a hang: each run is bounded in CPU time (5 s, measured by ``run_main``, which
  interrupts a real hang; tests/cpu_bounds.py), not by Hypothesis's wall-clock deadline,
  which a busy machine trips;
* never a file written (every run is in an empty working folder that must stay empty,
  and the input folder must hold exactly what the test put there).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backcheck.errors import BackcheckError
from backcheck.literals import parse_yaml
from tests.cpu_bounds import cpu_bound
from tests.test_bad_inputs import PWNED, run_main

ROOT = Path(__file__).resolve().parent.parent
PROBLEMS = sorted((ROOT / "problems").glob("*.yaml"))
PROBLEM_TEXTS = {p.name: p.read_text() for p in PROBLEMS}

#: BACKCHECK_FUZZ_EXAMPLES=5000 for a long hunt (random, not the fixed default seed)
EXAMPLES = int(os.environ.get("BACKCHECK_FUZZ_EXAMPLES", "60"))
FUZZ = settings(deadline=None, max_examples=EXAMPLES, derandomize="BACKCHECK_FUZZ_EXAMPLES"
                not in os.environ, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _answers_for(problem: Path) -> str:
    """A complete, correct answers file for a curated problem (float answers, 6 digits)."""
    code, out, err, _ = run_main(["solve", str(problem), "--json"], cwd=problem.parent)
    assert code == 0, err
    quantities = json.loads(out)["quantities"]
    answers = {name: value for name, value in quantities.items() if name != "x"}
    text = yaml.safe_dump({"problem": problem.name, "answers": answers},
                          default_flow_style=None, sort_keys=False)
    return text


def check_run(files: dict[str, bytes], command: str, target: str) -> None:
    """Write ``files`` into a fresh folder, run ``backcheck COMMAND target`` from another,
    empty one, and check the outcome is a result or one clear error, and nothing written."""
    with tempfile.TemporaryDirectory() as inputs, tempfile.TemporaryDirectory() as cwd:
        for name, content in files.items():
            (Path(inputs) / name).write_bytes(content)
        before = sorted(os.listdir(inputs))
        code, out, err, elapsed = run_main([command, str(Path(inputs) / target)], cwd=Path(cwd))
        allowed = (0, 2) if command == "solve" else (0, 1, 2)
        assert code in allowed, f"exit {code}\n{err}"
        assert "Traceback" not in out + err, err
        assert "internal error" not in err, err
        if code == 2:
            lines = [line for line in err.splitlines() if line.strip()]
            assert lines and lines[0].startswith("error: "), err
        assert elapsed < 5.0
        assert os.listdir(cwd) == [], "a file was written in the working folder"
        assert sorted(os.listdir(inputs)) == before, "a file was written beside the input"
    assert not PWNED.exists()


# ----------------------------------------------------------------- strategies
KEYS = ["x", "layers", "target", "loss", "W", "b", "activation", "slope", "convention",
        "learning_rate", "title", "values", "steps", "output", "answers", "problem",
        "tolerance", "name", "reduction", "abs", "rel", "sig", "z1", "dL/dW1", "a1", "L"]
WORDS = ["relu", "sigmoid", "tanh", "softmax", "identity", "leaky_relu", "mse", "sse",
         "half_sse", "cross_entropy", "bce", "Wx", "xW", "mean", "sum", "auto", "1/3",
         "1e-3", "1e400", ".nan", "-.inf", "q = x + y", "f = q * z", "y = 9**9**9",
         "y = x**99999999999", "y = __import__('os').system('touch /tmp/backcheck_pwned')",
         "z = log(x)", "~", "", "0x1F", "1/0", "problem.yaml", "net.yaml"]

scalars = st.one_of(
    st.integers(-10**6, 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.fractions(max_denominator=1000).map(str),
    st.sampled_from(WORDS),
    st.booleans(),
    st.none(),
    st.text(max_size=12),
)
documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=6)), children,
                        max_size=6),
    ),
    max_leaves=40,
)


def dump(document: object) -> bytes:
    return yaml.safe_dump(document, allow_unicode=True, default_flow_style=None).encode()


@st.composite
def mutated(draw: st.DrawFn, text: str) -> bytes:
    """A problem or answers text with a few random edits of the kinds people (and
    attackers) make: lines deleted or duplicated, truncation, random bytes, a value
    replaced by another type, indentation broken."""
    data = text.encode()
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["number", "number", "delete_line", "duplicate_line",
                                     "truncate", "insert", "replace_value", "indent",
                                     "swap_chars"]))
        lines = data.split(b"\n")
        numbers = list(re.finditer(rb"-?\d+(?:\.\d+)?(?:e-?\d+)?", data))
        if kind == "number" and numbers:
            match = numbers[draw(st.integers(0, len(numbers) - 1))]
            new = draw(st.one_of(
                st.floats(-1e6, 1e6, allow_nan=False).map(lambda v: f"{v:.4g}"),
                st.sampled_from(["0", "1e99", "-1e-99", "1/3", ".nan", "1e400", "~"])))
            data = data[: match.start()] + new.encode() + data[match.end():]
        elif kind == "delete_line" and len(lines) > 1:
            del lines[draw(st.integers(0, len(lines) - 1))]
            data = b"\n".join(lines)
        elif kind == "duplicate_line":
            i = draw(st.integers(0, len(lines) - 1))
            lines.insert(i, lines[i])
            data = b"\n".join(lines)
        elif kind == "truncate":
            data = data[: draw(st.integers(0, len(data)))]
        elif kind == "insert":
            at = draw(st.integers(0, len(data)))
            data = data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
        elif kind == "replace_value":
            i = draw(st.integers(0, len(lines) - 1))
            line = lines[i].decode(errors="replace")
            if ":" in line:
                key = line.split(":", 1)[0]
                value = draw(st.one_of(st.sampled_from(WORDS), st.just("[1, [2]]"),
                                       st.just("{a: 1}"), st.just("[[1, 2], [3]]"),
                                       st.just("!!python/object/apply:os.system ['ls']"),
                                       st.just("&a [*a]"), st.just("*nothing"),
                                       st.integers(-5, 5).map(str)))
                lines[i] = f"{key}: {value}".encode()
                data = b"\n".join(lines)
        elif kind == "indent":
            i = draw(st.integers(0, len(lines) - 1))
            lines[i] = draw(st.sampled_from([b"", b" ", b"\t", b"    "])) + lines[i].lstrip()
            data = b"\n".join(lines)
        elif kind == "swap_chars" and len(data) > 2:
            i = draw(st.integers(0, len(data) - 2))
            data = data[:i] + data[i + 1: i + 2] + data[i: i + 1] + data[i + 2:]
    return data


# ----------------------------------------------------------------- tests
@settings(FUZZ, max_examples=5 * EXAMPLES)
@given(st.text(max_size=300))
def test_any_text_parses_or_is_one_located_error(text: str) -> None:
    try:
        with cpu_bound(5):
            parse_yaml(text, "fuzz.yaml")
    except BackcheckError as error:
        assert error.file == "fuzz.yaml"
        assert str(error).startswith("fuzz.yaml")


@FUZZ
@given(documents)
def test_random_yaml_documents(document: object) -> None:
    check_run({"problem.yaml": dump(document)}, "solve", "problem.yaml")


@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes(content: bytes) -> None:
    check_run({"problem.yaml": content}, "solve", "problem.yaml")


@FUZZ
@given(st.sampled_from(sorted(PROBLEM_TEXTS)).flatmap(
    lambda name: st.tuples(st.just(name), mutated(PROBLEM_TEXTS[name]))))
def test_mutated_curated_problems(case: tuple[str, bytes]) -> None:
    name, content = case
    check_run({name: content}, "solve", name)


_ANSWERS: dict[str, str] = {}


def answers_text(name: str) -> str:
    if name not in _ANSWERS:
        _ANSWERS[name] = _answers_for(ROOT / "problems" / name)
    return _ANSWERS[name]


NETWORKS = ["mazur_2_2_2.yaml", "single_neuron.yaml", "cs231n_circuit.yaml",
            "fastai_lin_relu_lin.yaml"]


@FUZZ
@given(st.sampled_from(NETWORKS), st.data())
def test_mutated_answers_files(name: str, data: st.DataObject) -> None:
    sheet = data.draw(mutated(answers_text(name)))
    check_run({name: PROBLEM_TEXTS[name].encode(), "answers.yaml": sheet}, "verify",
              "answers.yaml")


@FUZZ
@given(st.sampled_from(NETWORKS), documents)
def test_random_answers_documents(name: str, answers: object) -> None:
    sheet = dump({"problem": name, "answers": answers})
    check_run({name: PROBLEM_TEXTS[name].encode(), "answers.yaml": sheet}, "verify",
              "answers.yaml")


# ------------------------------------------ the exact evaluator's fast matrix product
def _exact_numbers() -> st.SearchStrategy:
    from fractions import Fraction

    from backcheck.exact import FORM_MAX_SIZE, Exact, _ctx

    rational = st.fractions(min_value=-9, max_value=9, max_denominator=9)
    return st.one_of(
        st.sampled_from([Fraction(0), Fraction(1), Fraction(-1)]).map(Exact),
        rational.map(Exact),
        rational.map(lambda q: Exact(q).sigmoid()),  # irrational, with a closed form
        rational.filter(lambda q: q > 0).map(lambda q: Exact(q).sqrt()),
        st.floats(-5, 5).map(lambda v: Exact(None, _ctx.mpf(v), None, FORM_MAX_SIZE + 1)),
    )


@settings(FUZZ, max_examples=3 * EXAMPLES)
@given(st.integers(1, 4), st.integers(1, 14), st.integers(1, 4), st.data())
def test_fast_exact_matmul_is_numpys_elementwise_loop(m: int, n: int, p: int,
                                                      data: st.DataObject) -> None:
    """The fast paths of the exact matrix product (integer arithmetic over common
    denominators; one rounding per dot product where no closed form can survive) give
    the same numbers, the same rationals and the same closed forms as NumPy's loop."""
    import numpy as np

    from backcheck.backends import _exact_matmul
    from backcheck.exact import _ctx

    numbers = _exact_numbers()
    a = np.array([[data.draw(numbers) for _ in range(n)] for _ in range(m)], dtype=object)
    b = np.array([[data.draw(numbers) for _ in range(p)] for _ in range(n)], dtype=object)
    with cpu_bound(5):
        products = zip(np.matmul(a, b).flat, _exact_matmul(a, b).flat, strict=True)
    for slow, fast in products:
        assert (slow.q is None) == (fast.q is None)
        if slow.q is not None:
            assert slow.q == fast.q
        else:
            assert slow.form == fast.form and (slow.form is not None or fast.size == slow.size)
            assert abs(slow.approx - fast.approx) <= abs(slow.approx) * _ctx.mpf(10) ** -55 \
                + _ctx.mpf(10) ** -58
