"""Terminal escape injection (issue 15): text that comes from a file (student names,
titles, notes, paths, answer texts, messages quoting a file) reaches neither the terminal
nor any file backcheck writes (CSV, JSON, DOT, Markdown/LaTeX/text, generated YAML) with a
control or bidi character in it, and rich markup in it stays text.

Each hostile string is put into every file field that is shown, then every command runs
on it with every output; nothing written or printed may contain a raw escape.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import yaml

from backcheck.text import UNSAFE, escape, safe_json, yaml_string

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_bad_inputs import ROOT, run_main  # noqa: E402

#: what an attacker would put in a name: screen clear, window title, clipboard write
#: (OSC 52), a forged grade in green, 8-bit CSI, a bidi override, an isolate, a carriage
#: return and backspaces that overwrite what was printed, and rich markup
HOSTILE = [
    "\x1b[2J\x1b[H",
    "\x1b]0;owned\x07",
    "\x1b]52;c;cm0gLXJmIH4=\x07",
    "\x1b[32mAda: 19/19 correct\x1b[0m",
    "\x9b31m8-bit CSI",
    "txt.\u202eexe",
    "\u2066isolated\u2069",
    "over\rwrite\x08\x08",
    "[red]styled[/red] [link=http://x]y[/link]",
    "line\nbreak\u2028sep",
]
#: what a terminal or file must never receive raw (UNSAFE minus nothing: the newline of a
#: file's own line breaks is checked separately, by comparing with the escaped text)
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
                 "\u2028\u2029]")


def yaml_quoted(text: str) -> str:
    return json.dumps(text)  # a JSON string is a YAML double-quoted scalar


def write_problem(folder: Path, evil: str) -> Path:
    source = (ROOT / "problems" / "single_neuron.yaml").read_text()
    body = "\n".join(line for line in source.splitlines()
                     if not line.startswith(("title:", "#")))
    path = folder / "problem.yaml"
    path.write_text(f"title: {yaml_quoted('T ' + evil)}\n{body}\n")
    return path


def write_sheet(folder: Path, evil: str, name: str = "sheet.yaml") -> Path:
    path = folder / name
    path.write_text(
        f"problem: problem.yaml\n"
        f"student: {yaml_quoted('S ' + evil)}\n"
        f"title: {yaml_quoted('T ' + evil)}\n"
        f"notes: {yaml_quoted('N ' + evil)}\n"
        f"answers:\n  z: [0.35]\n  y_hat: [0.6]\n")
    return path


def assert_clean(where: str, text: str) -> None:
    found = RAW.search(text)
    assert found is None, f"{where}: raw {found.group()!r} in {text!r}"


def assert_markup_is_text(where: str, text: str) -> None:
    assert "[red]" in text, f"{where}: markup was read as style: {text!r}"


@pytest.mark.parametrize("evil", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_text_reaches_no_terminal_and_no_file_raw(evil: str, tmp_path: Path) -> None:
    write_problem(tmp_path, evil)
    write_sheet(tmp_path, evil)
    write_sheet(tmp_path, evil, name="second.yaml")
    runs = [
        ["solve", "problem.yaml"],
        ["solve", "problem.yaml", "--json"],
        ["solve", "problem.yaml", "--exact"],
        ["verify", "sheet.yaml"],
        ["verify", "sheet.yaml", "--json"],
        ["verify", "sheet.yaml", "second.yaml", "--csv", "book.csv"],
        ["verify", "sheet.yaml", "second.yaml", "--json"],
        ["graph", "problem.yaml"],
        ["graph", "problem.yaml", "-o", "graph.dot"],
        ["graph", "problem.yaml", "--scalar", "-o", "scalar.dot"],
        ["explain", "problem.yaml", "dL/dW1[1,1]"],
        ["explain", "problem.yaml", "dL/dW1[1,1]", "-o", "e.md"],
        ["explain", "problem.yaml", "dL/dW1[1,1]", "-o", "e.tex"],
        ["explain", "problem.yaml", "dL/dW1[1,1]", "-o", "e.txt"],
    ]
    for args in runs:
        code, out, err, _ = run_main(args, cwd=tmp_path)
        assert code in (0, 1), (args, code, err)
        assert_clean(" ".join(args), out + err)
        if "[red]" in evil and "--json" not in args and "-o" not in args:
            assert_markup_is_text(" ".join(args), out)
        if "--json" in args:
            document = json.loads(out)  # reads back: the escapes are JSON's own
            if args[0] == "verify":  # the student's name, exactly as written
                sheet = document["sheets"][0] if "sheets" in document else document
                assert sheet["student"] == "S " + evil
    for written in ("book.csv", "graph.dot", "scalar.dot", "e.md", "e.tex", "e.txt"):
        assert_clean(written, (tmp_path / written).read_text())
    assert escape("S " + evil) in (tmp_path / "book.csv").read_text()


@pytest.mark.parametrize("evil", HOSTILE, ids=range(len(HOSTILE)))
def test_a_hostile_file_name_is_shown_escaped(evil: str, tmp_path: Path) -> None:
    """Sheets collected from students keep the names they chose."""
    if "/" in evil:
        pytest.skip("a file name cannot hold a slash")
    write_problem(tmp_path, "plain")
    name = "s" + evil + ".yaml"
    write_sheet(tmp_path, "plain", name=name)
    for args in (["verify", name], ["verify", name, "--json"],
                 ["verify", name, "problem.yaml", "--csv", "b.csv"], ["solve", name],
                 ["explain", name, "dL/dz9"]):
        code, out, err, _ = run_main(args, cwd=tmp_path)
        assert_clean(" ".join(args), out + err)
    assert_clean("b.csv", (tmp_path / "b.csv").read_text())


@pytest.mark.parametrize("evil", HOSTILE, ids=range(len(HOSTILE)))
def test_an_error_quoting_hostile_file_text_is_escaped(evil: str, tmp_path: Path) -> None:
    write_problem(tmp_path, "plain")
    cases = {
        "unknown.yaml": f"problem: problem.yaml\nanswers:\n  {yaml_quoted(evil)}: [1]\n",
        "badnumber.yaml": f"problem: problem.yaml\nanswers:\n  z: [{yaml_quoted(evil)}]\n",
        "badproblem.yaml": f"problem: {yaml_quoted(evil + '.yaml')}\nanswers:\n  z: [1]\n",
        "badstep.yaml": f"values: {{a: 1}}\nsteps:\n  - {yaml_quoted('b = a + ' + evil)}\n"
                        "output: b\n",
    }
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
    for args in (["verify", "unknown.yaml"], ["verify", "badnumber.yaml"],
                 ["verify", "badproblem.yaml"], ["solve", "badstep.yaml"],
                 ["verify", "unknown.yaml", "badnumber.yaml", "badproblem.yaml",
                  "--csv", "c.csv"],
                 ["verify", "unknown.yaml", "badproblem.yaml", "--json"]):
        code, out, err, _ = run_main(args, cwd=tmp_path)
        assert code == 2, (args, out, err)
        assert "internal error" not in err
        assert_clean(" ".join(args), out + err)
    assert_clean("c.csv", (tmp_path / "c.csv").read_text())


def test_a_generated_sheet_names_its_problem_so_it_reads_back(tmp_path: Path) -> None:
    for name in ("quiz #1.yaml", "week 3: backprop.yaml", "- dash.yaml", "'q'.yaml",
                 "tab\there.yaml", "true", "1e3.yaml"):
        code, out, err, _ = run_main(["new", "-o", name, "--seed", "4", "--key"], cwd=tmp_path)
        assert code == 0, err
        assert_clean(name, out + err)
        stem = name[:-5] if name.endswith(".yaml") else name
        for written in (f"{stem}.answers.yaml", f"{stem}.key.yaml"):
            text = (tmp_path / written).read_text()
            assert_clean(written, text)
            assert yaml.safe_load(text)["problem"] == name
        code, out, err, _ = run_main(["verify", f"./{stem}.key.yaml"], cwd=tmp_path)
        assert code == 0, err


@pytest.mark.parametrize("text", HOSTILE + ["plain.yaml", "", "null", "a: b", "#x", "\\",
                                            '"', "'", "  spaced  ", "-1", "0x1F", "\ud800"])
def test_yaml_string_and_safe_json_read_back_exactly(text: str) -> None:
    assert yaml.safe_load(f"k: {yaml_string(text)}\n")["k"] == text
    assert not RAW.search(yaml_string(text))
    assert json.loads(safe_json({"k": text}))["k"] == text
    assert not RAW.search(safe_json({"k": text}))
    assert not UNSAFE.search(escape(text))
