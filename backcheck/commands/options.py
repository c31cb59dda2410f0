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


def layers(fresh: str = "") -> Any:
    return optional("--layers", f"{fresh}Sizes including the inputs, e.g. 2,3,1.")


def hidden_activation(fresh: str = "") -> Any:
    return optional("--hidden-activation",
                    f"{fresh}Any activation of the op table, e.g. relu, sigmoid, tanh.")


def output_activation(fresh: str = "") -> Any:
    return optional("--output-activation",
                    f"{fresh}Any activation of the op table, e.g. identity, sigmoid, softmax.")


def loss(fresh: str = "") -> Any:
    return optional("--loss", f"{fresh}Any loss of the op table, e.g. mse, cross_entropy, bce.")


def batch(fresh: str = "") -> Any:
    return optional("--batch", f"{fresh}Examples in the batch.")


def convention(fresh: str = "") -> Any:
    return optional("--convention",
                    f"{fresh}Wx (W is out × in) or xW (x @ W, W is in × out).")


def learning_rate(fresh: str = "") -> Any:
    return optional("--learning-rate",
                    f"{fresh}Also ask for one gradient-descent step with this rate, e.g. 0.1.")
