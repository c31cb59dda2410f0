"""``backcheck practice`` in a terminal: a full-screen Textual app over a practice session.

The screen, top to bottom (fits 80 × 24): the problem as its file writes it; the
quantity asked for now, its shape and how it is computed; a small grid of cells for its
numbers (one cell for a number, a row for a vector, rows for a matrix); the log of
verdicts, hints and shown answers; the keys. All the tutoring lives in
:mod:`backcheck.practice`; this module only draws it and turns keys into its calls.
Text from files (titles, problem text) is escaped and never read as markup.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Footer, Input, RichLog, Static

from ..errors import BackcheckError
from ..practice import (
    SECTION_TITLES,
    AnswerError,
    Session,
    clean_line,
    missing_lines,
    read_answer,
    summary_line,
    verdict_line,
)
from ..text import escape, escape_keep_newlines

STYLES = {"correct": "green", "carried": "yellow", "wrong": "bold red", "missing": "dim"}
#: what a cell accepts as typed: numbers, fractions, ~, and brackets for a pasted row
CELL_CHARACTERS = r"[0-9eE+\-−–./~ \[\],]*"
#: the widest number a cell holds (a whole answer pasted into the first cell may be longer)
CELL_MAX = 2000
PROBLEM_LINES = 200


def problem_text(session: Session) -> str:
    """The problem as its file writes it, without the comment-only lines."""
    from ..literals import read_text

    source = session.problem_text
    if source is None:
        try:
            source = read_text(session.problem_path)
        except BackcheckError:
            source = ""
    lines = [line.rstrip() for line in source.splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    if len(lines) > PROBLEM_LINES:
        lines = lines[:PROBLEM_LINES] + ["…"]
    return escape_keep_newlines("\n".join(lines))


def grid_size(shape: tuple[int, ...]) -> tuple[int, int]:
    """Rows and columns of cells: a number 1 × 1, a vector one row, a matrix its rows;
    a higher array one cell, for the whole answer as nested lists."""
    if len(shape) == 2:
        return shape[0], shape[1]
    if len(shape) == 1:
        return 1, shape[0]
    return 1, 1


class Cell(Input):
    """One number of the answer grid."""


class PracticeApp(App[int]):
    """The tutor. ``run_test()`` drives it headless in the tests."""

    TITLE = "backcheck practice"
    ENABLE_COMMAND_PALETTE = False
    CSS = """
    Screen { layout: vertical; }
    #title { height: 1; background: $primary; color: $text; padding: 0 1; }
    #problem-box { height: 6; background: $panel; padding: 0 1; }
    #question { height: auto; max-height: 4; padding: 0 1; }
    #grid { height: auto; max-height: 7; padding: 0 1; overflow-x: auto; }
    .gridrow { height: 1; width: auto; }
    .rowlabel { width: 5; height: 1; color: $text-muted; }
    Cell { width: 11; height: 1; margin: 0 1 0 0; background: $boost; }
    Cell:focus { background: $primary 40%; }
    Cell.correct { color: $success; }
    Cell.carried { color: $warning; }
    Cell.wrong { color: $error; text-style: bold; }
    #log { height: 1fr; min-height: 4; padding: 0 1; border-top: solid $panel; }
    """
    BINDINGS = [
        Binding("enter", "check", "Check"),
        Binding("ctrl+t,f1", "hint", "Hint", priority=True),
        Binding("ctrl+n,f2", "skip", "Next/skip", priority=True),
        Binding("ctrl+r,f3", "show", "Show answer", priority=True),
        Binding("ctrl+p,f4", "back", "Back", priority=True),
        Binding("ctrl+s", "save", "Save", priority=True),
        Binding("ctrl+q", "quit_practice", "Quit", priority=True),
    ]

    def __init__(self, setup: Any) -> None:
        super().__init__()
        self.setup = setup
        self.session: Session = setup.session
        self.exit_code = 0
        self._checked: tuple[str, tuple] | None = None  # (quantity, values) last graded
        self._grid_token = 0

    # ----- layout
    def compose(self) -> ComposeResult:
        title = Text(f"backcheck practice · {escape(self.session.title)}")
        yield Static(title, id="title")
        with VerticalScroll(id="problem-box"):
            yield Static(Text(problem_text(self.session)), id="problem")
        yield Static(id="question")
        yield VerticalScroll(id="grid")
        yield RichLog(id="log", wrap=True, markup=False, highlight=False)
        yield Footer()

    def on_mount(self) -> None:
        log = self.query_one("#log", RichLog)
        where = self.setup.sheet or "nowhere (no -o given)"
        log.write(Text(f"Type the numbers, Enter to check. Saves to {escape(where)}.",
                       style="dim"))
        if self.session.cursor:
            log.write(Text(f"Resumed: {self.session.cursor} of {len(self.session.steps)} "
                           "quantities already worked.", style="dim"))
        self.show_question()

    # ----- the question and its grid
    def show_question(self) -> None:
        session = self.session
        step = session.current
        question = self.query_one("#question", Static)
        grid = self.query_one("#grid", VerticalScroll)
        grid.remove_children()
        self._checked = None
        self._grid_token += 1
        if step is None:
            report = session.final_report()
            question.update(Text(f"Finished. {summary_line(report, session)}\n"
                                 "ctrl+p goes back to a quantity, ctrl+q saves and quits.",
                                 style="bold"))
            self.exit_code = 0 if report is None else report.exit_code
            self._autosave()
            return
        text = Text()
        text.append(f"[{session.cursor + 1}/{len(session.steps)}] ", style="dim")
        text.append(f"{SECTION_TITLES.get(step.section, step.section)} · ", style="dim")
        text.append(step.name, style="bold cyan")
        text.append(f" ({step.shape_text()})")
        if step.what:
            text.append(f" — {step.what}", style="dim")
        if step.rule != step.name:
            text.append("\n  " + step.rule)
        question.update(text)
        answer = session.answers.get(step.name)
        written = answer.texts if answer is not None else None
        shape = step.shape
        rows, columns = grid_size(shape)
        if len(shape) > 2:  # an array: one cell for the whole nested answer
            written = None
        if written is not None and written.shape != (shape if shape else ()):
            written = None  # a transposed answer is shown in the log, not in the grid
        token = self._grid_token
        for i in range(rows):
            cells = []
            for j in range(columns):
                value = None
                if written is not None:
                    value = written[i, j] if len(shape) == 2 else (
                        written[j] if shape else written.item())
                where = (f"{i + 1},{j + 1}" if len(shape) == 2 else f"{j + 1}"
                         if len(shape) == 1 else "[[…]]" if shape else step.name)
                cells.append(Cell(value=value or "", placeholder=f"[{where}]" if len(shape)
                                  in (1, 2) else where, restrict=CELL_CHARACTERS,
                                  max_length=CELL_MAX, compact=True,
                                  id=f"cell-{token}-{i}-{j}", select_on_focus=True))
            label = Static(f"{i + 1}" if rows > 1 else "", classes="rowlabel")
            grid.mount(Horizontal(label, *cells, classes="gridrow"))
        self.call_after_refresh(self._focus_first)

    def _focus_first(self) -> None:
        cells = list(self.query(Cell))
        if cells:
            cells[0].focus()

    def _cells(self) -> list[list[Cell]]:
        step = self.session.current
        if step is None:
            return []
        rows, columns = grid_size(step.shape)
        token = self._grid_token
        return [[self.query_one(f"#cell-{token}-{i}-{j}", Cell) for j in range(columns)]
                for i in range(rows)]

    def _values(self) -> np.ndarray | None:
        """The grid as an answer (texts in the quantity's shape), or a whole answer
        pasted into one cell as a line (``[1, 2, 3]``). Raises :class:`AnswerError`."""
        from ..practice import _number_text, _tokens, fit_answer

        step = self.session.current
        assert step is not None
        cells = self._cells()
        typed = [(i, j, cell.value.strip()) for i, row in enumerate(cells)
                 for j, cell in enumerate(row) if cell.value.strip()]
        pasted = [t for t in typed if len(_tokens(t[2])) > 1]
        if pasted:
            if len(typed) > 1:
                raise AnswerError("a whole answer [..] goes alone in the first cell; clear "
                                  "the other cells")
            fitted = fit_answer(read_answer(clean_line(pasted[0][2])), step)
            if fitted is None:
                raise AnswerError(f"{step.name} has {step.shape[0]} rows: type them in the "
                                  "grid, or paste the whole matrix [[..], [..]]")
            return fitted
        if len(step.shape) > 2:
            if not typed:
                return np.full(step.shape, None, dtype=object)
            fitted = fit_answer(read_answer(clean_line(typed[0][2])), step)
            assert fitted is not None  # rows are only for matrices
            return fitted
        texts = np.empty(step.shape, dtype=object)
        flat = texts.reshape(-1) if step.shape else None
        for i, row in enumerate(cells):
            for j, cell in enumerate(row):
                raw = clean_line(cell.value)
                value = _number_text(raw) if raw else None
                if flat is None:
                    texts = np.array(value, dtype=object)
                else:
                    flat[i * len(row) + j] = value
        return texts

    # ----- actions
    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_check()

    def action_check(self) -> None:
        session = self.session
        step = session.current
        log = self.query_one("#log", RichLog)
        if step is None:
            return
        try:
            texts = self._values()
        except AnswerError as error:
            log.write(Text(f"✗ {error}", style="red"))
            return
        assert texts is not None
        key = (step.name, tuple(texts.reshape(-1).tolist()), texts.shape)
        if self._checked == key:  # Enter again on an answer already graded: go on
            session.advance()
            self.show_question()
            return
        if not any(t is not None for t in texts.reshape(-1)):
            log.write(Text("type the numbers first (ctrl+n skips this one)", style="dim"))
            return
        graded = session.submit(texts, advance=False)
        result = graded.result
        log.write(Text(f"{step.name}:", style="bold cyan"))
        items = result.items if result is not None else []
        if result is not None and result.finding and not all(i.diagnosis for i in items):
            log.write(Text(f"  ✗ {escape(result.finding)}", style="red"))
        for item in items:
            log.write(Text("  " + escape(verdict_line(item)), style=STYLES[item.verdict]))
        self._colour(texts, items)
        self._autosave()
        if items and all(item.verdict == "correct" for item in items):
            session.advance()
            self.show_question()
        else:
            self._checked = key
            log.write(Text("fix it and press Enter, or Enter again to go on with it",
                           style="dim"))

    def _colour(self, texts: np.ndarray, items: list[Any]) -> None:
        step = self.session.current
        if step is None or texts.shape != (step.shape if step.shape else ()):
            return
        cells = [cell for row in self._cells() for cell in row]
        for item in items:
            if item.flat < len(cells):
                cell = cells[item.flat]
                cell.remove_class("correct", "carried", "wrong")
                if item.verdict in ("correct", "carried", "wrong"):
                    cell.add_class(item.verdict)

    def action_hint(self) -> None:
        if self.session.current is None:
            return
        level = self.session.hints.get(self.session.current.name, 0) + 1
        heading = "hint: the rule" if level == 1 else "hint: the chain-rule path"
        log = self.query_one("#log", RichLog)
        log.write(Text(heading, style="bold cyan"))
        log.write(Text(escape_keep_newlines(self.session.hint()), style="cyan"))

    def action_show(self) -> None:
        if self.session.current is None:
            return
        log = self.query_one("#log", RichLog)
        lines = self.session.reveal()
        log.write(Text(f"answer (shown: {len(self.session.shown)} so far, noted on the "
                       "sheet):", style="bold magenta"))
        for line in lines:
            log.write(Text(line, style="magenta"))
        self._autosave()

    def action_skip(self) -> None:
        step = self.session.current
        if step is None:
            return
        if step.name not in self.session.answers:
            log = self.query_one("#log", RichLog)
            log.write(Text(f"{step.name}: skipped", style="dim"))
            for line in missing_lines(step)[:1]:
                log.write(Text("  " + line, style="dim"))
        self.session.skip()
        self._autosave()
        self.show_question()

    def action_back(self) -> None:
        if self.session.go_back():
            self.show_question()
        else:
            self.query_one("#log", RichLog).write(Text("this is the first quantity",
                                                       style="dim"))

    def action_save(self) -> None:
        log = self.query_one("#log", RichLog)
        if self.setup.sheet is None:
            log.write(Text("nowhere to save: start with -o sheet.yaml", style="red"))
            return
        if self._autosave():
            log.write(Text(f"saved {escape(self.setup.sheet)}", style="green"))

    def _autosave(self) -> bool:
        if self.setup.sheet is None:
            return False
        try:
            self.setup.save()
        except (BackcheckError, OSError) as error:
            message = error.message if isinstance(error, BackcheckError) else str(error)
            self.query_one("#log", RichLog).write(Text(f"not saved: {escape(message)}",
                                                       style="bold red"))
            return False
        return True

    def action_quit_practice(self) -> None:
        self._autosave()
        report = self.session.last_report
        if report is not None:
            self.exit_code = report.exit_code
        self.exit(self.exit_code, return_code=self.exit_code)


def run_app(setup: Any) -> int:
    """Run the app full-screen; the exit code as ``verify``'s for what was answered."""
    app = PracticeApp(setup)
    code = app.run()
    report = setup.session.final_report()
    from .console import stdout

    stdout.print(Text(summary_line(report, setup.session)))
    if setup.sheet is not None and setup.saved_once:
        stdout.print(Text(f"saved {escape(setup.sheet)} (grade it with: backcheck verify "
                          f"{escape(setup.sheet)})", style="dim"))
    if report is not None:
        return report.exit_code
    return code if isinstance(code, int) else 0


__all__ = ["PracticeApp", "run_app"]
