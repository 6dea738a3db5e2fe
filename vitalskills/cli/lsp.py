"""`vitalskills lsp`: the language server that editors start for task files."""

from __future__ import annotations

from typing import Annotated

import typer

from vitalskills.cli.app import SkillsDirs, app, user_errors


@app.command()
def lsp(
    skills: SkillsDirs = None,
    stdio: Annotated[
        bool,
        typer.Option(
            "--stdio",
            help="Talk LSP over stdin and stdout: the only transport, and the default "
            "(accepted because editors' clients pass it).",
        ),
    ] = True,
) -> None:
    """Run the language server for .vtl and task YAML files (docs/editors.md).

    Diagnostics are those of `vitalskills check` with the same `--skills`; an editor
    starts this command and talks to it over stdin and stdout.
    """
    from vitalskills.lsp import serve

    with user_errors():
        serve(skills)
