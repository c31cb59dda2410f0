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
        only: str = typer.Option(None, "--only", metavar="NAMES",
                                 help="Comma-separated quantities, e.g. z1,dL/dW2 (every "
                                      "name verify takes: net_h1, dE_total/dw5, δ2 …)."),
        json_output: bool = typer.Option(False, "--json", help="One JSON document on stdout."),
        float_only: bool = typer.Option(False, "--float-only",
                                        help="float64 only, for networks too large for "
                                             "exact arithmetic."),
        latex: bool = typer.Option(False, "--latex",
                                   help="A LaTeX align* block (formulas for a problem "
                                        "with symbols)."),
        markdown: bool = typer.Option(False, "--markdown",
                                      help="Markdown tables (formulas for a problem with "
                                           "symbols)."),
    ) -> None:
        """Compute the forward pass, every gradient and the update step, exactly and in float64.

        A problem with `symbols:` gets every quantity as a formula (and its value at `at:`).
        """
        import re

        from ..api import solve_file
        from ..errors import BackcheckError
        from ..render.console import stdout

        if latex and markdown or (latex or markdown) and json_output:
            raise BackcheckError("choose one of --json, --latex and --markdown",
                                 file="backcheck solve")
        from ..api import read_problem

        problem = read_problem(str(file))
        if getattr(problem, "symbols", None):
            _solve_symbolic(problem, only, digits, json_output, latex, markdown)
            return
        solution = solve_file(str(file), float_only=float_only, problem=problem)
        names = None
        if only:
            names = []
            for raw in re.split(r",(?![^\[]*\])", only):  # dL/dW1[1,2] keeps its comma
                if not raw.strip():
                    continue
                name = _only_name(raw.strip(), solution)
                if name not in names:
                    names.append(name)
        if latex or markdown:
            from ..render.solve_tables import solution_latex, solution_markdown

            typer.echo((solution_latex if latex else solution_markdown)(solution, names,
                                                                        digits), nl=False)
            return
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


def _only_name(raw: str, solution: object) -> str:
    """The quantity an ``--only`` name means: every name ``verify`` accepts (w5 as a
    gradient's or an update's name, net_h1, ∂E_total/∂w5, δ2, dL/dW1[1,2] …), its element
    index checked; a parameter (w5, W2) is refused with what to ask for instead."""
    from ..errors import BackcheckError
    from ..explain import parse_quantity
    from ..names import answer_name

    graph = solution.graph  # type: ignore[attr-defined]
    try:
        name, index = answer_name(raw, graph, scalar=False)
    except BackcheckError as error:
        try:
            given, index = parse_quantity(solution, raw)  # type: ignore[arg-type]
        except BackcheckError:
            given = None
        if given is None or given in graph.quantities:
            raise BackcheckError(error.message, file="--only", hint=error.hint) from None
        element = given + ("" if index is None else
                           "[" + ",".join(str(i + 1) for i in index) + "]")
        gradient = graph.grad_name(given) if given != "target" else None
        what = f"{raw!r} is {element}," if element != raw else f"{raw!r} is"
        raise BackcheckError(
            f"{what} given in the problem, not computed: solve lists what is computed",
            file="--only",
            hint=(f"its gradient is {gradient}" if gradient in graph.quantities else
                  "solve without --only shows the problem's numbers")) from None
    if index is not None:
        try:  # the element must exist, as explain and verify require
            parse_quantity(solution, f"{name}[{','.join(map(str, index))}]")  # type: ignore[arg-type]
        except BackcheckError as error:
            raise BackcheckError(error.message, file="--only", hint=error.hint) from None
    return name


def _solve_symbolic(problem: object, only: str | None, digits: int, json_output: bool,
                    latex: bool, markdown: bool) -> None:
    from ..names import resolve
    from ..render.console import stdout
    from ..symbolic import solve_symbolic

    solution = solve_symbolic(problem)  # type: ignore[arg-type]
    names = None
    if only:
        names = [resolve(raw, solution.names, solution.graph.output_name)
                 for raw in only.split(",") if raw.strip()]
    if json_output:
        from ..text import safe_json

        document = solution.to_json()
        if names:
            for key in ("quantities", "readable", "values"):
                if key in document:
                    document[key] = {n: document[key][n] for n in names}
        typer.echo(safe_json(document))
        return
    if latex or markdown:
        from ..render.symbolic_view import symbolic_latex, symbolic_markdown

        typer.echo((symbolic_latex if latex else symbolic_markdown)(solution, names))
        return
    from ..render.symbolic_view import symbolic_view

    stdout.print(symbolic_view(solution, names=names, digits=digits))
