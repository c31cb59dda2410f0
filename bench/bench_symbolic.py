"""Benchmark: symbols and formulas (FORMAT §8).

    python bench/bench_symbolic.py

* ``solve`` of the 2-2-2 sigmoid network with every weight and bias a symbol
  (problems/symbolic/mazur_2_2_2.yaml), in-process, median of 5 (target ≤ 3 s);
* one formula answer checked (parse, evaluate at the points, verdict), median over a
  sheet of formula answers graded repeatedly with the problem's points cached, as a class
  run has them (target ≤ 50 ms per answer); the same for a tensor sheet in matrix form
  (problems/symbolic/tensor_mlp_right.yaml, 7 formulas).

Measurements, not tests.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FORMULAS = {
    "dL/dz2": "(a2 - t) * a2 * (1 - a2)", "dL/dW2": "dz2 @ a1.T", "dL/db2": "dz2",
    "dL/dz1": "(W2.T @ dz2) * a1 * (1 - a1)", "dL/dW1": "dz1 @ x.T",
    "dL/da2": "a2 - t", "dL/db1": "(W2 @ dz2) * a1",  # a wrong one: diagnosis searched
}


def main() -> list[tuple[str, float, float, float]]:
    from backcheck.grading import Grader
    from backcheck.problem import load_problem
    from backcheck.symbolic import solve_symbolic

    times = []
    for _ in range(5):
        start = time.perf_counter()
        solution = solve_symbolic(load_problem(str(ROOT / "problems/symbolic/mazur_2_2_2.yaml")))
        for name in solution.names:  # what the terminal view reads
            solution.shown(name)
        times.append(time.perf_counter() - start)
    solve_median = statistics.median(times)
    print(f"solve, 2-2-2 sigmoid network, 12 symbols: {solve_median:.3f} s (target ≤ 3 s)")

    grader = Grader()
    with tempfile.TemporaryDirectory() as folder:
        sheet = Path(folder) / "sheet.yaml"
        lines = [f"problem: {ROOT / 'problems/mazur_2_2_2.yaml'}", "answers:"]
        lines += [f'  {k}: "{v}"' for k, v in FORMULAS.items()]
        sheet.write_text("\n".join(lines) + "\n")
        grader.grade(str(sheet))  # the problem and its points, once (as in a class run)
        per_answer = []
        checkers = [c.formula_checker for c in grader._contexts.values()]
        for _ in range(15):
            for checker in checkers:  # no structural shortcut: every answer evaluated
                checker.proven.clear()
            start = time.perf_counter()
            grader.grade(str(sheet))
            per_answer.append((time.perf_counter() - start) / len(FORMULAS))
        cold = []
        for _ in range(5):  # a fresh grader: the problem solved at its points first
            start = time.perf_counter()
            Grader().grade(str(sheet))
            cold.append(time.perf_counter() - start)
        tensor = []  # the same in matrix form, on a tensor problem (FORMAT §7)
        tensor_sheet = ROOT / "problems/symbolic/tensor_mlp_right.yaml"
        grader.grade(str(tensor_sheet))
        for _ in range(15):
            for context in grader._contexts.values():
                context.formula_checker.proven.clear()
            start = time.perf_counter()
            grader.grade(str(tensor_sheet))
            tensor.append((time.perf_counter() - start) / 7)
    print(f"one formula answer checked, tensor sheet (matrix form): "
          f"{statistics.median(tensor) * 1000:.1f} ms")
    answer_median = statistics.median(per_answer)
    print(f"one formula answer checked: {answer_median * 1000:.1f} ms (target ≤ 50 ms)")
    print(f"a first sheet of {len(FORMULAS)} formulas, fresh grader (problem solved, points "
          f"drawn): {statistics.median(cold) * 1000:.0f} ms")
    return [("symbolic solve, 2-2-2, every weight a symbol (seconds)", solve_median, 3.0, 0),
            ("formula answer checked (seconds)", answer_median, 0.05, 0)]


if __name__ == "__main__":
    main()
