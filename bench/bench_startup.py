"""Benchmark: start-up. ``backcheck --help`` (and ``--version``) against the ``--help`` of
a bare typer app with three empty commands, same interpreter, same typer, same rich.

    python bench/bench_startup.py

Target (issue 6): ≤ 1.2×. backcheck imports neither numpy nor sympy nor mpmath to answer
``--help`` (tests/test_startup.py checks that), so the difference is its own few modules.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import backcheck_command, compare_commands, row  # noqa: E402

BARE_APP = '''
import typer

app = typer.Typer()


@app.command()
def one() -> None:
    """The first command."""


@app.command()
def two() -> None:
    """The second command."""


@app.command()
def three() -> None:
    """The third command."""


if __name__ == "__main__":
    app()
'''

TARGET = 1.2


def main() -> list[tuple[str, float, float, float]]:
    results = []
    with tempfile.TemporaryDirectory() as folder:
        bare = Path(folder) / "bare_app.py"
        bare.write_text(BARE_APP)
        baseline = [sys.executable, str(bare), "--help"]
        for args in (["--help"], ["--version"]):
            ours, base = compare_commands(backcheck_command(*args), baseline)
            label = f"backcheck {' '.join(args)} vs bare typer --help"
            print(row(label, ours, base, TARGET), flush=True)
            results.append((label, ours, base, TARGET))
    return results


if __name__ == "__main__":
    main()
