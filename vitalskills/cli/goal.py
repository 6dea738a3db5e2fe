"""`vitalskills goal record|show`: a skill's goal pose on a bench, for `eval --robot`."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from vitalskills.cli.app import (
    ConnectTimeoutOption,
    CurveSecretOption,
    CurveServerOption,
    ExitCode,
    command_line,
    console,
    err_console,
    key_values,
    sigterm_as_interrupt,
    user_errors,
)
from vitalskills.errors import UsageError

if TYPE_CHECKING:
    from vitalskills.teleop.goal import GoalFile, Tolerance
    from vitalskills.teleop.motion import Target

goal_app = typer.Typer(
    name="goal",
    help="Record the pose a skill finishes at (the goal of `eval --robot`).",
    no_args_is_help=True,
)


@goal_app.command("record")
def record_command(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="The goal file to write (goal.yaml).")],
    robot: Annotated[
        str | None,
        typer.Option("--robot", help="Jog the robot behind this bridge server to the goal."),
    ] = None,
    from_data: Annotated[
        Path | None,
        typer.Option(
            "--from-data",
            help="Take the median success pose of this dataset's demonstrations instead.",
        ),
    ] = None,
    task: Annotated[
        str | None,
        typer.Option("--task", help="The task's name (with --from-data: the dataset's)."),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(
            "--target",
            help="Approach point X,Y,Z[,YAW] (m, rad, base frame). With --robot, without "
            "it the operator jogs there first; with --from-data, for a dataset that does not "
            "record one.",
        ),
    ] = None,
    approach_offset: Annotated[
        str | None,
        typer.Option(
            "--approach-offset",
            help="Add DX,DY,DZ (m, target frame) to --target: a located point to the approach.",
        ),
    ] = None,
    tolerance_mm: Annotated[
        float | None,
        typer.Option(
            "--tolerance-mm",
            min=0.001,
            help="Store this position tolerance, mm (default: twice the spread of the success "
            "poses, at least 1).",
        ),
    ] = None,
    tolerance_deg: Annotated[
        float | None,
        typer.Option(
            "--tolerance-deg",
            min=0.001,
            help="Store this angle tolerance, degrees (default: twice the spread, at least 3).",
        ),
    ] = None,
    teleop: Annotated[
        str,
        typer.Option(
            "--teleop",
            help="With --robot: keyboard, spacemouse, gamepad, expert or module.path:ClassName.",
        ),
    ] = "keyboard",
    operator_view: Annotated[
        str | None,
        typer.Option(
            "--operator-view", help="With --teleop expert: the simulator's operator view address."
        ),
    ] = None,
    device_option: Annotated[
        list[str] | None,
        typer.Option("--device-option", help="KEY=VALUE for the device (repeatable)."),
    ] = None,
    jog_step: Annotated[
        float, typer.Option("--jog-step", min=1e-6, help="Largest device move per step, m.")
    ] = 0.01,
    jog_turn: Annotated[
        float, typer.Option("--jog-turn", min=1e-6, help="Largest device turn per step, rad.")
    ] = 0.1,
    pace: Annotated[
        bool,
        typer.Option("--pace/--no-pace", help="With --robot: run at the robot's control rate."),
    ] = True,
    connect_timeout: ConnectTimeoutOption = 5.0,
    curve_secret: CurveSecretOption = None,
    curve_server: CurveServerOption = None,
) -> None:
    """Record the goal pose, relative to the approach point so it moves with the target.

    With --robot, jog the arm to the approach point (unless --target gives it) and then
    to the finished pose, accepting each with the success key (Enter). With --from-data,
    take the median of the demonstrations' success poses (docs/robot-eval.md).
    """
    from vitalskills.robot import RobotUnreachable
    from vitalskills.teleop import JogScale
    from vitalskills.teleop.goal import Tolerance, write_goal
    from vitalskills.teleop.motion import parse_target

    command = command_line(ctx)
    with user_errors(codes={RobotUnreachable: ExitCode.UNREACHABLE}):
        if (robot is None) == (from_data is None):
            raise UsageError(
                "give one of --robot (jog to the goal) and --from-data (the demonstrations')",
                hint="e.g. vitalskills goal record --from-data data/plug --out goal.yaml",
            )
        if approach_offset is not None and target is None:
            raise UsageError("--approach-offset needs --target", hint="e.g. --target 0.5,0,0.05")
        at = None if target is None else parse_target(target, approach_offset)
        tolerance = None
        if (tolerance_mm is None) != (tolerance_deg is None):
            raise UsageError(
                "give both --tolerance-mm and --tolerance-deg, or neither",
                hint="without them the tolerance comes from the spread of the success poses",
            )
        if tolerance_mm is not None and tolerance_deg is not None:
            tolerance = Tolerance(position_mm=tolerance_mm, angle_deg=tolerance_deg)
        if from_data is not None:
            jog_given = {
                "--teleop": teleop != "keyboard",
                "--operator-view": operator_view is not None,
                "--device-option": bool(device_option),
            }
            extra = [name for name, given in jog_given.items() if given]
            if extra:
                raise UsageError(
                    f"{', '.join(extra)} {'is' if len(extra) == 1 else 'are'} for --robot",
                    hint="--from-data reads the success poses the dataset recorded",
                )
            made = _from_data(from_data, task, at, tolerance, command)
        else:
            assert robot is not None
            if task is None:
                raise UsageError(
                    "--robot needs --task (the goal file names its task)",
                    hint="e.g. --task plug_in_socket",
                )
            made = _from_robot(
                robot, teleop, task=task, target=at, tolerance=tolerance,
                operator_view=operator_view,
                device_options=key_values(device_option, "--device-option", "zone=0.2"),
                scale=JogScale(step=jog_step, rotation_step=jog_turn), pace=pace,
                command=command, connect=(connect_timeout, curve_secret, curve_server),
            )  # fmt: skip
        write_goal(made, out)
    spread = made.spread
    console.print(
        f"wrote {out}: {made.describe()}; from {made.made.episodes} success pose"
        f"{'s' if made.made.episodes != 1 else ''} (spread {spread.position_mm:g} mm, "
        f"{spread.angle_deg:g} deg; largest {spread.position_mm_max:g} mm, "
        f"{spread.angle_deg_max:g} deg)",
        soft_wrap=True,
        highlight=False,
    )
    position = made.approach.position
    console.print(
        f"approach point ({position[0]:.4f}, {position[1]:.4f}, {position[2]:.4f}) m, "
        f"yaw {math.degrees(made.approach.yaw):.1f} deg, base frame",
        soft_wrap=True,
        highlight=False,
    )


def _from_data(
    data: Path,
    task: str | None,
    target: Target | None,
    tolerance: Tolerance | None,
    command: str,
) -> GoalFile:
    from vitalskills.app.goal import goal_from_data

    made = goal_from_data(data, target=target, tolerance=tolerance, command=command)
    if task is not None and task != made.goal.task:
        raise UsageError(
            f"--task `{task}` is not the task of {data} (`{made.goal.task}`)",
            hint="leave --task out with --from-data",
        )
    if made.approach_points > 1:
        err_console.print(
            f"note: the successes were made at {made.approach_points} approach points; each "
            "pose is taken relative to its own, and the file is anchored at the most used",
            soft_wrap=True,
        )
    return made.goal


def _from_robot(
    address: str, device: str, *, connect: tuple[float, Path | None, Path | None], **options: Any
) -> GoalFile:
    from vitalskills.app.goal import record_goal_from_robot

    try:
        with sigterm_as_interrupt():
            goal = record_goal_from_robot(
                address, device, connect_timeout_s=connect[0], curve_secret=connect[1],
                curve_server=connect[2], on_phase=lambda text: err_console.print(text),
                **options,
            )  # fmt: skip
    except KeyboardInterrupt:
        err_console.print("interrupted: the robot was stopped; no goal written")
        raise typer.Exit(ExitCode.INTERRUPTED) from None
    if goal is None:
        err_console.print("stopped by the operator; no goal written")
        raise typer.Exit(ExitCode.FAILED)
    return goal


@goal_app.command("show")
def show_command(
    goal: Annotated[Path, typer.Argument(help="A goal file from `vitalskills goal record`.")],
    target: Annotated[
        str | None,
        typer.Option("--target", help="Show it re-anchored at this approach point X,Y,Z[,YAW]."),
    ] = None,
) -> None:
    """Check a goal file and print where its goal is in the robot's base frame."""
    from vitalskills.teleop.goal import load_goal
    from vitalskills.teleop.motion import parse_target

    with user_errors():
        loaded = load_goal(goal)
        if target is not None:
            loaded = loaded.anchored(parse_target(target))
    console.print(
        f"{goal}: task {loaded.task}; {loaded.describe()}; made by {loaded.made.source}",
        soft_wrap=True,
        highlight=False,
    )
