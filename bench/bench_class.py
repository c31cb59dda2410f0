"""Benchmark: a course-sized class graded end to end, gradebook written (issue 13).

    python bench/bench_class.py                   # 10,000 sheets of ai_by_hand_3layer
    python bench/bench_class.py -n 2000 --problem problems/mazur_2_2_2.yaml

The sheets are bench_verify.py's mix (a third fully right, a third with a known slip
carried on, a third with one random wrong number). Runs, in this one run and interleaved:

* ``backcheck verify SHEETS… --csv grades.csv`` with every core (the default for a class),
  against the issue's target of 20 s for 10,000 sheets on a 2-core machine;
* the same on a subset with ``--jobs 1`` and with every core: the pool's speed-up;
* and checks the pooled gradebook is byte-identical to the serial one on that subset.

Prints ratios (measured / target, serial / pooled); a measurement, not a test.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

TARGET_SECONDS = 20.0
TARGET_SHEETS = 10_000


def run(sheets: list[Path], csv: Path, jobs: int | None) -> float:
    command = [sys.executable, "-m", "backcheck.cli", "verify", *map(str, sheets),
               "--csv", str(csv), "--force"]
    if jobs is not None:
        command += ["--jobs", str(jobs)]
    started = time.perf_counter()
    completed = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True, cwd=ROOT)
    elapsed = time.perf_counter() - started
    if completed.returncode not in (0, 1):
        raise RuntimeError(f"verify failed ({completed.returncode}): {completed.stderr[-400:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=TARGET_SHEETS, help="sheets in the class")
    parser.add_argument("--subset", type=int, default=1000,
                        help="sheets for the serial-vs-pool comparison")
    parser.add_argument("--problem", default=str(ROOT / "problems" / "ai_by_hand_3layer.yaml"))
    args = parser.parse_args()

    from bench_verify import make_sheets

    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        problem = Path(args.problem).resolve()
        sheets = make_sheets(problem, folder, args.n)
        subset = sheets[:min(args.subset, len(sheets))]
        print(f"{len(sheets)} sheets of {problem.name}; {cores} cores")

        serial_csv, pooled_csv = folder / "serial.csv", folder / "pooled.csv"
        serial = run(subset, serial_csv, 1)
        pooled = run(subset, pooled_csv, None)
        same = serial_csv.read_bytes() == pooled_csv.read_bytes()
        print(f"subset of {len(subset)}: --jobs 1 {serial:.2f} s, every core {pooled:.2f} s; "
              f"speed-up ×{serial / pooled:.2f}; gradebooks identical: {same}")

        whole = run(sheets, folder / "grades.csv", None)
        scaled = whole * TARGET_SHEETS / len(sheets)
        print(f"class of {len(sheets)}: {whole:.2f} s with every core "
              f"({whole / len(sheets) * 1e3:.2f} ms/sheet)")
        print(f"ratio to target ({TARGET_SECONDS:g} s per {TARGET_SHEETS:,} sheets on 2 cores): "
              f"{scaled / TARGET_SECONDS:.2f}")


if __name__ == "__main__":
    main()
