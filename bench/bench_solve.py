"""Benchmark: ``backcheck solve`` of each curated problem against the bare import of
its libraries, ``python -c "import numpy, sympy, typer, rich, yaml"``.

    python bench/bench_solve.py

Target (issue 6): ≤ 1.3×. ``solve`` imports numpy, mpmath, rich and yaml but not sympy
(closed forms are turned into SymPy only for ``--exact``), so most of the baseline is the
price of importing libraries that backcheck's solve does not even need.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import PROBLEMS, backcheck_command, compare_commands, row  # noqa: E402

BASELINE = [sys.executable, "-c", "import numpy, sympy, typer, rich, yaml"]
TARGET = 1.3


def main() -> list[tuple[str, float, float, float]]:
    results = []
    for problem in sorted(PROBLEMS.glob("*.yaml")):
        ours, base = compare_commands(backcheck_command("solve", str(problem)), BASELINE)
        label = f"solve {problem.name} vs import numpy, sympy, …"
        print(row(label, ours, base, TARGET), flush=True)
        results.append((label, ours, base, TARGET))
    return results


if __name__ == "__main__":
    main()
