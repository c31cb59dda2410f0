"""The layers stay layers: nothing below the CLI imports the render layer.

Core modules (problem, graph, backends, solution, grading, explain, generate, practice…)
compute; ``render/`` draws; ``commands/`` and ``cli.py`` wire the two for the terminal,
and the Python front doors (``backcheck/__init__.py``, ``backcheck/api.py``) load the
notebook view. A core module that imported ``render/`` would drag rich and the views into
every library use and would hide printing below the CLI (STYLE.md). This walks every
import statement of the package (also those inside functions, and
``importlib.import_module`` calls) with ``ast``.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "backcheck"
#: where importing render/ is the job: the views, the terminal shell, the Python front doors
ALLOWED = ("render/", "commands/", "cli.py", "__init__.py", "api.py")


def _module_of(path: Path) -> list[str]:
    parts = ["backcheck", *path.relative_to(PACKAGE).with_suffix("").parts]
    return parts[:-1] if parts[-1] == "__init__" else parts


def _imported(path: Path) -> list[tuple[int, str]]:
    """Every module ``path`` imports (absolute dotted names) with its line."""
    package = _module_of(path)
    if path.name != "__init__.py":
        package = package[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            found.append((node.lineno, module))
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "import_module"
              and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)):
            text = node.args[0].value
            found.append((node.lineno, ".".join(package) + text if text.startswith(".") else text))
    return found


def test_no_module_below_the_cli_imports_render() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        where = path.relative_to(PACKAGE).as_posix()
        if where.startswith(ALLOWED):
            continue
        for line, module in _imported(path):
            if module == "backcheck.render" or module.startswith("backcheck.render."):
                offenders.append(f"backcheck/{where}:{line} imports {module}")
    assert not offenders, "core modules import the render layer:\n" + "\n".join(offenders)


def test_the_walker_sees_relative_and_function_level_imports() -> None:
    """The check above would pass vacuously if the walker missed imports: it must see
    the render imports that the CLI commands make inside their functions."""
    seen = [module for _, module in _imported(PACKAGE / "commands" / "solve.py")]
    assert "backcheck.render.console" in seen and "backcheck.api" in seen
    seen = [module for _, module in _imported(PACKAGE / "__init__.py")]
    assert "backcheck.render.notebook" in seen
