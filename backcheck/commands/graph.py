"""``backcheck graph``: the computational graph with every value and gradient."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

FORMATS = {".dot": "dot", ".gv": "dot", ".svg": "svg", ".png": "png", ".pdf": "pdf"}


def register(app: typer.Typer) -> None:
    @app.command()
    def graph(
        file: Path = typer.Argument(..., help="A problem file (network or scalar expression)."),
        output: str = typer.Option(
            None, "--output", "-o", metavar="FILE",
            help="Write the diagram: .dot (DOT text, always works), .svg, .png or .pdf "
                 "(need Graphviz's dot program). Without -o: a tree in the terminal."),
        scalar: bool = typer.Option(
            False, "--scalar", help="Networks: one node per element (tiny networks only)."),
        force: bool = typer.Option(False, "--force", "-f", help="Overwrite existing files."),
        digits: int = typer.Option(
            None, "--digits", "-d", min=1, max=40,
            help="Significant digits for values that are not short "
                 "(default 6; 4 for tensors)."),
        float_only: bool = typer.Option(
            False, "--float-only", help="float64 only, for networks too large for exact "
                                        "arithmetic."),
    ) -> None:
        """Draw the computational graph, micrograd style, with every node's value and gradient."""
        from ..api import solve_file
        from ..errors import BackcheckError
        from ..render.dot import build_diagram

        solution = solve_file(str(file), float_only=float_only)
        if scalar and solution.problem.kind != "network":
            raise BackcheckError("--scalar applies to networks; a scalar-expression problem "
                                 "is already drawn one node per operation", file=str(file))
        diagram = build_diagram(solution, scalar=scalar)
        if digits is None:
            digits = 4 if diagram.kind == "network" else 6
        if output is None:
            from ..render.console import stdout
            from ..render.graph_view import graph_tree

            stdout.print(graph_tree(diagram, digits=digits))
            return
        _write(diagram, output, force=force, digits=digits)


def _write(diagram: Any, output: str, *, force: bool, digits: int) -> None:
    import os

    from ..errors import BackcheckError
    from ..files import check_writable, write_atomic
    from ..render.console import stderr
    from ..render.dot import INSTALL_HINT, find_dot, render_with_graphviz, to_dot
    from ..text import escape

    suffix = os.path.splitext(output)[1].lower()
    fmt = FORMATS.get(suffix)
    if fmt is None:
        raise BackcheckError(
            f"cannot tell the format from {suffix or 'a name without an extension'!r}",
            file=output, hint="end the file name in .dot, .svg, .png or .pdf")
    dot_text = to_dot(diagram, digits=digits)
    if fmt == "dot":
        check_writable([output], force=force)
        write_atomic(output, dot_text, force=force)
        stderr.print(f"wrote {escape(output)} (Graphviz DOT; draw it with `dot -Tsvg "
                     f"{escape(output)} -o graph.svg`)")
        return
    program = find_dot()
    if program is None:
        fallback = os.path.splitext(output)[0] + ".dot"
        check_writable([fallback], force=force)
        write_atomic(fallback, dot_text, force=force)
        stderr.print(
            f"Graphviz's dot program is not installed, so {escape(output)} was not drawn; "
            f"wrote the DOT text to {escape(fallback)} instead.\n{INSTALL_HINT}, or paste "
            f"{escape(fallback)} into an online Graphviz viewer.")
        raise typer.Exit(1)
    check_writable([output], force=force)
    image = render_with_graphviz(dot_text, fmt, output, program)
    write_atomic(output, image, force=force)
    stderr.print(f"wrote {escape(output)}")
