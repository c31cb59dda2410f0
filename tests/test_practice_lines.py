"""`backcheck practice` without a terminal (FORMAT §9): scripted sessions through a real
subprocess, verdicts checked against PyTorch, the saved sheet against `verify`."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference import load, torch_reference, torch_scalar_reference  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PROBLEMS = ROOT / "problems"
FASTAI = PROBLEMS / "fastai_lin_relu_lin.yaml"
VERDICT = re.compile(r"^(?P<element>\S+) = (?P<given>\S+)  (?P<symbol>[✓↻✗·]) "
                     r"(?P<verdict>correct|carried|wrong|missing)(: (?P<diagnosis>.*))?$")


def practice(*args: str, lines: list[str] | str, cwd: Path | None = None
             ) -> subprocess.CompletedProcess:
    text = lines if isinstance(lines, str) else "".join(line + "\n" for line in lines)
    return subprocess.run([sys.executable, "-m", "backcheck.cli", "practice", *args],
                          input=text, capture_output=True, text=True, cwd=cwd, timeout=300)


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "backcheck.cli", *args], capture_output=True,
                          text=True, timeout=300)


def verdicts(stdout: str) -> dict[str, tuple[str, str | None]]:
    found = {}
    for line in stdout.splitlines():
        match = VERDICT.match(line)
        if match:
            found[match["element"]] = (match["verdict"], match["diagnosis"])
    return found


def row(values: np.ndarray, decimals: int = 4) -> str:
    return "[" + ", ".join(_num(v, decimals) for v in np.asarray(values).reshape(-1)) + "]"


def matrix(values: np.ndarray, decimals: int = 4) -> str:
    return "[" + ", ".join(row(r, decimals) for r in np.asarray(values)) + "]"


def _num(value: float, decimals: int) -> str:
    text = f"{round(float(value), decimals):.{decimals}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def names(quantity: str, shape: tuple[int, ...]) -> list[str]:
    if not shape:
        return [quantity]
    return [f"{quantity}[{','.join(str(i + 1) for i in index)}]" for index in np.ndindex(*shape)]


@pytest.fixture(scope="module")
def relu_slip_session(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """fast.ai lin-relu-lin worked as a learner would: right answers, honestly rounded to
    4 decimals (the loss to 3), dL/dz1 with the ReLU mask forgotten, and dL/dW1, dL/db1,
    dL/dx worked correctly from that slip. Values from PyTorch, not from backcheck."""
    truth = torch_reference(load(FASTAI))
    problem = load(FASTAI)
    x = np.array(truth["x"], dtype=float)
    W1 = np.array([[float(v) for v in r] for r in problem["layers"][0]["W"]])
    slip = truth["dL/da1"]  # relu_grad skipped: dL/dz1 taken as dL/da1
    worked = {
        "z1": truth["z1"], "a1": truth["a1"], "z2": truth["z2"], "a2": truth["a2"],
        "L": truth["L"], "dL/da2": truth["dL/da2"], "dL/dz2": truth["dL/dz2"],
        "dL/dW2": truth["dL/dW2"], "dL/db2": truth["dL/db2"], "dL/da1": truth["dL/da1"],
        "dL/dz1": slip, "dL/dW1": x.T @ slip, "dL/db1": slip.sum(axis=0),
        "dL/dx": slip @ W1.T,
    }
    script = []
    for name, value in worked.items():
        value = np.asarray(value, dtype=float)
        if name == "L":
            script.append(_num(value, 3))
        elif name == "a1":  # a matrix given one row a line
            script += [row(r) for r in value]
        elif value.ndim == 2:
            script.append(matrix(value))
        else:
            script.append(row(value))
    folder = tmp_path_factory.mktemp("practice")
    sheet = folder / "session.yaml"
    result = practice(str(FASTAI), "-o", str(sheet), lines=script)
    return result, truth, worked, sheet


def test_scripted_session_verdicts_match_independent_expectations(relu_slip_session):  # type: ignore[no-untyped-def]
    result, truth, worked, _ = relu_slip_session
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    found = verdicts(result.stdout)
    z1 = np.asarray(truth["z1"])
    for name in ("z1", "a1", "z2", "a2", "L", "dL/da2", "dL/dz2", "dL/dW2", "dL/db2",
                 "dL/da1"):
        shape = np.shape(truth[name])
        for element in names(name, shape):
            assert found[element][0] == "correct", (element, found[element])
    # the ReLU-mask slip: wrong exactly where z1 <= 0, named as the forgotten derivative
    for index in np.ndindex(*z1.shape):
        element = f"dL/dz1[{index[0] + 1},{index[1] + 1}]"
        verdict, diagnosis = found[element]
        if z1[index] <= 0:
            assert verdict == "wrong", element
            assert diagnosis and re.search(r"relu|ReLU|derivative", diagnosis), diagnosis
        else:
            assert verdict == "correct", element
    # its consequences: carried where the slip changes the value, correct where it does not
    for name in ("dL/dW1", "dL/db1", "dL/dx"):
        right = np.asarray(truth[name], dtype=float)
        from_slip = np.asarray(worked[name], dtype=float)
        for index in np.ndindex(*right.shape):
            element = f"{name}[{','.join(str(i + 1) for i in index)}]"
            verdict, diagnosis = found[element]
            if abs(from_slip[index] - right[index]) > 1e-3:
                assert verdict == "carried", (element, verdict, diagnosis)
                assert diagnosis and "dL/dz1" in diagnosis, diagnosis
            else:
                assert verdict == "correct", (element, verdict)
    total = sum(np.asarray(v).size for v in worked.values())
    assert len(found) == total
    assert result.stdout.strip().splitlines()[-1].startswith("practice: ")


def test_saved_sheet_verifies_with_the_same_verdicts(relu_slip_session):  # type: ignore[no-untyped-def]
    result, _, _, sheet = relu_slip_session
    assert sheet.exists()
    checked = cli("verify", "--json", str(sheet))
    assert checked.returncode == 1, checked.stderr
    items = {item["element"]: item["verdict"] for item in json.loads(checked.stdout)["items"]}
    assert {k: v[0] for k, v in verdicts(result.stdout).items()} == items


def test_scalar_expression_session_against_torch(tmp_path: Path) -> None:
    problem = PROBLEMS / "micrograd_readme.yaml"
    truth = torch_scalar_reference(load(problem))
    order = ["c", "d", "c2", "c3", "d2", "d3", "e", "f", "g", "g2", "dg2/dg2", "dg2/dg",
             "dg2/df", "dg2/de", "dg2/dc3", "dg2/dc2", "dg2/dc", "dg2/dd3", "dg2/dd2",
             "dg2/dd", "dg2/da", "dg2/db"]
    # a sign slip at dg2/de, and everything below e worked on from it: every path from
    # g2 down passes through e, so each of those gradients comes out negated
    slipped = order[order.index("dg2/de"):]
    script = [_num(-float(truth[name]) if name in slipped else truth[name], 4)
              for name in order]
    result = practice(str(problem), lines=script)
    found = verdicts(result.stdout)
    assert found["g2"][0] == "correct"
    assert found["dg2/de"][0] == "wrong"
    for name in slipped[1:]:
        assert found[name][0] == "carried", (name, found[name])
        assert "dg2/de" in (found[name][1] or ""), found[name]
    assert result.returncode == 1


def test_skip_back_hint_show_and_bad_lines(tmp_path: Path) -> None:
    long_line = "[" + "1, " * 50_000 + "1]"
    script = ["hint", "hint", "show", "~", "back", "bad", "\x1b[31m", long_line,
              "[1, 2]", "[[1, 2]]", "quit"]
    result = practice(str(FASTAI), lines=script)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    err = result.stderr
    assert "Each pre-activation is the weighted sum" in err  # hint 1: the rule
    assert "z1[1,1] = W1[1,1]·x[1,1]" in err  # hint 2: the sum of products of one element
    assert "answer (counted as shown)" in err and "1.1" in err
    assert "'bad' is not a number" in err
    assert "control character" in err
    assert "too long" in err
    assert "z1 is 3 × 4" in err
    found = verdicts(result.stdout)
    assert found["z1[1,1]"][0] == "missing"  # the ~, printed before back
    assert "1 answer shown" in result.stdout


def test_input_ending_on_a_bad_line_exits_2_and_saves_what_was_given(tmp_path: Path) -> None:
    sheet = tmp_path / "s.yaml"
    result = practice(str(FASTAI), "-o", str(sheet),
                      lines=["[[1.1, 0.2, -1.35, 0.1], [-0.35, -0.15, 1.85, 1.7], "
                             "[0.8, -0.7, 1.05, 2.5]]", "nonsense"])
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "the input ended after a line that could not be read" in result.stderr
    checked = cli("verify", str(sheet))
    assert checked.returncode == 0, checked.stdout  # z1 right, the rest not attempted


def test_never_overwrites_without_force(tmp_path: Path) -> None:
    sheet = tmp_path / "s.yaml"
    sheet.write_text("mine\n")
    result = practice(str(FASTAI), "-o", str(sheet), lines=["~"])
    assert result.returncode == 2
    assert "will not overwrite" in result.stderr
    assert sheet.read_text() == "mine\n"
    result = practice(str(FASTAI), "-o", str(sheet), "--force", lines=["~"])
    assert result.returncode == 0, result.stderr
    assert "problem:" in sheet.read_text()


def test_resume_continues_where_the_sheet_stops(tmp_path: Path) -> None:
    truth = torch_reference(load(FASTAI))
    sheet = tmp_path / "s.yaml"
    first = practice(str(FASTAI), "-o", str(sheet), lines=[matrix(truth["z1"])])
    assert first.returncode == 0, first.stderr
    second = practice("--resume", str(sheet), lines=[matrix(truth["a1"])])
    assert second.returncode == 0, second.stderr
    assert "a1 — activation of layer 1" in second.stderr
    found = verdicts(second.stdout)
    assert set(found) == set(names("a1", (3, 4)))
    checked = json.loads(cli("verify", "--json", str(sheet)).stdout)
    graded = {item["element"] for item in checked["items"] if item["verdict"] == "correct"}
    assert graded == set(names("z1", (3, 4))) | set(names("a1", (3, 4)))
    # practice on the sheet itself is the same as --resume
    third = practice(str(sheet), lines=["quit"])
    assert "z2 — pre-activation of layer 2" in third.stderr


def test_fresh_problem_is_saved_beside_the_sheet(tmp_path: Path) -> None:
    sheet = tmp_path / "work.yaml"
    result = practice("--seed", "7", "-o", str(sheet), lines=["~"])
    assert result.returncode == 0, result.stderr
    problem = tmp_path / "work.problem.yaml"
    assert problem.exists()
    text = sheet.read_text()
    assert re.search(r'^problem: "?work\.problem\.yaml"?$', text, re.MULTILINE), text
    assert "tolerance: {abs: " in text  # new's grading promise comes along
    assert cli("verify", str(sheet)).returncode == 0


def test_hostile_bytes_get_messages_never_a_traceback(tmp_path: Path) -> None:
    """Invalid UTF-8, a NUL, a bidi override, a 20 000-byte line without a newline at
    the end: each refused with one message, exit 2 at the end, nothing saved broken."""
    data = b"\xff\xfe\n" + b"1\x00\n" + "\u202e5\n".encode() + b"7" * 20_000
    sheet = tmp_path / "s.yaml"
    result = subprocess.run([sys.executable, "-m", "backcheck.cli", "practice", str(FASTAI),
                             "-o", str(sheet)], input=data, capture_output=True, timeout=300)
    err = result.stderr.decode("utf-8")
    assert result.returncode == 2, err
    assert "Traceback" not in err
    assert "not UTF-8" in err
    assert "U+0000" in err and "U+202E" in err
    assert "too long" in err
    assert "\u202e" not in err and "\x00" not in err
    assert cli("verify", str(sheet)).returncode == 0  # nothing given: all missing


def test_answer_lines_read_numpy_style_bare_lists_and_quoted_fractions() -> None:
    from backcheck.practice import AnswerError, read_answer

    assert read_answer("[1 2 3]") == ["1", "2", "3"]
    assert read_answer("[[1 2] [3 4]]") == [["1", "2"], ["3", "4"]]
    assert read_answer("1, 2, 3") == ["1", "2", "3"]
    assert read_answer("1 2") == ["1", "2"]  # two numbers, never 12
    assert read_answer('"1/3"') == "1/3"
    assert read_answer("−0.5") == "-0.5"
    assert read_answer("[1, ~]") == ["1", None]
    for bad in ("[1,,2]", "[1, 2", "[[[[[1]]]]]", "[1, 2]]", "[]", "abc", "1e999999"):
        with pytest.raises(AnswerError):
            read_answer(bad)


def test_quantities_come_in_working_order() -> None:
    """Forward (given numbers not asked), then the loss, then each gradient only after
    every gradient it is computed from, then the update."""
    from backcheck.mistakes import Structure
    from backcheck.practice import Session

    for problem in ("single_neuron", "fastai_lin_relu_lin", "micrograd_readme",
                    "cs231n_circuit"):
        session = Session(str(PROBLEMS / f"{problem}.yaml"))
        try:
            graph = session.graph
            order = [step.name for step in session.steps]
            sections = [graph.quantities[n].section for n in order]
            assert sections == sorted(sections, key=["forward", "backward",
                                                     "update"].index), problem
            for name in order:
                q = graph.quantities[name]
                assert not (q.kind == "value" and graph.nodes[q.node].is_leaf), name
            deps = Structure.of(graph).deps
            for i, name in enumerate(order):
                if graph.quantities[name].kind == "grad":
                    later = {n for n in order[i + 1:] if graph.quantities[n].kind == "grad"}
                    assert not (deps[name] & later), (problem, name, deps[name] & later)
        finally:
            session.close()
    session = Session(str(FASTAI))
    assert [s.name for s in session.steps] == [
        "z1", "a1", "z2", "a2", "L", "dL/da2", "dL/dz2", "dL/dW2", "dL/db2", "dL/da1",
        "dL/dz1", "dL/dW1", "dL/db1", "dL/dx"]
    session.close()


def test_tensor_problem_session_with_a_matmul_slip_carried() -> None:
    """Attention head (FORMAT §7): quantities from the graph in working order; dL/dV
    written as P @ dO (not Pᵀ @ dO) is wrong, dL/dWv worked from it is carried. Values
    from PyTorch's autograd (tests/torch_steps.py)."""
    from torch_steps import run_torch

    from backcheck.practice import Session
    from backcheck.problem import load_problem

    path = PROBLEMS / "attention_head.yaml"
    truth = run_torch(load_problem(str(path)))
    session = Session(str(path))
    order = [step.name for step in session.steps]
    session.close()
    assert order[:7] == ["Q", "K", "V", "S", "P", "O", "L"]
    assert order.index("dL/dO") < order.index("dL/dV") < order.index("dL/dWv")
    X = np.array([[1, 0], [0, 1], [1, 1]], dtype=float)
    slipped = {"dL/dV": np.asarray(truth["P"]) @ np.asarray(truth["dL/dO"])}
    slipped["dL/dWv"] = X.T @ slipped["dL/dV"]
    script = []
    for name in order:
        value = np.asarray(slipped.get(name, truth[name]), dtype=float)
        script.append(matrix(value) if value.ndim == 2 else row(value) if value.ndim
                      else _num(value, 4))
    result = practice(str(path), lines=script)
    assert "Traceback" not in result.stderr
    found = verdicts(result.stdout)
    for name in order:
        right = np.asarray(truth[name], dtype=float)
        given = np.asarray(slipped.get(name, truth[name]), dtype=float)
        for element, r, g in zip(names(name, right.shape), right.reshape(-1),
                                 given.reshape(-1)):
            verdict = found[element][0]
            if abs(r - g) <= 1e-3:
                assert verdict == "correct", (element, found[element])
            elif name == "dL/dV":
                assert verdict == "wrong", (element, found[element])
            else:
                assert verdict == "carried", (element, found[element])
                assert "dL/dV" in (found[element][1] or "")
    assert result.returncode == 1
