"""Rich renderables for ``backcheck new``: the problem as a learner meets it."""

from __future__ import annotations

import shlex
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from ..ops import LOSSES, OPS
from .numbers import format_array


def _shell(path: str) -> str:
    return shlex.quote(path)


def diagram(generated: Any) -> Text:
    """The architecture as a small vertical text diagram."""
    spec = generated.spec
    sizes = spec.sizes
    layers = len(spec.activations)
    examples = "" if spec.batch == 1 else f" × {spec.batch} examples (one row each)"
    rows: list[tuple[str, str, str]] = [("x", f"{sizes[0]} input{'s' * (sizes[0] > 1)}"
                                         + examples, "")]
    for k, activation in enumerate(spec.activations, start=1):
        below = "x" if k == 1 else f"a{k - 1}"
        affine = (f"z{k} = W{k}·{below} + b{k}" if spec.convention == "Wx"
                  else f"z{k} = {below}·W{k} + b{k}")
        act = f"a{k} = {OPS[activation].formula.format(f'z{k}')}"
        rows.append(("│", f"{affine},  {act}", "dim"))
        units = sizes[k]
        if k == layers:
            what = f"{units} output{'s' * (units > 1)} ({activation}) = ŷ"
        else:
            what = f"{units} hidden unit{'s' * (units > 1)} ({activation})"
        rows.append((f"a{k}", what, ""))
    rows.append(("│", f"L = {spec.loss}(ŷ, target)", "dim"))
    rows.append(("L", "the loss", ""))
    width = max(len(r[0]) for r in rows) + 3
    text = Text()
    for i, (node, label, style) in enumerate(rows):
        if i:
            text.append("\n")
        text.append("  " + node.ljust(width), style="bold" if node != "│" else "cyan")
        text.append(label, style=style or None)
    return text


def numbers_table(generated: Any) -> Table:
    problem = generated.problem
    table = Table(title="The numbers", title_justify="left", title_style="bold cyan",
                  pad_edge=False, show_header=False, box=None, padding=(0, 2, 0, 2))
    table.add_column("name", style="bold", no_wrap=True)
    table.add_column("value", no_wrap=True)
    table.add_column("note", style="dim")
    layout = "" if problem.single else "one row per example"
    table.add_row("x", format_array(problem.x[0] if problem.single else problem.x), layout)
    for k, layer in enumerate(problem.layers, start=1):
        layout_words = "out × in" if problem.convention == "Wx" else "in × out"
        shape = f"{len(layer.W)} × {len(layer.W[0])} ({layout_words})"
        table.add_row(f"W{k}", format_array(layer.W), shape)
        if layer.b is not None:
            table.add_row(f"b{k}", format_array(layer.b), f"then {layer.activation}")
    target = problem.target[0] if problem.single else problem.target
    table.add_row("target", format_array(target), layout)
    table.add_row("loss", problem.loss, _loss_note(problem))
    if problem.learning_rate is not None:
        table.add_row("learning rate", format_array(problem.learning_rate),
                      "one gradient-descent step")
    return table


def _loss_note(problem: Any) -> str:
    """``Σ (ŷ − target)², mean over every element``: the loss record's term and how the
    problem's reduction divides the sum."""
    record = LOSSES[problem.loss]
    term = (record.negated_term or record.formula).format("ŷ", "target")
    total = f"−Σ {term}" if record.negated_term else f"Σ {term}"
    if problem.reduction == "sum":
        return f"{total}, summed"
    over = ("examples" if problem.reduction == "batch_mean" or record.mean_over == "examples"
            else "every element")
    return f"{total}, mean over {over}"


def _find_line(generated: Any) -> Text:
    sections: dict[str, list[str]] = {}
    for name in generated.quantities:
        sections.setdefault(generated.solution.quantity(name).section, []).append(name)
    text = Text()
    text.append("Find: ", style="bold")
    text.append(f"{len(generated.quantities)} quantities: ")
    words = {"forward": "forward", "backward": "backward", "update": "update"}
    text.append("; ".join(f"{words.get(s, s)} {', '.join(names)}"
                          for s, names in sections.items()))
    return text


def _written(sets: tuple[str, str, str], key: bool, count: int) -> Table:
    problem, sheet, key_path = sets
    table = Table(show_header=False, box=None, pad_edge=False, padding=(0, 2, 0, 0))
    table.add_column(style="bold green", no_wrap=True)
    table.add_column(style="dim")
    table.add_row(problem, "the problem")
    table.add_row(sheet, f"your answer sheet: {count} quantities, each ~ to replace")
    if key:
        table.add_row(key_path, "the answer key, exact (keep it for checking)")
    return table


def _seed_line(seed: int, seed_given: bool) -> Text | None:
    if seed_given:
        return None
    return Text(f"Seed {seed} was picked at random: add --seed {seed} to get these files "
                "again.", style="dim")


def generated_view(generated: Any, sets: tuple[str, str, str], *, key: bool,
                   seed_given: bool) -> Group:
    spec = generated.spec
    from ..generate import describe

    parts: list[Any] = [
        Text(f"Practice problem ({spec.difficulty}, seed {generated.seed}): {describe(spec)}",
             style="bold"),
        Text(""),
        diagram(generated),
        Text(""),
        numbers_table(generated),
        Text(""),
        _find_line(generated),
        Text.assemble(("Grading: ", "bold"), generated.grading),
        Text(""),
        Text("Wrote", style="bold"),
        _written(sets, key, len(generated.quantities)),
    ]
    seed_line = _seed_line(generated.seed, seed_given)
    if seed_line is not None:
        parts.append(seed_line)
    parts += [
        Text(""),
        Text(f"Next: work it by hand, replace the ~ in {sets[1]} with your numbers, then run",
             style="bold"),
        Text(f"  backcheck verify {_shell(sets[1])}", style="bold cyan"),
    ]
    return Group(*parts)


def many_view(generated: list[Any], sets: list[tuple[str, str, str]], *, key: bool,
              seed_given: bool) -> Group:
    from ..generate import describe

    first = generated[0]
    parts: list[Any] = [
        Text(f"{len(generated)} practice problems ({first.spec.difficulty}): "
             f"{describe(first.spec)}", style="bold"),
        Text(""),
        diagram(first),
        Text(""),
    ]
    table = Table(title="Wrote", title_justify="left", title_style="bold", pad_edge=False)
    table.add_column("#", justify="right")
    table.add_column("seed", justify="right")
    table.add_column("problem", style="green", no_wrap=True)
    table.add_column("answer sheet", style="green", no_wrap=True)
    if key:
        table.add_column("key", style="green", no_wrap=True)
    for i, (item, paths) in enumerate(zip(generated, sets, strict=True), start=1):
        problem, sheet, key_path = paths
        row = [str(i), str(item.seed), problem, sheet] + ([key_path] if key else [])
        table.add_row(*row)
    parts.append(table)
    parts.append(Text.assemble(("Grading: ", "bold"), first.grading))
    seed_line = _seed_line(first.seed, seed_given)
    if seed_line is not None:
        parts.append(seed_line)
    sheets = [s[1] for s in sets]
    parts += [
        Text(""),
        Text("Next: hand out the problems; grade a sheet with", style="bold"),
        Text(f"  backcheck verify {_shell(sheets[0])}", style="bold cyan"),
    ]
    if len(sheets) > 1:
        parts.append(Text("or all of them at once:", style="bold"))
        parts.append(Text("  backcheck verify " + " ".join(_shell(s) for s in sheets[:3])
                          + (" …" if len(sheets) > 3 else ""), style="bold cyan"))
    return Group(*parts)
