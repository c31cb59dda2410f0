"""Benchmark: a course-sized class graded end to end, gradebook written (issue 13).

    python bench/bench_class.py                   # 10,000 sheets of ai_by_hand_3layer
    python bench/bench_class.py -n 2000 --problem problems/mazur_2_2_2.yaml

The sheets are bench_verify.py's mix, every sheet different (a third fully right at
random precisions, a third with a known slip carried on, a third with one random wrong
number), so no two share their grading. Runs, in this one run:

* ``backcheck verify SHEETS… --csv grades.csv`` with every core (the default for a class),
  against the issue's target of 20 s for 10,000 sheets on a 2-core machine: wall time,
  sheets/s, the projection to 10,000 sheets, and the CPU time of all its processes per
  sheet (which other work on a shared machine does not inflate as much), and of the
  parent process alone (it shares the cores with the workers);
* with ``--subset N``: the same on N sheets with ``--jobs 1`` and with every core, the
  pool's speed-up, and a check that both gradebooks are byte-identical.

The machine's load (``os.getloadavg``) is printed before and after: the 2 cores may be
shared. A measurement, not a test.
"""

from __future__ import annotations

import argparse
import os
import resource
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


#: ``backcheck`` as the console script runs it, telling at exit the CPU time of its own
#: process (the parent of the pool: its time per sheet is taken from the workers' cores)
COMMAND = ("import atexit, resource, sys\n"
           "atexit.register(lambda: sys.stderr.write('parent CPU %.6f\\n' % sum("
           "resource.getrusage(resource.RUSAGE_SELF)[:2])))\n"
           "sys.argv[0] = 'backcheck'\n"
           "from backcheck.cli import main\n"
           "main()\n")


def run(sheets: list[Path], csv: Path, jobs: int | None) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds of the command and its workers, CPU seconds of the
    command's own process)."""
    command = [sys.executable, "-c", COMMAND, "verify", *map(str, sheets),
               "--csv", str(csv), "--force"]
    if jobs is not None:
        command += ["--jobs", str(jobs)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    completed = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True, cwd=ROOT)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if completed.returncode not in (0, 1):
        raise RuntimeError(f"verify failed ({completed.returncode}): {completed.stderr[-400:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    parent = [line for line in completed.stderr.splitlines() if line.startswith("parent CPU ")]
    return elapsed, cpu, float(parent[-1].split()[-1]) if parent else float("nan")


def load() -> str:
    return "load average " + ", ".join(f"{v:.2f}" for v in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=TARGET_SHEETS, help="sheets in the class")
    parser.add_argument("--subset", type=int, default=0,
                        help="also compare --jobs 1 with every core on this many sheets")
    parser.add_argument("--problem", default=str(ROOT / "problems" / "ai_by_hand_3layer.yaml"))
    args = parser.parse_args()

    from bench_verify import make_sheets

    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        problem = Path(args.problem).resolve()
        sheets = make_sheets(problem, folder, args.n)
        bodies = {path.read_text().split("\n", 2)[2] for path in sheets}
        print(f"{len(sheets)} sheets of {problem.name} ({len(bodies)} different); "
              f"{cores} cores; {load()}")

        if args.subset:
            subset = sheets[:min(args.subset, len(sheets))]
            serial_csv, pooled_csv = folder / "serial.csv", folder / "pooled.csv"
            serial, _, _ = run(subset, serial_csv, 1)
            pooled, _, _ = run(subset, pooled_csv, None)
            same = serial_csv.read_bytes() == pooled_csv.read_bytes()
            print(f"subset of {len(subset)}: --jobs 1 {serial:.2f} s, every core "
                  f"{pooled:.2f} s; speed-up ×{serial / pooled:.2f}; gradebooks identical: "
                  f"{same}")

        whole, cpu, parent = run(sheets, folder / "grades.csv", None)
        scaled = whole * TARGET_SHEETS / len(sheets)
        print(f"class of {len(sheets)}: {whole:.2f} s with every core, "
              f"{len(sheets) / whole:.0f} sheets/s ({whole / len(sheets) * 1e3:.2f} ms/sheet); "
              f"CPU {cpu:.1f} s in all ({cpu / len(sheets) * 1e3:.2f} ms/sheet), of which "
              f"the parent process {parent:.1f} s ({parent / len(sheets) * 1e3:.2f} ms/sheet)")
        print(f"projected to {TARGET_SHEETS:,} sheets: {scaled:.1f} s (target "
              f"{TARGET_SECONDS:g} s on 2 cores; ratio {scaled / TARGET_SECONDS:.2f}); "
              f"{load()}")


if __name__ == "__main__":
    main()
