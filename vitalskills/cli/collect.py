"""`vitalskills collect`: record demonstrations into a dataset.

Without `--robot`: the simulator's scripted expert in an in-process simulator. With
`--robot ADDR`: an operator teleoperates the robot behind a bridge server (`--teleop`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Group
from rich.live import Live
from rich.panel import Panel
from rich.text import Text

from vitalskills.cli.app import (
    ConnectTimeoutOption,
    CurveSecretOption,
    CurveServerOption,
    ExitCode,
    app,
    console,
    err_console,
    key_values,
    sigterm_as_interrupt,
    user_errors,
)
from vitalskills.cli.learning import progress_bar
from vitalskills.cli.sim import (
    ConditionName,
    RayOption,
    WorkersOption,
    WristJitterOption,
    workers_from,
)
from vitalskills.errors import UsageError

if TYPE_CHECKING:
    from vitalskills.app.episode_pool import Workers
    from vitalskills.app.teleop_collect import TeleopStatus

SIM_MAX_STEPS = 150
TELEOP_MAX_STEPS = 600


class TeleopDisplay:
    """The live display of a teleoperated collection: counts, time, touch, keys."""

    def __init__(self, task: str, out: Path) -> None:
        self.title = f"collect {task} -> {out}"
        self.live = Live(Text("connecting"), console=console, refresh_per_second=8)

    def __enter__(self) -> TeleopDisplay:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.__exit__(None, None, None)
        if not console.is_terminal:
            console.line()  # a log gets the last frame without its line end

    def __call__(self, status: TeleopStatus) -> None:
        self.live.update(self.render(status))

    def render(self, status: TeleopStatus) -> Panel:
        line = Text()
        line.append(f"written {status.written}/{status.episodes}", style="bold")
        line.append(f"  ·  attempt {status.attempt}" if status.attempt else "")
        line.append(f"  ·  {status.duration_s:5.1f} s  ·  {status.steps} steps")
        if status.tactile is not None:
            line.append(f"  ·  tactile {status.tactile:.2f}")
        if status.last_mark:
            line.append(f"  ·  last: {status.last_mark}")
        phase = Text(f"{status.phase}: {status.message}", style="cyan")
        keys = Text(status.legend, style="dim")
        return Panel(Group(line, phase, keys), title=f"{self.title} ({status.device})")


@app.command()
def collect(
    task: Annotated[
        str, typer.Option("--task", help="Simulator task to demonstrate (with --robot: its name).")
    ],
    out: Annotated[Path, typer.Option("--out", help="Dataset folder (created or appended).")],
    episodes: Annotated[
        int, typer.Option("--episodes", min=1, help="Demonstrations to write.")
    ] = 32,
    condition: Annotated[
        ConditionName, typer.Option("--condition", help="Simulator condition.")
    ] = ConditionName.canonical,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of the first attempt (with --robot: first start).")
    ] = 0,
    max_steps: Annotated[
        int | None,
        typer.Option(
            "--max-steps",
            min=1,
            help=f"Step limit per attempt (default {SIM_MAX_STEPS}; {TELEOP_MAX_STEPS} "
            "with --robot, where reaching it is a failure).",
        ),
    ] = None,
    image_size: Annotated[
        int | None, typer.Option("--image-size", min=16, help="Wrist image side (default 128).")
    ] = None,
    keep_failures: Annotated[
        bool, typer.Option("--keep-failures", help="Also write demonstrations that failed.")
    ] = False,
    wrist_jitter_mm: WristJitterOption = None,
    robot: Annotated[
        str | None,
        typer.Option(
            "--robot", help="Teleoperate the robot behind this bridge server (tcp://HOST:PORT)."
        ),
    ] = None,
    teleop: Annotated[
        str | None,
        typer.Option(
            "--teleop",
            help="With --robot: keyboard (default), spacemouse, gamepad, expert (the "
            "simulator's scripted expert) or module.path:ClassName.",
        ),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(
            "--target",
            help="Approach point X,Y,Z[,YAW] (m, rad, base frame); without it the operator "
            "jogs the arm there and marks success to accept.",
        ),
    ] = None,
    approach_offset: Annotated[
        str | None,
        typer.Option(
            "--approach-offset",
            help="Add DX,DY,DZ (m, target frame) to --target: a located point to the approach.",
        ),
    ] = None,
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
    start_radius: Annotated[
        float, typer.Option("--start-radius", min=0.0, help="Start box half-size in x and y, mm.")
    ] = 15.0,
    start_height: Annotated[
        float, typer.Option("--start-height", min=0.0, help="Start box half-size in z, mm.")
    ] = 10.0,
    start_yaw: Annotated[
        float, typer.Option("--start-yaw", min=0.0, help="Start heading range, +- degrees.")
    ] = 10.0,
    jog_step: Annotated[
        float, typer.Option("--jog-step", min=1e-6, help="Largest device move per step, m.")
    ] = 0.01,
    jog_turn: Annotated[
        float, typer.Option("--jog-turn", min=1e-6, help="Largest device turn per step, rad.")
    ] = 0.1,
    backout: Annotated[
        float, typer.Option("--backout", min=0.0, help="Rise after each episode, mm.")
    ] = 30.0,
    max_attempts: Annotated[
        int | None,
        typer.Option(
            "--max-attempts",
            min=1,
            help="Stop after this many attempts (default: none; 3 x --episodes for expert).",
        ),
    ] = None,
    pace: Annotated[
        bool | None,
        typer.Option(
            "--pace/--no-pace",
            help="Run at the robot's control rate (default: on, off for expert).",
        ),
    ] = None,
    connect_timeout: ConnectTimeoutOption = 5.0,
    curve_secret: CurveSecretOption = None,
    curve_server: CurveServerOption = None,
    workers: WorkersOption = None,
    ray: RayOption = None,
) -> None:
    """Record demonstrations: the scripted expert in the simulator, or teleoperation (--robot).

    With --robot, each episode starts the arm at a random pose around the approach point,
    the operator drives to success and marks it (Enter/y success, n failure, x discard,
    u redo, Esc/Q quit), and the arm backs out and goes to the next start (docs/teleop.md).
    """
    if robot is None:
        teleop_given = {
            "--teleop": teleop,
            "--target": target,
            "--approach-offset": approach_offset,
            "--operator-view": operator_view,
            "--device-option": device_option,
            "--max-attempts": max_attempts,
            "--pace": pace,
        }
        extra = [name for name, value in teleop_given.items() if value is not None]
        with user_errors():
            if extra:
                raise UsageError(
                    f"{', '.join(extra)} {'needs' if len(extra) == 1 else 'need'} --robot",
                    hint="teleoperate a robot with --robot ADDR (e.g. a simulator served by "
                    "`vitalskills bridge serve --driver sim:TASK --hardware`)",
                )
        _collect_sim(
            task, out, episodes, condition, seed, max_steps or SIM_MAX_STEPS,
            image_size or 128, keep_failures, wrist_jitter_mm, workers_from(workers, ray),
        )  # fmt: skip
        return
    with user_errors():
        if image_size is not None or wrist_jitter_mm is not None or workers or ray:
            raise UsageError(
                "--image-size, --wrist-jitter, --workers and --ray apply to the simulator "
                "without --robot",
                hint="set them where the robot is served (`bridge serve`)",
            )
    _collect_teleop(
        robot,
        teleop or "keyboard",
        dict(
            out=out,
            episodes=episodes,
            task=task,
            condition=condition,
            seed=seed,
            max_steps=max_steps or TELEOP_MAX_STEPS,
            keep_failures=keep_failures,
            max_attempts=max_attempts,
            pace=pace,
            connect_timeout_s=connect_timeout,
            curve_secret=curve_secret,
            curve_server=curve_server,
            operator_view=operator_view,
        ),
        target=target,
        approach_offset=approach_offset,
        device_option=device_option,
        start=(start_radius, start_height, start_yaw),
        jog=(jog_step, jog_turn),
        backout_mm=backout,
    )


def _collect_sim(
    task: str,
    out: Path,
    episodes: int,
    condition: str,
    seed: int,
    max_steps: int,
    image_size: int,
    keep_failures: bool,
    wrist_jitter_mm: float | None,
    workers: Workers,
) -> None:
    """Record scripted-expert demonstrations in the in-process simulator (or its workers)."""
    from vitalskills.app.collect import collect_sim

    with user_errors(), progress_bar("written") as progress:
        bar = progress.add_task(f"{task} {condition}", total=episodes, written=0)

        def advance(meta: object) -> None:
            if meta is not None:
                progress.update(bar, advance=1, written=progress.tasks[bar].completed + 1)

        report = collect_sim(
            task, out, condition=condition, episodes=episodes, seed=seed, max_steps=max_steps,
            image_size=image_size, keep_failures=keep_failures, on_episode=advance,
            wrist_jitter=None if wrist_jitter_mm is None else wrist_jitter_mm / 1000,
            workers=workers,
        )  # fmt: skip
    steps = sum(meta.length for meta in report.written)
    console.print(
        f"wrote {len(report.written)} episodes ({steps} steps) to {out}; "
        f"{len(report.discarded_seeds)} failed attempts discarded"
        + (f" (seeds {report.discarded_seeds})" if report.discarded_seeds else "")
    )


def _collect_teleop(
    address: str,
    device: str,
    options: dict[str, Any],
    *,
    target: str | None,
    approach_offset: str | None,
    device_option: list[str] | None,
    start: tuple[float, float, float],
    jog: tuple[float, float],
    backout_mm: float,
) -> None:
    """Teleoperate the robot at `address` into a dataset, with the live display."""
    from vitalskills.app.teleop_collect import collect_from_robot
    from vitalskills.learning.dataset import DemoDataset
    from vitalskills.robot import RobotUnreachable
    from vitalskills.teleop import JogScale
    from vitalskills.teleop.motion import MotionLimits, StartBox, parse_target

    out: Path = options["out"]
    with user_errors(codes={RobotUnreachable: ExitCode.UNREACHABLE}):
        if approach_offset is not None and target is None:
            raise UsageError("--approach-offset needs --target", hint="e.g. --target 0.5,0,0.05")
        radius, height, yaw = start
        report = None
        try:
            with sigterm_as_interrupt(), TeleopDisplay(options["task"], out) as display:
                report = collect_from_robot(
                    address,
                    device,
                    target=None if target is None else parse_target(target, approach_offset),
                    device_options=key_values(device_option, "--device-option", "zone=0.2"),
                    scale=JogScale(step=jog[0], rotation_step=jog[1]),
                    start_box=StartBox(radius / 1000, radius / 1000, height / 1000,
                                       math.radians(yaw)),
                    limits=MotionLimits(backout=backout_mm / 1000),
                    on_event=display,
                    **options,
                )  # fmt: skip
        except KeyboardInterrupt:
            kept = len(DemoDataset(out)) if (out / "meta" / "info.json").is_file() else 0
            err_console.print(
                f"interrupted: the robot was stopped; {out} holds {kept} complete episodes "
                "(the one in progress was not written)",
                soft_wrap=True,
            )
            raise typer.Exit(ExitCode.INTERRUPTED) from None
    console.print(report.summary(), soft_wrap=True)
    if report.target is not None:
        console.print(f"approach point {report.target.describe()}, base frame", soft_wrap=True)
