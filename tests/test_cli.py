"""The command line as a whole: every command documents itself and takes `--skills`."""

from __future__ import annotations

from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from vitalskills.cli import app

runner = CliRunner()


def _command(path: tuple[str, ...]) -> Any:
    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]
    return command


def _commands() -> list[tuple[str, ...]]:
    """Return the path of every command and group, found by walking the typer app.

    Groups are recognised by their `commands`, not by `click.Group`: typer builds its
    commands on its own copy of click's classes.
    """
    paths: list[tuple[str, ...]] = []

    def walk(command: Any, path: tuple[str, ...]) -> None:
        paths.append(path)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, (*path, name))

    walk(typer.main.get_command(app), ())
    return paths


def test_the_walk_finds_every_command() -> None:
    paths = _commands()
    assert {("run",), ("train", "bc"), ("train", "residual"), ("skills", "verify")} <= set(paths)
    assert len(paths) > 20


@pytest.mark.parametrize("path", _commands(), ids=lambda p: " ".join(p) or "vitalskills")
def test_every_option_and_argument_has_help(path: tuple[str, ...]) -> None:
    undocumented = [
        param.opts[0]
        for param in _command(path).params
        if not getattr(param, "hidden", False) and not (getattr(param, "help", None) or "").strip()
    ]
    assert not undocumented, f"`{' '.join(path)}`: no help for {', '.join(undocumented)}"


@pytest.mark.parametrize("path", _commands(), ids=lambda p: " ".join(p) or "vitalskills")
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.stdout
    command = _command(path)
    assert command.help and command.help.strip(), f"`{' '.join(path)}` has no help text"


@pytest.mark.parametrize(
    "path", [("check",), ("compile",), ("fmt",), ("run",), ("eval",), ("skills", "list")]
)
def test_commands_that_read_skills_take_skills_dirs(path: tuple[str, ...]) -> None:
    assert "--skills" in runner.invoke(app, [*path, "--help"]).stdout


def test_version_option_and_command_print_the_installed_version() -> None:
    from importlib.metadata import version

    for args in (["--version"], ["version"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert result.stdout.strip() == f"vitalskills {version('vitalskills')}"
