"""`vitalskills train bc|residual`: learning skills from demonstrations."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from vitalskills.cli.app import (
    ConnectTimeoutOption,
    CurveSecretOption,
    CurveServerOption,
    command_line,
    console,
    err_console,
    user_errors,
)
from vitalskills.cli.bench import (
    GoalOption,
    PaceOption,
    StartHeightOption,
    StartRadiusOption,
    StartYawOption,
    TargetOption,
    ToleranceDegOption,
    ToleranceDepthOption,
    ToleranceMmOption,
    bench_goal,
    bench_settings,
    refuse_given,
)
from vitalskills.cli.sim import ConditionName, RayOption, TaskName, WorkersOption, workers_from
from vitalskills.errors import UsageError

if TYPE_CHECKING:
    from vitalskills.app.episode_pool import Workers
    from vitalskills.learning.residual.config import RunConfig, SACConfig

train_app = typer.Typer(
    name="train", help="Train skills from demonstrations.", no_args_is_help=True
)


def progress_bar(*fields: str) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        *(TextColumn(f"{name} {{task.fields[{name}]}}") for name in fields),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
    )


class DeviceName(StrEnum):
    """Where `train bc` runs: a CUDA device when there is one, or a named one."""

    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


ThreadsOption = Annotated[
    int | None, typer.Option("--threads", min=1, help="torch CPU threads (default: all).")
]


def _use_threads(threads: int | None) -> None:
    """Limit torch to `threads` CPU threads when the user asked for a number."""
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


@train_app.command("bc")
def train_bc_command(
    ctx: typer.Context,
    data: Annotated[Path, typer.Option("--data", help="Dataset folder from `collect`.")],
    out: Annotated[Path, typer.Option("--out", help="Skill folder to write.")],
    name: Annotated[
        str | None, typer.Option("--name", help="Skill name (default: the dataset's task).")
    ] = None,
    manifest: Annotated[
        Path | None,
        typer.Option("--manifest", help="skill.yaml to take action limits, offset, version from."),
    ] = None,
    steps: Annotated[int, typer.Option("--steps", min=1, help="Gradient steps.")] = 2000,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Training frames per step.")
    ] = 32,
    lr: Annotated[float, typer.Option("--lr", min=0.0, help="AdamW learning rate.")] = 3e-4,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of the weights, batches and augmentation.")
    ] = 0,
    checkpoint_every: Annotated[
        int, typer.Option("--checkpoint-every", min=1, help="Steps between checkpoints.")
    ] = 500,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue from OUT/checkpoints/latest.")
    ] = False,
    no_tactile: Annotated[bool, typer.Option("--no-tactile", help="Vision-only policy.")] = False,
    no_augment: Annotated[
        bool, typer.Option("--no-augment", help="No background, shift or colour augmentation.")
    ] = False,
    backgrounds: Annotated[
        Path | None, typer.Option("--backgrounds", help="Folder of extra background images.")
    ] = None,
    shift_pad: Annotated[
        int, typer.Option("--shift-pad", min=0, help="Random shift range in pixels.")
    ] = 4,
    colour_jitter: Annotated[
        float,
        typer.Option(
            "--colour-jitter",
            min=0.0,
            max=0.95,
            help="Scale brightness, contrast and saturation by up to 1 +- this (0: off).",
        ),
    ] = 0.3,
    relight: Annotated[
        float,
        typer.Option(
            "--relight",
            min=0.0,
            max=1.0,
            help="Re-shade the kept pixels (gain, gamma, smooth field) by this much (0: off).",
        ),
    ] = 0.0,
    tactile_noise: Annotated[
        float, typer.Option("--tactile-noise", min=0.0, help="Std of training tactile noise.")
    ] = 0.05,
    pose_weight: Annotated[
        float,
        typer.Option(
            "--pose-weight", min=0.0, help="Weight of the auxiliary target-pose loss (0: off)."
        ),
    ] = 1.0,
    image_size: Annotated[
        int, typer.Option("--image-size", min=32, help="Side the wrist image is resized to, px.")
    ] = 128,
    width: Annotated[
        int, typer.Option("--width", min=8, help="Feature width of the encoders and trunk.")
    ] = 128,
    layers: Annotated[
        int, typer.Option("--layers", min=1, help="Transformer layers over the history.")
    ] = 4,
    history: Annotated[
        int, typer.Option("--history", min=1, help="Observations the policy sees per step.")
    ] = 1,
    chunk: Annotated[
        int, typer.Option("--chunk", min=1, help="Actions predicted per step (a chunk).")
    ] = 10,
    ensemble_k: Annotated[
        float,
        typer.Option(
            "--ensemble-k", help="Temporal ensembling: > 0 favours older chunks, < 0 the newest."
        ),
    ] = 0.01,
    pause_mm: Annotated[
        float,
        typer.Option(
            "--pause-mm",
            min=0.0,
            help="Leave out the operator's pauses: frames whose action moves the arm less "
            "than this (mm) and barely turns it (0: keep every frame).",
        ),
    ] = 0.05,
    privileged: Annotated[
        bool,
        typer.Option(
            "--privileged",
            help="Also read the simulator's privileged keys (true target pose, label masks): "
            "the simulator-only recipe, for comparison.",
        ),
    ] = False,
    device: Annotated[
        DeviceName, typer.Option("--device", help="auto: a CUDA device if torch sees one.")
    ] = DeviceName.cpu,
    threads: ThreadsOption = None,
) -> None:
    """Train the ViTaL visuotactile BC policy and package it as a skill folder.

    By default it reads only what a real robot records: wrist images, touch, the
    end-effector pose (for hindsight pose targets), actions, and stored keep masks.
    """

    from vitalskills.app.train import train_skill
    from vitalskills.learning.bc.config import BCConfig, parse_config, parse_train_config
    from vitalskills.learning.bc.signals import Signals

    _use_threads(threads)
    command = command_line(ctx)
    with user_errors():
        config = parse_config(
            BCConfig(tactile_dim=None if no_tactile else 15).model_dump()
            | dict(
                image_size=image_size,
                width=width,
                layers=layers,
                history=history,
                chunk=chunk,
                ensemble_k=ensemble_k,
                pose_head=pose_weight > 0,
            ),
            source="train bc options",
        )
        train = parse_train_config(
            dict(
                steps=steps, batch_size=batch_size, lr=lr, seed=seed,
                checkpoint_every=checkpoint_every, augment=not no_augment, shift_pad=shift_pad,
                jitter=colour_jitter, relight=relight, tactile_noise=tactile_noise,
                pose_weight=pose_weight, pause_mm=pause_mm, privileged=privileged,
                background_dir=str(backgrounds) if backgrounds else None,
            ),
            source="train bc options",
        )  # fmt: skip
        with progress_bar("loss") as progress:
            bar = progress.add_task("train bc", total=steps, loss="-")

            def advance(step: int, loss: float) -> None:
                progress.update(bar, completed=step, loss=f"{loss:.4f}")

            def start(signals: Signals) -> None:
                console.print(signals.describe(), markup=False, highlight=False, soft_wrap=True)

            skill, result = train_skill(
                data, out, config, train, name=name, manifest=manifest, resume=resume,
                command=command, on_step=advance, device=device.value, on_start=start,
            )  # fmt: skip
    console.print(
        f"trained `{skill.name}` {skill.version}: {len(result.losses)} steps on "
        f"{result.frames} frames ({result.paused} pauses left out), "
        f"final loss {skill.provenance['training']['final_loss']:.4f}, "
        f"{result.seconds:.0f} s on {result.device}; skill written to {out}"
    )


@train_app.command("residual")
def train_residual_command(
    ctx: typer.Context,
    skill: Annotated[Path, typer.Option("--skill", help="Trained BC skill folder.")],
    task: Annotated[
        TaskName | None,
        typer.Option("--task", help="Simulator task to train on (in process, not with --robot)."),
    ] = None,
    condition: Annotated[
        ConditionName | None,
        typer.Option("--condition", help="In the simulator: canonical (default), spatial, scene."),
    ] = None,
    robot: Annotated[
        str | None,
        typer.Option(
            "--robot",
            help="Train on the robot behind this bridge server, on a bench (needs --goal; "
            "docs/residual.md).",
        ),
    ] = None,
    goal: GoalOption = None,
    target: TargetOption = None,
    tolerance_mm: ToleranceMmOption = None,
    tolerance_deg: ToleranceDegOption = None,
    tolerance_depth_mm: ToleranceDepthOption = None,
    start_radius: StartRadiusOption = None,
    start_height: StartHeightOption = None,
    start_yaw: StartYawOption = None,
    pace: PaceOption = None,
    chroma: Annotated[
        str | None,
        typer.Option(
            "--chroma",
            help="With --robot: key out this screen colour (green|blue) to augment wrist "
            "images (default: the key the skill's training masks were made with).",
        ),
    ] = None,
    steps: Annotated[int, typer.Option("--steps", min=1, help="Environment steps.")] = 6000,
    seed: Annotated[
        int, typer.Option("--seed", min=0, help="Seed of the actor, critics and episodes.")
    ] = 0,
    eval_every: Annotated[
        int,
        typer.Option(
            "--eval-every", min=1, help="Steps between evaluations (in the simulator) or log rows."
        ),
    ] = 1000,
    eval_episodes: Annotated[
        int, typer.Option("--eval-episodes", min=1, help="Episodes per evaluation (simulator).")
    ] = 10,
    out: Annotated[
        Path | None, typer.Option("--out", help="Skill folder to write (default: --skill).")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue from OUT/residual_run/checkpoints/latest.")
    ] = False,
    rotation: Annotated[
        bool, typer.Option("--rotation", help="Correct the rotation as well as xyz.")
    ] = False,
    touch_only: Annotated[
        bool,
        typer.Option(
            "--touch-only",
            help="The actor sees touch and the BC action, not the image features: a "
            "residual blind to how the scene looks (docs/residual.md).",
        ),
    ] = False,
    offset_scale: Annotated[
        float, typer.Option("--offset-scale", min=0.0, help="Metres per unit of residual.")
    ] = 0.004,
    utd: Annotated[int, typer.Option("--utd", min=1, help="Critic updates per step.")] = 16,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Transitions per critic update.")
    ] = 256,
    seed_steps: Annotated[
        int, typer.Option("--seed-steps", min=0, help="Random residual steps first.")
    ] = 300,
    checkpoint_every: Annotated[
        int | None,
        typer.Option(
            "--checkpoint-every",
            min=1,
            help="Steps between checkpoints, written at an episode's end (default: 1000 in "
            "the simulator; every episode on a robot).",
        ),
    ] = None,
    max_episode_steps: Annotated[
        int | None,
        typer.Option("--max-episode-steps", min=1, help="Step limit per episode (default: 150)."),
    ] = None,
    no_augment: Annotated[
        bool, typer.Option("--no-augment", help="No semantic augmentation during RL.")
    ] = False,
    relight: Annotated[
        float,
        typer.Option(
            "--relight",
            min=0.0,
            max=1.0,
            help="Also re-shade the kept pixels by this much, as `train bc --relight` (0: off).",
        ),
    ] = 0.0,
    init_temperature: Annotated[
        float, typer.Option("--init-temperature", min=1e-6, help="SAC's starting temperature.")
    ] = 1.0,
    no_privileged_critic: Annotated[
        bool,
        typer.Option(
            "--no-privileged-critic", help="Critics see only what the actor sees (no goal pose)."
        ),
    ] = False,
    connect_timeout: ConnectTimeoutOption = 5.0,
    curve_secret: CurveSecretOption = None,
    curve_server: CurveServerOption = None,
    threads: ThreadsOption = None,
    workers: WorkersOption = None,
    ray: RayOption = None,
) -> None:
    """Train a residual policy with SAC on top of a frozen BC skill.

    With --robot, on a robot's bench through the bridge: every episode backs the held
    object out, moves to a random start near the target and runs BC + residual until the
    end effector is at the goal (--goal) or the step limit. Press p to pause and resume,
    i after stepping in by hand (counted); Ctrl-C stops the arm and leaves a checkpoint
    to --resume from. Without --robot, in
    the simulator in process (--task), a new scene every episode.
    """

    from vitalskills.learning.residual.config import RunConfig, SACConfig

    _use_threads(threads)
    command = command_line(ctx)
    with user_errors():
        robot_only = {
            "--goal": goal, "--target": target, "--tolerance-mm": tolerance_mm,
            "--tolerance-deg": tolerance_deg,
            "--tolerance-depth-mm": tolerance_depth_mm, "--start-radius": start_radius,
            "--start-height": start_height, "--start-yaw": start_yaw, "--pace": pace,
            "--chroma": chroma,
        }  # fmt: skip
        sim_only = {"--task": task, "--condition": condition, "--workers": workers, "--ray": ray}
        refuse_given(
            sim_only if robot is not None else robot_only, ("applies", "apply"),
            "to the simulator, not to --robot" if robot else "only with --robot",
            hint="on a robot: --robot ADDR --skill DIR --goal goal.yaml; in the "
            "simulator: --skill DIR --task TASK [--condition C]",
        )  # fmt: skip
        sac = SACConfig(
            utd=utd, batch_size=batch_size, seed_steps=seed_steps,
            init_temperature=init_temperature,
        )  # fmt: skip
        run = RunConfig(
            steps=steps, seed=seed, eval_every=eval_every, eval_episodes=eval_episodes,
            checkpoint_every=checkpoint_every or (1 if robot else 1000), augment=not no_augment,
            relight=relight, max_episode_steps=max_episode_steps,
            privileged_critic=not no_privileged_critic,
        )  # fmt: skip
        residual = {
            "dims": "xyz_rot" if rotation else "xyz", "offset_scale": offset_scale,
            "sees": "touch" if touch_only else "vision_touch",
        }  # fmt: skip
        if robot is not None:
            _train_residual_robot(
                robot, skill, goal, target=target, out=out, residual=residual, sac=sac, run=run,
                chroma=chroma, resume=resume, command=command,
                tolerance=(tolerance_mm, tolerance_deg, tolerance_depth_mm),
                start=(start_radius, start_height, start_yaw), pace=pace,
                connect=(connect_timeout, curve_secret, curve_server),
            )  # fmt: skip
            return
        if task is None:
            raise UsageError(
                "give --task to train in the simulator, or --robot ADDR --goal goal.yaml",
                hint="e.g. --task plug_in_socket",
            )
        _train_residual_sim(
            skill, task.value, (condition or ConditionName.canonical).value, out=out,
            residual=residual, sac=sac, run=run, resume=resume, command=command,
            workers=workers_from(workers, ray),
        )  # fmt: skip


def _residual_bar(progress: Progress, steps: int, **fields: str) -> Callable:
    """A progress task for a residual run, and the `on_step` that advances it."""
    shown = dict(fields)
    bar = progress.add_task("train residual", total=steps, **shown)

    def advance(step: int, stats: dict[str, float]) -> None:
        shown["return"] = f"{stats['return']:.2f}"
        shown["success"] = f"{100 * stats['success']:.0f}%"
        if "eval" in stats and "eval" in shown:
            shown["eval"] = f"{100 * stats['eval']:.0f}%"
        if "episodes" in shown:  # on a robot: episodes, and interventions once there are any
            count, interventions = int(stats["episodes"]), int(stats["interventions"])
            shown["episodes"] = (
                f"{count} ({interventions} interventions)" if interventions else str(count)
            )
        progress.update(bar, completed=step, **shown)

    return advance


def _train_residual_sim(
    skill: Path, task: str, condition: str, *, out: Path | None, residual: dict,
    sac: SACConfig, run: RunConfig, resume: bool, command: str, workers: Workers,
) -> None:  # fmt: skip
    from vitalskills.app.train import train_residual

    fields = {"return": "-", "success": "-", "eval": "-"}
    with progress_bar(*fields) as progress:
        advance = _residual_bar(progress, run.steps, **fields)
        result = train_residual(
            skill, task, condition, residual=residual, sac_config=sac, run=run,
            out=out, resume=resume, command=command, on_step=advance, workers=workers,
        )  # fmt: skip
    final = result.rows[-1]
    console.print(
        f"trained a residual for `{result.manifest.name}` on {task} ({condition}): "
        f"{final.step} steps, {result.seconds / 60:.1f} min; evaluation success "
        f"{final.eval_successes}/{final.eval_episodes} (started at "
        f"{result.rows[0].eval_successes}/{result.rows[0].eval_episodes}); "
        f"skill written to {out or skill}; log and plot in {result.files[0].parent}"
    )


def _train_residual_robot(
    address: str, skill: Path, goal: Path | None, *, target: str | None, out: Path | None,
    residual: dict, sac: SACConfig, run: RunConfig, chroma: str | None, resume: bool,
    command: str, tolerance: tuple[float | None, float | None, float | None],
    start: tuple[float | None, float | None, float | None], pace: bool | None,
    connect: tuple[float, Path | None, Path | None],
) -> None:  # fmt: skip
    """`train residual --robot`: connect, train with the pause key, report."""
    import contextlib

    from vitalskills.app.robot_residual import train_residual_on_robot
    from vitalskills.bridge import connect as connect_robot
    from vitalskills.cli.app import ExitCode, sigterm_as_interrupt
    from vitalskills.learning.masks import ChromaKey
    from vitalskills.robot import RobotUnreachable
    from vitalskills.teleop.errors import TeleopError
    from vitalskills.teleop.keyboard import TerminalKeys

    if goal is None:
        raise UsageError(
            "--robot needs --goal",
            hint="record one with `vitalskills goal record --robot ADDR --out goal.yaml` or "
            "`--from-data DIR`",
        )
    goal_file = bench_goal(goal, target)
    settings = bench_settings(
        goal_file, max_steps=run.max_episode_steps or 150, tolerance=tolerance, start=start,
        pace=pace,
    )  # fmt: skip
    key = None if chroma is None else ChromaKey(colour=chroma)
    terminal = TerminalKeys()
    with contextlib.suppress(TeleopError):  # no terminal: no pause key
        terminal.open()
    keys = terminal.read if terminal.is_open else None
    with user_errors(codes={RobotUnreachable: ExitCode.UNREACHABLE}):
        robot = connect_robot(
            address, connect_timeout_s=connect[0], curve_secret=connect[1],
            curve_server=connect[2],
        )  # fmt: skip
        try:
            fields = {"return": "-", "success": "-", "episodes": "0"}
            with sigterm_as_interrupt(), progress_bar(*fields) as progress:
                advance = _residual_bar(progress, run.steps, **fields)

                def paused(now: bool) -> None:
                    progress.console.print(
                        "paused: the arm is stopped; press p to go on" if now else "resumed"
                    )

                if keys is not None:
                    progress.console.print(
                        "press p to pause, i after stepping in by hand; Ctrl-C stops "
                        "(--resume goes on)"
                    )
                result = train_residual_on_robot(
                    robot, skill, goal_file, goal_path=str(goal), out=out, residual=residual,
                    sac_config=sac, run=run, settings=settings, chroma=key, resume=resume,
                    keys=keys, on_pause=paused, on_step=advance, command=command,
                )  # fmt: skip
        except KeyboardInterrupt:
            err_console.print(
                "interrupted: the robot was stopped; the last checkpoint is the start of the "
                f"episode in progress: go on with the same command and --resume "
                f"({(out or skill) / 'residual_run' / 'checkpoints' / 'latest'})",
                soft_wrap=True,
            )
            raise typer.Exit(ExitCode.INTERRUPTED) from None
        finally:
            terminal.close()
            robot.close()
    rate = result.successes / result.episodes if result.episodes else 0.0
    interventions = sum(result.interventions.values())
    console.print(
        f"trained a residual for `{result.manifest.name}` on {result.robot}: {result.steps} "
        f"steps in {result.episodes} episodes ({100 * rate:.0f}% reached the goal), "
        f"{result.seconds / 60:.1f} min wall, robot time {result.robot_time_s:.0f} s "
        f"at {result.control_hz:g} Hz; interventions {interventions}"
        + (f" ({result.interventions})" if interventions else "")
        + f"; {len(result.skipped)} unreachable starts skipped; skill written to "
        f"{out or skill}; log and plot in {result.log_files[0].parent}",
        soft_wrap=True,
    )
    for entry in result.skipped:
        console.print(f"skipped episode {entry['episode']}: {entry['reason']}", soft_wrap=True)
