"""Notebook display without the core importing the render layer.

:class:`~backcheck.grading.Report` and :class:`~backcheck.solution.Solution` show as
HTML tables in Jupyter (``_repr_html_``). The HTML is drawn by the render layer
(``render/notebook.py``), which registers its builders here when it is imported; the
package's top level (``backcheck/__init__.py``, the API shell, like ``cli.py``) names that
module in :data:`PROVIDERS`, so a notebook that imports only ``backcheck`` still gets the
tables, and no module below the shell names ``render/``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

_BUILDERS: dict[str, Callable[[Any], str]] = {}
#: modules that register HTML builders, imported on the first display that needs one
PROVIDERS: list[str] = []


def register_html(kind: str, builder: Callable[[Any], str]) -> None:
    """Let ``builder(obj)`` draw objects of ``kind`` (``"report"``, ``"solution"``)."""
    _BUILDERS[kind] = builder


def html(kind: str, obj: Any) -> str | None:
    """``obj`` as HTML, or None when no builder is registered (Jupyter then shows the
    text ``repr``)."""
    if kind not in _BUILDERS:
        for module in PROVIDERS:
            importlib.import_module(module)
    builder = _BUILDERS.get(kind)
    return None if builder is None else builder(obj)
