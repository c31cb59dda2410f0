"""``backcheck graph``: DOT text, Graphviz images, the terminal tree, --scalar.

Values in the diagrams are checked against PyTorch autograd (tests/reference.py); the
DOT text is checked by Graphviz itself where it is installed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from backcheck import load_problem, solve
from backcheck.errors import BackcheckError
from backcheck.render import dot as dot_module
from backcheck.render.dot import (
    build_diagram,
    escape_record,
    escape_string,
    to_dot,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference import load, torch_reference, torch_scalar_reference  # noqa: E402
from test_expressions import run, write  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PROBLEMS = ROOT / "problems"
HAVE_DOT = shutil.which("dot") is not None
# CI installs Graphviz and sets BACKCHECK_REQUIRE_GRAPHVIZ=1: there a missing `dot` is a
# failure, not a quiet skip. Elsewhere these tests skip, with this reason, without it.
if os.environ.get("BACKCHECK_REQUIRE_GRAPHVIZ") and not HAVE_DOT:
    raise RuntimeError("BACKCHECK_REQUIRE_GRAPHVIZ is set but Graphviz's dot is not on PATH")
needs_dot = pytest.mark.skipif(not HAVE_DOT, reason="Graphviz's dot is not installed")

NETWORK_FILES = ["mazur_2_2_2.yaml", "ai_by_hand_3layer.yaml", "fastai_lin_relu_lin.yaml",
                 "padhai_sigmoid_softmax.yaml", "single_neuron.yaml"]
SCALAR_FILES = ["micrograd_readme.yaml", "cs231n_circuit.yaml", "cs231n_sigmoid_neuron.yaml"]


def diagram_for(file: str, scalar: bool = False):
    return build_diagram(solve(load_problem(str(PROBLEMS / file))), scalar=scalar)


def tooltip_numbers(dot_text: str) -> list[float]:
    """Every number the tooltips carry (12 significant digits)."""
    found = []
    for tooltip in re.findall(r'tooltip="((?:[^"\\]|\\.)*)"', dot_text):
        for number in re.findall(r"(?<![\w.])-?\d+\.\d+(?:e-?\d+)?|(?<=[ \[])-?\d+(?=[ \]\\]|$)",
                                 tooltip):
            found.append(float(number))
    return found


# --------------------------------------------------------------------------- DOT text


def test_micrograd_dot_has_every_value_and_gradient():
    text = to_dot(diagram_for("micrograd_readme.yaml"))
    reference = torch_scalar_reference(load(PROBLEMS / "micrograd_readme.yaml"))
    assert text.startswith("digraph backcheck {") and text.rstrip().endswith("}")
    assert "rankdir=LR" in text and "shape=record" in text and "shape=circle" in text
    numbers = tooltip_numbers(text)
    for name, value in reference.items():
        assert any(abs(n - float(value)) <= 1e-9 * max(1, abs(float(value))) for n in numbers), name
    # published digits (micrograd README) appear literally
    for published in ("24.7040816", "138.833819", "645.577259"):
        assert published in text


def test_micrograd_record_nodes_read_label_data_grad():
    text = to_dot(diagram_for("micrograd_readme.yaml"))
    assert re.search(r'label="\{ a \| data\\ -4 \| grad\\ 138\.834… \}"', text)
    assert re.search(r'label="\{ g2 \| data\\ 24\.7041… \| grad\\ 1 \}"', text)
    # constants have no gradient
    assert re.search(r'label="\{ 10 \| data\\ 10 \}"', text)


def test_every_edge_connects_declared_nodes():
    for file in SCALAR_FILES + NETWORK_FILES:
        text = to_dot(diagram_for(file))
        declared = set(re.findall(r"^  (\w+) \[", text, re.M))
        for source, target in re.findall(r"^  (\w+) -> (\w+);", text, re.M):
            assert source in declared and target in declared, (file, source, target)


def test_network_dot_shows_tensors_with_values_and_gradients():
    text = to_dot(diagram_for("mazur_2_2_2.yaml"), digits=4).replace("\\ ", " ")
    reference = torch_reference(load(PROBLEMS / "mazur_2_2_2.yaml"))
    assert "W1 (2 × 2)" in text and "z2 (2)" in text and "label=\"half_sse\"" in text
    assert "W·a + b" in text
    numbers = tooltip_numbers(text)
    for name in ("z1", "a1", "z2", "a2", "dL/dW1", "dL/dW2", "dL/dz1", "dL/dx"):
        for value in np.ravel(reference[name]):
            assert any(abs(n - value) <= 1e-9 * max(1, abs(value)) for n in numbers), name


def test_xw_network_says_a_times_w():
    text = to_dot(diagram_for("fastai_lin_relu_lin.yaml")).replace("\\ ", " ")
    assert "a·W + b" in text and "x (3 × 3)" in text


def test_large_tensors_are_summarised(tmp_path):
    rows = [[((i * 7 + j * 3) % 11 - 5) / 10 for j in range(12)] for i in range(10)]
    path = write(tmp_path, "x: [" + ", ".join(["1"] * 12) + "]\n"
                 f"layers:\n  - W: {rows}\n    activation: relu\n"
                 "target: [" + ", ".join(["0"] * 10) + "]\nloss: mse\n")
    text = to_dot(build_diagram(solve(load_problem(path)))).replace("\\ ", " ")
    assert "W1 (10 × 12)" in text
    assert "10 × 12: min -0.5, max 0.5" in text


@pytest.mark.parametrize("text", [
    'a "quoted" title', "back\\slash", "{braces} | bars <angles>", "new\nline", "tab\there",
    "unicode σ′ ∂L/∂W", "control \x01 char", "\\", '"', "}", "\\n literal",
])
def test_escaping_keeps_dot_valid(text):
    record = escape_record(text)
    string = escape_string(text)
    for unsafe in ("{", "}", "|", "<", ">", '"'):
        # every special character in a record field is escaped
        assert re.search(r"(?<!\\)" + re.escape(unsafe), record.replace("\\\\", "")) is None
    assert '"' not in string.replace('\\"', "")
    assert "\n" not in record and "\n" not in string


@needs_dot
def test_hostile_title_still_renders(tmp_path):
    title = 'evil "title" {x|y} <b> \\ back\\slash \\n'
    path = write(tmp_path, f"title: {title!r}\nvalues: {{x: 2}}\nsteps:\n  - y = x*x\n")
    problem_title = load_problem(path).title
    assert problem_title is not None
    text = to_dot(build_diagram(solve(load_problem(path))))
    result = subprocess.run(["dot", "-Tsvg"], input=text.encode(), capture_output=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr.decode()
    assert b"<svg" in result.stdout


@needs_dot
@pytest.mark.parametrize("file", SCALAR_FILES + NETWORK_FILES)
def test_graphviz_accepts_every_curated_problem(file):
    for scalar in ([False, True] if file in ("mazur_2_2_2.yaml", "single_neuron.yaml")
                   else [False]):
        text = to_dot(diagram_for(file, scalar=scalar))
        result = subprocess.run(["dot", "-Tsvg"], input=text.encode(), capture_output=True,
                                timeout=60, check=False)
        assert result.returncode == 0, result.stderr.decode()
        assert b"Warning" not in result.stderr, result.stderr.decode()


# --------------------------------------------------------------------------- --scalar


def test_scalar_expansion_of_mazur_has_every_element_and_product():
    diagram = diagram_for("mazur_2_2_2.yaml", scalar=True)
    labels = {node.label for node in diagram.nodes.values()}
    for name in ("x[1]", "x[2]", "W1[1,1]", "W1[2,2]", "b1[1]", "z1[1]", "a1[2]", "W2[2,1]",
                 "z2[2]", "a2[1]", "t[1]", "t[2]", "L"):
        assert name in labels
    products = [n for n in diagram.nodes.values() if n.op == "×"]
    assert len(products) == 8  # 2·2 per layer, two layers
    reference = torch_reference(load(PROBLEMS / "mazur_2_2_2.yaml"))
    by_label = {n.label: n for n in diagram.nodes.values()}
    assert float(by_label["W2[1,1]"].grad) == pytest.approx(reference["dL/dW2"][0, 0], rel=1e-12)
    assert float(by_label["z1[2]"].value) == pytest.approx(reference["z1"][1], rel=1e-12)
    # a product W·a carries the gradient of the pre-activation it feeds
    product = next(n for n in products if n.inputs[0] == by_label["W2[1,1]"].key)
    assert float(product.grad) == pytest.approx(reference["dL/dz2"][0], rel=1e-12)
    assert float(product.value) == pytest.approx(0.4 * reference["a1"][0], rel=1e-12)


def test_scalar_expansion_of_a_batch_names_examples():
    diagram = diagram_for("fastai_lin_relu_lin.yaml", scalar=True)
    labels = {node.label for node in diagram.nodes.values()}
    assert {"x[3,2]", "z1[2,4]", "a2[3,1]", "t[3,1]", "W1[3,4]"} <= labels
    reference = torch_reference(load(PROBLEMS / "fastai_lin_relu_lin.yaml"))
    by_label = {n.label: n for n in diagram.nodes.values()}
    assert float(by_label["W1[3,4]"].grad) == pytest.approx(reference["dL/dW1"][2, 3], rel=1e-12)
    assert float(by_label["z1[2,4]"].grad) == pytest.approx(reference["dL/dz1"][1, 3], rel=1e-12)


def test_scalar_expansion_of_softmax_couples_all_units():
    diagram = diagram_for("ai_by_hand_3layer.yaml", scalar=True)
    softmax = [n for n in diagram.nodes.values() if n.op == "softmax"]
    assert len(softmax) == 3 and all(len(n.inputs) == 3 for n in softmax)


def test_scalar_refuses_a_network_that_is_too_big(tmp_path):
    rows = [[1] * 12 for _ in range(12)]
    path = write(tmp_path, "x: [" + ", ".join(["1"] * 12) + "]\n"
                 f"layers:\n  - W: {rows}\n  - W: {rows}\n"
                 "target: [" + ", ".join(["0"] * 12) + "]\nloss: mse\n")
    with pytest.raises(BackcheckError, match="too large for --scalar"):
        build_diagram(solve(load_problem(path)), scalar=True)
    code, out, err = run("graph", path, "--scalar")
    assert code == 2 and "too large for --scalar" in err and "drop --scalar" in err


def test_scalar_on_an_expression_problem_is_refused():
    code, _, err = run("graph", str(PROBLEMS / "micrograd_readme.yaml"), "--scalar")
    assert code == 2 and "--scalar applies to networks" in err


# --------------------------------------------------------------------------- CLI files


def test_dot_output_is_written_and_not_overwritten(tmp_path):
    target = tmp_path / "g.dot"
    code, _, err = run("graph", str(PROBLEMS / "cs231n_circuit.yaml"), "-o", str(target))
    assert code == 0, err
    first = target.read_text(encoding="utf-8")
    assert "data\\ -12" in first and "grad\\ -4" in first
    code, _, err = run("graph", str(PROBLEMS / "micrograd_readme.yaml"), "-o", str(target))
    assert code == 2 and "will not overwrite" in err and "--force" in err
    assert target.read_text(encoding="utf-8") == first
    code, _, err = run("graph", str(PROBLEMS / "micrograd_readme.yaml"), "-o", str(target),
                       "--force")
    assert code == 0
    assert "g2" in target.read_text(encoding="utf-8")


def test_missing_graphviz_writes_dot_and_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(dot_module, "find_dot", lambda: None)
    target = tmp_path / "g.png"
    code, out, err = run("graph", str(PROBLEMS / "cs231n_circuit.yaml"), "-o", str(target))
    assert code == 1
    assert not target.exists()
    fallback = tmp_path / "g.dot"
    assert fallback.exists() and "digraph" in fallback.read_text(encoding="utf-8")
    flat = " ".join(err.split())
    assert "apt-get install graphviz" in flat and "brew install graphviz" in flat
    assert str(fallback) in flat.replace(" ", "") or "g.dot" in flat


def test_missing_graphviz_does_not_overwrite_an_existing_dot(tmp_path, monkeypatch):
    monkeypatch.setattr(dot_module, "find_dot", lambda: None)
    (tmp_path / "g.dot").write_text("mine", encoding="utf-8")
    code, _, err = run("graph", str(PROBLEMS / "cs231n_circuit.yaml"), "-o",
                       str(tmp_path / "g.svg"))
    assert code == 2 and "will not overwrite" in err
    assert (tmp_path / "g.dot").read_text(encoding="utf-8") == "mine"


@needs_dot
@pytest.mark.parametrize("suffix, magic", [(".png", b"\x89PNG"), (".svg", b"<?xml"),
                                           (".pdf", b"%PDF")])
def test_images_through_graphviz(tmp_path, suffix, magic):
    target = tmp_path / f"g{suffix}"
    code, _, err = run("graph", str(PROBLEMS / "mazur_2_2_2.yaml"), "-o", str(target))
    assert code == 0, err
    assert target.read_bytes().startswith(magic)
    code, _, err = run("graph", str(PROBLEMS / "mazur_2_2_2.yaml"), "-o", str(target))
    assert code == 2 and "will not overwrite" in err


@needs_dot
def test_svg_contains_the_values(tmp_path):
    target = tmp_path / "g.svg"
    code, _, _ = run("graph", str(PROBLEMS / "micrograd_readme.yaml"), "-o", str(target))
    assert code == 0
    svg = target.read_text(encoding="utf-8")
    assert "138.834" in svg and "24.7041" in svg


def test_graphviz_failure_is_a_clear_error(tmp_path, monkeypatch):
    fake = tmp_path / "dot"
    fake.write_text("#!/bin/sh\necho 'Error: syntax error in line 1' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(dot_module, "find_dot", lambda: str(fake))
    target = tmp_path / "g.svg"
    code, _, err = run("graph", str(PROBLEMS / "cs231n_circuit.yaml"), "-o", str(target))
    assert code == 2 and "Graphviz could not draw the graph" in err
    assert not target.exists()


@pytest.mark.parametrize("name", ["g.jpeg", "g", "g.txt"])
def test_unknown_output_format(tmp_path, name):
    code, _, err = run("graph", str(PROBLEMS / "cs231n_circuit.yaml"), "-o", str(tmp_path / name))
    assert code == 2 and ".dot, .svg, .png or .pdf" in err


def test_missing_folder(tmp_path):
    code, _, err = run("graph", str(PROBLEMS / "cs231n_circuit.yaml"), "-o",
                       str(tmp_path / "nope" / "g.dot"))
    assert code == 2 and "does not exist" in err


# --------------------------------------------------------------------------- terminal tree


def test_tree_runs_from_the_output_to_the_leaves():
    code, out, err = run("graph", str(PROBLEMS / "micrograd_readme.yaml"))
    assert code == 0, err
    lines = out.splitlines()
    root = next(i for i, line in enumerate(lines) if line.startswith("g2 = g + 10.0 / f"))
    assert "dg2/dg2 = 1" in lines[root]
    assert "a = -4   dg2/da = 138.834…" in out
    assert "b = 2   dg2/db = 645.577…" in out
    assert "shown above" in out  # c feeds two operations: drawn once, then referred to
    assert "dg2/d(c + 1)" in out


def test_tree_for_a_network_shows_matrices():
    code, out, _ = run("graph", str(PROBLEMS / "mazur_2_2_2.yaml"))
    assert code == 0
    assert out.index("L = half_sse") < out.index("a2 = sigmoid(z2)") < out.index("W1 (2 × 2)")
    assert "dL/dW2 [[ 0.08217…" in out  # aligned with -0.02260… (trailing 0 kept, issue 9 §4)
    assert "target (2) = [0.01  0.99]" in out


def test_digits_option(tmp_path):
    code, out, _ = run("graph", str(PROBLEMS / "mazur_2_2_2.yaml"), "--digits", "9")
    assert code == 0 and "0.0821670406…" in out


def test_float_only_graph_for_a_large_network(tmp_path):
    rows = [[((i + j) % 5 - 2) / 10 for j in range(100)] for i in range(100)]
    path = write(tmp_path, "x: [" + ", ".join(["1"] * 100) + "]\n"
                 f"layers:\n  - W: {rows}\n    activation: tanh\n  - W: {rows}\n"
                 "target: [" + ", ".join(["0"] * 100) + "]\nloss: mse\n")
    code, _, err = run("graph", path)
    if code == 2:  # too large for exact arithmetic: --float-only draws it
        assert "--float-only" in err
        code, out, err = run("graph", path, "--float-only")
    else:
        out = _
    assert code == 0, err
    assert "100 × 100: min" in out
