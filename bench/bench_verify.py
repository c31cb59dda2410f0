"""Benchmark: grade a class of answer sheets of one problem, in one process.

    python bench/bench_verify.py                 # 1,000 sheets of ai_by_hand_3layer
    python bench/bench_verify.py -n 300 --problem problems/mazur_2_2_2.yaml

Writes the sheets to a temporary folder, every one different (a class grader cannot
share work between copies): a third fully right (honest rounding, each quantity to 3–6
decimals at random), a third with a known slip carried on (made with backcheck's own
buggy rules, 5–6 decimals), a third with one random wrong number (no known mistake: the
slowest path, every buggy rule is tried from the student's own answers). Prints timings
and the ratio to the issue's target (10 s for 1,000 sheets); it is a measurement, not a
test.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_SECONDS = 10.0


def _text(value: float, decimals: int) -> str:
    text = f"{value:.{decimals}f}"
    return "0" if float(text) == 0 else text


def _nested(values, decimals):  # type: ignore[no-untyped-def]
    import numpy as np

    array = np.asarray(values, dtype=float)
    if array.ndim == 0:
        return _text(float(array), decimals)
    return "[" + ", ".join(_nested(v, decimals) for v in array) + "]"


def make_sheets(problem_path: Path, folder: Path, count: int, seed: int = 1) -> list[Path]:
    import numpy as np

    from backcheck.grading import ProblemContext
    from backcheck.problem import load_problem

    ctx = ProblemContext(load_problem(str(problem_path)))
    names = [n for n in ctx.graph.quantities if n != "x"]
    shapes = {n: ctx.graph.quantities[n].shape for n in names}
    truth = {n: np.array([float(v) for v in ctx.truth_flat[n]]).reshape(shapes[n]) for n in names}
    slips = [v for v in ctx.variants if v.swaps is not None or v.transform is not None]
    rng = random.Random(seed)
    paths = []
    for i in range(count):
        kind = i % 3
        values = dict(truth)
        decimals = {n: rng.randint(3, 6) for n in names}
        if kind == 1:
            variant = rng.choice(slips)
            decimals = {n: rng.randint(5, 6) for n in names}
            for n in names:
                buggy = ctx.buggy(variant, n)
                if buggy is not None:
                    values[n] = np.array([float(v) for v in buggy]).reshape(shapes[n])
        elif kind == 2:
            n = rng.choice(names)
            noisy = np.array(values[n], dtype=float).copy()
            flat = noisy.reshape(-1)
            flat[rng.randrange(flat.size)] += rng.choice([-1, 1]) * rng.uniform(0.1, 2)
            values[n] = noisy
        lines = [f"problem: {os.path.relpath(problem_path, folder)}", f"student: s{i:04d}",
                 "answers:"]
        lines += [f"  {n}: {_nested(values[n], decimals[n])}" for n in names]
        path = folder / f"sheet_{i:04d}.yaml"
        path.write_text("\n".join(lines) + "\n")
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1000, help="number of sheets")
    parser.add_argument("--problem", default=str(ROOT / "problems" / "ai_by_hand_3layer.yaml"))
    parser.add_argument("--no-cli", action="store_true", help="skip the end-to-end CLI run")
    args = parser.parse_args()

    from backcheck.grading import Grader, ProblemContext
    from backcheck.literals import load_yaml
    from backcheck.problem import load_problem

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        problem = Path(args.problem).resolve()
        started = time.perf_counter()
        sheets = make_sheets(problem, folder, args.n)
        print(f"made {len(sheets)} sheets of {problem.name} in "
              f"{time.perf_counter() - started:.2f} s")

        started = time.perf_counter()
        ProblemContext(load_problem(str(problem)))
        solve_once = time.perf_counter() - started

        started = time.perf_counter()
        for path in sheets:
            load_yaml(str(path))
        parse = time.perf_counter() - started

        grader = Grader()
        started = time.perf_counter()
        reports = [grader.grade_or_error(str(p)) for p in sheets]
        grade = time.perf_counter() - started
        errors = sum(r.error is not None for r in reports)
        wrong = sum(r.counts["wrong"] for r in reports if r.error is None)
        carried = sum(r.counts["carried"] for r in reports if r.error is None)
        per_kind = {0: [], 1: [], 2: []}
        for i, path in enumerate(sheets[:90]):
            t0 = time.perf_counter()
            Grader.grade(grader, str(path))
            per_kind[i % 3].append(time.perf_counter() - t0)

        print(f"solve the problem once (with its buggy rules' setup): {solve_once * 1e3:.1f} ms")
        print(f"read {len(sheets)} sheets (YAML only):              {parse:.2f} s "
              f"({parse / len(sheets) * 1e3:.2f} ms/sheet)")
        print(f"grade {len(sheets)} sheets, one Grader:              {grade:.2f} s "
              f"({grade / len(sheets) * 1e3:.2f} ms/sheet; {errors} errors, "
              f"{carried} carried, {wrong} wrong entries)")
        for kind, label in ((0, "all right, 3-6 decimals"), (1, "a known slip carried on"),
                            (2, "one random wrong number")):
            times = per_kind[kind]
            print(f"   {label:28s} {sum(times) / len(times) * 1e3:6.2f} ms/sheet")
        scaled = grade * 1000 / len(sheets)
        print(f"ratio to target (10 s per 1,000 sheets), API:     {scaled / TARGET_SECONDS:.2f}")

        if not args.no_cli:
            csv = folder / "grades.csv"
            started = time.perf_counter()
            run = subprocess.run([sys.executable, "-m", "backcheck.cli", "verify",
                                  *map(str, sheets), "--csv", str(csv)],
                                 capture_output=True, text=True)
            cli = time.perf_counter() - started
            scaled = cli * 1000 / len(sheets)
            print(f"CLI: backcheck verify <{len(sheets)} sheets> --csv: {cli:.2f} s "
                  f"(exit {run.returncode}); ratio to target: {scaled / TARGET_SECONDS:.2f}")


if __name__ == "__main__":
    main()
