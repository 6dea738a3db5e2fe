"""Options shared by the commands that run bench episodes on a robot (`eval --robot`,
`train residual --robot`): the goal, where episodes start, what counts as arrived, pace."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from vitalskills.errors import UsageError

if TYPE_CHECKING:
    from vitalskills.app.bench import BenchSettings
    from vitalskills.teleop.goal import GoalFile

GoalOption = Annotated[
    Path | None,
    typer.Option("--goal", help="With --robot: the goal pose from `vitalskills goal record`."),
]
TargetOption = Annotated[
    str | None,
    typer.Option(
        "--target",
        help="With --robot: a new approach point X,Y,Z[,YAW] (m, rad, base frame) that "
        "the goal moves with (default: the goal file's).",
    ),
]
ToleranceMmOption = Annotated[
    float | None,
    typer.Option(
        "--tolerance-mm",
        min=0.001,
        help="With --robot: success within this distance of the goal (across its axis when "
        "the goal file has a depth tolerance), mm (default: the goal file's).",
    ),
]
ToleranceDepthOption = Annotated[
    float | None,
    typer.Option(
        "--tolerance-depth-mm",
        min=0.001,
        help="With --robot: and no further than this short of the goal's depth, mm "
        "(default: the goal file's).",
    ),
]
ToleranceDegOption = Annotated[
    float | None,
    typer.Option(
        "--tolerance-deg",
        min=0.001,
        help="With --robot: and within this "
        "angle of its orientation, degrees (default: the goal file's).",
    ),
]
StartRadiusOption = Annotated[
    float | None,
    typer.Option(
        "--start-radius",
        min=0.0,
        help="With --robot: start box half-size in "
        "x and y around the approach point, mm (default 15).",
    ),
]
StartHeightOption = Annotated[
    float | None,
    typer.Option(
        "--start-height",
        min=0.0,
        help="With --robot: start box half-size in z, mm (default 10).",
    ),
]
StartYawOption = Annotated[
    float | None,
    typer.Option(
        "--start-yaw",
        min=0.0,
        help="With --robot: start heading range, +- degrees (default 10).",
    ),
]
PaceOption = Annotated[
    bool | None,
    typer.Option(
        "--pace/--no-pace",
        help="With --robot: run at the robot's control rate (default: on).",
    ),
]


def refuse_given(options: dict[str, object], verbs: tuple[str, str], rest: str, hint: str) -> None:
    """Refuse the options of `options` that were given (not None): they do not apply here.

    The message names them, then `verbs` (singular, plural) and `rest`: "--goal, --pace
    apply only with --robot".
    """
    given = [name for name, value in options.items() if value is not None]
    if given:
        verb = verbs[0] if len(given) == 1 else verbs[1]
        raise UsageError(f"{', '.join(given)} {verb} {rest}", hint=hint)


def bench_goal(goal: Path, target: str | None) -> GoalFile:
    """Load the goal file, moved to `--target` when one is given."""
    from vitalskills.teleop.goal import load_goal
    from vitalskills.teleop.motion import parse_target

    loaded = load_goal(goal)
    return loaded if target is None else loaded.anchored(parse_target(target))


def bench_settings(
    goal: GoalFile,
    *,
    max_steps: int,
    tolerance: tuple[float | None, float | None, float | None],
    start: tuple[float | None, float | None, float | None],
    pace: bool | None,
) -> BenchSettings:
    """The bench procedure from the options (mm and degrees), defaults filled in."""
    from vitalskills.app.bench import BenchSettings
    from vitalskills.teleop.goal import Tolerance
    from vitalskills.teleop.motion import StartBox

    radius, height, yaw = start
    half = (15.0 if radius is None else radius) / 1000
    rise = (10.0 if height is None else height) / 1000
    turn = math.radians(10.0 if yaw is None else yaw)
    return BenchSettings(
        start_box=StartBox(half, half, rise, turn),
        max_steps=max_steps,
        tolerance=Tolerance(
            position_mm=tolerance[0] or goal.tolerance.position_mm,
            angle_deg=tolerance[1] or goal.tolerance.angle_deg,
            depth_mm=tolerance[2] or goal.tolerance.depth_mm,
        ),
        pace=True if pace is None else pace,
    )
