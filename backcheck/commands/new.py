"""``backcheck new``: write a fresh practice problem, its answer sheet (and key)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def new(
        output: str = typer.Option(
            "practice.yaml", "--output", "-o", metavar="FILE",
            help="The problem file to write; the sheet is <stem>.answers.yaml, the key "
                 "<stem>.key.yaml."),
        seed: int = typer.Option(
            None, "--seed", min=0,
            help="Same seed and options, byte-identical files. Without it one is picked "
                 "and printed."),
        difficulty: str = typer.Option(
            None, "--difficulty",
            help="easy (2-2-1 relu/identity, mse, integers; the default), medium (3-layer "
                 "relu net, softmax cross-entropy, one step), hard (sigmoid or tanh, a batch "
                 "of 2, one step)."),
        layers: str = typer.Option(
            None, "--layers", help="Sizes including the inputs, e.g. 2,3,1."),
        hidden_activation: str = typer.Option(
            None, "--hidden-activation", help="relu, identity, leaky_relu, sigmoid or tanh."),
        output_activation: str = typer.Option(
            None, "--output-activation",
            help="identity, relu, sigmoid, tanh or softmax."),
        loss: str = typer.Option(
            None, "--loss", help="mse, sse, half_sse, cross_entropy or bce."),
        batch: int = typer.Option(None, "--batch", help="Examples in the batch."),
        convention: str = typer.Option(
            None, "--convention", help="Wx (W is out × in) or xW (x @ W, W is in × out)."),
        learning_rate: str = typer.Option(
            None, "--learning-rate",
            help="Also ask for one gradient-descent step with this rate, e.g. 0.1."),
        key: bool = typer.Option(
            False, "--key", help="Also write the full answer key (<stem>.key.yaml)."),
        count: int = typer.Option(
            None, "--count",
            help="Write K variants <stem>-1.yaml … (seeds seed, seed+1, …), each with its "
                 "sheet (and key)."),
        force: bool = typer.Option(False, "--force", "-f", help="Overwrite existing files."),
    ) -> None:
        """Write a fresh practice problem and an answer sheet to fill in by hand."""
        from ..errors import BackcheckError
        from ..files import check_name, check_writable, write_files
        from ..generate import (
            MAX_COUNT,
            MAX_SEED,
            GenerateOptions,
            generate,
            new_seed,
            resolve,
            target_paths,
        )
        from ..render.console import stdout
        from ..render.new_view import generated_view, many_view

        if count is not None and not 1 <= count <= MAX_COUNT:
            raise BackcheckError(f"--count must be from 1 to {MAX_COUNT} (got {count})",
                                 file="backcheck new")
        options = GenerateOptions(
            difficulty=difficulty, layers=layers, hidden_activation=hidden_activation,
            output_activation=output_activation, loss=loss, batch=batch,
            convention=convention, learning_rate=learning_rate)
        resolve(options)  # every impossible option fails here, before any file is touched
        seed_given = seed is not None
        base = seed if seed_given else new_seed()
        check_name(output)
        sets = target_paths(output, count)
        if base + len(sets) - 1 > MAX_SEED:
            raise BackcheckError(f"--seed must be at most {MAX_SEED - len(sets) + 1}",
                                 file="backcheck new")
        paths = [p for problem, sheet, key_path in sets
                 for p in (problem, sheet) + ((key_path,) if key else ())]
        check_writable(paths, force=force)

        generated = []
        for i, (problem_path, _, _) in enumerate(sets):
            options.seed = base + i
            options.problem_file = problem_path
            generated.append(generate(options))
        files: list[tuple[str, str]] = []
        for item, (problem_path, sheet_path, key_path) in zip(generated, sets, strict=True):
            files += [(problem_path, item.problem_text), (sheet_path, item.sheet_text)]
            if key:
                files.append((key_path, item.key_text))
        write_files(files, force=force)  # all or nothing; a file appearing meanwhile stays

        if count is None:
            stdout.print(generated_view(generated[0], sets[0], key=key, seed_given=seed_given))
        else:
            stdout.print(many_view(generated, sets, key=key, seed_given=seed_given))
