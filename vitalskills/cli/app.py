"""The typer app and what every command shares: consoles, `--skills`, the error boundary."""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from vitalskills.errors import UsageError, VitalskillsError

app = typer.Typer(
    name="vitalskills",
    help="Compose, check and run precise contact-rich robot skills (ViTaL).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

console = Console()
err_console = Console(stderr=True)

SkillsDirs = Annotated[
    list[Path] | None,
    typer.Option(
        "--skills",
        help="Extra skill library directory (repeatable); searched before the defaults.",
    ),
]


def command_line(ctx: typer.Context) -> str:
    """Rebuild the invoked command with every option that differs from its default."""
    words = ctx.command_path.split()
    words[0] = "vitalskills"
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        if value is None or value == param.default or not param.opts:
            continue
        if value is True:
            words.append(param.opts[0])
        elif isinstance(value, list | tuple):
            for item in value:
                words += [param.opts[0], str(item)]
        elif value is not False:
            words += [param.opts[0], str(value)]
    return shlex.join(words)


@contextmanager
def user_errors(exit_code: int = 1) -> Iterator[None]:
    """Print a user's mistake as a diagnostic (no traceback) and exit non-zero.

    Usage errors always exit 2; other project errors exit `exit_code`.
    """
    try:
        yield
    except UsageError as error:
        err_console.print(error.render(), markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except VitalskillsError as error:
        err_console.print(error.render(), markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(exit_code) from None


@app.callback()
def _root() -> None:
    """Compose, check and run precise contact-rich robot skills (ViTaL)."""


@app.command()
def version() -> None:
    """Print the installed vitalskills version."""
    from importlib.metadata import version as package_version

    console.print(f"vitalskills {package_version('vitalskills')}")
