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
                                     "problems/symbolic/mazur_2_2_2.yaml",
                                     "problems/symbolic/tensor_linear.yaml"])
def test_explain_symbolic_prints_the_formula_solve_prints(problem: str) -> None:
    """explain --symbolic and solve agree on every formula: the same expression element by
    element, and its value at at: is explain's number."""
    from backcheck.symbolic import explain_symbolic

    written = load_problem(problem)
    solution = solve_symbolic(written)
    names = [n for n in solution.names if n.startswith("dL/")]
    if "2_2_2" in problem:
        names = ["dL/dz2", "dL/dW1", "dL/db1"]
    if "tensor" in problem:
        names = ["dL/dW"]
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


# ------------------------------------------------------------------ tensor problems
# Formulas of tensor problems (FORMAT §7 with §8) against SymPy's own differentiation of
# the forward expression, written here with SymPy matrices; values at at: against
# PyTorch float64 autograd on the same steps.

def _matrix(rows: list[list]) -> sympy.Matrix:
    return sympy.Matrix([[sympy.nsimplify(v) for v in row] for row in rows])


def _check_gradient(solution, name: str, loss, wrt, symbols, points: int = 2) -> None:
    got = np.asarray(solution.full[name], dtype=object)
    for index in np.ndindex(*got.shape):
        assert equal_as_functions(got[index], sympy.diff(loss, wrt[index]), symbols,
                                  points=points), (name, index)


def test_tensor_linear_layer_with_symbolic_w_matches_sympy_diff() -> None:
    solution = solve_symbolic(load_problem("problems/symbolic/tensor_linear.yaml"))
    w = sympy.Matrix(2, 3, [S(f"w{i}{j}") for i in (1, 2) for j in (1, 2, 3)])
    xs = sympy.Matrix(2, 2, [S(f"x_{i}{j}") for i in (1, 2) for j in (1, 2)])
    numbers = {xs[i, j]: v for (i, j), v in np.ndenumerate(np.array([[1, 2], [0, -1]]))}
    b, r = _matrix([[0, 1, -1]]), _matrix([[1, 0, 2], [-1, 1, 0]])
    z = xs * w + sympy.Matrix.vstack(b, b)
    loss = sum(f(z[i, j]) * r[i, j] for i in range(2) for j in range(3))
    symbols = list(w)
    _check_gradient(solution, "dL/dW", loss.subs(numbers), np.array(w).reshape(2, 3), symbols)
    got_x = np.asarray(solution.full["dL/dX"], dtype=object)
    for (i, j), formula in np.ndenumerate(got_x):
        assert equal_as_functions(formula, sympy.diff(loss, xs[i, j]).subs(numbers), symbols)


def test_softmax_ce_on_symbolic_logits_is_softmax_minus_one_hot() -> None:
    solution = solve_symbolic(load_problem("problems/symbolic/softmax_ce_row.yaml"))
    s = [S("s1"), S("s2"), S("s3")]
    loss = -sympy.log(sympy.exp(s[1]) / sum(sympy.exp(v) for v in s))  # y = 1 (0-based)
    _check_gradient(solution, "dL/dlogits", loss, np.array([s], dtype=object), s)
    assert equal_as_functions(solution.full["L"].item(), loss, s)


def test_batch_norm_with_symbolic_gamma_beta_matches_sympy_diff() -> None:
    solution = solve_symbolic(load_problem("problems/symbolic/batch_norm_gamma_beta.yaml"))
    g, c = [S("g1"), S("g2")], [S("c1"), S("c2")]
    xs = sympy.Matrix(3, 2, [S(f"x_{i}{j}") for i in range(3) for j in range(2)])
    numbers = {xs[i, j]: v for (i, j), v in np.ndenumerate(np.array([[1, 2], [3, 0], [2, 4]]))}
    dout = _matrix([[1, 0], [0, 1], [-1, 1]])
    loss = 0
    for j in range(2):
        column = [xs[i, j] for i in range(3)]
        mu = sum(column) / 3
        var = sum((v - mu) ** 2 for v in column) / 3
        for i in range(3):
            xhat = (column[i] - mu) / sympy.sqrt(var + sympy.Rational(1, 100))
            loss += (g[j] * xhat + c[j]) * dout[i, j]
    symbols = g + c
    _check_gradient(solution, "dL/dgamma", loss.subs(numbers), np.array(g, dtype=object),
                    symbols)
    _check_gradient(solution, "dL/dbeta", loss.subs(numbers), np.array(c, dtype=object),
                    symbols)
    got_x = np.asarray(solution.full["dL/dx"], dtype=object)
    for (i, j), formula in np.ndenumerate(got_x):
        assert equal_as_functions(formula, sympy.diff(loss, xs[i, j]).subs(numbers), symbols)


@pytest.mark.parametrize("name", ["tensor_linear", "softmax_ce_row", "batch_norm_gamma_beta"])
def test_symbolic_tensor_values_at_at_match_pytorch(name: str) -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    from torch_steps import run_torch

    from backcheck.symbolic import numeric_problem

    written = load_problem(f"problems/symbolic/{name}.yaml")
    result = run("solve", f"problems/symbolic/{name}.yaml", "--json")
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)["values"]
    reference = run_torch(numeric_problem(written, written.at))
    for key, expected in reference.items():
        assert np.allclose(np.asarray(values[key], dtype=float), expected, rtol=1e-12,
                           atol=1e-14), key


def test_max_of_formulas_is_decided_at_at_and_needs_it(tmp_path: Path) -> None:
    body = """\
        symbols: [p, q]
        values:
          X: [[1, 2], [0, -1]]
          W: [[p, 1], [q, -1]]
        steps:
          - h = relu(X @ W)
          - m = max(h, axis=1)
          - L = sum(m)
        """
    decided = solve_symbolic(load_problem(str(write(tmp_path, "m.yaml",
                                                    body + "at: {p: 1, q: 2}\n"))))
    p, q = S("p"), S("q")
    assert sympy.simplify(decided.full["L"].item() - (p + 2 * q + 1)) == 0
    assert any("p + 2*q" in note for note in decided.decision_notes())
    result = run("solve", str(write(tmp_path, "m2.yaml", body)))
    assert result.returncode == 2 and "give at:" in result.stderr


def test_symbol_in_an_index_or_clashing_with_a_value_or_too_large_is_refused(
        tmp_path: Path) -> None:
    from backcheck.errors import BackcheckError

    big = np.arange(60 * 60).reshape(60, 60) % 7 - 3
    path = write(tmp_path, "big.yaml", f"symbols: [w]\nvalues:\n  X: {big.tolist()}\n"
                 "steps: ['h = X * w', 'L = sum(h @ h)']\n")
    with pytest.raises(BackcheckError, match="too large for formulas"):
        load_problem(str(path))
    index = write(tmp_path, "i.yaml", """\
        symbols: [k]
        values: {A: [[1, 2]], i: [k]}
        steps: ["B = A[0, i]", "L = sum(B)"]
        """)
    result = run("solve", str(index))
    assert result.returncode == 2 and "holds symbols" in result.stderr
    clash = write(tmp_path, "c.yaml", """\
        symbols: [A]
        values: {A: [[1, 2]]}
        steps: ["L = sum(A)"]
        """)
    result = run("solve", str(clash))
    assert result.returncode == 2 and "also the name of a value" in result.stderr


# ------------------------------------------------------------ tensor formula answers

def tensor_sheet(tmp_path: Path, answers: dict) -> Path:
    (tmp_path / "tensor_mlp.yaml").write_text(
        (ROOT / "problems/symbolic/tensor_mlp.yaml").read_text())
    lines = ["problem: tensor_mlp.yaml", "answers:"]
    lines += [f"  {key}: {json.dumps(value)}" for key, value in answers.items()]
    (tmp_path / "answers.yaml").write_text("\n".join(lines) + "\n")
    return tmp_path / "answers.yaml"


def test_tensor_formula_sheets_right_and_slips() -> None:
    right = verify("problems/symbolic/tensor_mlp_right.yaml")
    assert all(v == {"correct"} for v in verdicts(right).values()), verdicts(right)
    slips = verify("problems/symbolic/tensor_mlp_slips.yaml")
    first = {r.name: r.items[0] for r in slips.results}
    assert first["dL/dW2"].verdict == "wrong" and "transpose" in first["dL/dW2"].diagnosis
    assert first["dL/dW2"].mistake == "matmul_not_transposed"
    assert first["dL/dz"].verdict == "wrong" and "activation derivative" in first["dL/dz"].diagnosis
    assert first["dL/dW1"].verdict == "carried" and "dL/dz" in first["dL/dW1"].diagnosis
    assert first["dL/db1"].verdict == "wrong" and "not summed" in first["dL/db1"].diagnosis


@pytest.mark.parametrize("name, spelling, verdict", [
    ("dL/dW2", "(dout.T @ h).T", "correct"),
    ("dL/dW2", "matmul(transpose(h), dout)", "correct"),
    ("dL/db1", "sum(dh * h * (1 - h), axis=0)", "correct"),
    ("dL/db1", "dz.sum(0)", "correct"),
    ("dL/dz[2,3]", "dh[2,3] * h[2,3] * (1 - h[2,3])", "correct"),
    ("dL/dh", "dout * W2.T", "correct"),  # a column times a row broadcasts to the outer product
    ("dL/dW1", "Xᵀ @ (dh ⊙ σ(z) ⊙ (1 − h))", "correct"),  # as printed in a textbook
    ("dL/db1", "np.sum(dz, axis=0)", "correct"),  # as written in NumPy
    ("dL/dW2", "h.T.dot(dout)", "correct"),
    ("dL/dout", "2*(out - y)", "wrong"),  # the mean's 1/3 forgotten
    ("dL/dW1", "X.T @ dz * 2", "wrong"),
])
def test_tensor_formula_spellings(tmp_path: Path, name: str, spelling: str, verdict: str
                                  ) -> None:
    report = verify(str(tensor_sheet(tmp_path, {name: spelling})))
    assert verdicts(report) == {name.split("[")[0]: {verdict}}, spelling


def test_missing_mask_of_a_relu_in_matrix_form_is_named(tmp_path: Path) -> None:
    text = (ROOT / "problems/symbolic/tensor_mlp.yaml").read_text().replace("sigmoid(z)",
                                                                            "relu(z)")
    (tmp_path / "relu.yaml").write_text(text)
    (tmp_path / "a.yaml").write_text('problem: relu.yaml\nanswers:\n'
                                     '  dL/dz: "dh * (z > 0)"\n  dL/dW1: "X.T @ dh"\n')
    report = verify(str(tmp_path / "a.yaml"))
    first = {r.name: r.items[0] for r in report.results}
    assert first["dL/dz"].verdict == "correct"
    assert first["dL/dW1"].verdict == "wrong"
    assert "derivative" in first["dL/dW1"].diagnosis or "mask" in first["dL/dW1"].diagnosis


def test_formula_answers_for_a_symbolic_tensor_problem(tmp_path: Path) -> None:
    for name in ("tensor_linear.yaml",):
        (tmp_path / name).write_text((ROOT / "problems/symbolic" / name).read_text())
    (tmp_path / "a.yaml").write_text(textwrap.dedent("""\
        problem: tensor_linear.yaml
        answers:
          dL/dW: "X.T @ (R * h * (1 - h))"
          dL/dX: "dz @ W.T"
          dL/db: "sum(R * h, axis=0)"
          h: "sigmoid(X @ W + b)"
        """))
    got = verdicts(verify(str(tmp_path / "a.yaml")))
    assert got == {"dL/dW": {"correct"}, "dL/dX": {"correct"}, "dL/db": {"wrong"},
                   "h": {"correct"}}


@pytest.mark.parametrize("formula, message", [
    ("X.T @@ dz", ":3:"),
    ("X.T @ dzz", "did you mean"),
    ("X.__class__", "not allowed"),
    ("(" * 60 + "dz" + ")" * 60, "at most"),
    ("dz[0, 1]", "start at 1"),
    ("eval('1')", "unknown function"),
])
def test_tensor_bad_formulas_are_one_clear_error(tmp_path: Path, formula: str,
                                                 message: str) -> None:
    result = run("verify", str(tensor_sheet(tmp_path, {"dL/dW1": formula})))
    assert result.returncode == 2, result.stdout
    assert message in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.count("error:") == 1


def test_sympy_layer_on_a_tensor_problem_shows_matrix_formulas_equal() -> None:
    from backcheck.formulas import FormulaAnswer, parse_formula
    from backcheck.grading import Grader

    grader = Grader()
    grader.grade("problems/symbolic/tensor_mlp_right.yaml")
    checker = next(iter(grader._contexts.values())).formula_checker
    text = "X.T @ (dh * sigmoid(z) * (1 - h))"
    expr = parse_formula(text, checker.known, file=None, mark=None, tensor=True)
    assert checker.sympy_equal(FormulaAnswer("dL/dW1", None, text, expr, ()))


def test_a_formula_carried_from_a_wrong_number_answer_shows_what_follows(tmp_path: Path
                                                                          ) -> None:
    """dL/da1 written as a wrong number, dL/dz1 as a formula built on it: carried, and the
    verify view's "from your answers" column shows what follows (−0.5·σ′(0.35))."""
    from rich.console import Console

    from backcheck.render.verify_view import quantity_table

    report = verify(str(sheet(tmp_path, {"dL/da1": -0.5, "dL/dz1": "-0.5 * a1 * (1 - a1)",
                                         "dL/db1": "-0.5 * sigmoid(z1) * (1 - a1)"})))
    got = verdicts(report)
    assert got == {"dL/da1": {"wrong"}, "dL/dz1": {"carried"}, "dL/db1": {"carried"}}
    item = next(r for r in report.results if r.name == "dL/dz1").items[0]
    assert "your answer for dL/da1" in item.diagnosis
    s = 1 / (1 + np.exp(-0.35))
    assert float(item.follows) == pytest.approx(-0.5 * s * (1 - s), rel=1e-12)
    console = Console(width=120, record=True)
    console.print(quantity_table(next(r for r in report.results if r.name == "dL/dz1")))
    text = console.export_text()
    assert "from your answers" in text and "-0.121249…" in text


# ------------------------------------------------------ --latex / --markdown, numbers only

def test_latex_of_a_numeric_problem_keeps_exact_numbers_exact() -> None:
    result = run("solve", "problems/single_neuron.yaml", "--latex")
    assert result.returncode == 0, result.stderr
    a1 = 1 / (1 + np.exp(-0.35))  # z = 2·0.5 − 0.25 − 0.5 + 0.1 = 0.35 exactly
    assert r"z^{(1)} &= 0.35 \\" in result.stdout  # exact: no \ldots
    assert rf"a^{{(1)}} &= {a1:.6g}\ldots \\" in result.stdout  # rounded: says so
    assert result.stdout.startswith("%") and r"\end{align*}" in result.stdout


def test_markdown_of_a_tensor_problem_shows_fractions_exactly(tmp_path: Path) -> None:
    from fractions import Fraction as F

    text = (ROOT / "problems/symbolic/tensor_mlp.yaml").read_text().replace("sigmoid(z)",
                                                                            "relu(z)")
    path = write(tmp_path, "relu.yaml", text)
    result = run("solve", str(path), "--markdown", "--only", "L,dL/dout")
    assert result.returncode == 0, result.stderr
    X = [[1, 2], [0, -1], [2, 1]]
    W1 = [[F(1, 2), -1, F(1, 4), 1], [1, F(1, 2), F(-1, 2), 2]]
    b1, W2, y = [0, 1, -1, F(1, 2)], [1, -1, 2, F(1, 2)], [1, 0, 2]
    h = [[max(sum(X[n][i] * W1[i][j] for i in range(2)) + b1[j], 0) for j in range(4)]
         for n in range(3)]
    out = [sum(h[n][j] * W2[j] for j in range(4)) for n in range(3)]
    loss = sum((out[n] - y[n]) ** 2 for n in range(3)) / 3
    douts = [2 * (out[n] - y[n]) / 3 for n in range(3)]
    assert f"| `L` | scalar | {loss.numerator}/{loss.denominator} = " in result.stdout

    def latex(q: F) -> str:  # a terminating decimal as a decimal, else a fraction
        den = q.denominator
        while den % 2 == 0 or den % 5 == 0:
            den //= 2 if den % 2 == 0 else 5
        if den == 1:
            return f"{float(q):g}"
        return ("-" if q < 0 else "") + rf"\tfrac{{{abs(q.numerator)}}}{{{q.denominator}}}"

    assert r" \\ ".join(latex(d) for d in douts) in result.stdout


def test_numbers_of_a_symbolic_problem_are_those_at_at(tmp_path: Path) -> None:
    """graph and the other number views: the problem at at:, or one message without it."""
    from backcheck.api import solve_file
    from backcheck.errors import BackcheckError

    solution = solve_file("problems/symbolic/tensor_linear.yaml")
    z = np.array([[1, 2], [0, -1]]) @ np.array([[0.5, -1, 0.25], [1, 0.5, -0.5]]) + [0, 1, -1]
    assert np.allclose(solution.float("z"), z, rtol=0, atol=1e-15)
    text = (ROOT / "problems/symbolic/neuron.yaml").read_text()
    path = write(tmp_path, "n.yaml", "\n".join(line for line in text.splitlines()
                                               if not line.startswith("at:")))
    with pytest.raises(BackcheckError, match="no at:"):
        solve_file(str(path))


def test_a_formula_that_would_fill_the_memory_is_wrong_not_a_hang(tmp_path: Path) -> None:
    problem = write(tmp_path, "long.yaml", """\
        values: {v: [[1], [2], [3]], c: [[1], [2], [3]]}
        constants: [c]
        steps: ["L = sum(v * c)"]
        """)
    text = problem.read_text().replace("[[1], [2], [3]]", str([[k] for k in range(3000)]))
    problem.write_text(text)
    (tmp_path / "a.yaml").write_text('problem: long.yaml\nanswers:\n'
                                     '  dL/dv: "sum(c * c.T, axis=1)"\n'
                                     '  L: "sum(conv2d(v, c, padding=99999))"\n')
    report = verify(str(tmp_path / "a.yaml"))
    items = {r.name: r.items[0] for r in report.results}
    assert items["dL/dv"].verdict == "wrong" and "at most" in items["dL/dv"].diagnosis
    assert items["L"].verdict == "wrong" and "at most" in items["L"].diagnosis


def test_python_api_solves_a_symbolic_problem_at_its_at_numbers():
    """backcheck.solve(load_problem(...)) of a problem with symbols gives the numbers at
    at: (it raised TypeError through the Python API while the CLI worked); checked by hand:
    z = 0.5·1 − 1·2 + 0, a = σ(z), L = ½(a − 1)², dL/dz = (a − 1)·a·(1 − a)."""
    import math

    from backcheck import load_problem, solve

    solution = solve(load_problem("problems/symbolic/neuron.yaml"))
    a = 1 / (1 + math.exp(1.5))
    assert float(solution.float("z1").ravel()[0]) == -1.5
    assert math.isclose(float(solution.float("a1").ravel()[0]), a, rel_tol=1e-14)
    assert math.isclose(float(solution.float("dL/dz1").ravel()[0]), (a - 1) * a * (1 - a),
                        rel_tol=1e-13)
