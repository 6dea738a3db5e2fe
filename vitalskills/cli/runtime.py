"""`vitalskills run` (simulator, robot or dry run) and `vitalskills report`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from vitalskills.cli.app import (
    ExitCode,
    ExitCodes,
    SkillsDirs,
    app,
    console,
    err_console,
    renamed,
    sigterm_as_interrupt,
    user_errors,
)
from vitalskills.cli.bench import refuse_given
from vitalskills.cli.sim import (
    ConditionName,
    DistractorsOption,
    GroundingErrorOption,
    GroundingMissOption,
)
from vitalskills.errors import UsageError


def _run_exit_codes() -> ExitCodes:
    """How `run` exits on an error, by its class; any other project error exits 1."""
    from vitalskills.app.run import RobotNotConnected
    from vitalskills.lang import CheckFailed
    from vitalskills.runtime.plan import PlanError

    return {
        CheckFailed: ExitCode.USAGE,
        PlanError: ExitCode.USAGE,
        UsageError: ExitCode.USAGE,
        RobotNotConnected: ExitCode.UNREACHABLE,
    }


@app.command()
def run(
    file: Annotated[Path, typer.Argument(help="Task file (.vtl, .yaml or .yml).")],
    robot: Annotated[
        str | None,
        typer.Option(
            "--robot",
            help="Bridge address of a robot (tcp://HOST:PORT); without it the built-in "
            "simulator is started behind the bridge.",
        ),
    ] = None,
    condition: Annotated[
        ConditionName | None,
        typer.Option(help="Simulator condition (default: canonical)."),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Simulator seed: scene layout, distractors (default: 0).")
    ] = None,
    distractors: DistractorsOption = None,
    sim_task: Annotated[
        str | None,
        typer.Option(
            "--task",
            help="Simulator scene: a task, or two joined by `+` (default: chosen from the "
            "task's objects and skills).",
        ),
    ] = None,
    sim_task_old: Annotated[str | None, typer.Option("--sim-task", hidden=True)] = None,
    grounder: Annotated[
        str | None,
        typer.Option(help="Default grounder for `locate` (simulator: `sim`; robot: configured)."),
    ] = None,
    grounding_error: GroundingErrorOption = None,
    grounding_miss: GroundingMissOption = None,
    track: Annotated[
        Path | None,
        typer.Option(
            help="A SAM 2 / EdgeTAM video model folder: the default grounder (an owlv2-sam "
            "one, e.g. --grounder fast) follows what it found to later locates.",
        ),
    ] = None,
    realtime: Annotated[
        bool,
        typer.Option(help="Pace the simulator at its control rate instead of as fast as it steps."),
    ] = False,
    record: Annotated[
        Path | None,
        typer.Option(help="Record the run here: trace, video, signals plot, summary, run.rrd."),
    ] = None,
    rerun: Annotated[
        bool,
        typer.Option("--rerun", help="Stream the run live to a rerun viewer (started here)."),
    ] = False,
    rerun_url: Annotated[
        str | None,
        typer.Option(
            "--rerun-url",
            help="Stream the run live to the rerun viewer at this address instead "
            "(rerun+http://HOST:PORT/proxy).",
        ),
    ] = None,
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
        bool, typer.Option("--json", help="Print a JSON summary instead of the live display.")
    ] = False,
    trace: Annotated[
        Path | None,
        typer.Option("--trace", help="Also write the JSONL trace to this file (`-`: stdout)."),
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
    connect_timeout: Annotated[
        float,
        typer.Option(
            "--connect-timeout",
            min=0.001,
            help="With --robot: wait this many seconds for its bridge server to answer "
            "(never longer than --timeout).",
        ),
    ] = 5.0,
) -> None:
    """Run a task on the simulator, a robot (--robot) or a kinematic stand-in (--dry-run).

    Exit codes:
    0: the task succeeded;
    1: the task failed, or an error stopped it (a robot lost during the run included);
    2: a usage or check error, nothing ran;
    3: no bridge server answered at --robot within --connect-timeout, nothing ran;
    130: interrupted (Ctrl-C or SIGTERM), the plan halted and the robot stopped.
    """
    from vitalskills.lang import parse_override
    from vitalskills.perception.noisy_oracle import grounding_parameters
    from vitalskills.report.rerun_log import SPAWN
    from vitalskills.report.summary import SummaryCollector
    from vitalskills.runtime.display import LiveDisplay
    from vitalskills.runtime.trace import TraceWriter

    collector = SummaryCollector()
    subscribers: list[Any] = [collector]
    with user_errors(exit_code=ExitCode.USAGE):
        sim_task = renamed("--task", sim_task, "--sim-task", sim_task_old)
        overrides = dict(parse_override(item) for item in set_ or [])
        if trace is not None:
            subscribers.append(TraceWriter(sys.stdout if str(trace) == "-" else trace))
    if not json_:
        subscribers.append(LiveDisplay(console))
    if dry_run:
        with user_errors(exit_code=ExitCode.USAGE):
            refuse_given(
                {
                    "--robot": robot, "--condition": condition, "--seed": seed,
                    "--distractors": distractors, "--task": sim_task, "--grounder": grounder,
                    "--grounding-error": grounding_error, "--grounding-miss": grounding_miss,
                    "--track": track, "--record": record, "--realtime": realtime or None,
                    "--rerun": rerun or None, "--rerun-url": rerun_url,
                },
                ("does not apply", "do not apply"),
                "to a dry run: it walks the plan on a kinematic stand-in, with no simulator, "
                "robot or grounder",
                hint="leave them out, or run without --dry-run",
            )  # fmt: skip
        _dry_run(file, skills or [], overrides, subscribers, not_found or [], timeout, json_)
        return
    if not_found:
        raise typer.BadParameter("applies only with --dry-run", param_hint="--not-found")
    with user_errors(exit_code=ExitCode.USAGE):
        grounding = grounding_parameters(grounding_error, grounding_miss)
    _simulate_or_drive(
        file,
        subscribers,
        record=record,
        live=rerun_url or (SPAWN if rerun else None),
        options=dict(
            robot=robot,
            condition=(condition or ConditionName.canonical).value,
            seed=seed or 0,
            distractors=distractors,
            sim_task=sim_task,
            grounder=grounder,
            grounding=grounding,
            track=track,
            skills_dirs=list(skills or []),
            overrides=overrides,
            realtime=realtime,
            timeout=timeout,
            connect_timeout=connect_timeout,
        ),
    )
    if json_:
        raise _print_summary(collector)
    raise _exit(collector.ok)


def _exit(ok: bool) -> typer.Exit:
    return typer.Exit(ExitCode.OK if ok else ExitCode.FAILED)


def _print_summary(collector: Any, **extra: Any) -> typer.Exit:
    console.print_json(json.dumps(collector.summary(**extra)))
    return _exit(collector.ok)


def _dry_run(
    file: Path,
    skills: list[Path],
    overrides: dict[str, str],
    subscribers: list[Any],
    not_found: list[str],
    timeout: float | None,
    json_: bool,
) -> None:
    from vitalskills.app.dryrun import dry_run as walk
    from vitalskills.app.dryrun import plan_file

    with user_errors(exit_code=ExitCode.USAGE):
        plan = plan_file(file, skills_dirs=skills, overrides=overrides)
        _check_not_found(plan, not_found, file)
    if not json_:
        err_console.print(
            "[yellow]dry run:[/] a kinematic robot, placeholder targets and skills that "
            "succeed by declaration; this validates the plan, it does not simulate it"
        )
    with user_errors(exit_code=ExitCode.FAILED):
        try:
            result = walk(
                plan,
                subscribers=subscribers,
                not_found=not_found,
                timeout=timeout,
                source=str(file),
            )
        except KeyboardInterrupt:
            err_console.print("interrupted: the plan was halted and the robot stopped")
            raise typer.Exit(ExitCode.INTERRUPTED) from None
    if json_:
        raise _print_summary(subscribers[0])
    raise _exit(result.ok)


def _check_not_found(plan: Any, not_found: list[str], file: Path) -> None:
    """Refuse a `--not-found` query that no `locate` of the plan asks: it would do nothing."""
    import difflib

    queries = sorted({node.query for node in plan.nodes if node.kind == "locate"})
    for query in not_found:
        if query in queries:
            continue
        close = difflib.get_close_matches(query, queries, n=1)
        asked = ", ".join(f'"{q}"' for q in queries) or "none"
        raise UsageError(
            f'--not-found "{query}" matches no locate query of {file}',
            hint=f'did you mean "{close[0]}"?' if close else f"its locate queries: {asked}",
        )


def _simulate_or_drive(
    file: Path,
    subscribers: list[Any],
    *,
    record: Path | None,
    live: str | None,
    options: dict[str, Any],
) -> None:
    from vitalskills.app.run import RunOptions, run_file

    recorder = None
    with user_errors(exit_code=ExitCode.USAGE):
        run_options = RunOptions(**options)
        if record is not None or live is not None:
            from vitalskills.report.record import Recorder

            recorder = Recorder(record, live=live)
        if record is not None:
            run_options.server_log = record / "server.log"
    if run_options.robot is None:
        default = run_options.grounder or ("noisy-oracle" if run_options.grounding else "sim")
        err_console.print(
            "[cyan]simulator:[/] MuJoCo behind the bridge in a child process; `locate` uses "
            f"the `{default}` grounder"
            + (" (privileged simulator segmentation)" if run_options.grounder is None else "")
            + (f" perturbed: {_params(run_options.grounding)}" if run_options.grounding else "")
        )
    try:
        with sigterm_as_interrupt(), user_errors(codes=_run_exit_codes()):
            run_file(
                file,
                run_options,
                subscribers=subscribers,
                recorder=recorder,
                on_status=lambda line: err_console.print(f"[dim]{line}[/]"),
            )
    except KeyboardInterrupt:
        err_console.print("interrupted: the plan was halted, the robot stopped, the server stopped")
        raise typer.Exit(ExitCode.INTERRUPTED) from None
    if record is not None:
        err_console.print(
            f"recorded to {record} (open it with `vitalskills report {record}`, "
            f"or `rerun {record / 'run.rrd'}`)"
        )


def _params(grounding: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:g}" for name, value in grounding.items())


@app.command()
def report(
    directory: Annotated[Path, typer.Argument(help="A folder written by `run --record`.")],
    out: Annotated[
        Path | None, typer.Option(help="Where to write the page (default DIR/report.html).")
    ] = None,
) -> None:
    """Render a recorded run into one self-contained HTML page."""
    from vitalskills.report.html import render_report

    with user_errors():
        page = render_report(directory, out)
    console.print(f"wrote {page}", soft_wrap=True)
