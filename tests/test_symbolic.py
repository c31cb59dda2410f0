"""Symbols in problems and formula answers (FORMAT §8).

Formulas from ``solve`` are compared with SymPy's own differentiation of the loss, written
out independently here; formula sheets are graded with right answers in many spellings,
known slips, carried formulas and hostile strings."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import sympy

from backcheck.grading import verify
from backcheck.problem import load_problem
from backcheck.symbolic import plain, solve_symbolic

ROOT = Path(__file__).resolve().parents[1]
NEURON = """\
symbols: [w1, w2, b, x1, x2, t]
x: [x1, x2]
layers:
  - W: [[w1, w2]]
    b: [b]
    activation: sigmoid
target: [t]
loss: half_sse
at: {w1: 0.5, w2: -1, b: 0, x1: 1, x2: 2, t: 1}
"""
NET222 = """\
title: 2-2-2 sigmoid network, every weight a symbol
symbols: [w1, w2, w3, w4, w5, w6, w7, w8, c1, c2, c3, c4]
x: [0.05, 0.10]
layers:
  - W: [[w1, w2], [w3, w4]]
    b: [c1, c2]
    activation: sigmoid
  - W: [[w5, w6], [w7, w8]]
    b: [c3, c4]
    activation: sigmoid
target: [0.01, 0.99]
loss: half_sse
learning_rate: 0.5
at: {w1: 0.15, w2: 0.20, w3: 0.25, w4: 0.30, w5: 0.40, w6: 0.45, w7: 0.50, w8: 0.55,
     c1: 0.35, c2: 0.35, c3: 0.60, c4: 0.60}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def run(*args: str) -> subprocess.CompletedProcess:
    code = "import sys; from backcheck.cli import main; sys.argv[0] = 'backcheck'; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)


def S(name: str) -> sympy.Symbol:  # noqa: N802
    return sympy.Symbol(name, real=True)


def f(v):  # the logistic function, written out
    return 1 / (1 + sympy.exp(-v))


def equal_as_functions(a, b, symbols, points=3) -> bool:
    rng = np.random.default_rng(7)
    for _ in range(points):
        at = {s: sympy.Rational(int(rng.integers(-900, 900)), 1000) for s in symbols}
        if abs(sympy.N((plain(a) - plain(b)).subs(at), 30)) > 1e-20:
            return False
    return True


def test_single_neuron_formulas_match_sympy_diff_of_the_written_loss(tmp_path: Path) -> None:
    solution = solve_symbolic(load_problem(str(write(tmp_path, "n.yaml", NEURON))))
    w1, w2, b, x1, x2, t = (S(n) for n in ("w1", "w2", "b", "x1", "x2", "t"))
    loss = (f(w1 * x1 + w2 * x2 + b) - t) ** 2 / 2
    symbols = (w1, w2, b, x1, x2, t)
    assert equal_as_functions(solution.full["L"].item(), loss, symbols)
    for name, wrt in (("dL/dW1", (w1, w2)), ("dL/db1", (b,)), ("dL/dx", (x1, x2))):
        formulas = list(solution.full[name].flat)
        for formula, symbol in zip(formulas, wrt, strict=True):
            assert equal_as_functions(formula, sympy.diff(loss, symbol), symbols)


def test_json_formulas_are_sympy_readable_and_match_diff(tmp_path: Path) -> None:
    result = run("solve", str(write(tmp_path, "n.yaml", NEURON)), "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    w1, w2, b, x1, x2, t = (S(n) for n in ("w1", "w2", "b", "x1", "x2", "t"))
    names = {str(s): s for s in (w1, w2, b, x1, x2, t)}
    loss = (f(w1 * x1 + w2 * x2 + b) - t) ** 2 / 2
    read = sympy.sympify(document["quantities"]["dL/dW1"][0][0], locals=names)  # our output
    assert equal_as_functions(read, sympy.diff(loss, w1), names.values())
    assert "sigmoid" in document["readable"]["a1"][0]
    # values at at: (z = 0.5 - 2 = -1.5): dL/dW1[1,1] = (σ(-1.5) - 1)·σ(-1.5)·(1 - σ(-1.5))·1
    s = 1 / (1 + np.exp(1.5))
    assert document["values"]["dL/dW1"][0][0] == pytest.approx((s - 1) * s * (1 - s), rel=1e-12)


def test_every_weight_a_symbol_2_2_2_matches_diff_and_mazur_numbers(tmp_path: Path) -> None:
    solution = solve_symbolic(load_problem(str(write(tmp_path, "m.yaml", NET222))))
    w = [S(f"w{i}") for i in range(1, 9)]
    c = [S(f"c{i}") for i in range(1, 5)]
    R = sympy.Rational
    x = (R(5, 100), R(10, 100))
    h1 = f(w[0] * x[0] + w[1] * x[1] + c[0])
    h2 = f(w[2] * x[0] + w[3] * x[1] + c[1])
    o1 = f(w[4] * h1 + w[5] * h2 + c[2])
    o2 = f(w[6] * h1 + w[7] * h2 + c[3])
    loss = ((o1 - R(1, 100)) ** 2 + (o2 - R(99, 100)) ** 2) / 2
    symbols = w + c
    for k, symbol in enumerate(w[:4]):
        assert equal_as_functions(solution.full["dL/dW1"].flat[k], sympy.diff(loss, symbol),
                                  symbols, points=2)
    for k, symbol in enumerate(w[4:]):
        assert equal_as_functions(solution.full["dL/dW2"].flat[k], sympy.diff(loss, symbol),
                                  symbols, points=2)
    # Mazur (2015): ∂E/∂w5 = 0.082167041, w1 new = 0.149780716
    assert float(solution.numeric.float("dL/dW2")[0, 0]) == pytest.approx(0.082167041, abs=1e-9)
    assert float(solution.numeric.float("W1_new")[0, 0]) == pytest.approx(0.149780716, abs=1e-9)


def test_scalar_problem_with_symbols(tmp_path: Path) -> None:
    path = write(tmp_path, "s.yaml", """\
        symbols: [a, b]
        values: {x: a, y: 3}
        steps:
          - q = x * y + b
          - f = q ** 2
        """)
    solution = solve_symbolic(load_problem(str(path)))
    a, b = S("a"), S("b")
    x = S("x")
    expected = sympy.diff((x * 3 + b) ** 2, x).subs(x, a)  # df/dx at x = a
    assert equal_as_functions(solution.full["df/dx"].item(), expected, (a, b))
    assert equal_as_functions(solution.full["df/db"].item(), 2 * (3 * a + b), (a, b))


def test_relu_of_a_symbol_is_piecewise_without_at_and_decided_with_at(tmp_path: Path) -> None:
    body = """\
        symbols: [w, v]
        x: [1]
        layers:
          - W: [[w]]
            activation: relu
          - W: [[v]]
        target: [0]
        loss: sse
        """
    solution = solve_symbolic(load_problem(str(write(tmp_path, "r.yaml", body))))
    assert solution.full["a1"].item().has(sympy.Piecewise)
    decided = solve_symbolic(load_problem(str(write(tmp_path, "r2.yaml", body
                                                    + "at: {w: -2, v: 1}\n"))))
    assert decided.full["a1"].item() == 0
    assert decided.decision_notes() and "w" in decided.decision_notes()[0]


def test_explain_symbolic_and_solve_agree(tmp_path: Path) -> None:
    """explain --symbolic's formula for a quantity equals solve's (as functions)."""
    from backcheck.explain import explain
    from backcheck.solution import solve

    problem = load_problem("problems/cs231n_circuit.yaml")
    numeric = solve(problem)
    for name in numeric.names:
        if not name.startswith("d"):
            continue
        explanation = explain(numeric, name, symbolic=True)
        if explanation.symbolic is None:
            continue
        from backcheck.explain import _numeric

        ours = _numeric(explanation.symbolic.expression)
        value = sympy.N(ours.subs({s: sympy.Rational(str(problem.values.get(str(s), 0)))
                                   for s in ours.free_symbols if str(s) in problem.values}))
        assert float(value) == pytest.approx(float(numeric.float(name)), rel=1e-12)


def test_solve_latex_and_markdown(tmp_path: Path) -> None:
    path = str(write(tmp_path, "n.yaml", NEURON))
    latex = run("solve", path, "--latex")
    assert latex.returncode == 0 and r"\sigma\left(" in latex.stdout and "align*" in latex.stdout
    markdown = run("solve", path, "--markdown")
    assert markdown.returncode == 0 and "| `dL/dz1` |" in markdown.stdout
    terminal = run("solve", path)
    assert terminal.returncode == 0 and "σ(z1)" in terminal.stdout


@pytest.mark.parametrize("text, message", [
    ("symbols: [W1]\nx: [W1]\nlayers: [{W: [[1]]}]\ntarget: [0]\nloss: sse\n", "reserved"),
    ("symbols: [a, a]\nx: [a]\nlayers: [{W: [[1]]}]\ntarget: [0]\nloss: sse\n", "twice"),
    ("symbols: [a]\nx: [a]\nlayers: [{W: [[1]]}]\ntarget: [0]\nloss: sse\nat: {aa: 1}\n",
     "did you mean"),
    ("symbols: [a]\nx: [b]\nlayers: [{W: [[1]]}]\ntarget: [0]\nloss: sse\n", "expected"),
])
def test_bad_symbol_problems_are_one_clear_error(tmp_path: Path, text: str, message: str
                                                 ) -> None:
    result = run("solve", str(write(tmp_path, "bad.yaml", text)))
    assert result.returncode == 2 and message in result.stderr
    assert "Traceback" not in result.stderr


# ------------------------------------------------------------------ formula answers

def sheet(tmp_path: Path, answers: dict, problem: str = "single_neuron.yaml") -> Path:
    source = ROOT / "problems" / problem
    (tmp_path / problem).write_text(source.read_text())
    lines = [f"problem: {problem}", "answers:"]
    for key, value in answers.items():
        lines.append(f"  {key}: {json.dumps(value, ensure_ascii=False)}")
    path = tmp_path / "answers.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def verdicts(report) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for result in report.results:
        out.setdefault(result.name, set()).update(item.verdict for item in result.items)
    return out


SINGLE_RIGHT = {  # single_neuron: sse loss, sigmoid, Wx
    "dL/da1": ["2*(a1 - t)", "2*a1 - 2*t", "-2*(t - y_hat)", "(a1 - t) + (a1 - t)"],
    "dL/dz1": ["2*(a1 - t)*a1*(1 - a1)", "2*(y_hat - t)*sigmoid(z1)*(1 - sigmoid(z1))",
               "da1 * a1 * (1 - a1)", "δ1 / 1", "2*(a1-t)*(a1 - a1**2)",
               "2 * (sigmoid(W1 @ x + b1) - t) * a1 * (1 - a1)"],
    "dL/dW1": ["dz1 @ x.T", "dz1 * x.T", "(x @ dz1.T).T", "delta1 @ x.T"],
    "dL/db1": ["dz1", "2*(a1 - t)*a1*(1 - a1)"],
    "dL/dx": ["W1.T @ dz1", "(dz1.T @ W1).T", "W1.T * dz1"],
    "z1": ["W1 @ x + b1", "b1 + W1 @ x"],
    "L": ["sum((a1 - t)**2)", "sum((t - y_hat)**2)", "(a1[1] - t[1])**2"],
    "dL/dW1[1,2]": ["dz1[1] * x[2]", "dz1 * x[2]"],
}


@pytest.mark.parametrize("name, spelling",
                         [(n, s) for n, spellings in SINGLE_RIGHT.items() for s in spellings])
def test_right_formula_in_many_spellings_is_correct(tmp_path: Path, name: str,
                                                    spelling: str) -> None:
    report = verify(str(sheet(tmp_path, {name: spelling})))
    assert verdicts(report) == {name.split("[")[0]: {"correct"}}, spelling


def test_mazur_matrix_formulas_correct_and_transpose_shows(tmp_path: Path) -> None:
    report = verify(str(sheet(tmp_path, {
        "dL/dz2": "(a2 - t) * a2 * (1 - a2)",
        "dL/dW2": "dz2 @ a1.T",
        "dL/dz1": "(W2.T @ dz2) * a1 * (1 - a1)",
        "dL/dW1": "dz1 @ x.T",
        "dL/db2": ["dz2[1]", "dz2[2]"],
    }, "mazur_2_2_2.yaml")))
    assert all(v == {"correct"} for v in verdicts(report).values())
    wrong = verify(str(sheet(tmp_path, {"dL/dW2": "a1 @ dz2.T"}, "mazur_2_2_2.yaml")))
    item = wrong.results[0].items[0]
    assert item.verdict == "wrong" and "transpose" in item.diagnosis


@pytest.mark.parametrize("name, formula, words", [
    ("dL/dz1", "2*(a1 - t)", "activation derivative"),
    ("dL/da1", "a1 - t", "factor 2"),
    ("dL/dW1", "x @ dz1.T", "transpose"),
    ("dL/da1", "2*(t - a1)", "t − p"),
])
def test_known_slips_are_wrong_with_their_diagnosis(tmp_path: Path, name: str, formula: str,
                                                    words: str) -> None:
    report = verify(str(sheet(tmp_path, {name: formula})))
    item = report.results[0].items[0]
    assert item.verdict == "wrong"
    assert words in (item.diagnosis or ""), item.diagnosis


def test_mazur_weights_not_transposed_is_named(tmp_path: Path) -> None:
    report = verify(str(sheet(tmp_path, {"dL/dz1": "(W2 @ dz2) * a1 * (1 - a1)"},
                              "mazur_2_2_2.yaml")))
    item = report.results[0].items[0]
    assert item.verdict == "wrong" and "Wᵀ" in item.diagnosis


def test_right_only_at_the_given_numbers_is_wrong(tmp_path: Path) -> None:
    # x = [2, -1, 0.5]: dz1 * 2 equals dL/dW1[1,1] at the problem's numbers only
    report = verify(str(sheet(tmp_path, {"dL/dW1[1,1]": "dz1 * 2"})))
    item = report.results[0].items[0]
    assert item.verdict == "wrong" and "not as a formula" in item.diagnosis


def test_formula_carried_from_an_earlier_wrong_formula(tmp_path: Path) -> None:
    report = verify(str(sheet(tmp_path, {
        "dL/dz1": "(a1 - t)*a1*(1 - a1)",
        "dL/dW1": "(a1 - t)*a1*(1 - a1) @ x.T",
        "dL/db1": "(a1 - t)*a1*(1 - a1)",
    })))
    got = verdicts(report)
    assert got["dL/dz1"] == {"wrong"}
    assert got["dL/dW1"] == {"carried"} and got["dL/db1"] == {"carried"}


def test_formula_and_number_answers_mix(tmp_path: Path) -> None:
    report = verify(str(sheet(tmp_path, {"z1": [0.35], "dL/dz1": "2*(a1 - t)*a1*(1 - a1)"})))
    assert verdicts(report) == {"z1": {"correct"}, "dL/dz1": {"correct"}}


def test_formula_answers_for_a_symbolic_problem(tmp_path: Path) -> None:
    (tmp_path / "n.yaml").write_text(NEURON)
    (tmp_path / "a.yaml").write_text(textwrap.dedent("""\
        problem: n.yaml
        answers:
          dL/dW1: "(sigmoid(w1*x1 + w2*x2 + b) - t)*a1*(1 - a1) @ x.T"
          dL/db1: "(a1 - t) * a1"
          z1: -1.5
        """))
    got = verdicts(verify(str(tmp_path / "a.yaml")))
    assert got == {"dL/dW1": {"correct"}, "dL/db1": {"wrong"}, "z1": {"correct"}}


@pytest.mark.parametrize("formula, message", [
    ('__import__("os").system("echo pwned")', "not allowed"),
    ("a1 +* 2", ":3:"),
    ("dz3 @ x.T", "did you mean"),
    ("x.__class__", "not allowed"),
    ("(" * 60 + "x" + ")" * 60, "at most"),
    ("lambda: 1", "not allowed"),
    ("a1[0]", "start at 1"),
    ("+".join(["a1"] * 600), "too long"),
    ("open('/etc/passwd')", "unknown function"),
])
def test_hostile_or_broken_formulas_are_one_clear_error(tmp_path: Path, formula: str,
                                                       message: str) -> None:
    result = run("verify", str(sheet(tmp_path, {"dL/dz1": formula})))
    assert result.returncode == 2, result.stdout
    assert message in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.count("error:") == 1


def test_formula_with_huge_powers_is_wrong_not_a_crash(tmp_path: Path) -> None:
    report = verify(str(sheet(tmp_path, {"dL/dz1": "(a1 + 9)**9**9**9"})))
    assert verdicts(report) == {"dL/dz1": {"wrong"}}


@pytest.mark.parametrize("problem", ["problems/symbolic/neuron.yaml",
                                     "problems/symbolic/mazur_2_2_2.yaml"])
def test_explain_symbolic_prints_the_formula_solve_prints(problem: str) -> None:
    """explain --symbolic and solve agree on every formula: the same expression element by
    element, and its value at at: is explain's number."""
    from backcheck.symbolic import explain_symbolic

    written = load_problem(problem)
    solution = solve_symbolic(written)
    names = [n for n in solution.names if n.startswith("dL/")]
    if "2_2_2" in problem:
        names = ["dL/dz2", "dL/dW1", "dL/db1"]
    at = {written.symbols[k]: sympy.Rational(v.numerator, v.denominator)
          for k, v in written.at.items()}
    for name in names:
        shown = np.asarray(solution.shown(name), dtype=object)
        for index in np.ndindex(*shown.shape):
            label = f"{name}[{','.join(str(i + 1) for i in index)}]"
            explanation = explain_symbolic(written, label)
            assert explanation.symbolic.expression == shown[index]
            full = plain(solution.full[name][index]).subs(at)
            assert float(full) == pytest.approx(float(explanation.value), rel=1e-12)


def test_explain_cli_on_a_symbolic_problem() -> None:
    result = run("explain", "problems/symbolic/neuron.yaml", "dL/dW1[1,2]", "--symbolic")
    assert result.returncode == 0, result.stderr
    assert "x2·(1 − σ(z1))·(−t + σ(z1))·σ(z1)" in result.stdout
    assert "z1 is b + w1·x1 + w2·x2" in result.stdout


def test_sympy_layer_decides_equality_when_points_cannot(tmp_path: Path) -> None:
    """The last layer (SymPy, time-limited) on its own: equal formulas are shown equal,
    a factor 2 off is not."""
    from backcheck.formulas import FormulaAnswer, parse_formula
    from backcheck.grading import Grader

    grader = Grader()
    grader.grade(str(sheet(tmp_path, {"dL/dz1": "2*(a1 - t)*a1*(1 - a1)"})))
    checker = next(iter(grader._contexts.values())).formula_checker
    for text, expected in (("2*(y_hat - t)*sigmoid(z1)*(1 - a1)", True),
                           ("dz1 @ x.T * 2", False)):
        name = "dL/dz1" if "y_hat" in text else "dL/dW1"
        expr = parse_formula(text, checker.known, file=None, mark=None)
        assert checker.sympy_equal(FormulaAnswer(name, None, text, expr, ())) is expected


def test_a_class_of_sheets_reuses_proven_formulas(tmp_path: Path) -> None:
    from backcheck.grading import Grader

    grader = Grader()
    path = sheet(tmp_path, {"dL/dW1": "dz1 @ x.T"})
    first = grader.grade(str(path))
    second = grader.grade(str(path))
    assert verdicts(first) == verdicts(second) == {"dL/dW1": {"correct"}}
