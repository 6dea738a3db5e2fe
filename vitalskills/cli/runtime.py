"""`vitalskills run`: execute a task file (for now on the dry-run backend)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from vitalskills.cli.app import SkillsDirs, app, console, err_console, user_errors
from vitalskills.errors import UsageError


@app.command()
def run(
    file: Annotated[Path, typer.Argument(help="Task file (.vtl, .yaml or .yml).")],
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Walk the plan on a kinematic robot with placeholder targets; "
            "validates, does not simulate.",
        ),
    ] = False,
    skills: SkillsDirs = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a param: NAME=VALUE (repeatable)."),
    ] = None,
    json_: Annotated[
        bool, typer.Option("--json", help="Print the trace as JSON lines instead of the display.")
    ] = False,
    trace: Annotated[
        Path | None, typer.Option("--trace", help="Also write the JSONL trace to this file.")
    ] = None,
    not_found: Annotated[
        list[str] | None,
        typer.Option(
            "--not-found",
            help="Dry run: report this locate query as not found (repeatable), "
            "to walk `else` branches.",
        ),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", min=0.001, help="Halt and fail the run after this many seconds."),
    ] = None,
) -> None:
    """Run a task: exit 0 when it succeeds, 1 when it fails, 2 when it does not check."""
    from vitalskills.lang import parse_override
    from vitalskills.runtime.display import LiveDisplay
    from vitalskills.runtime.session import dry_run as walk
    from vitalskills.runtime.session import plan_file
    from vitalskills.runtime.trace import TraceWriter

    with user_errors(exit_code=2):
        if not dry_run:
            raise UsageError(
                "the simulator backend is not available yet, so `run` can only do a dry run",
                hint=f"run `vitalskills run {file} --dry-run` to check and walk the plan",
            )
        overrides = dict(parse_override(item) for item in set_ or [])
        plan = plan_file(file, skills_dirs=skills or [], overrides=overrides)
        subscribers = [TraceWriter(trace)] if trace else []
    if json_:
        subscribers.append(TraceWriter(sys.stdout))
    else:
        err_console.print(
            "[yellow]dry run:[/] a kinematic robot, placeholder targets and skills that "
            "succeed by declaration; this validates the plan, it does not simulate it"
        )
        subscribers.append(LiveDisplay(console))
    with user_errors(exit_code=1):
        try:
            result = walk(
                plan,
                subscribers=subscribers,
                not_found=not_found or [],
                timeout=timeout,
                source=str(file),
            )
        except KeyboardInterrupt:
            err_console.print("interrupted: the plan was halted and the robot stopped")
            raise typer.Exit(130) from None
    raise typer.Exit(0 if result.ok else 1)
