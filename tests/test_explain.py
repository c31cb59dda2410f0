"""``backcheck explain``: chain-rule paths, vector rules, forward sums, symbolic formulas.

Every number is held to an independent source: PyTorch autograd (tests/reference.py)
and published factorisations (Mazur's ∂E/∂w5, micrograd's README, CS231n's notes).
The central property: the sum over the listed paths of the product of their factors is
the engine's exact gradient, for every element of every curated problem.
"""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from backcheck import load_problem, solve
from backcheck.errors import BackcheckError, InternalError
from backcheck.exact import Exact
from backcheck.explain import MAX_PATHS, agrees, explain, latex_name
from backcheck.render.explain_view import latex_escape, to_latex, to_markdown, to_text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpu_bounds import cpu_bound  # noqa: E402
from reference import load, torch_reference, torch_scalar_reference  # noqa: E402
from test_expressions import run, steps_file, watch_strings, write  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PROBLEMS = ROOT / "problems"
NETWORK_FILES = ["mazur_2_2_2.yaml", "ai_by_hand_3layer.yaml", "fastai_lin_relu_lin.yaml",
                 "padhai_sigmoid_softmax.yaml", "single_neuron.yaml"]
SCALAR_FILES = ["micrograd_readme.yaml", "cs231n_circuit.yaml", "cs231n_sigmoid_neuron.yaml"]

_SOLUTIONS: dict[str, object] = {}


def solved(file: str):
    if file not in _SOLUTIONS:
        _SOLUTIONS[file] = solve(load_problem(str(PROBLEMS / file)))
    return _SOLUTIONS[file]


def half_unit(published: str) -> float:
    decimals = len(published.split(".", 1)[1]) if "." in published else 0
    return 0.5 * 10.0**-decimals * (1 + 1e-9)


def product(factors) -> Exact:
    total = Exact(Fraction(1))
    for factor in factors:
        total = total * factor.value
    return total


def element_names(solution, name):
    shape = solution.quantity(name).shape
    if not shape:
        yield name, ()
        return
    for index in np.ndindex(shape):
        yield f"{name}[{','.join(str(i + 1) for i in index)}]", index


# --------------------------------------------------------------------------- published


def test_mazur_dE_dw5_is_the_published_product():
    """∂E/∂w5 = ∂E/∂out_o1 · ∂out_o1/∂net_o1 · ∂net_o1/∂w5 = 0.74136507 · 0.186815602 ·
    0.593269992 = 0.082167041 (Mazur 2015; w5 is W2[1,1])."""
    explanation = explain(solved("mazur_2_2_2.yaml"), "dL/dW2[1,1]")
    assert explanation.kind == "paths" and len(explanation.paths) == 1
    path = explanation.paths[0]
    assert path.elements == ["L", "a2[1]", "z2[1]", "W2[1,1]"]
    assert [f.name for f in path.factors] == ["∂L/∂a2[1]", "∂a2[1]/∂z2[1]", "∂z2[1]/∂W2[1,1]"]
    for factor, published in zip(path.factors, ["0.74136507", "0.186815602", "0.593269992"],
                                 strict=True):
        assert abs(float(factor.value) - float(published)) <= half_unit(published)
    assert abs(float(path.product) - 0.082167041) <= half_unit("0.082167041")
    assert [f.formula.text() for f in path.factors] == [
        "a2[1] − t[1]", "σ′(z2[1]) = a2[1]·(1 − a2[1])", "a1[1]"]


def test_mazur_cli_shows_the_published_digits():
    code, out, err = run("explain", str(PROBLEMS / "mazur_2_2_2.yaml"), "dE/dw5"
                         if False else "∂L/∂W2[1,1]", "--digits", "9")
    assert code == 0, err
    for published in ("0.74136507", "0.186815602", "0.593269992", "0.0821670406"):
        assert published in out
    assert "∂L/∂a2[1] · ∂a2[1]/∂z2[1] · ∂z2[1]/∂W2[1,1]" in out
    assert "✓" in out


def test_mazur_update_is_the_published_number():
    explanation = explain(solved("mazur_2_2_2.yaml"), "W2_new[1,1]")
    assert abs(float(explanation.value) - 0.35891648) <= half_unit("0.35891648")
    # 6 significant digits, the trailing 0 kept (issue 9 §4)
    assert explanation.equation.numbers == "0.4 − 0.5·0.0821670…"


def test_cs231n_circuit_factors():
    explanation = explain(solved("cs231n_circuit.yaml"), "df/dx")
    [path] = explanation.paths
    assert path.elements == ["f", "q", "x"]
    assert [(f.name, f.formula.text(), float(f.value)) for f in path.factors] == [
        ("∂f/∂q", "z", -4.0), ("∂q/∂x", "1", 1.0)]
    assert float(explanation.total) == -4


def test_cs231n_sigmoid_neuron_local_gradient():
    # the sigmoid's local gradient (1 − f)·f ≈ 0.20, then times x0 = −1: ≈ −0.20
    explanation = explain(solved("cs231n_sigmoid_neuron.yaml"), "df/dw0")
    [path] = explanation.paths
    assert abs(float(path.factors[0].value) - 0.20) <= 0.005
    assert "σ(dot)" in path.factors[0].formula.text()
    assert abs(float(explanation.total) - (-0.2)) <= 0.05


def test_micrograd_paths_sum_to_the_readme_gradient():
    explanation = explain(solved("micrograd_readme.yaml"), "dg2/da")
    assert explanation.all_paths == 10
    assert abs(float(explanation.total) - 138.8338) <= 0.5e-4
    total = sum(float(p.product) for p in explanation.paths)
    assert total == pytest.approx(138.83381924198252, rel=1e-12)
    # c2 = c + (c + 1) uses c twice: one factor ∂c2/∂c = 2
    factors = {f.name: f for f in explanation.factors}
    assert float(factors["∂c2/∂c"].value) == 2
    assert factors["∂d/∂a"].formula.text() == "b"


# --------------------------------------------------------------------------- the property


@pytest.mark.parametrize("file", NETWORK_FILES)
def test_every_gradient_element_is_the_sum_of_its_path_products(file):
    solution = solved(file)
    reference = torch_reference(load(PROBLEMS / file))
    for name in solution.names:
        if solution.quantity(name).kind != "grad":
            continue
        expected = np.asarray(reference[name], dtype=float)
        for text, index in element_names(solution, name):
            explanation = explain(solution, text)
            assert explanation.kind == "paths"
            want = float(expected[index]) if index else float(expected)
            assert float(explanation.total) == pytest.approx(want, rel=1e-10, abs=1e-13), text
            total = Exact(Fraction(0))
            for path in explanation.paths:
                assert agrees(product(path.factors), path.product)
                total = total + path.product
            if explanation.hidden_total is not None:
                total = total + explanation.hidden_total
            assert agrees(total, explanation.total), text
            assert agrees(total, solution.exact(name)[index] if index
                          else solution.exact(name).item()), text


@pytest.mark.parametrize("file", SCALAR_FILES)
def test_every_scalar_gradient_is_the_sum_of_its_path_products(file):
    solution = solved(file)
    reference = torch_scalar_reference(load(PROBLEMS / file))
    for name in solution.names:
        if solution.quantity(name).kind != "grad":
            continue
        explanation = explain(solution, name)
        assert float(explanation.total) == pytest.approx(float(reference[name]), rel=1e-12)
        total = sum((p.product for p in explanation.paths), Exact(Fraction(0)))
        if explanation.paths:
            assert agrees(total, explanation.total)


def test_a_tampered_gradient_is_caught():
    solution = solve(load_problem(str(PROBLEMS / "mazur_2_2_2.yaml")))
    node = solution.graph.by_name["W2"]
    grads = solution.exact_evaluation.grads[node].copy()
    grads[0, 0] = grads[0, 0] + Exact(Fraction(1, 10**30))
    solution.exact_evaluation.grads[node] = grads
    with pytest.raises(InternalError, match="sum to"):
        explain(solution, "dL/dW2[1,1]")


# --------------------------------------------------------------------------- path shapes


def test_hidden_unit_feeding_several_outputs_gives_several_paths():
    explanation = explain(solved("mazur_2_2_2.yaml"), "dL/dW1[1,1]")
    assert [p.elements for p in explanation.paths] == [
        ["L", "a2[1]", "z2[1]", "a1[1]", "z1[1]", "W1[1,1]"],
        ["L", "a2[2]", "z2[2]", "a1[1]", "z1[1]", "W1[1,1]"],
    ]
    assert any("feeds several units" in s for s in explanation.summary)


def test_padhai_w111_has_six_paths_starting_at_y_hat_minus_y():
    solution = solved("padhai_sigmoid_softmax.yaml")
    explanation = explain(solution, "dL/dW1[1,1]")
    assert explanation.all_paths == 6  # a1[1] → 2 units of layer 2 → 3 outputs
    reference = torch_reference(load(PROBLEMS / "padhai_sigmoid_softmax.yaml"))
    y_minus_t = reference["a3"] - np.array([0, 0, 1])
    for path in explanation.paths:
        first = path.factors[0]
        assert first.source == "fused" and first.top == "L"
        q = int(first.bottom[3]) - 1
        assert float(first.value) == pytest.approx(y_minus_t[q], rel=1e-12)
    assert any("ŷ − y" in s for s in explanation.summary)


def test_ai_by_hand_relu_blocks_paths():
    explanation = explain(solved("ai_by_hand_3layer.yaml"), "dL/dW1[1,2]")
    assert explanation.all_paths == 9
    blocked = [f for f in explanation.factors if "blocks" in f.why]
    assert blocked and all(float(f.value) == 0 for f in blocked)
    assert [f.name for f in blocked] == ["∂a2[2]/∂z2[2]"]
    zero_paths = [p for p in explanation.paths if float(p.product) == 0]
    assert len(zero_paths) >= 3


def test_softmax_coupling_when_asked_for_the_output_pre_activation():
    explanation = explain(solved("ai_by_hand_3layer.yaml"), "dL/dz3[2]")
    assert explanation.all_paths == 3
    assert [p.elements for p in explanation.paths] == [
        ["L", "a3[1]", "z3[2]"], ["L", "a3[2]", "z3[2]"], ["L", "a3[3]", "z3[2]"]]
    formulas = [p.factors[1].formula.text() for p in explanation.paths]
    assert formulas == ["−a3[1]·a3[2]", "a3[2]·(1 − a3[2])", "−a3[3]·a3[2]"]
    reference = torch_reference(load(PROBLEMS / "ai_by_hand_3layer.yaml"))
    assert float(explanation.total) == pytest.approx(reference["a3"][1] - 1, rel=1e-12)
    assert any("softmax couples" in s for s in explanation.summary)


def test_a_batch_sums_over_examples():
    explanation = explain(solved("fastai_lin_relu_lin.yaml"), "dL/dW1[1,1]")
    assert [p.elements[1] for p in explanation.paths] == ["a2[1,1]", "a2[2,1]", "a2[3,1]"]
    assert explanation.paths[0].factors[0].formula.text() == "2·(a2[1,1] − t[1,1]) / 3"
    assert any("each example of the batch" in s for s in explanation.summary)


def test_too_many_paths_start_at_a_shared_sub_product(tmp_path):
    w = [[((i + 2 * j) % 5 - 2) / 2 for j in range(5)] for i in range(5)]
    path = write(tmp_path, "x: [1, -1, 2, 0.5, 1]\nlayers:\n"
                 f"  - W: {w}\n    activation: tanh\n  - W: {w}\n    activation: tanh\n"
                 f"  - W: {w}\n    activation: sigmoid\ntarget: [0, 1, 0, 1, 0]\nloss: mse\n")
    solution = solve(load_problem(path))
    explanation = explain(solution, "dL/dW1[1,1]")
    assert explanation.all_paths <= MAX_PATHS
    assert any(p.factors[0].source == "backward" for p in explanation.paths)
    reference = torch_reference(load(path))
    assert float(explanation.total) == pytest.approx(reference["dL/dW1"][0, 0], rel=1e-10)
    assert any("shared sub-product" in s for s in explanation.summary)


def test_explaining_the_loss_itself():
    explanation = explain(solved("mazur_2_2_2.yaml"), "dL/dL" if False else "L")
    assert explanation.kind == "forward"
    assert explanation.equation.rule.text() == "½(a2[1] − t[1])² + ½(a2[2] − t[2])²"


# --------------------------------------------------------------------------- vector rules


@pytest.mark.parametrize("file, name, rule", [
    ("ai_by_hand_3layer.yaml", "dL/dz1", "dL/da1 ⊙ [z1 > 0]"),
    ("ai_by_hand_3layer.yaml", "dL/dz3", "a3 − t"),
    ("ai_by_hand_3layer.yaml", "dL/da2", "W3ᵀ · dL/dz3"),
    ("ai_by_hand_3layer.yaml", "dL/dW3", "dL/dz3 · a2ᵀ"),
    ("mazur_2_2_2.yaml", "dL/dz1", "dL/da1 ⊙ a1 ⊙ (1 − a1)"),
    ("mazur_2_2_2.yaml", "dL/da2", "a2 − t"),
    ("mazur_2_2_2.yaml", "dL/dx", "W1ᵀ · dL/dz1"),
    ("fastai_lin_relu_lin.yaml", "dL/dW1", "xᵀ · dL/dz1"),
    ("fastai_lin_relu_lin.yaml", "dL/da1", "dL/dz2 · W2ᵀ"),
    ("fastai_lin_relu_lin.yaml", "dL/db1", "Σ over examples of dL/dz1 (column sums)"),
    ("fastai_lin_relu_lin.yaml", "dL/da2", "2·(a2 − t) / 3"),
    ("padhai_sigmoid_softmax.yaml", "dL/dz2", "dL/da2 ⊙ a2 ⊙ (1 − a2)"),
    ("single_neuron.yaml", "dL/dW1", "dL/dz1 · xᵀ"),
])
def test_vector_rules_reproduce_torch(file, name, rule):
    explanation = explain(solved(file), name)
    assert explanation.kind == "rule"
    assert explanation.equation.rule.text() == rule
    reference = torch_reference(load(PROBLEMS / file))
    result = np.vectorize(float)(explanation.equation.result).astype(float)
    np.testing.assert_allclose(result, reference[name], rtol=1e-12, atol=1e-14)


def test_ai_by_hand_relu_mask_is_shown():
    explanation = explain(solved("ai_by_hand_3layer.yaml"), "dL/dz1")
    operands = {n if isinstance(n, str) else n.text(): v for n, v in explanation.equation.operands}
    assert [int(v.q) for v in operands["[z1 > 0]"]] == [1, 0, 1]


# --------------------------------------------------------------------------- forward


def test_forward_pre_activation_is_a_sum_of_products():
    explanation = explain(solved("mazur_2_2_2.yaml"), "z1[1]")
    assert explanation.equation.rule.text() == "W1[1,1]·x[1] + W1[1,2]·x[2] + b1[1]"
    assert explanation.equation.numbers == "0.15·0.05 + 0.2·0.1 + 0.35"
    assert float(explanation.value) == 0.3775


def test_forward_batch_pre_activation_in_xw_layout():
    explanation = explain(solved("fastai_lin_relu_lin.yaml"), "z1[2,3]")
    assert explanation.equation.rule.text() == \
        "W1[1,3]·x[2,1] + W1[2,3]·x[2,2] + W1[3,3]·x[2,3] + b1[3]"
    assert explanation.equation.numbers == "0.2·0.5 + (-0.5)·(-1) + 0.6·2 + 0.05"
    assert float(explanation.value) == pytest.approx(1.85)


def test_forward_activation_and_softmax():
    explanation = explain(solved("mazur_2_2_2.yaml"), "a1[1]")
    assert explanation.equation.rule.text() == "σ(z1[1])"
    assert abs(float(explanation.value) - 0.593269992) <= half_unit("0.593269992")
    explanation = explain(solved("ai_by_hand_3layer.yaml"), "a3[1]")
    assert explanation.equation.numbers == "exp(1) / (exp(1) + exp(2) + exp(0))"


def test_forward_whole_quantity_and_given_values():
    explanation = explain(solved("mazur_2_2_2.yaml"), "z1")
    assert explanation.equation.rule.text() == "W1 · x + b1"
    assert explain(solved("mazur_2_2_2.yaml"), "W1[1,2]").kind == "given"
    assert explain(solved("mazur_2_2_2.yaml"), "target").kind == "given"


def test_scalar_step_with_numbers():
    explanation = explain(solved("micrograd_readme.yaml"), "d")
    assert explanation.equation.rule.text() == "a·b + b^3"
    assert explanation.equation.numbers == "(-4)·2 + 2^3"
    assert float(explanation.value) == 0


# --------------------------------------------------------------------------- symbolic


def test_single_neuron_symbolic_is_the_textbook_formula():
    explanation = explain(solved("single_neuron.yaml"), "dL/dW1[1,2]", symbolic=True)
    symbolic = explanation.symbolic
    assert symbolic is not None, explanation.symbolic_error
    text = symbolic.text()
    assert "x_2" in text and "σ(z1_1)" in text and "t_1" in text and "1 − σ(z1_1)" in text
    [(symbol, definition)] = symbolic.definitions.items()
    assert str(symbol) == "z1_1"
    assert symbolic.text(definition) == "W1_11·x_1 + W1_12·x_2 + W1_13·x_3 + b1_1"
    reference = torch_reference(load(PROBLEMS / "single_neuron.yaml"))
    assert float(symbolic.value) == pytest.approx(reference["dL/dW1"][0, 1], rel=1e-12)
    # 2(y − t)·σ′(z)·x at the problem's numbers, by hand
    y = reference["a1"][0]
    assert float(symbolic.value) == pytest.approx(2 * (y - 1) * y * (1 - y) * -1, rel=1e-12)


@pytest.mark.parametrize("file, name", [
    ("mazur_2_2_2.yaml", "dL/dW1[1,1]"), ("mazur_2_2_2.yaml", "dL/dz1[2]"),
    ("mazur_2_2_2.yaml", "dL/da1[1]"), ("mazur_2_2_2.yaml", "a2[2]"), ("mazur_2_2_2.yaml", "L"),
    ("mazur_2_2_2.yaml", "dL/db2[2]"), ("mazur_2_2_2.yaml", "dL/dx[1]"),
    ("padhai_sigmoid_softmax.yaml", "dL/dW1[1,1]"),
    ("fastai_lin_relu_lin.yaml", "dL/dW2[3,1]"),
])
def test_symbolic_formulas_agree_with_torch(file, name):
    explanation = explain(solved(file), name, symbolic=True)
    assert explanation.symbolic is not None, explanation.symbolic_error
    reference = torch_reference(load(PROBLEMS / file))
    base, _, index = name.partition("[")
    expected = np.asarray(reference[base])
    if index:
        expected = expected[tuple(int(i) - 1 for i in index.rstrip("]").split(","))]
    assert float(explanation.symbolic.value) == pytest.approx(float(expected), rel=1e-10)


@pytest.mark.parametrize("name", ["dg2/da", "dg2/dc", "g2"])
def test_symbolic_scalar_expressions(name, monkeypatch):
    problem = load_problem(str(PROBLEMS / "micrograd_readme.yaml"))
    for step in problem.steps:  # never parsed or evaluated as text
        watch_strings(monkeypatch, step.text)
    explanation = explain(solved("micrograd_readme.yaml"), name, symbolic=True)
    reference = torch_scalar_reference(load(PROBLEMS / "micrograd_readme.yaml"))
    assert float(explanation.symbolic.value) == pytest.approx(float(reference[name]), rel=1e-10)
    assert "relu" in explanation.symbolic.text()


def test_symbolic_cs231n_neuron():
    explanation = explain(solved("cs231n_sigmoid_neuron.yaml"), "df/dw0", symbolic=True)
    assert explanation.symbolic.text() == \
        "x0·(1 − σ(w0·x0 + w1·x1 + w2))·σ(w0·x0 + w1·x1 + w2)"


def test_symbolic_refuses_an_exploding_expression_quickly(tmp_path):
    steps = ["y0 = x"] + [f"y{i} = y{i - 1}*y{i - 1} + x" for i in range(1, 30)]
    path = steps_file(tmp_path, "{x: 0.1}", *steps)
    solution = solve(load_problem(path))
    with cpu_bound(10):
        explanation = explain(solution, "dy29/dx", symbolic=True)
    assert explanation.symbolic is None
    assert "terms" in explanation.symbolic_error


def test_symbolic_refuses_a_large_network(tmp_path):
    w = [[1] * 8 for _ in range(8)]
    path = write(tmp_path, "x: [1, 1, 1, 1, 1, 1, 1, 1]\n"
                 f"layers:\n  - W: {w}\n    activation: sigmoid\n  - W: {w}\n"
                 "target: [0, 0, 0, 0, 0, 0, 0, 0]\nloss: mse\n")
    explanation = explain(solve(load_problem(path)), "dL/dW1[1,1]", symbolic=True)
    assert explanation.symbolic is None
    assert "small networks" in explanation.symbolic_error
    code, out, err = run("explain", path, "dL/dW1[1,1]", "--symbolic")
    assert code == 0 and "symbolic:" in out and "small networks" in out


def test_symbolic_needs_an_element_for_a_tensor():
    explanation = explain(solved("mazur_2_2_2.yaml"), "dL/dW1", symbolic=True)
    assert "one element at a time" in explanation.symbolic_error


# --------------------------------------------------------------------------- output formats


def test_markdown_has_tables_and_math():
    explanation = explain(solved("mazur_2_2_2.yaml"), "dL/dW2[1,1]", symbolic=True)
    text = to_markdown(explanation, digits=9)
    assert text.startswith(r"### $\frac{\partial L}{\partial W^{(2)}_{1,1}} = 0.0821670406")
    assert "| factor | formula | value |" in text
    assert r"$\frac{\partial a^{(2)}_{1}}{\partial z^{(2)}_{1}}$" in text
    # 9 significant digits, the trailing 0 kept (issue 9 §4)
    assert r"0.741365070\ldots \cdot 0.186815602\ldots \cdot 0.593269992\ldots" in text
    assert "**Symbolic form**" in text


def test_markdown_for_many_paths_lists_each_path():
    text = to_markdown(explain(solved("ai_by_hand_3layer.yaml"), "dL/dW1[1,2]"))
    assert text.count("\n| ") >= 9 + 20  # 9 paths, 20 distinct factors
    assert r"\sum_{\text{paths}}" in text


def test_latex_is_an_align_fragment():
    text = to_latex(explain(solved("mazur_2_2_2.yaml"), "dL/dW2[1,1]"), digits=9)
    assert r"\begin{align*}" in text and r"\end{align*}" in text
    assert r"\frac{\partial L}{\partial W^{(2)}_{1,1}} &=" in text
    assert r"\left(a^{(2)}_{1} - t_{1}\right) \cdot a^{(2)}_{1} \cdot (1 - a^{(2)}_{1})" in text
    assert text.count(r"\begin{") == text.count(r"\end{")


@pytest.mark.parametrize("file", NETWORK_FILES + SCALAR_FILES)
def test_every_format_renders_every_kind(file):
    solution = solved(file)
    names = [n for n in solution.names][:12]
    for name in names:
        for symbolic in (False, True):
            explanation = explain(solution, name, symbolic=symbolic)
            for writer in (to_markdown, to_latex, to_text):
                assert writer(explanation).strip()
            latex = to_latex(explanation)
            assert latex.count("{") == latex.count("}"), (name, latex)


def test_latex_escapes_a_hostile_title(tmp_path):
    assert latex_escape("50% of $x & y_1 #2 {a} ~ ^ \\") == (
        r"50\% of \$x \& y\_1 \#2 \{a\} \textasciitilde{} \textasciicircum{} "
        r"\textbackslash{}")
    path = write(tmp_path, "title: '100% & $y_1 {\\\\}'\nvalues: {x: 2}\nsteps:\n  - y = x*x\n")
    text = to_latex(explain(solve(load_problem(path)), "dy/dx"))
    assert r"\paragraph{100\% \& \$y\_1 \{\textbackslash{}\textbackslash{}\}}" in text


def test_latex_names():
    assert latex_name("z1[2]") == "z^{(1)}_{2}"
    assert latex_name("W2[1,2]") == "W^{(2)}_{1,2}"
    assert latex_name("x[3]") == "x_{3}"
    assert latex_name("c2", network=False) == "c_{2}"
    assert latex_name("dot", network=False) == r"\mathit{dot}"


def test_cli_writes_markdown_and_latex_files(tmp_path):
    problem = str(PROBLEMS / "ai_by_hand_3layer.yaml")
    md = tmp_path / "dw.md"
    code, out, err = run("explain", problem, "dL/dW1[1,2]", "-o", str(md))
    assert code == 0 and out == "" and "wrote" in err
    assert md.read_text(encoding="utf-8").startswith("### $")
    code, _, err = run("explain", problem, "dL/dW1[1,2]", "-o", str(md))
    assert code == 2 and "will not overwrite" in err
    code, _, _ = run("explain", problem, "dL/dW1[1,2]", "-o", str(md), "--force", "--latex")
    assert code == 0 and md.read_text(encoding="utf-8").startswith("% backcheck explain")
    tex = tmp_path / "dw.tex"
    code, _, _ = run("explain", problem, "dL/dz1", "-o", str(tex))
    assert code == 0 and r"\odot" in tex.read_text(encoding="utf-8")
    txt = tmp_path / "dw.txt"
    code, _, _ = run("explain", problem, "z2[1]", "-o", str(txt))
    assert code == 0 and "z2[1] = W2[1,1]·a1[1]" in txt.read_text(encoding="utf-8")


def test_cli_prints_markdown_and_latex_to_stdout():
    problem = str(PROBLEMS / "single_neuron.yaml")
    code, out, _ = run("explain", problem, "dL/dW1[1,2]", "--markdown", "--symbolic")
    assert code == 0 and out.startswith("### $") and "**Symbolic form**" in out
    code, out, _ = run("explain", problem, "dL/dW1[1,2]", "--latex")
    assert code == 0 and out.startswith("% backcheck explain")
    code, _, err = run("explain", problem, "dL/dW1[1,2]", "--latex", "--markdown")
    assert code == 2 and "one of --latex and --markdown" in err


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("quantity, words", [
    ("dL/dW9[1,1]", ["unknown quantity 'dL/dW9'", "did you mean 'dL/dW2'"]),
    ("zz1", ["unknown quantity 'zz1'", "did you mean 'z1'"]),
    ("dL/dW1[4,1]", ["out of range", "shape 2 × 2", "from 1 to 2"]),
    ("z1[0]", ["out of range", "shape 2"]),
    ("dL/dW1[1]", ["shape 2 × 2", "needs 2 indexes", "dL/dW1[1,1]"]),
    ("dL/dz1[1,2]", ["vector of shape 2", "needs 1 index"]),
    ("L[1]", ["single number", "drop the index"]),
    ("dL/dW1[1,x]", ["unknown quantity"]),
    ("", ["name a quantity"]),
])
def test_bad_quantities_exit_2_with_one_clear_message(quantity, words):
    code, out, err = run("explain", str(PROBLEMS / "mazur_2_2_2.yaml"), quantity)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and "Traceback" not in err
    flat = " ".join(err.split())
    for word in words:
        assert word in flat, flat


def test_bad_quantity_from_the_api_is_a_backcheck_error():
    with pytest.raises(BackcheckError, match="did you mean 'dg2/da'"):
        explain(solved("micrograd_readme.yaml"), "dg2/daa")
    with pytest.raises(BackcheckError, match="single number"):
        explain(solved("micrograd_readme.yaml"), "dg2/da[1]")


def test_aliases_are_accepted():
    solution = solved("ai_by_hand_3layer.yaml")
    assert explain(solution, "∂L/∂W1[1,2]").quantity == "dL/dW1[1,2]"
    assert explain(solution, "dW1[1,2]").quantity == "dL/dW1[1,2]"
    assert explain(solution, "δ3").quantity == "dL/dz3"
    assert explain(solution, "y_hat[2]").quantity == "a3[2]"


# --------------------------------------------------------------------------- every rule


COMBINATIONS = [
    ("Wx", 1, "tanh", "softmax", "mse"),
    ("Wx", 2, "leaky_relu", "sigmoid", "bce"),
    ("xW", 2, "softmax", "softmax", "half_sse"),  # gradients that cancel to exactly 0
    ("xW", 1, "sigmoid", "identity", "sse"),
    ("xW", 2, "relu", "softmax", "cross_entropy"),
    ("Wx", 2, "identity", "tanh", "mse"),
    ("Wx", 1, "softmax", "softmax", "cross_entropy"),  # soft target: no ŷ − y shortcut
]


@pytest.mark.parametrize("convention, batch, hidden, output, loss", COMBINATIONS)
def test_paths_and_rules_for_every_activation_and_loss(tmp_path, convention, batch, hidden,
                                                       output, loss):
    W1 = [[1, -0.5, 2], [0.5, 1, -1]] if convention == "Wx" else [[1, 0.5], [-0.5, 1], [2, -1]]
    x = [1, 2, -1]
    target = [0.25, 0.75] if loss in ("cross_entropy", "bce") else [1, 0]
    problem = {
        "convention": convention, "x": x if batch == 1 else [x, [-v for v in x]],
        "layers": [{"W": W1, "b": [0.5, -0.5], "activation": hidden},
                   {"W": [[1, -1], [0.5, 2]], "activation": output}],
        "target": target if batch == 1 else [target, target[::-1]],
        "loss": loss, "learning_rate": 0.1,
    }
    import yaml

    path = tmp_path / "net.yaml"
    path.write_text(yaml.safe_dump(problem), encoding="utf-8")
    solution = solve(load_problem(str(path)))
    reference = torch_reference(problem)
    for name in solution.names:
        whole = explain(solution, name)
        np.testing.assert_allclose(np.vectorize(float)(np.asarray(whole.value, dtype=object))
                                   .astype(float), reference[name], rtol=1e-10, atol=1e-13)
        if solution.quantity(name).kind != "grad":
            continue
        for text, index in element_names(solution, name):
            explanation = explain(solution, text)
            want = float(np.asarray(reference[name])[index]) if index else float(reference[name])
            assert float(explanation.total) == pytest.approx(want, rel=1e-10, abs=1e-13), text
