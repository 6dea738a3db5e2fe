"""The typer app and what every command shares: consoles, `--skills`, the error boundary."""

from __future__ import annotations

import shlex
import signal
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from enum import IntEnum
from pathlib import Path
from typing import Annotated, Any

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

# Piped or redirected, output is not wrapped at 80 columns: a hint split in two cannot be
# copied and pasted. In a terminal it wraps at the terminal's width.
console = Console(soft_wrap=not sys.stdout.isatty())
err_console = Console(stderr=True, soft_wrap=not sys.stderr.isatty())

#: How a command that takes `--robot` connects to it (`vitalskills.bridge.client.connect`).
ConnectTimeoutOption = Annotated[
    float, typer.Option("--connect-timeout", min=0.001, help="Wait this long for --robot, s.")
]
CurveSecretOption = Annotated[
    Path | None, typer.Option(help="This client's `.key_secret` file (CurveZMQ).")
]
CurveServerOption = Annotated[
    Path | None, typer.Option(help="The server's public `.key` file (CurveZMQ).")
]

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


class ExitCode(IntEnum):
    """What a command exits with; `vitalskills run --help` and docs/running.md list them."""

    OK = 0
    FAILED = 1  # the task ran and failed, or an error stopped the command
    USAGE = 2  # a usage or check error: nothing ran
    UNREACHABLE = 3  # no robot answered at the address given: nothing ran
    INTERRUPTED = 130  # Ctrl-C or SIGTERM


ExitCodes = Mapping[type[VitalskillsError], int]
"""Exit codes by error class; an error takes the code of its most specific class listed."""


def key_values(pairs: list[str] | None, option: str, example: str) -> dict[str, str]:
    """Parse repeated `--option KEY=VALUE` pairs; a bad pair names the option and an example."""
    options: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.isidentifier():
            raise UsageError(f"{option} `{pair}` is not KEY=VALUE", hint=f"e.g. {option} {example}")
        options[key] = value
    return options


def exit_code_of(error: VitalskillsError, codes: ExitCodes, default: int) -> int:
    """The code of the most specific class of `error` that `codes` lists, else `default`."""
    return next((codes[kind] for kind in type(error).__mro__ if kind in codes), default)


@contextmanager
def user_errors(exit_code: int = ExitCode.FAILED, codes: ExitCodes | None = None) -> Iterator[None]:
    """Print a user's mistake as a diagnostic (no traceback) and exit non-zero.

    Args:
        exit_code: the code of project errors that `codes` does not list.
        codes: exit codes by error class, on top of usage errors' 2.
    """
    try:
        yield
    except VitalskillsError as error:
        err_console.print(error.render(), markup=False, highlight=False, soft_wrap=True)
        table = {UsageError: ExitCode.USAGE, **(codes or {})}
        raise typer.Exit(int(exit_code_of(error, table, exit_code))) from None


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Let SIGTERM take the Ctrl-C path, so a killed command stops the robot as Ctrl-C does."""

    def interrupt(*_: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def renamed(new: str, value: Any, old: str, old_value: Any) -> Any:
    """The value of option `new`, or of its old name `old` (kept hidden for one release)
    with a deprecation note; both given is a usage error."""
    if old_value is None:
        return value
    if value is not None:
        raise UsageError(f"{old} is the old name of {new}: give only {new}")
    err_console.print(
        f"note: {old} is now {new}; the old name goes away in the next release", markup=False
    )
    return old_value


def _installed_version() -> str:
    from importlib.metadata import version as package_version

    return f"vitalskills {package_version('vitalskills')}"


def _print_version(given: bool) -> None:
    if given:
        console.print(_installed_version())
        raise typer.Exit()


@app.callback()
def _root(
    _version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the installed vitalskills version and exit.",
        ),
    ] = False,
) -> None:
    """Compose, check and run precise contact-rich robot skills (ViTaL)."""


@app.command()
def version() -> None:
    """Print the installed vitalskills version."""
    console.print(_installed_version())
