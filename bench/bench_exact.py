"""Benchmark: the exact evaluator (with the float64 one and the cross-check, i.e. all of
``solve``) on a 4-layer sigmoid/softmax network, batch 4, and how its time grows with
the width (8, 16, 32, 64) compared with how the arithmetic grows.

    python bench/bench_exact.py

Targets (issue 6): ≤ 2 s at width 16; the time grows no faster than the number of
multiply-adds (∝ width²), i.e. no expression swell: the exact values are numbers
(rationals, or 50-digit values with closed forms kept only while short), never growing
symbolic trees.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPEAT, network_yaml, time_call  # noqa: E402

WIDTHS = (8, 16, 32, 64)
LAYERS = 4
BATCH = 4
TARGET_SECONDS = 2.0


def problem_for(width: int):  # noqa: ANN201
    from backcheck.api import problem_from_text

    text = network_yaml([width] * (LAYERS + 1), ["sigmoid"] * (LAYERS - 1) + ["softmax"],
                        BATCH, "cross_entropy")
    return problem_from_text(text, f"<{LAYERS} × {width}>")


def multiply_adds(width: int) -> int:
    """Forward z = W·a and backward dL/da, dL/dW: three products per layer."""
    return 3 * LAYERS * BATCH * width * width


def main() -> list[tuple[str, float, float, float]]:
    from backcheck.solution import solve

    times = {}
    for width in WIDTHS:
        problem = problem_for(width)
        times[width] = time_call(lambda problem=problem: solve(problem), repeat=max(5, REPEAT))
        per = times[width] / multiply_adds(width) * 1e6
        print(f"exact + float solve, {LAYERS} layers × {width:>2} units, batch {BATCH}, "
              f"sigmoid/softmax: {times[width]:7.3f} s ({per:5.2f} µs per multiply-add)",
              flush=True)
    results = [(f"exact + float solve {LAYERS} × 16, batch {BATCH} (seconds)", times[16],
                TARGET_SECONDS, 1.0)]
    print(f"  width 16: {times[16]:.3f} s, target ≤ {TARGET_SECONDS:g} s: "
          f"{'met' if times[16] <= TARGET_SECONDS else 'MISSED'}")
    for small, large in zip(WIDTHS, WIDTHS[1:], strict=False):
        growth = times[large] / times[small]
        arithmetic = multiply_adds(large) / multiply_adds(small)
        verdict = "met" if growth <= arithmetic else "MISSED"
        print(f"  width {small:>2} → {large:>2}: time × {growth:5.2f}, multiply-adds × "
              f"{arithmetic:4.1f}  (target: time grows no faster: {verdict})")
        results.append((f"growth {small} → {large} (time × / arithmetic ×)", growth,
                        arithmetic, 1.0))
    return results


if __name__ == "__main__":
    main()
