"""``backcheck solve``: every intermediate value and gradient."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def solve(
        file: Path = typer.Argument(...,
                                    help="A problem file (network or scalar expression)."),
        digits: int = typer.Option(6, "--digits", "-d", min=1, max=40,
                                   help="Significant digits for values that are not short."),
        exact: bool = typer.Option(False, "--exact",
                                   help="Show closed forms, e.g. 1/(1 + exp(-1/2))."),
        only: str = typer.Option(None, "--only",
                                 help="Comma-separated quantities, e.g. z1,dL/dW2."),
        json_output: bool = typer.Option(False, "--json", help="One JSON document on stdout."),
        float_only: bool = typer.Option(False, "--float-only",
                                        help="float64 only, for networks too large for "
                                             "exact arithmetic."),
    ) -> None:
        """Compute the forward pass, every gradient and the update step, exactly and in float64."""
        import re

        from ..api import solve_file
        from ..errors import BackcheckError
        from ..names import answer_name
        from ..render.console import stdout

        solution = solve_file(str(file), float_only=float_only)
        names = None
        if only:
            names = []
            for raw in re.split(r",(?![^\[]*\])", only):  # dL/dW1[1,2] keeps its comma
                if not raw.strip():
                    continue
                try:  # every name verify accepts: w5, net_h1, ∂E_total/∂w5, δ2, y_hat …
                    name, _ = answer_name(raw.strip(), solution.graph, scalar=False)
                except BackcheckError as error:
                    raise BackcheckError(error.message, file="--only",
                                         hint=error.hint) from None
                if name not in names:
                    names.append(name)
        if json_output:
            document = solution.to_json()
            if names:
                document["quantities"] = {n: document["quantities"][n] for n in names}
                if "exact" in document:
                    document["exact"] = {n: document["exact"][n] for n in names}
            from ..text import safe_json

            typer.echo(safe_json(document))
            return
        from ..render.solve_view import solution_view

        stdout.print(solution_view(solution, names=names, digits=digits, exact=exact))
