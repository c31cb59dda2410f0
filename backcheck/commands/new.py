"""``backcheck new``: write a fresh practice problem, its answer sheet (and key)."""

from __future__ import annotations

import typer

from . import options as shared


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
        layers: str = shared.problem("layers"),
        hidden_activation: str = shared.problem("hidden_activation"),
        output_activation: str = shared.problem("output_activation"),
        loss: str = shared.problem("loss"),
        batch: int = shared.problem("batch"),
        convention: str = shared.problem("convention"),
        learning_rate: str = shared.problem("learning_rate"),
        key: bool = typer.Option(
            False, "--key", help="Also write the full answer key (<stem>.key.yaml)."),
        count: int = typer.Option(
            None, "--count",
            help="Write K variants <stem>-1.yaml … (seeds seed, seed+1, …), each with its "
                 "sheet (and key)."),
        roster: str = shared.file_option(
            "--roster", "One variant per student of a CSV roster (a name or student column, "
                        "an optional id): <stem>-<id or name>.yaml …, seeds recorded in "
                        "<stem>.roster.csv."),
        moodle: str = shared.file_option(
            "--moodle", "Also write the set as Moodle XML: one Cloze question per variant, a "
                        "NUMERICAL blank with the sheet's tolerance per element."),
        prairielearn: str = shared.file_option(
            "--prairielearn", "Also write the set as a PrairieLearn question folder "
                              "(info.json, question.html, server.py choosing a variant).",
            metavar="DIR"),
        force: bool = typer.Option(False, "--force", "-f", help="Overwrite existing files."),
        kind: str = typer.Option(
            None, "--kind",
            help="A tensor problem instead of a network: batch_norm, attention (one head) "
                 "or rnn (one step)."),
    ) -> None:
        """Write a fresh practice problem and an answer sheet to fill in by hand."""
        from ..errors import BackcheckError

        if kind is not None:
            # a tensor problem is one problem of its own shape: the network options and
            # the class-set options do not apply, and are refused rather than ignored
            given = [flag for flag, value in (
                ("--difficulty", difficulty), ("--layers", layers),
                ("--hidden-activation", hidden_activation),
                ("--output-activation", output_activation), ("--loss", loss),
                ("--batch", batch), ("--convention", convention),
                ("--learning-rate", learning_rate), ("--count", count),
                ("--roster", roster), ("--moodle", moodle),
                ("--prairielearn", prairielearn)) if value is not None]
            from ..generate_tensor import KINDS

            if given and kind in KINDS:
                raise BackcheckError(
                    f"--kind writes one {kind} problem: {', '.join(given)} "
                    f"{'is' if len(given) == 1 else 'are'} for network problems only",
                    file="backcheck new", hint="leave out --kind for a class set of "
                                               "network problems")
            _new_tensor(kind, output, seed, key, force)
            return
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

        students = None
        if roster is not None:
            from ..exports import read_roster

            if count is not None:
                raise BackcheckError("--roster gives one variant per student; leave out "
                                     "--count", file="backcheck new")
            students = read_roster(str(roster))  # a bad row fails here, nothing written
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
        if students is not None:
            from ..generate import strip_yaml_suffix

            stem = strip_yaml_suffix(output)
            suffix = output[len(stem):] or ".yaml"
            sets = [target_paths(f"{stem}-{student.slug}{suffix}", None)[0]
                    for student in students]
        else:
            sets = target_paths(output, count)
        if base + len(sets) - 1 > MAX_SEED:
            raise BackcheckError(f"--seed must be at most {MAX_SEED - len(sets) + 1}",
                                 file="backcheck new")
        paths = [p for problem, sheet, key_path in sets
                 for p in (problem, sheet) + ((key_path,) if key else ())]
        roster_path = None
        if students is not None:
            roster_path = f"{strip_yaml_suffix(output)}.roster.csv"
            paths.append(roster_path)
        if moodle is not None:
            paths.append(str(moodle))
        pl_folder = str(prairielearn) if prairielearn is not None else None
        if pl_folder is not None:
            import os

            if os.path.lexists(pl_folder) and not os.path.isdir(pl_folder):
                raise BackcheckError("--prairielearn names a folder, and this is a file",
                                     file=pl_folder)
            parent = os.path.dirname(os.path.abspath(pl_folder))
            if not os.path.isdir(parent):
                raise BackcheckError("the folder to write into does not exist", file=pl_folder)
        pl_paths = [] if pl_folder is None else [
            os.path.join(pl_folder, n) for n in ("info.json", "question.html", "server.py")]
        if len(set(paths + pl_paths)) != len(paths + pl_paths):
            raise BackcheckError("two of the files to write have the same name",
                                 file="backcheck new", hint="choose another -o")
        check_writable(paths + (pl_paths if pl_folder and os.path.isdir(pl_folder) else []),
                       force=force)

        generated = []
        for i, (problem_path, _, _) in enumerate(sets):
            options.seed = base + i
            options.problem_file = problem_path
            generated.append(generate(options))
        files: list[tuple[str, str]] = []
        for i, (item, (problem_path, sheet_path, key_path)) in enumerate(
                zip(generated, sets, strict=True)):
            sheet_text = item.sheet_text
            if students is not None:
                from ..exports import with_student

                sheet_text = with_student(sheet_text, students[i].name)
            files += [(problem_path, item.problem_text), (sheet_path, sheet_text)]
            if key:
                files.append((key_path, item.key_text))
        if students is not None:
            from ..exports import roster_csv

            files.append((roster_path, roster_csv(students, generated, sets, key=key)))
        if moodle is not None:
            from ..exports import moodle_xml

            files.append((str(moodle), moodle_xml(generated)))
        made_folder = False
        if pl_folder is not None:
            from ..exports import prairielearn_files

            for name, text in prairielearn_files(generated).items():
                files.append((os.path.join(pl_folder, name), text))
            if not os.path.isdir(pl_folder):
                try:
                    os.mkdir(pl_folder)
                except OSError as error:
                    raise BackcheckError(f"cannot make the folder: {error.strerror}",
                                         file=pl_folder) from None
                made_folder = True
        try:
            write_files(files, force=force)  # all or nothing; a file appearing meanwhile stays
        except BaseException:
            if made_folder:
                try:
                    os.rmdir(pl_folder)  # type: ignore[arg-type]
                except OSError:
                    pass
            raise

        if count is None and students is None:
            stdout.print(generated_view(generated[0], sets[0], key=key, seed_given=seed_given))
        else:
            stdout.print(many_view(generated, sets, key=key, seed_given=seed_given))
        from ..text import escape

        for path in (roster_path, moodle, pl_folder):
            if path is not None:
                stdout.print(f"wrote {escape(str(path))}", style="dim")


def _new_tensor(kind: str, output: str, seed: int | None, key: bool, force: bool) -> None:
    """``new --kind``: one tensor practice problem (FORMAT §7), its sheet and key."""
    from ..files import check_writable, write_atomic
    from ..generate import MAX_SEED, new_seed, target_paths
    from ..generate_tensor import generate_tensor
    from ..render.console import stdout

    seed_given = seed is not None
    seed = seed if seed_given else new_seed()
    if seed > MAX_SEED:
        from ..errors import BackcheckError

        raise BackcheckError(f"--seed must be at most {MAX_SEED}", file="backcheck new")
    problem_path, sheet_path, key_path = target_paths(str(output), None)[0]
    paths = [problem_path, sheet_path] + ([key_path] if key else [])
    check_writable(paths, force=force)
    item = generate_tensor(kind, seed, problem_path)
    check_writable(paths, force=force)
    write_atomic(problem_path, item.problem_text)
    write_atomic(sheet_path, item.sheet_text)
    if key:
        write_atomic(key_path, item.key_text)
    from rich.text import Text

    written = ", ".join(paths)
    stdout.print(Text(f"wrote {written}: a {kind.replace('_', ' ')} problem with "
                      f"{len(item.quantities)} quantities to work"
                      + ("" if seed_given else f" (seed {seed}; --seed {seed} repeats it)")))
