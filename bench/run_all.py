"""Run every benchmark and print one table of ratios (all measured in this one run).

    python bench/run_all.py            # BENCH_REPEAT=N for more repetitions (default 9)

Measurements, not tests: nothing here passes or fails. The verify benchmark
(bench_verify.py) is run as its own script, as its author wrote it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_exact  # noqa: E402
import bench_float  # noqa: E402
import bench_solve  # noqa: E402
import bench_startup  # noqa: E402
import bench_tensor  # noqa: E402


def main() -> None:
    sections = [("start-up", bench_startup.main), ("solve of the curated problems",
                                                    bench_solve.main),
                ("exact evaluator", bench_exact.main), ("float path", bench_float.main),
                ("tensor problems (lecture-size backprop ninja)", bench_tensor.main)]
    results = []
    for title, run in sections:
        print(f"\n== {title}", flush=True)
        results.extend(run())
    verify = HERE / "bench_verify.py"
    if verify.exists():
        print("\n== verify of many sheets (bench_verify.py)", flush=True)
        subprocess.run([sys.executable, str(verify)], check=False)
    print("\n| figure | backcheck | baseline | ratio | target |")
    print("| --- | --- | --- | --- | --- |")
    for label, ours, base, target in results:
        if label.endswith("(seconds)"):
            print(f"| {label[:-10]} | {ours:.3f} s | — | — | ≤ {base:g} s |")
        elif "growth" in label:
            print(f"| {label.split(' (')[0]} | time × {ours:.2f} | multiply-adds × {base:.1f} "
                  f"| {ours / base:.2f} | ≤ 1 |")
        else:
            print(f"| {label} | {ours:.3f} s | {base:.3f} s | {ours / base:.2f}× | ≤ {target:g}× |")


if __name__ == "__main__":
    main()
