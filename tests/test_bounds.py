"""Bounded work for every accepted file (issue 15): long flat sums and products are long,
not deep; explain on functions nested in functions is bounded (SymPy's own evaluation
grows exponentially with the nesting), with and without --symbolic."""

from __future__ import annotations

import json
import math
import sys
from fractions import Fraction
from pathlib import Path

import mpmath

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_bad_inputs import SECONDS, run_main  # noqa: E402


def nested(function: str, levels: int, inner: str = "x") -> str:
    text = inner
    for _ in range(levels):
        text = f"{function}({text})"
    return text


def test_a_long_flat_sum_and_product_in_one_step_work(tmp_path: Path) -> None:
    """A sum of 102 terms failed as "nested too deeply (at most 100 levels)"."""
    terms = 240
    (tmp_path / "p.yaml").write_text(
        "values: {a: 0.25, b: 1.5}\nsteps:\n"
        f"  - c = {'+'.join(['a'] * terms)}\n"
        f"  - d = {'*'.join(['b'] * 100)}\n"
        f"  - e = {'-'.join(['c'] * 120)} + d / 3\n"
        "output: e\n")
    code, out, err, elapsed = run_main(["solve", "p.yaml", "--json"], tmp_path)
    assert code == 0, err
    quantities = json.loads(out)["quantities"]
    a, b = Fraction(1, 4), Fraction(3, 2)
    c, d = terms * a, b**100
    e = c - 119 * c + d / 3
    assert quantities["c"] == float(c) and math.isclose(quantities["d"], float(d), rel_tol=1e-14)
    assert math.isclose(quantities["e"], float(e), rel_tol=1e-14)
    # de/da = 240·(1 − 119); de/db = 100·b^99 / 3
    assert quantities["de/da"] == float(terms * (1 - 119))
    assert math.isclose(quantities["de/db"], float(100 * b**99 / 3), rel_tol=1e-14)
    assert elapsed < SECONDS
    for args in (["explain", "p.yaml", "de/da"], ["graph", "p.yaml"]):
        code, out, err, elapsed = run_main(args, tmp_path)
        assert code == 0, err
        assert elapsed < SECONDS


def test_explain_on_12_nested_tanh_is_bounded_and_right(tmp_path: Path) -> None:
    """Took over 120 s: SymPy evaluating the ∂ formula of 12 nested tanh."""
    (tmp_path / "p.yaml").write_text(
        f"values: {{x: 0.5}}\nsteps:\n  - y = {nested('tanh', 12)}\noutput: y\n")
    code, out, err, elapsed = run_main(["explain", "p.yaml", "dy/dx"], tmp_path)
    assert code == 0, err
    assert elapsed < SECONDS, elapsed
    mpmath.mp.dps = 40
    expected = mpmath.diff(lambda x: nested_value(mpmath.tanh, 12, x), mpmath.mpf("0.5"))
    assert mpmath.nstr(expected, 6) in out, out


def nested_value(function, levels: int, x):  # type: ignore[no-untyped-def]
    for _ in range(levels):
        x = function(x)
    return x


def test_symbolic_on_50_nested_sigmoids_is_bounded(tmp_path: Path) -> None:
    """Took over 120 s (evalf of the formula); now the formula is declined, the paths
    are given."""
    (tmp_path / "p.yaml").write_text(
        f"values: {{x: 0.5}}\nsteps:\n  - y = {nested('sigmoid', 50)}\noutput: y\n")
    code, out, err, elapsed = run_main(["explain", "p.yaml", "dy/dx", "--symbolic"], tmp_path)
    assert code == 0, err
    assert elapsed < SECONDS, elapsed
    assert "nests 50 functions" in " ".join(out.split())


def test_symbolic_through_a_chain_of_steps_is_bounded(tmp_path: Path) -> None:
    steps = "".join(f"  - y{i} = tanh({'x' if i == 0 else f'y{i - 1}'}) + 1\n"
                    for i in range(40))
    (tmp_path / "p.yaml").write_text(f"values: {{x: 0.5}}\nsteps:\n{steps}output: y39\n")
    for args in (["explain", "p.yaml", "dy39/dx", "--symbolic"],
                 ["explain", "p.yaml", "dy39/dx", "--latex"]):
        code, out, err, elapsed = run_main(args, tmp_path)
        assert code == 0, err
        assert elapsed < SECONDS, elapsed


def test_a_few_nested_functions_still_get_their_formula(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(
        f"values: {{x: 0.5}}\nsteps:\n  - y = {nested('tanh', 3)}\noutput: y\n")
    code, out, err, _ = run_main(["explain", "p.yaml", "dy/dx", "--symbolic"], tmp_path)
    assert code == 0, err
    assert "tanh(tanh(tanh(x)))" in out.replace(" ", "") or "tanh(tanh(" in out
    assert "✓" in out


def test_the_exact_work_estimate_counts_digits(tmp_path: Path) -> None:
    """8 × 4096 weights as fractions with 52-digit denominators passed the estimate and
    took 37 s and 2.9 GB; now refused at once, with the --float-only hint (which works)."""
    import random

    rng = random.Random(2)
    n = 4096
    weights = ", ".join("[" + ", ".join(f'"1/{rng.randint(10**51, 10**52)}"' for _ in range(n))
                        + "]" for _ in range(8))
    (tmp_path / "p.yaml").write_text(
        f"x: [{', '.join('1' for _ in range(n))}]\nlayers:\n  - W: [{weights}]\n"
        "target: [1, 2, 3, 4, 5, 6, 7, 8]\nloss: mse\n")
    code, out, err, elapsed = run_main(["solve", "p.yaml"], tmp_path)
    assert code == 2 and "network too large for exact arithmetic" in err, err
    assert "--float-only" in err
    assert elapsed < SECONDS


def test_decimals_cost_no_more_than_before() -> None:
    from backcheck.problem import digit_factor

    decimals = [[Fraction(k, 10**4) for k in range(-50, 50)]]
    assert digit_factor(decimals, [[Fraction(1, 3), Fraction(2, 7), Fraction(5, 11)]]) == 1
    unlike = [[Fraction(1, p) for p in (10**51 + 13, 10**51 + 31, 10**51 + 67)]]
    assert digit_factor(unlike) > 100
