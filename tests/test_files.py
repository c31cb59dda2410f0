"""Never clobber, never half-write (issue 15): exclusive create, --force only on regular
files, all-or-nothing sets, umask and kept modes, one message for a write error; and
never hang or crash on an input path (FIFO, device, NUL byte, symlink loop)."""

from __future__ import annotations

import errno
import os
import resource
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from backcheck import files
from backcheck.errors import BackcheckError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_bad_inputs import ROOT, run_main  # noqa: E402

SET = ["practice.yaml", "practice.answers.yaml", "practice.key.yaml"]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(files.TEMP_PREFIX))


def one_error(code: int, err: str, *words: str) -> None:
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines and lines[0].startswith("error: "), err
    assert sum(line.startswith("error: ") for line in lines) == 1, err
    assert "internal error" not in err and "Traceback" not in err
    for word in words:
        assert word in err, (word, err)


# ------------------------------------------------------------ --force and what it replaces
def test_force_never_replaces_a_fifo_or_a_directory(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.csv")
    (tmp_path / "folder.csv").mkdir()
    sheet = str(ROOT / "problems" / "sheets" / "single_neuron" / "right.yaml")
    for target, what in (("pipe.csv", "FIFO"), ("folder.csv", "directory")):
        for force in ("--force", "-f"):
            code, out, err, _ = run_main(["verify", sheet, "--csv", target, force], tmp_path)
            one_error(code, err, what)
    assert stat.S_ISFIFO(os.lstat(tmp_path / "pipe.csv").st_mode)
    assert (tmp_path / "folder.csv").is_dir()
    os.mkfifo(tmp_path / "p.yaml")
    code, _, err, _ = run_main(["new", "-o", "p.yaml", "--force", "--seed", "1"], tmp_path)
    one_error(code, err, "FIFO")
    assert stat.S_ISFIFO(os.lstat(tmp_path / "p.yaml").st_mode)
    assert not (tmp_path / "p.answers.yaml").exists() and leftovers(tmp_path) == []


def test_force_never_replaces_a_device(tmp_path: Path) -> None:
    try:
        os.mknod(tmp_path / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("creating a device node needs root (CI runs as root)")
    (tmp_path / "out").mkdir()
    os.symlink(tmp_path / "null", tmp_path / "out" / "devnull")
    for args in (["new", "-o", "null", "--force", "--seed", "1"],
                 ["new", "-o", "out/devnull", "--force", "--seed", "1"],
                 ["graph", str(ROOT / "problems" / "micrograd_readme.yaml"), "-o", "null.dot"],
                 ["explain", str(ROOT / "problems" / "single_neuron.yaml"), "dL/db1", "-o",
                  "null", "-f"]):
        if args[0] == "graph":
            os.symlink(tmp_path / "null", tmp_path / "null.dot")
            args.append("-f")
        code, _, err, _ = run_main(args, tmp_path)
        one_error(code, err, "device")
    assert stat.S_ISCHR(os.lstat(tmp_path / "null").st_mode)
    assert stat.S_ISLNK(os.lstat(tmp_path / "out" / "devnull").st_mode)


def test_a_dangling_symlink_counts_as_existing(tmp_path: Path) -> None:
    os.symlink(tmp_path / "nowhere", tmp_path / "practice.answers.yaml")
    code, _, err, _ = run_main(["new", "--seed", "1"], tmp_path)
    one_error(code, err, "will not overwrite", "--force")
    assert not (tmp_path / "practice.yaml").exists()
    assert not (tmp_path / "nowhere").exists()
    code, _, err, _ = run_main(["new", "--seed", "1", "-f"], tmp_path)
    one_error(code, err, "leads nowhere")
    assert not (tmp_path / "nowhere").exists()


def test_force_replaces_a_regular_file_and_keeps_its_mode(tmp_path: Path) -> None:
    code, _, err, _ = run_main(["new", "--seed", "1", "--key"], tmp_path)
    assert code == 0, err
    os.chmod(tmp_path / "practice.key.yaml", 0o600)
    os.chmod(tmp_path / "practice.yaml", 0o644)
    before = (tmp_path / "practice.yaml").read_text()
    code, _, err, _ = run_main(["new", "--seed", "2", "--key"], tmp_path)
    one_error(code, err, "will not overwrite")
    assert (tmp_path / "practice.yaml").read_text() == before
    code, _, err, _ = run_main(["new", "--seed", "2", "--key", "-f"], tmp_path)
    assert code == 0, err
    assert (tmp_path / "practice.yaml").read_text() != before
    assert stat.S_IMODE(os.stat(tmp_path / "practice.key.yaml").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "practice.yaml").st_mode) == 0o644
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077])
def test_new_files_follow_the_umask(tmp_path: Path, mask: int) -> None:
    old = os.umask(mask)
    try:
        files.write_files([(str(tmp_path / "a.txt"), "a"), (str(tmp_path / "b.txt"), b"b")])
    finally:
        os.umask(old)
    for name in ("a.txt", "b.txt"):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o666 & ~mask


def test_every_writing_command_takes_f_and_force(tmp_path: Path) -> None:
    for command in ("new", "verify", "graph", "explain"):
        code, out, _, _ = run_main([command, "--help"], tmp_path)
        assert code == 0 and "--force" in out and "-f" in out, (command, out)


# -------------------------------------------------------- exclusive create, all or nothing
def test_a_file_appearing_meanwhile_is_never_replaced(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The check passes, then a file appears before the write: it stays, and nothing of
    the set is left behind (today ``new --count 500`` overwrote such a file)."""
    real_prepare = files._Pending.prepare

    def prepare_then_race(self: files._Pending, force: bool, umask: int) -> None:
        real_prepare(self, force, umask)
        if self.path.endswith("quiz-3.answers.yaml"):
            Path(self.path).write_text("mine\n")

    monkeypatch.setattr(files._Pending, "prepare", prepare_then_race)
    code, _, err, _ = run_main(["new", "-o", "quiz.yaml", "--count", "4", "--key",
                                "--seed", "5"], tmp_path)
    one_error(code, err, "quiz-3.answers.yaml", "will not overwrite")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["quiz-3.answers.yaml"]
    assert (tmp_path / "quiz-3.answers.yaml").read_text() == "mine\n"


@pytest.mark.parametrize("failure", [errno.ENOSPC, errno.EFBIG, errno.EROFS])
def test_a_failed_set_leaves_nothing_and_a_rerun_works(tmp_path: Path, failure: int,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = files._write_data

    def fail_on_the_fifth(stream, data):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 5:
            raise OSError(failure, os.strerror(failure))
        real(stream, data)

    monkeypatch.setattr(files, "_write_data", fail_on_the_fifth)
    args = ["new", "-o", "quiz.yaml", "--count", "3", "--key", "--seed", "5"]
    code, out, err, _ = run_main(args, tmp_path)
    one_error(code, err, "cannot write the file")
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setattr(files, "_write_data", real)
    code, out, err, _ = run_main(args, tmp_path)
    assert code == 0, err
    assert len(list(tmp_path.iterdir())) == 9


def test_an_interrupt_mid_set_leaves_nothing(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    real_place = files._Pending.place
    placed = []

    def place_then_interrupt(self: files._Pending, force: bool) -> None:
        real_place(self, force)
        placed.append(self.path)
        if len(placed) == 4:
            os.kill(os.getpid(), signal.SIGTERM)  # as `kill` would: a KeyboardInterrupt here

    monkeypatch.setattr(files._Pending, "place", place_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        files.write_files([(str(tmp_path / f"f{i}"), f"{i}") for i in range(6)])
    assert len(placed) == 4
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_forced_set_puts_the_old_files_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(3):
        (tmp_path / f"f{i}").write_text(f"old {i}")
    real_place = files._Pending.place

    def place_then_fail(self: files._Pending, force: bool) -> None:
        if self.path.endswith("f2"):
            raise KeyboardInterrupt
        real_place(self, force)

    monkeypatch.setattr(files._Pending, "place", place_then_fail)
    with pytest.raises(KeyboardInterrupt):
        files.write_files([(str(tmp_path / f"f{i}"), "new") for i in range(3)], force=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f0", "f1", "f2"]
    assert [(tmp_path / f"f{i}").read_text() for i in range(3)] == ["old 0", "old 1", "old 2"]


def test_a_file_size_limit_is_one_message_in_a_real_process(tmp_path: Path) -> None:
    """RLIMIT_FSIZE makes the write fail with EFBIG, as a full disk fails with ENOSPC."""
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (1500, 1500))

    completed = subprocess.run(
        [sys.executable, "-c", "from backcheck.cli import main; main()", "new", "-o",
         "quiz.yaml", "--count", "5", "--key", "--seed", "3"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600, preexec_fn=limit)
    one_error(completed.returncode, completed.stderr, "file too large")
    assert list(tmp_path.iterdir()) == []


def test_verify_prints_its_grading_before_a_write_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def read_only(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(files.tempfile, "mkstemp", read_only)
    sheets = ROOT / "problems" / "sheets" / "single_neuron"
    code, out, err, _ = run_main(["verify", str(sheets / "right.yaml"),
                                  str(sheets / "factor_two_missing.yaml"), "--csv", "g.csv"],
                                 tmp_path)
    one_error(code, err, "g.csv", "read-only")
    assert "Answer sheets" in out and "right.yaml" in out
    assert list(tmp_path.iterdir()) == []


def test_empty_and_folder_output_names_are_one_message(tmp_path: Path) -> None:
    for args in (["new", "-o", ""], ["new", "-o", "sub/"], ["new", "-o", "no/such/q.yaml"],
                 ["verify", str(ROOT / "problems" / "mazur_2_2_2.yaml"), "--csv", ""]):
        code, _, err, _ = run_main(args, tmp_path)
        one_error(code, err)
    assert list(tmp_path.iterdir()) == []


def test_write_atomic_refuses_a_nul_byte_in_the_name(tmp_path: Path) -> None:
    with pytest.raises(BackcheckError, match="NUL"):
        files.write_atomic(str(tmp_path / "a\x00b"), "x")


# ------------------------------------------------------------------ input paths
def test_a_fifo_or_device_is_refused_before_it_is_opened(tmp_path: Path) -> None:
    """Today solve, verify, explain and graph block forever on a FIFO."""
    os.mkfifo(tmp_path / "pipe.yaml")
    (tmp_path / "sheet.yaml").write_text("problem: pipe.yaml\nanswers: {z: [1]}\n")
    (tmp_path / "dev.yaml").write_text("problem: /dev/zero\nanswers: {z: [1]}\n")
    (tmp_path / "tty.yaml").write_text("problem: /dev/tty\nanswers: {z: [1]}\n")
    cases = [(["solve", "pipe.yaml"], "FIFO"), (["verify", "sheet.yaml"], "FIFO"),
             (["explain", "pipe.yaml", "dL/dz1"], "FIFO"), (["graph", "pipe.yaml"], "FIFO"),
             (["verify", "dev.yaml"], "device"), (["verify", "tty.yaml"], "device"),
             (["solve", "/dev/zero"], "device"), (["verify", "pipe.yaml"], "FIFO")]
    for args, word in cases:
        completed = subprocess.run(
            [sys.executable, "-c", "from backcheck.cli import main; main()", *args],
            # a FIFO blocks a reader asleep, using no CPU: only the wall clock sees that
            # hang, so this bound is the wall clock's, and generous for a busy machine
            cwd=tmp_path, capture_output=True, text=True, timeout=300)
        one_error(completed.returncode, completed.stderr, word)


def test_a_nul_byte_in_problem_is_exit_2_and_does_not_stop_a_class_run(tmp_path: Path) -> None:
    (tmp_path / "nul.yaml").write_text('problem: "a\\0b.yaml"\nanswers: {z: [1]}\n')
    code, _, err, _ = run_main(["verify", "nul.yaml"], tmp_path)
    one_error(code, err, "NUL byte")
    right = str(ROOT / "problems" / "sheets" / "single_neuron" / "right.yaml")
    code, out, err, _ = run_main(["verify", "nul.yaml", right, "--csv", "g.csv"], tmp_path)
    assert code == 2 and "internal error" not in out + err
    book = (tmp_path / "g.csv").read_text()
    assert "NUL byte" in book and "right.yaml" in book


def test_a_symlink_loop_says_so(tmp_path: Path) -> None:
    os.symlink("loop2.yaml", tmp_path / "loop1.yaml")
    os.symlink("loop1.yaml", tmp_path / "loop2.yaml")
    (tmp_path / "sheet.yaml").write_text("problem: loop1.yaml\nanswers: {z: [1]}\n")
    for args in (["solve", "loop1.yaml"], ["verify", "sheet.yaml"]):
        code, _, err, _ = run_main(args, tmp_path)
        one_error(code, err, "symlink loop")


def test_one_broken_sheet_never_stops_a_class_run(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Even a bug (an unexpected exception) in one sheet leaves the others graded."""
    from backcheck.grading import grader as grader_module

    real = grader_module.grade_sheet

    def broken(grader, path):  # type: ignore[no-untyped-def]
        if path.endswith("factor_two_missing.yaml"):
            raise ZeroDivisionError("simulated bug")
        return real(grader, path)

    monkeypatch.setattr(grader_module, "grade_sheet", broken)
    sheets = ROOT / "problems" / "sheets" / "single_neuron"
    code, out, err, _ = run_main(["verify", str(sheets / "factor_two_missing.yaml"),
                                  str(sheets / "right.yaml"), "--csv", "g.csv"], tmp_path)
    assert code == 2
    book = (tmp_path / "g.csv").read_text().splitlines()
    assert len(book) == 3 and "simulated bug" in book[1] and "100.0" in book[2]
