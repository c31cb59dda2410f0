"""backcheck: check hand-worked backpropagation, exactly.

Python API (the CLI is a thin layer over it)::

    import backcheck
    solution = backcheck.solve(backcheck.load_problem("problems/mazur_2_2_2.yaml"))
    solution.float("dL/dW1"), solution.exact("dL/dW1")
    backcheck.verify("answers.yaml")                 # a graded sheet (Report)
    backcheck.class_report(["a.yaml", "b.yaml"])     # class analytics (ClassStats)

In Jupyter each of these displays as an HTML table.

Heavy modules (numpy, mpmath, sympy) load on first use, so ``backcheck --help`` is fast.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "load_problem": ("problem", "load_problem"),
    "solve": ("solution", "solve"),
    "Solution": ("solution", "Solution"),
    "BackcheckError": ("errors", "BackcheckError"),
    "verify": ("grading", "verify"),
    "class_report": ("api", "class_report"),
    "generate": ("generate", "generate"),
}

#: names whose results draw themselves in notebooks (``backcheck.display``)
_DISPLAYED = {"solve", "Solution", "verify", "class_report"}

__all__ = list(_LAZY) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module_name, attribute = _LAZY[name]
        module = importlib.import_module(f".{module_name}", __name__)
        if name in _DISPLAYED:  # results shown in Jupyter: the front door loads their view
            importlib.import_module(".render.notebook", __name__)
        return getattr(module, attribute)
    raise AttributeError(f"module 'backcheck' has no attribute {name!r}")
