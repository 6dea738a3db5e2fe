"""The command line as a whole: every command documents itself and takes `--skills`."""

from __future__ import annotations

import click
import pytest
import typer
from typer.testing import CliRunner

from vitalskills.cli import app

runner = CliRunner()


def _commands() -> list[tuple[str, ...]]:
    """Return the path of every command and group, found by walking the typer app."""
    paths: list[tuple[str, ...]] = []

    def walk(command: click.Command, path: tuple[str, ...]) -> None:
        paths.append(path)
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk(sub, (*path, name))

    walk(typer.main.get_command(app), ())
    return paths


@pytest.mark.parametrize("path", _commands(), ids=lambda p: " ".join(p) or "vitalskills")
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.stdout
    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]
    assert command.help and command.help.strip(), f"`{' '.join(path)}` has no help text"


@pytest.mark.parametrize(
    "path", [("check",), ("compile",), ("fmt",), ("run",), ("eval",), ("skills", "list")]
)
def test_commands_that_read_skills_take_skills_dirs(path: tuple[str, ...]) -> None:
    assert "--skills" in runner.invoke(app, [*path, "--help"]).stdout
