"""``backcheck practice``: work a problem step by step, graded as each answer is given.

In a terminal: a full-screen Textual app (:mod:`backcheck.render.practice_app`). With
standard input not a terminal (or ``--lines``): the line protocol of FORMAT §9, one
answer a line, one verdict line per element on stdout; questions, hints and messages go
to stderr, so stdout stays the verdicts and the closing summary.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import typer

from . import options as shared

#: a line longer than this many bytes is refused (and the rest of it skipped)
MAX_LINE_BYTES = 8192


#: the fresh-problem options are new's, said of a fresh problem
FRESH = "For a fresh problem (as in new). "


def register(app: typer.Typer) -> None:
    @app.command()
    def practice(
        problem: Path = typer.Argument(
            None, help="A problem file, or an answers file to resume. None: a fresh problem "
                       "as `backcheck new` makes it (its options below apply)."),
        resume: Path = typer.Option(
            None, "--resume", help="Resume this answers file (written by practice or new); "
                                   "it is saved back to the same file unless -o is given."),
        output: Path = typer.Option(
            None, "--output", "-o",
            help="Save the session as this answers file (FORMAT §4). In the app the default "
                 "is <problem>.answers.yaml here; without a terminal only -o saves."),
        force: bool = typer.Option(False, "--force", "-f", help="Overwrite existing files."),
        lines: bool = typer.Option(
            False, "--lines", help="Use the line protocol (FORMAT §9) even in a terminal."),
        seed: int = typer.Option(None, "--seed", min=0, help="For a fresh problem: its seed."),
        difficulty: str = typer.Option(None, "--difficulty",
                                       help="For a fresh problem: easy, medium or hard."),
        layers: str = shared.problem("layers", FRESH),
        hidden_activation: str = shared.problem("hidden_activation", FRESH),
        output_activation: str = shared.problem("output_activation", FRESH),
        loss: str = shared.problem("loss", FRESH),
        batch: int = shared.problem("batch", FRESH),
        convention: str = shared.problem("convention", FRESH),
        learning_rate: str = shared.problem("learning_rate", FRESH),
    ) -> None:
        """Practise a problem one quantity at a time: forward, loss, backward, update.
        Each answer is graded at once, as verify grades it (✓ correct, ↻ carried from an
        earlier slip, ✗ wrong with the known mistake)."""
        from ..errors import BackcheckError

        if resume is not None and problem is not None:
            raise BackcheckError("give a problem or --resume SHEET, not both",
                                 file="backcheck practice")
        generate_options = dict(
            seed=seed, difficulty=difficulty, layers=layers,
            hidden_activation=hidden_activation, output_activation=output_activation,
            loss=loss, batch=batch, convention=convention, learning_rate=learning_rate)
        given = [k for k, v in generate_options.items() if v is not None]
        if given and (problem is not None or resume is not None):
            flag = "--" + given[0].replace("_", "-")
            raise BackcheckError(f"{flag} is for a fresh problem (practice with no PROBLEM)",
                                 file="backcheck practice")
        terminal = sys.stdin.isatty() and sys.stdout.isatty() and not lines
        if terminal:
            import importlib.util

            terminal = importlib.util.find_spec("backcheck.render.practice_app") is not None
        setup = open_session(problem, resume, output, force, generate_options,
                             app_mode=terminal)
        try:
            if terminal:
                from ..render.practice_app import run_app

                code = run_app(setup)
            else:
                code = run_lines(setup)
        finally:
            setup.session.close()
            folder = getattr(setup.session, "temporary_folder", None)
            if folder is not None:
                import shutil

                shutil.rmtree(folder, ignore_errors=True)
        raise typer.Exit(code)


class Setup:
    """A session with where it saves: the sheet, and a generated problem's file."""

    def __init__(self, session: Any, sheet: str | None, problem_file: str | None,
                 force: bool, resumed: str | None) -> None:
        self.session = session
        self.sheet = sheet
        self.problem_file = problem_file  # a generated problem, saved beside the sheet
        self.force = force
        self.resumed = resumed
        self.saved_once = False

    def save(self) -> str | None:
        """Save the sheet (atomically); the first save re-checks that nothing appeared
        meanwhile (the resumed sheet itself may always be written back)."""
        if self.sheet is None:
            return None
        from ..files import check_writable

        if not self.saved_once:
            targets = [p for p in (self.sheet, self.problem_file) if p is not None
                       and not _same(p, self.resumed)]
            check_writable(targets, force=self.force)
        # files.write_atomic creates exclusively: replacing is allowed with --force, for
        # our own earlier save, and for the sheet being resumed
        replace = self.force or self.saved_once or _same(self.sheet, self.resumed)
        self.session.save(self.sheet, self.problem_file, force=replace)
        self.saved_once = True
        return self.sheet


def _same(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and os.path.realpath(a) == os.path.realpath(b)


def open_session(problem: Path | None, resume: Path | None, output: Path | None,
                 force: bool, generate_options: dict, *, app_mode: bool) -> Setup:
    """Load (or generate) the problem, or a sheet to resume; decide where it saves and
    refuse, before anything is asked, to overwrite without ``--force``."""
    from ..errors import BackcheckError
    from ..files import check_writable
    from ..practice import Session, is_answers_file, resume_session

    sheet = str(output) if output is not None else None
    problem_file: str | None = None
    resumed: str | None = None
    path = resume if resume is not None else problem
    if path is not None and (resume is not None or is_answers_file(str(path))):
        resumed = str(path)
        session = resume_session(resumed)
        if sheet is None:
            sheet = resumed
    elif path is not None:
        session = Session(str(path))
        if sheet is None and app_mode:
            from ..generate import companion_names

            sheet = companion_names(os.path.basename(str(path)))[0]
    else:
        session, problem_file, sheet = _fresh(generate_options, sheet, app_mode)
    targets = [p for p in (sheet, problem_file) if p is not None and not _same(p, resumed)]
    try:
        check_writable(targets, force=force)
    except BackcheckError as error:
        if resumed is None and sheet is not None and output is None:
            error.hint = (f"resume it with `backcheck practice {sheet}`, choose another "
                          "name with -o, or pass --force")
        session.close()
        raise
    return Setup(session, sheet, problem_file, force, resumed)


def _fresh(options: dict, sheet: str | None, app_mode: bool) -> tuple[Any, str | None,
                                                                       str | None]:
    """A fresh problem from ``new``'s generator, written to a temporary folder for the
    grader; saved as <sheet stem>.problem.yaml beside the sheet."""
    import re
    import tempfile

    from ..generate import GenerateOptions, companion_names, generate, new_seed, strip_yaml_suffix
    from ..practice import Session

    options = dict(options)
    seed = options.pop("seed")
    if seed is None:
        seed = new_seed()
    if sheet is not None:
        problem_file = strip_yaml_suffix(sheet) + ".problem.yaml"
    elif app_mode:
        problem_file = f"practice-{seed}.yaml"
        sheet = companion_names(problem_file)[0]
    else:
        problem_file = None
    name = os.path.basename(problem_file) if problem_file else f"practice-{seed}.yaml"
    generated = generate(GenerateOptions(seed=seed, problem_file=name, **options))
    folder = tempfile.mkdtemp(prefix="backcheck-problem-")
    temporary = os.path.join(folder, name)
    with open(temporary, "w", encoding="utf-8") as stream:
        stream.write(generated.problem_text)
    match = re.search(r"^tolerance: (.+)$", generated.sheet_text, re.MULTILINE)
    session = Session(temporary, tolerance=match.group(1) if match else "auto",
                      problem_text=generated.problem_text)
    session.generated_command = generated.command  # type: ignore[attr-defined]
    session.temporary_folder = folder  # type: ignore[attr-defined]
    return session, problem_file, sheet


# ============================================================================ the line protocol


class _Line:
    """One input line, or why it could not be taken as text."""

    def __init__(self, number: int, text: str | None, problem: str | None = None) -> None:
        self.number = number
        self.text = text
        self.problem = problem


def _read_lines(stream: Any) -> Any:
    """Lines of standard input, bounded: a line over :data:`MAX_LINE_BYTES` is refused
    (the rest of it skipped, never held in memory), bytes that are not UTF-8 too."""
    source = getattr(stream, "buffer", stream)
    number = 0
    while True:
        raw = source.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        number += 1
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            while True:
                rest = source.readline(65536)
                if not rest or rest.endswith(b"\n" if isinstance(rest, bytes) else "\n"):
                    break
            yield _Line(number, None, f"the line is too long (more than {MAX_LINE_BYTES} "
                                      "bytes)")
            continue
        try:
            yield _Line(number, raw.decode("utf-8"))
        except UnicodeDecodeError:
            yield _Line(number, None, "the line is not UTF-8 text")


def _say(text: str) -> None:
    from ..text import escape_keep_newlines

    print(escape_keep_newlines(text), file=sys.stderr, flush=True)


def _out(text: str) -> None:
    from ..text import escape_keep_newlines

    print(escape_keep_newlines(text), flush=True)


def run_lines(setup: Setup, stream: Any = None) -> int:
    """FORMAT §9: ask each quantity in order, read one answer a line, print one verdict
    line per element. Exit 0 (every answer given is correct), 1 (some carried or
    wrong), 2 (the input ended on a line that could not be read)."""
    from ..errors import quoted
    from ..practice import COMMANDS, AnswerError, summary_line

    session = setup.session
    stream = stream if stream is not None else sys.stdin
    _say(f"practice: {session.title} ({len(session.steps)} quantities; one answer a line, "
         f"~ skips; also: {', '.join(COMMANDS)})")
    if session.problem_text is not None:
        _say(session.problem_text.rstrip("\n"))
    rows: list[Any] = []
    pending: str | None = None  # the last line's problem, until a good line comes
    _ask(session, rows)
    for line in _read_lines(stream):
        if session.done:
            _say(f"line {line.number}: the problem is finished; the rest of the input is "
                 "ignored")
            break
        if line.text is None:
            pending = f"line {line.number}: {line.problem}"
            _say(f"error: {pending}; try again")
            _ask(session, rows)
            continue
        try:
            outcome = _take(session, line.text, rows)
        except AnswerError as error:
            pending = f"line {line.number}: {error}"
            _say(f"error: {pending}; try again")
            _ask(session, rows)
            continue
        pending = None
        if outcome == "quit":
            break
        if outcome is not None:
            for text in outcome:
                _say(text)
        if session.done:
            break
        _ask(session, rows)
    else:
        if pending is None and rows and not session.done:
            pending = (f"the input ended in the middle of {session.current.name} "  # type: ignore[union-attr]
                       f"(row {len(rows) + 1} of {session.current.shape[0]})")  # type: ignore[union-attr]
    report = session.final_report()
    _out(summary_line(report, session))
    saved = setup.save()
    if saved is not None:
        _say(f"saved {saved} (grade it with: backcheck verify {quoted(saved)[1:-1]})")
    if pending is not None:
        _say(f"error: the input ended after a line that could not be read ({pending})")
        return 2
    return 0 if report is None else report.exit_code


def _ask(session: Any, rows: list[Any]) -> None:
    from ..practice import SECTION_TITLES

    step = session.current
    if step is None:
        return
    where = f"[{session.cursor + 1}/{len(session.steps)}] " \
            f"{SECTION_TITLES.get(step.section, step.section)}"
    if rows:
        _say(f"{where} · {step.name} row {len(rows) + 1} of {step.shape[0]}:")
        return
    what = f" — {step.what}" if step.what else ""
    _say(f"{where} · {step.name}{what} ({step.shape_text()})")
    if step.rule != step.name:
        _say(f"  {step.rule}")


def _take(session: Any, text: str, rows: list[Any]) -> list[str] | str | None:
    """Act on one line; returns lines for stderr, "quit", or None. Verdict lines are
    printed here, on stdout."""
    import numpy as np

    from ..practice import AnswerError, clean_line, missing_lines, read_answer, verdict_lines

    line = clean_line(text)
    word = line.lower()
    step = session.current
    if word in ("quit", "q", "exit"):
        return "quit"
    if word in ("hint", "?"):
        return session.hint().splitlines()
    if word in ("show", "answer"):
        return ["answer (counted as shown):"] + session.reveal()
    if word == "back":
        rows.clear()
        if not session.go_back():
            return ["this is the first quantity"]
        return None
    if word == "skip":
        word, line = "~", "~"
    if rows:
        nested = read_answer(line)
        if nested is None:  # ~: the remaining rows not attempted
            rows += [[None] * step.shape[1]] * (step.shape[0] - len(rows))
        elif isinstance(nested, list) and not any(isinstance(v, list) for v in nested) \
                and len(nested) == step.shape[1]:
            rows.append(nested)
        else:
            raise AnswerError(f"give row {len(rows) + 1} of {step.name} ({step.shape[1]} "
                              "numbers as [a, b, …]), ~ for the remaining rows, or back")
        if len(rows) < step.shape[0]:
            return None
        texts = np.empty(step.shape, dtype=object)
        for i, row in enumerate(rows):
            for j, value in enumerate(row):
                texts[i, j] = value
        rows.clear()
    else:
        texts = session.answer_text(line)
        if texts is None:  # the first row of a matrix
            rows.append(read_answer(line))
            return None
    if not any(t is not None for t in texts.reshape(-1)):
        session.skip()
        for verdict in missing_lines(step):
            _out(verdict)
        return None
    graded = session.submit(texts)
    for verdict in verdict_lines(graded.result):
        _out(verdict)
    return None
