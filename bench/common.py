"""Shared helpers for the benchmark scripts: ratios measured side by side in one run.

Every figure is a ratio of two timings taken on the same machine in the same run, the
two commands interleaved (A, B, A, B, …) so that a busy machine slows both alike; the
median of the repetitions is reported. These scripts print; they never pass or fail.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROBLEMS = ROOT / "problems"
#: how many times each command runs (BENCH_REPEAT overrides; the median is reported)
REPEAT = int(os.environ.get("BENCH_REPEAT", "9"))


def run_once(command: Sequence[str], cwd: Path | None = None) -> float:
    """Wall-clock seconds of one run of ``command`` (output discarded; must succeed)."""
    start = time.perf_counter()
    completed = subprocess.run(list(command), cwd=cwd, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, timeout=600)
    elapsed = time.perf_counter() - start
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({completed.returncode}): "
                           f"{completed.stderr.decode(errors='replace')[-500:]}")
    return elapsed


def compare_commands(a: Sequence[str], b: Sequence[str], repeat: int = REPEAT,
                     cwd: Path | None = None) -> tuple[float, float]:
    """Median seconds of ``a`` and of ``b``, run interleaved after one warm-up each."""
    run_once(a, cwd)
    run_once(b, cwd)
    times_a, times_b = [], []
    for _ in range(repeat):
        times_a.append(run_once(a, cwd))
        times_b.append(run_once(b, cwd))
    return statistics.median(times_a), statistics.median(times_b)


def time_call(function: Callable[[], object], repeat: int = REPEAT) -> float:
    """Median seconds of ``function()`` in this process (after one warm-up call)."""
    function()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def backcheck_command(*args: str) -> list[str]:
    """``backcheck ARGS``: the installed console script beside this interpreter (not a
    pyenv shim, whose own start-up would be measured too), else its entry point."""
    script = Path(sys.executable).parent / "backcheck"
    if script.is_file():
        return [sys.executable, str(script), *args]
    return [sys.executable, "-c", "from backcheck.cli import main; main()", *args]


def row(label: str, ours: float, baseline: float, target: float | None = None,
        unit: str = "s") -> str:
    ratio = ours / baseline if baseline else float("inf")
    goal = f"  (target ≤ {target:g}×: {'met' if ratio <= target else 'MISSED'})" if target else ""
    return f"{label:<58} {ours:8.3f} {unit} vs {baseline:8.3f} {unit}   ratio {ratio:5.2f}×{goal}"


def network_yaml(widths: Sequence[int], activations: Sequence[str], batch: int, loss: str,
                 seed: int = 0) -> str:
    """A problem file for a random network (weights with two decimals, one-hot targets for
    cross_entropy), as a hand-worked problem would be written, only bigger."""
    import random

    rng = random.Random(seed)

    def number() -> str:
        return f"{rng.uniform(-1, 1):.2f}"

    def vector(n: int) -> str:
        return "[" + ", ".join(number() for _ in range(n)) + "]"

    lines = ["x: [" + ", ".join(vector(widths[0]) for _ in range(batch)) + "]", "layers:"]
    for inputs, units, activation in zip(widths[:-1], widths[1:], activations, strict=True):
        weights = "[" + ", ".join(vector(inputs) for _ in range(units)) + "]"
        lines += [f"  - W: {weights}", f"    b: {vector(units)}", f"    activation: {activation}"]
    outputs = widths[-1]
    if loss == "cross_entropy":
        rows = ["[" + ", ".join("1" if j == i % outputs else "0" for j in range(outputs)) + "]"
                for i in range(batch)]
    else:
        rows = [vector(outputs) for _ in range(batch)]
    lines += ["target: [" + ", ".join(rows) + "]", f"loss: {loss}"]
    return "\n".join(lines) + "\n"
