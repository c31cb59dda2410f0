"""``backcheck explain``: the chain rule for one quantity, step by step."""

from __future__ import annotations

from pathlib import Path

import typer

FORMATS = {".md": "markdown", ".markdown": "markdown", ".tex": "latex", ".txt": "text"}


def register(app: typer.Typer) -> None:
    @app.command()
    def explain(
        file: Path = typer.Argument(..., help="A problem file (network or scalar expression)."),
        quantity: str = typer.Argument(
            ..., help="What to explain: 'dL/dW1[1,2]', 'dL/dz1', 'z2[1]', 'dg/da', …"),
        symbolic: bool = typer.Option(
            False, "--symbolic", help="Also give the formula in the problem's own symbols "
                                      "(small problems)."),
        latex: bool = typer.Option(False, "--latex", help="Write LaTeX (for a write-up)."),
        markdown: bool = typer.Option(False, "--markdown", help="Write Markdown with $…$ math."),
        output: str = typer.Option(
            None, "--output", "-o", metavar="FILE",
            help="Write to this file (.md, .tex or .txt picks the format when "
                 "--latex/--markdown is not given)."),
        digits: int = typer.Option(6, "--digits", "-d", min=1, max=40,
                                   help="Significant digits for values that are not short."),
        force: bool = typer.Option(False, "--force", "-f", help="Overwrite an existing file."),
    ) -> None:
        """Explain one quantity: the chain-rule paths, the vector rule, or the sum of products."""
        import os

        from ..errors import BackcheckError

        if latex and markdown:
            raise BackcheckError("choose one of --latex and --markdown",
                                 file="backcheck explain")
        fmt = "latex" if latex else "markdown" if markdown else None
        if output is not None:
            check_output(output, force)
            if fmt is None:
                fmt = FORMATS.get(os.path.splitext(output)[1].lower(), "text")
        from ..api import read_problem, solve_file
        from ..explain import explain as explain_quantity

        problem = read_problem(str(file))
        if getattr(problem, "symbols", None):  # FORMAT §8: numbers at at:, solve's formula
            from ..symbolic import explain_symbolic

            explanation = explain_symbolic(problem, quantity, symbolic=symbolic)
        else:
            try:
                solution = solve_file(str(file), problem=problem)
            except BackcheckError as error:
                if getattr(error, "too_large_for_exact", False):
                    error.hint = "explain works exactly; try a smaller network"
                raise
            explanation = explain_quantity(solution, quantity, symbolic=symbolic)
        if fmt is None:
            from ..render.console import stdout
            from ..render.explain_view import explanation_view

            stdout.print(explanation_view(explanation, digits=digits))
            return
        from ..render import explain_view

        writer = {"latex": explain_view.to_latex, "markdown": explain_view.to_markdown,
                  "text": explain_view.to_text}[fmt]
        text = writer(explanation, digits=digits)
        if output is None:
            typer.echo(text, nl=False)
            return
        from ..files import write_atomic
        from ..render.console import stderr
        from ..text import escape

        write_atomic(output, text, force=force)
        stderr.print(f"wrote {escape(output)}")


def check_output(path: str, force: bool) -> None:
    from ..files import check_writable

    check_writable([path], force=force)
