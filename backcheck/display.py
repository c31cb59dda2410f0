"""Rich display in Jupyter without core modules importing the render layer.

``Solution`` and ``Report`` answer IPython's ``_repr_html_`` by asking this registry;
the render layer (``render/notebook.py``) registers how each type is drawn when it is
imported, and the front doors (``import backcheck``'s lazy names, ``backcheck.api``)
import it. So core names no view, and a notebook still shows tables. With nothing
registered (a core module used on its own) the method returns ``None``, which IPython
takes as "no HTML": the plain ``repr`` is shown.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: class name → how it is drawn. Keyed by name, not by class, so registering imports
#: nothing heavy (``grading`` need not load for ``solve``) and modules may move.
_HTML: dict[str, Callable[[Any], str]] = {}


def register_html(class_name: str, render: Callable[[Any], str]) -> None:
    """Draw objects of the class called ``class_name`` (or a subclass) with ``render``."""
    _HTML[class_name] = render


def html(obj: Any) -> str | None:
    """The HTML registered for ``obj``'s class, or ``None`` (IPython then shows repr)."""
    for kind in type(obj).__mro__:
        render = _HTML.get(kind.__name__)
        if render is not None:
            return render(obj)
    return None
