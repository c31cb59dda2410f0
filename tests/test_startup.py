"""Start-up stays light (issues 2 and 6): ``backcheck --help`` and ``--version`` import
neither numpy nor sympy nor mpmath (nor yaml), checked in a fresh interpreter both by
its module table and by ``python -X importtime``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpu_bounds import run_bounded  # noqa: E402

HEAVY = ("numpy", "sympy", "mpmath", "yaml", "torch", "textual")

PROBE = """
import json, sys
sys.argv = ["backcheck", *json.loads(sys.argv[1])]
from backcheck.cli import main
try:
    main()
except SystemExit as stop:
    code = stop.code
else:
    code = 0
sys.stdout.flush()
print("\\n@@" + json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def run_probe(args: list[str]) -> tuple[int, str, set[str]]:
    completed = run_bounded([sys.executable, "-c", PROBE, json.dumps(args)],
                            capture_output=True, text=True, cpu_seconds=60)
    output, _, report = completed.stdout.rpartition("\n@@")
    result = json.loads(report)
    return (result["code"], output + completed.stderr,
            {name.split(".")[0] for name in result["modules"]})


@pytest.mark.parametrize("args", [["--help"], ["--version"], [], ["solve", "--help"],
                                  ["verify", "--help"], ["practice", "--help"]])
def test_help_and_version_import_no_heavy_library(args: list[str]) -> None:
    code, output, modules = run_probe(args)
    assert code in (0, 2) and output.strip(), output  # no arguments: help, exit 2 (click)
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))


def test_version_prints_the_version() -> None:
    import backcheck

    code, output, _ = run_probe(["--version"])
    assert code == 0 and output.strip() == f"backcheck {backcheck.__version__}", output


def test_importtime_shows_no_heavy_import() -> None:
    completed = run_bounded(
        [sys.executable, "-X", "importtime", "-c",
         "import sys; sys.argv = ['backcheck', '--help']\n"
         "from backcheck.cli import main\n"
         "try:\n    main()\nexcept SystemExit:\n    pass"],
        capture_output=True, text=True, cpu_seconds=60)
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0]
                for line in completed.stderr.splitlines() if line.startswith("import time:")}
    assert "backcheck" in imported and "typer" in imported
    assert not imported & set(HEAVY), sorted(imported & set(HEAVY))
