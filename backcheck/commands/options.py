"""Options several commands share, declared once.

``new`` and ``practice`` describe a fresh problem the same way (``--layers``,
``--hidden-activation``, …); ``verify`` and ``new`` write files named by an option
(``--gradescope FILE``, ``--moodle FILE``). The help never lists the op table's names:
any record in ``backcheck/ops`` is accepted, and the command's own error names them.
"""

from __future__ import annotations

from typing import Any

import typer


def optional(flag: str, help: str, *, metavar: str | None = None, **extra: Any) -> Any:
    """An option that is absent (None) unless given."""
    return typer.Option(None, flag, metavar=metavar, help=help, **extra)


def file_option(flag: str, help: str, metavar: str = "FILE") -> Any:
    """An option naming a file (or folder) to write."""
    return optional(flag, help, metavar=metavar)


#: how a fresh problem is described: option name → (flag, help)
_PROBLEM = {
    "layers": ("--layers", "Sizes including the inputs, e.g. 2,3,1."),
    "hidden_activation": ("--hidden-activation",
                          "Any activation of the op table, e.g. relu, sigmoid, tanh."),
    "output_activation": ("--output-activation",
                          "Any activation of the op table, e.g. identity, sigmoid, softmax."),
    "loss": ("--loss", "Any loss of the op table, e.g. mse, cross_entropy, bce."),
    "batch": ("--batch", "Examples in the batch."),
    "convention": ("--convention", "Wx (W is out × in) or xW (x @ W, W is in × out)."),
    "learning_rate": ("--learning-rate",
                      "Also ask for one gradient-descent step with this rate, e.g. 0.1."),
}


def problem(name: str, said: str = "") -> Any:
    """The option ``name`` describing a fresh problem (``said`` goes before its help)."""
    flag, text = _PROBLEM[name]
    return optional(flag, said + text)
