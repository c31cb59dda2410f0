"""The ``backcheck`` command: a thin typer shell over the Python API.

Start-up is kept light: numpy, mpmath and sympy are imported inside the commands that
need them, never here, so ``backcheck --help`` answers at typer's own speed.
"""

from __future__ import annotations

import os
import sys

import typer

try:  # typer vendors click since 0.2x; older typers use the click package
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover
    from click import exceptions as click_exceptions  # type: ignore[no-redef]

from . import __version__
from .commands import explain, graph, new, practice, report, solve, verify
from .errors import BackcheckError, InternalError
from .text import escape

app = typer.Typer(
    name="backcheck",
    help="Check hand-worked backpropagation: exact forward and backward passes, "
    "graded answer sheets with diagnoses, fresh practice problems.",
    no_args_is_help=True,
    add_completion=True,
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


def _usage_display_name(self) -> str:  # type: ignore[no-untyped-def]
    """Arguments in usage lines as ``FILE`` and ``SHEET...``, the way help pages write
    them (this typer writes a required one as ``{file}``, which reads as a placeholder
    to fill in literally)."""
    name = str(self.display_name_raw).upper()
    if not self.required:
        name = f"[{name}]"
    if self.nargs != 1 and not name.rstrip("]").endswith("..."):
        name += "..."
    return name


if hasattr(typer.core.TyperArgument, "_usage_display_name"):
    typer.core.TyperArgument._usage_display_name = _usage_display_name  # type: ignore[method-assign]


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
        code = app(prog_name="backcheck", standalone_mode=False)
    except click_exceptions.NoArgsIsHelpError as error:
        try:
            print(error.ctx.get_help() if error.ctx else "backcheck --help")
        except BrokenPipeError:
            _silence_stdout()
        sys.exit(error.exit_code)
    except click_exceptions.UsageError as error:
        # a bad option or argument: one error line like every other, and where to look
        _print_error(_usage_error(error))
        sys.exit(2)
    except typer.Abort:
        sys.exit(130)
    except BrokenPipeError:  # `backcheck … | head`: the reader left; nothing to say
        _silence_stdout()
        sys.exit(1)
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
    sys.exit(code if isinstance(code, int) else 0)


def _usage_error(error: click_exceptions.UsageError) -> BackcheckError:
    """Click's usage error as ours: ``error: backcheck new: invalid value for --seed …``."""
    command = error.ctx.command_path if error.ctx is not None else "backcheck"
    message = error.format_message()
    message = message[:1].lower() + message[1:] if message[:2] != message[:2].upper() else message
    return BackcheckError(message.replace("\n", " "), file=command,
                          hint=f"see `{command} --help`")


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _print_error(error: BackcheckError) -> None:
    from .render.console import error_text, stderr

    stderr.print(error_text(error))


if __name__ == "__main__":
    main()
