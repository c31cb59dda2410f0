"""`backcheck practice` in a terminal: the Textual app driven by its headless pilot at
80 × 24 (typing answers, hint, skip, show, back, quit, save); verdicts from PyTorch."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("textual", reason="textual is a dependency of backcheck practice")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference import load, torch_reference  # noqa: E402

from backcheck.commands.practice import open_session  # noqa: E402
from backcheck.render.practice_app import Cell, PracticeApp  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FASTAI = ROOT / "problems" / "fastai_lin_relu_lin.yaml"
NEURON = ROOT / "problems" / "single_neuron.yaml"
SIZE = (80, 24)


def setup_for(problem: Path, sheet: Path, force: bool = False):  # type: ignore[no-untyped-def]
    return open_session(problem, None, sheet, force, {}, app_mode=True)


def log_text(app: PracticeApp) -> str:
    log = app.query_one("#log")
    return "\n".join(strip.text for strip in log.lines)  # type: ignore[attr-defined]


async def type_answer(pilot, values) -> None:  # type: ignore[no-untyped-def]
    """Type numbers into the grid cell by cell (Tab between cells), then Enter."""
    flat = [str(v) for v in np.asarray(values, dtype=object).reshape(-1)]
    for i, text in enumerate(flat):
        if i:
            await pilot.press("tab")
        await pilot.press(*text)
    await pilot.press("enter")
    await pilot.pause()


def fmt(value: float, decimals: int = 4) -> str:
    text = f"{round(float(value), decimals):.{decimals}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def test_typing_answers_grades_them_and_saves(tmp_path: Path) -> None:
    truth = torch_reference(load(NEURON))
    sheet = tmp_path / "neuron.answers.yaml"
    setup = setup_for(NEURON, sheet)
    app = PracticeApp(setup)

    async def run() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            assert app.session.current.name == "z1"
            question = str(app.query_one("#question").render())
            assert "z1 = W1" in question and "x + b1" in question  # how it is computed
            await type_answer(pilot, [fmt(v) for v in np.ravel(truth["z1"])])
            # all right: on to a1 at once
            assert app.session.current.name == "a1"
            assert "z1[1] = 0.35" in log_text(app) and "✓ correct" in log_text(app)
            # a wrong a1 stays on a1, with the verdict and the cell marked
            await type_answer(pilot, ["0.5"])
            assert app.session.current.name == "a1"
            assert "✗ wrong" in log_text(app)
            assert app.query(Cell).first().has_class("wrong")
            # Enter again on the same answer goes on, keeping it
            await pilot.press("enter")
            await pilot.pause()
            assert app.session.current.name == "L"
            await pilot.press("ctrl+q")
            await pilot.pause()

    asyncio.run(run())
    setup.session.close()
    assert app.return_code == 1  # a wrong answer on the sheet
    text = sheet.read_text()
    assert "z1: " in text and "a1: [0.5]" in text
    result = subprocess.run([sys.executable, "-m", "backcheck.cli", "verify", "--json",
                             str(sheet)], capture_output=True, text=True, timeout=300)
    items = {i["element"]: i["verdict"] for i in json.loads(result.stdout)["items"]}
    assert items["z1[1]"] == "correct" and items["a1[1]"] == "wrong"


def test_hint_skip_show_back_and_save_keys(tmp_path: Path) -> None:
    sheet = tmp_path / "s.yaml"
    setup = setup_for(FASTAI, sheet)
    app = PracticeApp(setup)

    async def run() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await pilot.press("ctrl+t")
            await pilot.pause()
            assert "hint: the rule" in log_text(app)
            assert "weighted sum of the layer's inputs" in log_text(app)
            await pilot.press("ctrl+t")
            await pilot.pause()
            assert "hint: the chain-rule path" in log_text(app)
            assert "z1[1,1] = W1[1,1]·x[1,1]" in log_text(app)
            await pilot.press("ctrl+r")
            await pilot.pause()
            assert "answer (shown: 1 so far" in log_text(app)
            assert "[1.1, 0.2, -1.35, 0.1]" in log_text(app)
            await pilot.press("ctrl+n")  # skip z1
            await pilot.pause()
            assert app.session.current.name == "a1"
            await pilot.press("ctrl+p")  # back to z1
            await pilot.pause()
            assert app.session.current.name == "z1"
            # a whole matrix pasted into the first cell
            await pilot.press(*"[[1.1, 0.2, -1.35, 0.1], [-0.35, -0.15, 1.85, 1.7], "
                                "[0.8, -0.7, 1.05, 2.5]]")
            await pilot.press("enter")
            await pilot.pause()
            assert app.session.current.name == "a1"
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert f"saved {sheet}" in log_text(app)
            # back again: the grid shows the answer given
            await pilot.press("ctrl+p")
            await pilot.pause()
            assert app.query(Cell).first().value == "1.1"
            # a bad cell: one clear message, nothing graded
            await pilot.press("ctrl+u", *"1/0", "enter")
            await pilot.pause()
            assert "divides by zero" in log_text(app)
            await pilot.press("ctrl+q")
            await pilot.pause()

    asyncio.run(run())
    setup.session.close()
    text = sheet.read_text()
    assert "answers shown for 1 of 14 quantities (z1)" in text
    assert "z1:" in text and "1.85" in text


def test_fits_80_by_24(tmp_path: Path) -> None:
    """Every part of the screen is on it at 80 × 24: problem, question, a 3 × 4 grid,
    the log and the keys."""
    setup = setup_for(FASTAI, tmp_path / "s.yaml")
    app = PracticeApp(setup)

    async def run() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            regions = {name: app.query_one(name).region
                       for name in ("#title", "#problem-box", "#question", "#grid", "#log")}
            cells = list(app.query(Cell))
            assert len(cells) == 12
            for cell in cells:
                assert cell.region.right <= 80 and cell.region.bottom <= 23
                assert cell.region.width >= 8
            for name, region in regions.items():
                assert region.height >= 1, name
                assert region.bottom <= 23, name
            assert regions["#log"].height >= 4
            await pilot.press("ctrl+q")

    asyncio.run(run())
    setup.session.close()


def test_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    from backcheck.errors import BackcheckError

    sheet = tmp_path / "s.yaml"
    sheet.write_text("mine\n")
    with pytest.raises(BackcheckError, match="will not overwrite"):
        setup_for(FASTAI, sheet)
    assert sheet.read_text() == "mine\n"


def test_resume_in_the_app_and_finish(tmp_path: Path) -> None:
    """A sheet with everything but the last quantity: the app opens on that one; the
    right answer finishes the problem, and the summary is the whole sheet's."""
    from backcheck.practice import Answer, Session

    truth = torch_reference(load(NEURON))
    session = Session(str(NEURON))
    names = [step.name for step in session.steps]
    assert names[-2:] == ["W1_new", "b1_new"]
    for name in names[:-1]:
        values = np.asarray(truth[name], dtype=float)
        session.answers[name] = Answer(
            np.array([fmt(v) for v in values.reshape(-1)], dtype=object).reshape(
                session.graph.quantities[name].shape))
    sheet = tmp_path / "s.yaml"
    session.save(str(sheet))
    session.close()
    setup = open_session(None, sheet, None, False, {}, app_mode=True)
    app = PracticeApp(setup)

    async def run() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            assert app.session.current.name == "b1_new"
            assert "Resumed: 9 of 10" in log_text(app)
            await type_answer(pilot, [fmt(v) for v in np.ravel(truth["b1_new"])])
            assert app.session.done
            assert "Finished. practice: 16/16 correct" in str(
                app.query_one("#question").render())
            await pilot.press("ctrl+q")
            await pilot.pause()

    asyncio.run(run())
    setup.session.close()
    assert app.return_code == 0
    assert "b1_new: [" in sheet.read_text()
