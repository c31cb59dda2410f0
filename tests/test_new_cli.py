"""`backcheck new` from the command line, as a user runs it: files, output, no clobbering,
bad options (exit 2, nothing written)."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

from backcheck.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpu_bounds import run_bounded  # noqa: E402


def run(args: list[str], monkeypatch, capsys) -> tuple[int, str, str]:
    """Run the real entry point (error handling included) in-process."""
    monkeypatch.setattr(sys, "argv", ["backcheck", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    captured = capsys.readouterr()
    code = exit_info.value.code
    return (0 if code is None else code), captured.out, captured.err


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_new_writes_problem_and_sheet_and_says_what_next(workdir, monkeypatch, capsys) -> None:
    code, out, err = run(["new", "--seed", "42"], monkeypatch, capsys)
    assert code == 0, err
    assert listing(workdir) == ["practice.answers.yaml", "practice.yaml"]
    sheet = (workdir / "practice.answers.yaml").read_text(encoding="utf-8")
    assert "problem: practice.yaml" in sheet
    assert "backcheck verify practice.answers.yaml" in out
    for shown in ("seed 42", "z1 = W1·x + b1", "a1 = relu(z1)", "L = mse(ŷ, target)", "W1",
                  "target", "practice.answers.yaml"):
        assert shown in out, shown
    assert "picked at random" not in out  # the seed was given


def test_the_written_problem_solves(workdir, monkeypatch, capsys) -> None:
    run(["new", "--seed", "5", "--difficulty", "medium"], monkeypatch, capsys)
    code, out, err = run(["solve", "practice.yaml"], monkeypatch, capsys)
    assert code == 0, err
    assert "cross-check" in out


def test_without_seed_one_is_picked_printed_and_reproduces(tmp_path, monkeypatch,
                                                             capsys) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    monkeypatch.chdir(first)
    code, out, _ = run(["new", "--difficulty", "hard"], monkeypatch, capsys)
    assert code == 0
    seed = re.search(r"--seed (\d+)", out).group(1)
    monkeypatch.chdir(second)
    code, _, _ = run(["new", "--difficulty", "hard", "--seed", seed], monkeypatch, capsys)
    assert code == 0
    for name in ("practice.yaml", "practice.answers.yaml"):
        assert (first / name).read_bytes() == (second / name).read_bytes()


@pytest.mark.parametrize("difficulty", ["easy", "medium", "hard"])
def test_same_seed_gives_byte_identical_files(tmp_path, monkeypatch, capsys,
                                              difficulty) -> None:
    for folder in ("one", "two"):
        (tmp_path / folder).mkdir()
        monkeypatch.chdir(tmp_path / folder)
        code, _, err = run(["new", "--seed", "2024", "--difficulty", difficulty, "--key"],
                           monkeypatch, capsys)
        assert code == 0, err
    for name in ("practice.yaml", "practice.answers.yaml", "practice.key.yaml"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


def test_half_filled_sheet_survives_a_second_new(workdir, monkeypatch, capsys) -> None:
    run(["new", "--seed", "1"], monkeypatch, capsys)
    sheet = workdir / "practice.answers.yaml"
    worked = sheet.read_text(encoding="utf-8").replace("z1: [~, ~]", "z1: [3, -1]", 1)
    assert "z1: [3, -1]" in worked
    sheet.write_text(worked, encoding="utf-8")
    problem_before = (workdir / "practice.yaml").read_bytes()

    code, out, err = run(["new", "--seed", "2", "--key"], monkeypatch, capsys)
    assert code == 2
    assert "will not overwrite" in err and "--force" in err
    assert "Traceback" not in err
    assert sheet.read_text(encoding="utf-8") == worked
    assert (workdir / "practice.yaml").read_bytes() == problem_before
    assert not (workdir / "practice.key.yaml").exists()  # nothing written at all
    assert not [p for p in listing(workdir) if p.startswith(".backcheck-")]

    code, _, err = run(["new", "--seed", "2", "--force"], monkeypatch, capsys)
    assert code == 0, err
    assert "z1: [~, ~]" in sheet.read_text(encoding="utf-8")
    assert (workdir / "practice.yaml").read_bytes() != problem_before


def test_every_target_is_checked_before_any_is_written(workdir, monkeypatch, capsys) -> None:
    (workdir / "practice.key.yaml").write_text("mine\n", encoding="utf-8")
    code, _, err = run(["new", "--seed", "3", "--key"], monkeypatch, capsys)
    assert code == 2
    assert "practice.key.yaml" in err
    assert listing(workdir) == ["practice.key.yaml"]
    assert (workdir / "practice.key.yaml").read_text(encoding="utf-8") == "mine\n"


def test_output_path_names_sheet_and_key(workdir, monkeypatch, capsys) -> None:
    (workdir / "hw").mkdir()
    code, out, err = run(["new", "-o", "hw/week3.yaml", "--seed", "8", "--key"],
                         monkeypatch, capsys)
    assert code == 0, err
    assert listing(workdir / "hw") == ["week3.answers.yaml", "week3.key.yaml", "week3.yaml"]
    for name in ("week3.answers.yaml", "week3.key.yaml"):
        text = (workdir / "hw" / name).read_text(encoding="utf-8")
        assert "\nproblem: week3.yaml\n" in text  # relative to the sheet
    assert "backcheck verify hw/week3.answers.yaml" in out


def test_key_verifies_from_the_command_line(workdir, monkeypatch, capsys) -> None:
    pytest.importorskip("backcheck.grading",
                        reason="backcheck verify (backcheck.grading) is not built yet")
    run(["new", "--seed", "11", "--difficulty", "hard", "--key"], monkeypatch, capsys)
    code, out, err = run(["verify", "practice.key.yaml"], monkeypatch, capsys)
    assert code == 0, out + err
    code, _, _ = run(["verify", "practice.answers.yaml"], monkeypatch, capsys)
    assert code == 0  # an untouched sheet: everything missing, nothing wrong


def test_count_writes_numbered_variants_for_a_class(workdir, monkeypatch, capsys) -> None:
    code, out, err = run(["new", "--count", "3", "--seed", "100", "--key", "-o", "quiz.yaml"],
                         monkeypatch, capsys)
    assert code == 0, err
    expected = []
    for i in (1, 2, 3):
        expected += [f"quiz-{i}.yaml", f"quiz-{i}.answers.yaml", f"quiz-{i}.key.yaml"]
    assert listing(workdir) == sorted(expected)
    texts = [(workdir / f"quiz-{i}.yaml").read_text(encoding="utf-8") for i in (1, 2, 3)]
    assert len(set(texts)) == 3
    for i, seed in zip((1, 2, 3), (100, 101, 102), strict=True):
        assert f"--seed {seed}\n" in texts[i - 1]
        sheet = (workdir / f"quiz-{i}.answers.yaml").read_text(encoding="utf-8")
        assert f"\nproblem: quiz-{i}.yaml\n" in sheet
    assert "backcheck verify quiz-1.answers.yaml" in out
    # the variant is the single problem of its seed
    (workdir / "single").mkdir()
    monkeypatch.chdir(workdir / "single")
    run(["new", "--seed", "101"], monkeypatch, capsys)
    assert (workdir / "single" / "practice.yaml").read_text(encoding="utf-8") == texts[1]


@pytest.mark.parametrize("args, message", [
    (["--layers", "3"], "at least two sizes"),
    (["--batch", "0"], "--batch must be at least 1"),
    (["--output-activation", "softmax", "--layers", "2,1"], "softmax needs at least two"),
    (["--hidden-activation", "sigmoidd"], "unknown activation"),
    (["--loss", "squared_hinge"], "unknown loss"),
    (["--convention", "Wt"], "unknown convention"),
    (["--difficulty", "insane"], "unknown difficulty"),
    (["--learning-rate", "abc"], "not a number"),
    (["--count", "0"], "--count"),
    (["-o", "no/such/folder/p.yaml"], "does not exist"),
])
def test_bad_options_exit_2_and_write_nothing(workdir, monkeypatch, capsys, args,
                                              message) -> None:
    code, out, err = run(["new", "--seed", "1", *args], monkeypatch, capsys)
    assert code == 2
    assert message in err
    assert "Traceback" not in err
    assert err.count("error:") == 1
    assert listing(workdir) == []


def test_typer_level_bad_values_exit_2(workdir, monkeypatch, capsys) -> None:
    code, _, _ = run(["new", "--batch", "two"], monkeypatch, capsys)
    assert code == 2
    assert listing(workdir) == []


def test_real_process_as_a_new_user(tmp_path) -> None:
    env = dict(os.environ, COLUMNS="100")
    process = run_bounded(
        [sys.executable, "-m", "backcheck.cli", "new", "--seed", "7", "--layers", "3"],
        cwd=tmp_path, capture_output=True, text=True, cpu_seconds=60, env=env)
    assert process.returncode == 2
    assert process.stderr.startswith("error: backcheck new: --layers needs at least two sizes")
    assert listing(tmp_path) == []
    process = run_bounded(
        [sys.executable, "-m", "backcheck.cli", "new", "--seed", "7"],
        cwd=tmp_path, capture_output=True, text=True, cpu_seconds=60, env=env)
    assert process.returncode == 0, process.stderr
    assert "backcheck verify practice.answers.yaml" in process.stdout
    assert listing(tmp_path) == ["practice.answers.yaml", "practice.yaml"]
