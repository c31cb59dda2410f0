"""The ``backcheck`` command: a thin typer shell over the Python API.

Start-up is kept light: numpy, mpmath and sympy are imported inside the commands that
need them, never here, so ``backcheck --help`` answers at typer's own speed.
"""

from __future__ import annotations

import os
import sys

import typer

from . import __version__
from .commands import explain, graph, new, practice, report, solve, verify
from .errors import BackcheckError, InternalError
from .text import escape

app = typer.Typer(
    name="backcheck",
    help="Check hand-worked backpropagation: exact forward and backward passes, "
    "graded answer sheets with diagnoses, fresh practice problems.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"backcheck {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Show the version and exit."),
) -> None:
    """Check hand-worked backpropagation."""


for command in (solve, verify, new, explain, graph, practice, report):
    command.register(app)


def _input_file() -> str:
    """The first file named on the command line (for the rare error raised without one)."""
    for argument in sys.argv[2:]:
        if not argument.startswith("-") and os.path.exists(argument):
            return argument
    return "<input>"


def main() -> None:
    """Console-script entry point: one clear message and exit 2 for bad input."""
    try:
        app(prog_name="backcheck")
    except BackcheckError as error:
        from .render.console import error_text, stderr

        stderr.print(error_text(error))
        sys.exit(2)
    except (RecursionError, MemoryError):
        print(f"error: {escape(_input_file())}: the input is too deeply nested or too large "
              "to process", file=sys.stderr)
        sys.exit(2)
    except InternalError as error:
        print(f"internal error: {escape(error)}", file=sys.stderr)
        sys.exit(3)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as error:  # a bug in backcheck: say so plainly, no traceback
        if os.environ.get("BACKCHECK_DEBUG"):
            raise
        print(f"internal error ({type(error).__name__}): {escape(error)}\n"
              "this is a bug in backcheck; rerun with BACKCHECK_DEBUG=1 for details",
              file=sys.stderr)
        sys.exit(3)


if __name__ == "__main__":
    main()
