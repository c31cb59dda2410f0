"""Scalar-expression problems end to end (FORMAT §2): solve, refusals, hostile steps.

Numbers are checked against PyTorch autograd (tests/reference.py) and against published
figures (micrograd's README, CS231n's notes). The CLI runs in-process through
``backcheck.cli.main`` so exit codes and messages are exactly what a user sees.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from backcheck import cli, load_problem, solve
from backcheck.errors import BackcheckError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpu_bounds import cpu_bound  # noqa: E402
from reference import load, torch_scalar_reference  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PROBLEMS = ROOT / "problems"
SCALAR_FILES = ["micrograd_readme.yaml", "cs231n_circuit.yaml", "cs231n_sigmoid_neuron.yaml"]


def run(*args: str) -> tuple[int, str, str]:
    """Run the CLI in-process: (exit code, stdout, stderr)."""
    saved = sys.argv
    sys.argv = ["backcheck", *args]
    out, err = io.StringIO(), io.StringIO()
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                cli.main()
            except SystemExit as stop:
                code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    finally:
        sys.argv = saved
    return code, out.getvalue(), err.getvalue()


def write(tmp_path: Path, text: str, name: str = "p.yaml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def steps_file(tmp_path: Path, values: str, *steps: str, name: str = "p.yaml") -> str:
    body = "\n".join(f"  - {json.dumps(step)}" for step in steps)
    return write(tmp_path, f"values: {values}\nsteps:\n{body}\n", name)


# --------------------------------------------------------------------------- solve


@pytest.mark.parametrize("file", SCALAR_FILES)
def test_solve_matches_torch_on_every_value_and_gradient(file):
    reference = torch_scalar_reference(load(PROBLEMS / file))
    solution = solve(load_problem(str(PROBLEMS / file)))
    assert set(reference) == set(solution.names)
    for name, expected in reference.items():
        assert float(solution.float(name)) == pytest.approx(float(expected), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("name, published", [
    ("g2", "24.7041"), ("dg2/da", "138.8338"), ("dg2/db", "645.5773"),
])
def test_micrograd_readme_published_digits(name, published):
    solution = solve(load_problem(str(PROBLEMS / "micrograd_readme.yaml")))
    assert abs(float(solution.float(name)) - float(published)) <= 0.5e-4


def test_micrograd_exact_values_are_fractions():
    solution = solve(load_problem(str(PROBLEMS / "micrograd_readme.yaml")))
    assert solution.exact("g2").item().q == pytest.approx(2421 / 98)
    assert str(solution.exact("g2").item().q) == "2421/98"


def test_solve_json_for_the_cs231n_circuit():
    code, out, _ = run("solve", str(PROBLEMS / "cs231n_circuit.yaml"), "--json")
    assert code == 0
    quantities = json.loads(out)["quantities"]
    assert quantities["q"] == 3 and quantities["f"] == -12
    assert (quantities["df/dx"], quantities["df/dy"], quantities["df/dz"]) == (-4, -4, 3)


def test_solve_prints_every_value_and_gradient():
    code, out, _ = run("solve", str(PROBLEMS / "micrograd_readme.yaml"))
    assert code == 0
    for name in ("g2", "c3", "dg2/da", "dg2/db", "dg2/dc2", "138.834", "645.577"):
        assert name in out


def test_intermediate_names_get_gradients_too(tmp_path):
    path = steps_file(tmp_path, "{a: 2, b: -3}", "c = a*b", "d = c + a", "e = d*d")
    solution = solve(load_problem(path))
    # e = (ab + a)², de/dc = 2(ab + a) = 2·(−6 + 2) = −8, de/da = −8·(b + 1) = 16
    assert float(solution.float("de/dc")) == -8
    assert float(solution.float("de/dd")) == -8
    assert float(solution.float("de/da")) == 16
    assert float(solution.float("de/db")) == -16


def test_output_key_picks_a_step_that_is_not_last(tmp_path):
    path = write(tmp_path, "values: {x: 3}\nsteps:\n  - y = x*x\n  - z = y + 1\noutput: y\n")
    solution = solve(load_problem(path))
    assert float(solution.float("dy/dx")) == 6
    assert float(solution.float("dy/dz")) == 0


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("step", [
    "y = 9**9**9",
    "y = x**99999999999",
    "y = x**-99999999999",
    "y = (x + 1/3)**99999999999",
    "y = exp(x)**99999999999",
    "y = x**(9**9**9)",
    "y = x**x**x**x**x",
])
def test_huge_powers_are_refused_quickly(tmp_path, step):
    path = steps_file(tmp_path, "{x: 2}", step)
    with cpu_bound(5):
        code, out, err = run("solve", path)
    assert code == 2, err
    assert "power too large" in err or "beyond float64" in err, err
    assert "Traceback" not in err and out == ""


def test_repeated_squaring_is_stopped_before_it_eats_memory(tmp_path):
    steps = ["y0 = x*x"] + [f"y{i} = y{i - 1}*y{i - 1}" for i in range(1, 40)]
    path = steps_file(tmp_path, "{x: 3}", *steps)
    with cpu_bound(10):
        code, _, err = run("solve", path)
    assert code == 2
    assert "beyond float64's range" in err


def test_rationals_that_grow_without_bound_are_kept_to_fifty_digits(tmp_path):
    # the logistic map with rational numbers: denominators square at every step
    steps = ["y0 = x"] + [f"y{i} = 3.7 * y{i - 1} * (1 - y{i - 1})" for i in range(1, 25)]
    path = steps_file(tmp_path, "{x: 0.3}", *steps)
    with cpu_bound(10):
        solution = solve(load_problem(path))
    y = 0.3
    for _ in range(24):
        y = 3.7 * y * (1 - y)
    assert float(solution.float("y24")) == pytest.approx(y, rel=1e-6)
    assert solution.crosscheck.ok


def test_one_to_a_huge_power_is_exact(tmp_path):
    path = steps_file(tmp_path, "{x: 1, m: -1}", "y = x**99999999999", "z = m**99999999999")
    solution = solve(load_problem(path))
    assert float(solution.float("y")) == 1 and float(solution.float("z")) == -1
    assert float(solution.float("dz/dm")) == 99999999999  # n·m^(n−1), n − 1 even


def test_values_beyond_float64_are_a_clear_error(tmp_path):
    path = steps_file(tmp_path, "{x: 1e100}", "y = x**4")
    code, _, err = run("solve", path)
    assert code == 2
    assert "beyond float64's range" in err and "Traceback" not in err


@pytest.mark.parametrize("step, words", [
    ("y = log(x)", ["y = log(x)", "line 4", "log of a number that is not positive"]),
    ("y = sqrt(x)", ["y = sqrt(x)", "line 4", "square root of a negative number"]),
    ("y = 1 / (x + 1)", ["y = 1 / (x + 1)", "line 4", "division by zero"]),
    ("y = x**0.5", ["y = x**0.5", "line 4", "negative number raised to a non-integer"]),
])
def test_domain_errors_name_the_step_and_its_line(tmp_path, step, words):
    path = steps_file(tmp_path, "{x: -1}", "q = x * 2", step)
    code, out, err = run("solve", path)
    assert code == 2 and out == ""
    for word in words:
        assert word in err, err
    assert f"{Path(path).name}:4:" in err


def test_domain_error_inside_a_step_names_the_operation(tmp_path):
    path = steps_file(tmp_path, "{x: -1}", "y = 3 + log(x) * 2")
    code, _, err = run("solve", path)
    assert code == 2
    assert "log(x)" in err and "y = 3 + log(x) * 2" in err and "line 3" in err


def test_a_gradient_that_does_not_exist_is_reported_as_such(tmp_path):
    path = steps_file(tmp_path, "{x: 0}", "y = sqrt(x)")
    code, _, err = run("solve", path)
    assert code == 2
    assert "gradient" in err and "y = sqrt(x)" in err


def test_redefinition_names_both_lines(tmp_path):
    path = steps_file(tmp_path, "{x: -1}", "q = x * 2", "y = q + 1", "q = y * 2")
    code, _, err = run("solve", path)
    assert code == 2
    assert "'q'" in err and "line 5" in err and "line 3" in err


def test_redefining_a_value_names_both_lines(tmp_path):
    path = steps_file(tmp_path, "{x: -1}", "x = 3")
    code, _, err = run("solve", path)
    assert code == 2
    assert "'x'" in err and "line 3" in err and "line 1" in err


# --------------------------------------------------------------------------- hostile steps

INJECTIONS = [
    "y = __import__('os').system('touch {sentinel}')",
    "y = open('{sentinel}', 'w')",
    "y = exec(\"open('{sentinel}', 'w')\")",
    "y = eval(\"open('{sentinel}', 'w')\")",
    "y = (lambda: open('{sentinel}', 'w'))()",
    "y = x.__class__.__bases__[0].__subclasses__()",
    "y = [c for c in ().__class__.__base__.__subclasses__()]",
    "y = exp(x); import os; os.system('touch {sentinel}')",
    "y = exp(x)\nimport os",
    "y = globals()['__builtins__']",
    "y = f'{{open(\"{sentinel}\", \"w\")}}'",
    "y = x if open('{sentinel}', 'w') else x",
    "y = (z := open('{sentinel}', 'w'))",
    "y = getattr(x, 'real')",
    "y = 'a' * 10**9",
    "y = sympify('x')",
    "y = x @ x",
    "y = x ^ 2",
    "y = x(1)",
    "y = Symbol('x')",
]


def watch_strings(monkeypatch, payload: str) -> None:
    """Fail if the user's text reaches eval/exec or SymPy's string parsers.

    The standard library itself uses eval (namedtuple) and SymPy sympifies its own
    objects, so only calls whose argument is (part of) the step text are refused.
    (``ast.parse`` does see the text: it only builds a tree, which the parser walks
    with an allow-list.)
    """
    import importlib

    import sympy

    core_sympify = importlib.import_module("sympy.core.sympify")
    parser = importlib.import_module("sympy.parsing.sympy_parser")

    fragments = {payload, payload.split("=", 1)[-1].strip()}

    def guard(original):
        def checked(source, *args, **kwargs):
            if isinstance(source, str) and any(f and f in source for f in fragments):
                raise AssertionError(f"user text reached {original.__name__}: {source!r}")
            return original(source, *args, **kwargs)
        return checked

    monkeypatch.setattr(builtins, "eval", guard(builtins.eval))
    monkeypatch.setattr(builtins, "exec", guard(builtins.exec))
    monkeypatch.setattr(sympy, "sympify", guard(sympy.sympify))
    monkeypatch.setattr(core_sympify, "sympify", guard(core_sympify.sympify))
    monkeypatch.setattr(parser, "parse_expr", guard(parser.parse_expr))


@pytest.mark.parametrize("payload", INJECTIONS)
def test_injection_attempts_exit_2_and_nothing_runs(tmp_path, monkeypatch, payload):
    sentinel = tmp_path / "PWNED"
    path = steps_file(tmp_path, "{x: 1}", payload.format(sentinel=sentinel))

    watch_strings(monkeypatch, payload.format(sentinel=sentinel))
    for command in (["solve", path], ["graph", path], ["explain", path, "dy/dx"]):
        code, out, err = run(*command)
        assert code == 2, (command, err)
        assert out == ""
        assert "Traceback" not in err and "internal error" not in err
        assert err.startswith("error: ")
    assert not sentinel.exists()


def test_injection_in_the_explain_quantity_is_just_an_unknown_name():
    code, out, err = run("explain", str(PROBLEMS / "cs231n_circuit.yaml"),
                         "__import__('os').system('echo hi')")
    assert code == 2 and out == ""
    assert "unknown quantity" in err


def test_problem_errors_from_the_api_are_backcheck_errors(tmp_path):
    path = steps_file(tmp_path, "{x: 1}", "y = x.real")
    with pytest.raises(BackcheckError):
        load_problem(path)


# --------------------------------------------------------------------------- graph and explain


def test_graph_and_explain_work_on_every_scalar_problem(tmp_path):
    for file in SCALAR_FILES:
        path = str(PROBLEMS / file)
        code, out, err = run("graph", path)
        assert code == 0, err
        dot = tmp_path / (file + ".dot")
        code, _, err = run("graph", path, "-o", str(dot))
        assert code == 0, err
        solution = solve(load_problem(path))
        for name in solution.names:
            if name.startswith("d"):
                code, out, err = run("explain", path, name)
                assert code == 0, (name, err)


def test_reference_values_appear_in_graph_output():
    reference = torch_scalar_reference(load(PROBLEMS / "cs231n_circuit.yaml"))
    code, out, _ = run("graph", str(PROBLEMS / "cs231n_circuit.yaml"))
    assert code == 0
    for name in ("q", "f", "x", "y", "z"):
        assert f"{name} " in out
    assert f"df/dx = {int(reference['df/dx'])}" in out
    assert np.isclose(reference["df/dz"], 3)
