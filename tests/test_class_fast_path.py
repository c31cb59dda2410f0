"""The fast path of a class run (issue 13: 10,000 sheets in 20 s) changes no verdict.

A pooled class run grades in worker processes that start with the problem already solved
(forked after the parent graded the first sheet), sends each report back as plain tuples
(``classrun.pack``) and rebuilds it in the parent with the parent's own exact values
(``classrun.unpack``); scores are counted, not summed entry by entry. Checked here against
the plain path, a fresh :class:`Grader` per sheet in this process, on sheets that are all
different: a random known slip carried on, or one random wrong number, written to random
precisions (the kind of class the speed target is about).
"""

from __future__ import annotations

import io
import pickle
import random
from fractions import Fraction
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
PROBLEM = ROOT / "problems" / "ai_by_hand_3layer.yaml"
SHEETS = ROOT / "problems" / "sheets"


def _text(value: float, decimals: int) -> str:
    text = f"{value:.{decimals}f}"
    return "0" if float(text) == 0 else text


def _nested(values: np.ndarray, decimals: int) -> str:
    if values.ndim == 0:
        return _text(float(values), decimals)
    return "[" + ", ".join(_nested(v, decimals) for v in values) + "]"


def _slipped_sheets(folder: Path, count: int, seed: int = 13) -> list[Path]:
    """Distinct sheets: even ones carry a random known slip of the catalogue on (worked
    by the buggy rule itself), odd ones have one random number off; every quantity
    written to 3–6 decimals at random."""
    from backcheck.grading import ProblemContext
    from backcheck.problem import load_problem

    ctx = ProblemContext(load_problem(str(PROBLEM)))
    names = [n for n in ctx.graph.quantities if n != "x"]
    shapes = {n: ctx.graph.quantities[n].shape for n in names}
    truth = {n: np.array([float(v) for v in ctx.truth_flat[n]]).reshape(shapes[n])
             for n in names}
    slips = [v for v in ctx.variants if v.swaps is not None or v.transform is not None]
    rng = random.Random(seed)
    paths = []
    for i in range(count):
        values = dict(truth)
        if i % 2 == 0:
            variant = rng.choice(slips)
            for n in names:
                buggy = ctx.buggy(variant, n)
                if buggy is not None:
                    values[n] = np.array([float(v) for v in buggy]).reshape(shapes[n])
        else:
            n = rng.choice(names)
            noisy = np.array(values[n], dtype=float).copy()
            flat = noisy.reshape(-1)
            flat[rng.randrange(flat.size)] += rng.choice([-1, 1]) * rng.uniform(0.1, 2)
            values[n] = noisy
        lines = [f"problem: {PROBLEM}", f"student: s{i}", "answers:"]
        lines += [f"  {n}: {_nested(np.asarray(values[n]), rng.randint(3, 6))}" for n in names]
        path = folder / f"sheet_{i:02d}.yaml"
        path.write_text("\n".join(lines) + "\n")
        paths.append(path)
    return paths


def _gradebook(reports: list) -> str:
    from backcheck.gradebook import gradebook_csv
    from backcheck.scoring import Course, Scorer

    scorer = Scorer(Course(carried_credit=Fraction(1, 2)))
    return gradebook_csv(reports, [scorer.score(r, detail=False) for r in reports])


def _class_table(reports: list, scores: list | None) -> str:
    from rich.console import Console

    from backcheck.render.verify_view import class_view

    console = Console(width=120, record=True, file=io.StringIO(), color_system=None)
    console.print(class_view(reports, scores=scores, width=120))
    return console.export_text()


def test_pooled_class_run_of_slipped_sheets_gives_the_plain_verdicts_and_gradebook(
        tmp_path: Path) -> None:
    """The parent keeps pooled sheets light (:class:`classrun.PooledReport`): the
    gradebook, the scores, the class table and the exit code come from what the workers
    sent, and the full reports, built only when asked for, are the plain ones; sheets
    with the same answers as a pooled one (another student) share its verdicts."""
    from backcheck.classrun import PooledReport, grade_class
    from backcheck.grading import Grader, class_exit_code
    from backcheck.scoring import Course, Scorer

    paths = [str(p) for p in _slipped_sheets(tmp_path, 14)]
    assert len({Path(p).read_text().split("\n", 2)[2] for p in paths}) == len(paths)
    for i, original in enumerate(paths[3:6]):  # the same answers, another student
        twin = tmp_path / f"twin_{i}.yaml"
        twin.write_text(Path(original).read_text().replace("student: s", "student: twin "))
        paths.append(str(twin))
    plain = [Grader().grade_or_error(p) for p in paths]
    assert sum(r.counts["carried"] for r in plain) and sum(r.counts["wrong"] for r in plain)
    for items in (True, False):  # without items, a full report asked for is graded anew
        pooled = grade_class(paths, jobs=2, items=items)
        assert sum(isinstance(r, PooledReport) for r in pooled) > len(paths) // 2
        assert isinstance(pooled[-1], PooledReport)  # a twin of a pooled sheet
        # the views first, from what the workers sent
        course = Course(carried_credit=Fraction(1, 2), partial_credit=True)
        scores = [Scorer(course).score(r, detail=False) for r in plain]
        assert [Scorer(course).score(r, detail=False) for r in pooled] == scores
        assert _class_table(pooled, scores) == _class_table(plain, scores)
        assert _gradebook(pooled) == _gradebook(plain)
        assert class_exit_code(pooled) == class_exit_code(plain)
        assert [(r.student, r.title, r.ok, r.exit_code, r.counts, r.total)
                for r in pooled] == [
            (r.student, r.title, r.ok, r.exit_code, r.counts, r.total) for r in plain]
        assert [Scorer(course).score(r, detail=True) for r in pooled] == [
            Scorer(course).score(r, detail=True) for r in plain]
        for light, full in zip(pooled, plain, strict=True):
            if full.first is None:
                assert light.first is None
                continue
            assert (light.first.element, light.first.verdict, light.first.diagnosis,
                    light.first.index, light.first.cause) == (
                full.first.element, full.first.verdict, full.first.diagnosis, full.first.index,
                full.first.cause)
        assert [r.to_json() for r in pooled] == [r.to_json() for r in plain]
        assert [(r.order, r.summary(), len(r.items)) for r in pooled] == [
            (r.order, r.summary(), len(r.items)) for r in plain]


def test_a_report_packed_for_the_parent_reads_back_the_same(tmp_path: Path) -> None:
    """Every curated sheet (networks, expressions, tensors, formulas, problem files with
    answers, unreadable ones): what the parent rebuilds is what the worker graded."""
    from backcheck.classrun import pack, unpack
    from backcheck.grading import Grader
    from backcheck.scoring import Scorer

    worker, parent = Grader(), Grader()
    sheets = sorted(SHEETS.glob("*/*.yaml"))
    assert len(sheets) > 20
    for sheet in sheets:
        report = worker.grade_or_error(str(sheet))
        back = unpack(pickle.loads(pickle.dumps(pack(report, worker))), parent)
        assert back.to_json() == report.to_json(), sheet
        assert (back.counts, back.first and back.first.element, back.order) == (
            report.counts, report.first and report.first.element, report.order), sheet
        assert (back.points is None) == (report.points is None), sheet
        scorer = Scorer()
        assert scorer.score(back, detail=True) == Scorer().score(report, detail=True), sheet


def test_sheet_names_in_the_class_table_are_os_path_relpath_of_each(
        tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The class table works out one relative path per folder, not per sheet: the same
    names as ``os.path.relpath`` of each path, from folders below, beside and above."""
    import os

    from backcheck.render.verify_view import _shown_all
    from backcheck.text import escape

    here = tmp_path / "a" / "b"
    here.mkdir(parents=True)
    paths = ["s.yaml", "./s.yaml", "x/s.yaml", "x//s.yaml", "../s.yaml", "../../s.yaml",
             "../b/s.yaml", "../../a/b", "../..", "..", ".", "x/..", "x/.", "x/",
             str(here / "s.yaml"), str(here), str(tmp_path), str(tmp_path / "c" / "s.yaml"),
             str(tmp_path / "a" / ".." / "c" / "s.yaml"), "/", "/s.yaml", "a b/ c.yaml"]
    for folder in (here, tmp_path / "a", tmp_path, Path("/")):
        monkeypatch.chdir(folder)
        for path, shown in _shown_all(paths).items():
            relative = os.path.relpath(path)
            assert shown == escape(relative if not relative.startswith("../../") else path)
