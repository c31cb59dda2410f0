"""One clear message (issue 15): option errors are one ``error:`` line like every other
(not typer's boxed usage text), and text YAML 1.1 or Python would read as a number (a
date, 0x1F, 1:30, 1_000, ٣) is refused with what it is, one line with line:column."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_bad_inputs import ROOT, run_main  # noqa: E402

PROBLEM = str(ROOT / "problems" / "single_neuron.yaml")


@pytest.mark.parametrize("args, words", [
    (["new", "--seed", "-1"], ["backcheck new", "--seed"]),
    (["new", "--count", "x"], ["backcheck new", "--count"]),
    (["verify", "x.yaml", "--digits", "0"], ["backcheck verify", "--digits"]),
    (["solve"], ["backcheck solve", "missing argument"]),
    (["solve", PROBLEM, "--no-such-option"], ["backcheck solve", "--no-such-option"]),
    (["explain", PROBLEM], ["backcheck explain", "missing argument"]),
    (["frobnicate"], ["no such command"]),
    (["new", "-o", ""], ["output file name is empty"]),
])
def test_an_option_error_is_one_error_line(args: list[str], words: list[str],
                                           tmp_path: Path) -> None:
    code, out, err, _ = run_main(args, tmp_path)
    assert code == 2, (code, out, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines[0].startswith("error: "), err
    assert sum(line.startswith("error") for line in lines) == 1, err
    assert "Usage:" not in err and "Traceback" not in err and out == ""
    for word in words:
        assert word in err, (word, err)
    assert list(tmp_path.iterdir()) == []


def test_help_and_version_still_exit_0(tmp_path: Path) -> None:
    for args in (["--help"], ["--version"], ["solve", "--help"], ["new", "--help"]):
        code, out, err, _ = run_main(args, tmp_path)
        assert code == 0 and out and not err, (args, err)


@pytest.mark.parametrize("written, what", [
    ("2001-01-01", "a date"), ("0x1F", "a hexadecimal number"), ("1:30", "base-60"),
    ("1_000", "digits grouped with _"), ("0b101", "a binary number"),
    ("١٢", "digits other than 0-9"), ("'١/٢'", "digits other than 0-9"),
    ("'３'", "digits other than 0-9"),
])
def test_numbers_yaml_11_would_read_are_refused_with_what_they_are(
        written: str, what: str, tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(f"values: {{a: {written}}}\nsteps: [b = 2 * a]\n"
                                     "output: b\n")
    (tmp_path / "s.yaml").write_text(f"problem: {PROBLEM}\nanswers:\n  z: [{written}]\n")
    for args, line in ((["solve", "p.yaml"], 1), (["verify", "s.yaml"], 3)):
        code, out, err, _ = run_main(args, tmp_path)
        assert code == 2, err
        assert what in err and f":{line}:" in err.splitlines()[0], err
        assert len([x for x in err.splitlines() if x.startswith("error")]) == 1


def test_dates_and_such_are_still_fine_as_text(tmp_path: Path) -> None:
    """A title or a student name may be a date or 1:30; only numbers are strict."""
    (tmp_path / "s.yaml").write_text(f"problem: {PROBLEM}\nstudent: 2001-01-01\n"
                                     "title: 1:30\nanswers:\n  z: [0.35]\n")
    code, out, err, _ = run_main(["verify", "s.yaml"], tmp_path)
    assert code == 0, err
    assert "2001-01-01" in out and "1:30" in out


def test_a_control_character_in_yaml_is_one_line_with_its_position(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_bytes(b"values: {a: 1}\nsteps: [b = a]\ntitle: x\x1by\n"
                                      b"output: b\n")
    code, out, err, _ = run_main(["solve", "c.yaml"], tmp_path)
    assert code == 2
    assert err.splitlines()[0] == ("error: c.yaml:3:9: control character U+001B is not "
                                   "allowed in YAML"), err
    assert "position" not in err


def test_tolerance_message_grammar(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(f"problem: {PROBLEM}\ntolerance: {{abs: x}}\n"
                                     "answers:\n  z: [0.35]\n")
    code, out, err, _ = run_main(["verify", "s.yaml"], tmp_path)
    assert code == 2 and "expected an abs tolerance" in err, err
