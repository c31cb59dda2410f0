"""Benchmark: one quantity with every entry wrong (issue 15: verify was quadratic in them).

    python bench/bench_wrong_entries.py          # 80 × 80 (6,400 entries), and 40 × 40

For an n-input, n-unit sigmoid layer, grades two sheets: ``wrong`` (dL/dW1 random, no
known mistake: every buggy rule is tried on every entry) and ``carried`` (dL/dz1 three
times too large, dL/dW1 and W1_new carried on from it: 2n² carried entries). Prints
seconds and seconds per 1,000 entries; the two sizes side by side show the growth
(linear: the per-entry figure stays flat). A measurement, not a test; the test that
counts work is tests/test_verify.py::test_verify_work_is_linear_in_wrong_entries.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[40, 80])
    args = parser.parse_args()
    from test_verify import _big_sheet

    from backcheck.grading import verify

    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            for kind in ("wrong", "carried"):
                sheet = _big_sheet(Path(tmp), n, kind)
                started = time.process_time()
                report = verify(str(sheet))
                seconds = time.process_time() - started
                print(f"{n:3d} × {n:<3d} {kind:8s} {report.total:6d} entries "
                      f"({report.summary()}): {seconds:6.2f} s CPU, "
                      f"{seconds / report.total * 1e3:.2f} s per 1,000 entries")


if __name__ == "__main__":
    main()
