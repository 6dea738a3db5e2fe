"""`vitalskills check`, `compile` and `fmt`: the task language on the command line."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from vitalskills.cli.app import SkillsDirs, app, console, err_console, user_errors
from vitalskills.errors import UsageError

if TYPE_CHECKING:
    from vitalskills.skills import SkillLibrary

Files = Annotated[list[Path], typer.Argument(help="Task files (.vtl, .yaml or .yml).")]
Overrides = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a param: NAME=VALUE (repeatable)."),
]
RobotCaps = Annotated[
    Path | None,
    typer.Option(
        "--robot-caps",
        help="YAML/JSON file of the robot's capabilities; skills' sensors are checked against it.",
    ),
]


def _compile(file: Path, library: SkillLibrary, set_: list[str] | None, robot: Path | None):
    """Compile and check one file; print its warnings (they do not fail it)."""
    from vitalskills.errors import VitalskillsError
    from vitalskills.lang import compile_task, parse_override
    from vitalskills.lang.robotcaps import load_capabilities

    overrides = dict(parse_override(item) for item in set_ or [])
    caps = load_capabilities(robot) if robot else None
    warnings: list[VitalskillsError] = []
    task = compile_task(file, library=library, robot=caps, overrides=overrides, warnings=warnings)
    for warning in warnings:
        err_console.print(warning.render(), markup=False, highlight=False, soft_wrap=True)
    return task


def _library(skills: list[Path] | None) -> SkillLibrary:
    """One library for every file of a command, so a broken manifest is reported once."""
    from vitalskills.skills import default_library

    return default_library(skills or [])


@app.command()
def check(
    files: Files,
    skills: SkillsDirs = None,
    set_: Overrides = None,
    robot_caps: RobotCaps = None,
) -> None:
    """Check task files: exit 0 when all are fine, 1 when any has errors, 2 on misuse."""
    from vitalskills.lang import CheckFailed

    failed = False
    with user_errors(exit_code=1):
        library = _library(skills)
        for file in files:
            try:
                _compile(file, library, set_, robot_caps)
            except CheckFailed as error:
                err_console.print(error.render(), markup=False, highlight=False, soft_wrap=True)
                failed = True
            else:
                console.print(f"{file}: ok", markup=False, highlight=False)
    if failed:
        raise typer.Exit(1)


@app.command("compile")
def compile_(
    file: Annotated[Path, typer.Argument(help="Task file (.vtl, .yaml or .yml).")],
    json_: Annotated[
        bool, typer.Option("--json", help="Print the checked IR as JSON (docs/language.md).")
    ] = False,
    skills: SkillsDirs = None,
    set_: Overrides = None,
    robot_caps: RobotCaps = None,
) -> None:
    """Parse and check a task file; print the checked IR (`--json`) or a summary."""
    with user_errors(exit_code=1):
        task = _compile(file, _library(skills), set_, robot_caps)
    if json_:
        typer.echo(task.model_dump_json(indent=2))
    else:
        console.print(
            f"{file}: task `{task.name}`, {len(task.params)} params, "
            f"{len(task.body)} top-level statements: ok",
            markup=False,
            highlight=False,
        )


@app.command()
def fmt(
    files: Files,
    to: Annotated[
        str | None,
        typer.Option("--to", help="Surface to print: vtl or yaml (default: the file's own)."),
    ] = None,
    write: Annotated[
        bool,
        typer.Option(
            "--write",
            help="Write the result to FILE (or beside it, with the new suffix, for --to).",
        ),
    ] = False,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Write nothing; exit 1 and print a diff for each file not in canonical form "
            "(for CI).",
        ),
    ] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="With --write --to: overwrite an existing twin file."),
    ] = False,
    skills: SkillsDirs = None,
) -> None:
    """Print task files in canonical form, or convert between .vtl and YAML losslessly.

    Every statement, value and comment is kept; includes are not inlined. `--skills` is
    accepted like everywhere else, but formatting needs no skills.
    """
    import difflib

    from vitalskills.lang.format import format_file
    from vitalskills.lang.loader import surface_of

    unformatted = 0
    with user_errors(exit_code=1):
        if to not in (None, "vtl", "yaml"):
            raise UsageError(f"`--to {to}` is not a surface", hint="use `--to vtl` or `--to yaml`")
        if check and (write or to is not None):
            raise UsageError(
                "--check compares each file with its own canonical form",
                hint="leave out --write and --to",
            )
        for file in files:
            text = format_file(file, to)  # type: ignore[arg-type]
            if check:
                own = file.read_text(encoding="utf-8")
                if own != text:
                    unformatted += 1
                    diff = difflib.unified_diff(
                        own.splitlines(keepends=True), text.splitlines(keepends=True),
                        f"{file}", f"{file} (formatted)",
                    )  # fmt: skip
                    typer.echo("".join(diff), nl=False)
                    err_console.print(f"would reformat {file}", markup=False, highlight=False)
                continue
            if not write:
                typer.echo(text, nl=False)
                continue
            target = file if to in (None, surface_of(file)) else file.with_suffix(f".{to}")
            if target != file and target.exists() and not force:
                raise UsageError(
                    f"{target} exists; --write would replace it",
                    hint="add --force to overwrite it, or print with `fmt --to` and compare",
                )
            target.write_text(text, encoding="utf-8")
            err_console.print(f"wrote {target}", markup=False, highlight=False)
    if check:
        err_console.print(
            f"{unformatted} of {len(files)} file{'s' if len(files) != 1 else ''} would be "
            "reformatted" if unformatted else f"{len(files)} formatted", markup=False,
        )  # fmt: skip
        if unformatted:
            raise typer.Exit(1)


tasks_app = typer.Typer(
    name="tasks", help="The example tasks shipped with vitalskills.", no_args_is_help=True
)


@tasks_app.command("list")
def tasks_list() -> None:
    """List the example tasks: file, task name and description (includable by path)."""
    from rich.table import Table

    from vitalskills.lang import parse_file
    from vitalskills.lang.grammar import examples_dir
    from vitalskills.lang.loader import TASK_SUFFIXES

    root = examples_dir()
    table = Table("file", "task", "description", title=f"example tasks in {root}")
    with user_errors(exit_code=1):
        for path in sorted(p for p in root.rglob("*") if p.suffix in TASK_SUFFIXES):
            task = parse_file(path, includes=False)
            table.add_row(str(path.relative_to(root)), task.name, task.description or "")
    console.print(table)


@tasks_app.command("show")
def tasks_show(
    name: Annotated[str, typer.Argument(help="An example's file, as `tasks list` shows it.")],
) -> None:
    """Print an example task file (copy it to start a task of your own)."""
    from vitalskills.lang.grammar import examples_dir
    from vitalskills.lang.loader import TASK_SUFFIXES

    path = examples_dir() / name
    with user_errors(exit_code=1):
        inside = path.resolve().is_relative_to(examples_dir().resolve())
        if not inside or not path.is_file() or path.suffix not in TASK_SUFFIXES:
            raise UsageError(
                f"no example task `{name}`", hint="see `vitalskills tasks list` for their files"
            )
        typer.echo(path.read_text(encoding="utf-8"), nl=False)
