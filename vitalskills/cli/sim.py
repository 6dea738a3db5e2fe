"""`vitalskills eval` and `vitalskills sim ...`: evaluate policies, look at the simulator."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from vitalskills.cli.app import (
    ConnectTimeoutOption,
    CurveSecretOption,
    CurveServerOption,
    SkillsDirs,
    app,
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
    bench_settings,
    refuse_given,
)
from vitalskills.errors import UsageError

if TYPE_CHECKING:
    from vitalskills.app.bench import Start
    from vitalskills.app.episode_pool import Workers
    from vitalskills.app.robot_eval import EpisodeRecord

sim_app = typer.Typer(
    help="Look at the simulator: its tasks, and what a policy sees and feels.",
    no_args_is_help=True,
)


class TaskName(StrEnum):
    """The simulator's tasks (kept equal to `vitalskills.sim.TASKS`, tested)."""

    plug_in_socket = "plug_in_socket"
    usb_insert = "usb_insert"
    card_swipe = "card_swipe"
    key_in_lock = "key_in_lock"


class ConditionName(StrEnum):
    """The generalization conditions."""

    canonical = "canonical"
    spatial = "spatial"
    scene = "scene"


class PolicyName(StrEnum):
    """Built-in policies."""

    expert = "expert"
    random = "random"


TaskOption = Annotated[TaskName, typer.Option("--task", help="Simulator task.")]
ConditionOption = Annotated[
    ConditionName,
    typer.Option(
        "--condition",
        help="canonical: fixed target; spatial: target anywhere; scene: spatial + new looks.",
    ),
]
DistractorsOption = Annotated[
    int | None,
    typer.Option(
        "--distractors",
        min=0,
        max=5,
        help="Distractor objects per episode (default: 2-5 in scene, else 0).",
    ),
]
GroundingErrorOption = Annotated[
    float | None,
    typer.Option(
        "--grounding-error",
        min=0.0,
        max=200.0,
        metavar="MM",
        help="Perturb the simulator's oracle like a real grounder, with a median 3D error "
        "of about MM mm (pixel, depth and calibration errors; the `noisy-oracle` grounder).",
    ),
]
GroundingMissOption = Annotated[
    float | None,
    typer.Option(
        "--grounding-miss",
        min=0.0,
        max=1.0,
        metavar="P",
        help="The perturbed oracle answers `not found` with probability P.",
    ),
]
WristJitterOption = Annotated[
    float | None,
    typer.Option(
        "--wrist-jitter",
        min=0.0,
        help="Move the wrist camera on its mount by up to this many mm per axis (stress test).",
    ),
]
GraspOffsetOption = Annotated[
    float | None,
    typer.Option(
        "--grasp-offset",
        min=0.0,
        metavar="MM",
        help="Hold the object up to MM mm off its grasp, along the fingers' pads and in "
        "height, as an off-centre grasp leaves it (stress test).",
    ),
]
WorkersOption = Annotated[
    int | None,
    typer.Option(
        "--workers",
        min=1,
        help="Run episodes in this many worker processes (default: the cores; 1: in this "
        "process; with --ray: Ray workers, default the cluster's CPUs). Same results.",
    ),
]
RayOption = Annotated[
    str | None,
    typer.Option(
        "--ray",
        help="Run episodes on the Ray cluster at this address, or `auto` for a local Ray "
        "on 127.0.0.1 (needs the `ray` extra).",
    ),
]


def workers_from(count: int | None, ray: str | None) -> Workers:
    """Where the episodes run, from `--workers` and `--ray`."""
    from vitalskills.app.episode_pool import Workers

    return Workers(count, ray)


@app.command("eval")
def eval_command(
    ctx: typer.Context,
    task: Annotated[
        TaskName | None,
        typer.Option(
            "--task",
            help="Simulator task (default with --skill: the task of its training data; with "
            "--robot: the goal file's task).",
        ),
    ] = None,
    policy: Annotated[
        PolicyName | None,
        typer.Option(
            "--policy",
            help="expert (the default): scripted with privileged state; random: uniform actions.",
        ),
    ] = None,
    skill: Annotated[
        str | None,
        typer.Option(
            "--skill", help="Evaluate this library skill (NAME or NAME@CONSTRAINT) instead."
        ),
    ] = None,
    condition: Annotated[
        ConditionName | None,
        typer.Option(
            "--condition",
            help="canonical (the default): fixed target; spatial: target anywhere; scene: "
            "spatial + new looks.",
        ),
    ] = None,
    episodes: Annotated[int, typer.Option("--episodes", min=1, help="Episodes to run.")] = 20,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the first episode.")] = 0,
    distractors: DistractorsOption = None,
    wrist_jitter_mm: WristJitterOption = None,
    grounding_error: GroundingErrorOption = None,
    grounding_miss: GroundingMissOption = None,
    grasp_offset_mm: GraspOffsetOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    video: Annotated[
        Path | None, typer.Option("--video", help="Write one MP4 per episode into this folder.")
    ] = None,
    skills: SkillsDirs = None,
    no_residual: Annotated[
        bool,
        typer.Option("--no-residual", help="With --skill: evaluate the BC part alone."),
    ] = False,
    save: Annotated[
        bool,
        typer.Option(
            "--save",
            help="With --skill: record the result in the skill's skill.yaml (provenance).",
        ),
    ] = False,
    robot: Annotated[
        str | None,
        typer.Option(
            "--robot",
            help="Evaluate --skill on the robot behind this bridge server, on a bench "
            "(needs --goal; docs/robot-eval.md).",
        ),
    ] = None,
    goal: GoalOption = None,
    target: TargetOption = None,
    tolerance_mm: ToleranceMmOption = None,
    tolerance_deg: ToleranceDegOption = None,
    tolerance_depth_mm: ToleranceDepthOption = None,
    max_steps: Annotated[
        int | None,
        typer.Option(
            "--max-steps",
            min=1,
            help="With --robot: policy steps per episode (default: the skill's max_steps).",
        ),
    ] = None,
    start_radius: StartRadiusOption = None,
    start_height: StartHeightOption = None,
    start_yaw: StartYawOption = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="With --robot: write episodes.jsonl, summary.json and a contact "
            "sheet of the last wrist images into this folder.",
        ),
    ] = None,
    pace: PaceOption = None,
    connect_timeout: ConnectTimeoutOption = 5.0,
    curve_secret: CurveSecretOption = None,
    curve_server: CurveServerOption = None,
    workers: WorkersOption = None,
    ray: RayOption = None,
) -> None:
    """Run a policy in the simulator for N seeded episodes and report its success rate.

    With --robot, evaluate a skill on a real robot's bench instead: every episode backs
    the held object out, moves to a random start around the approach point and runs the
    skill until the end effector is within the goal's tolerance, or the step limit
    (docs/robot-eval.md).
    """
    robot_options = {
        "--goal": goal,
        "--target": target,
        "--tolerance-mm": tolerance_mm,
        "--tolerance-deg": tolerance_deg,
        "--tolerance-depth-mm": tolerance_depth_mm,
        "--max-steps": max_steps,
        "--start-radius": start_radius,
        "--start-height": start_height,
        "--start-yaw": start_yaw,
        "--out": out,
        "--pace": pace,
    }
    if robot is not None:
        _eval_robot(
            ctx, robot, skill=skill, skills=skills, task=task, episodes=episodes, seed=seed,
            residual=not no_residual, save=save, as_json=as_json, goal=goal, target=target,
            tolerance=(tolerance_mm, tolerance_deg, tolerance_depth_mm), max_steps=max_steps,
            start=(start_radius, start_height, start_yaw), out=out, pace=pace,
            connect=(connect_timeout, curve_secret, curve_server),
            simulator_only={
                "--policy": policy, "--condition": condition, "--distractors": distractors,
                "--wrist-jitter": wrist_jitter_mm, "--video": video,
                "--workers": workers, "--ray": ray,
                "--grounding-error": grounding_error, "--grounding-miss": grounding_miss,
                "--grasp-offset": grasp_offset_mm,
            },
        )  # fmt: skip
        return
    from vitalskills.app.evaluate import (
        check_savable,
        evaluate_policy,
        evaluate_skill,
        save_evaluation,
    )
    from vitalskills.perception.noisy_oracle import grounding_parameters
    from vitalskills.skills import default_library

    policy = policy or PolicyName.expert
    condition_name = (condition or ConditionName.canonical).value
    label = f"skill {skill}" if skill else f"{policy.value} policy"
    label += " (BC only)" if no_residual else ""
    with user_errors(), _progress() as progress:
        refuse_given(
            robot_options, ("needs", "need"), "--robot",
            hint="evaluate on a robot's bench with --robot ADDR --skill NAME --goal goal.yaml",
        )  # fmt: skip
        manifest = None
        if skill:
            name, _, constraint = skill.partition("@")
            manifest = default_library(skills or []).get(name, constraint or None)
        trained_on = (manifest.provenance.get("dataset") or {}).get("task") if manifest else None
        if task is None and trained_on not in TaskName.__members__:
            raise UsageError(
                "`--task` is needed to evaluate in the simulator",
                hint="e.g. --task plug_in_socket (on a robot: --robot ADDR --goal goal.yaml)",
            )
        task_name = task.value if task is not None else str(trained_on)
        for flag, given_flag in (("--no-residual", no_residual), ("--save", save)):
            if given_flag and not skill:
                raise UsageError(f"`{flag}` needs `--skill`", hint="name the skill to evaluate")
        grounding = grounding_parameters(grounding_error, grounding_miss)
        if save:
            check_savable(distractors, wrist_jitter_mm, grounding, grasp_offset_mm)
        where = workers_from(workers, ray)
        bar = progress.add_task(f"{task_name} {condition_name}: {label} ({where.describe()})",
                                total=episodes, successes=0)  # fmt: skip
        successes = 0

        def advance(index: int, ok: bool) -> None:
            nonlocal successes
            successes += ok
            progress.update(bar, advance=1, successes=successes)

        options = dict(
            episodes=episodes,
            seed=seed,
            distractors=distractors,
            video_dir=video,
            on_episode=advance,
            wrist_jitter=None if wrist_jitter_mm is None else wrist_jitter_mm / 1000,
            grasp_offset=None if grasp_offset_mm is None else grasp_offset_mm / 1000,
            workers=where,
        )
        if manifest is not None:
            result = evaluate_skill(
                manifest, task_name, condition_name, residual=not no_residual,
                grounding=grounding, **options,
            )  # fmt: skip
            if save:
                save_evaluation(manifest, result, command_line(ctx))
        else:
            result = evaluate_policy(
                task_name, policy.value, condition_name, grounding=grounding, **options
            )
    if as_json:
        print(json.dumps(result.to_dict()))
        return
    table = Table(title=f"{task_name}: {label}, {condition_name} condition")
    for column in ("episodes", "successes", "success rate", "seeds"):
        table.add_column(column)
    table.add_row(
        str(result.episodes),
        str(result.successes),
        f"{100 * result.success_rate:.1f}%",
        f"{result.seeds[0]}..{result.seeds[-1]}",
    )
    console.print(table)
    if result.failed_seeds:
        console.print(f"failed seeds: {result.failed_seeds}")
    if video is not None:
        console.print(f"videos in {video}")


def _eval_robot(
    ctx: typer.Context,
    address: str,
    *,
    skill: str | None,
    skills: list[Path] | None,
    task: TaskName | None,
    episodes: int,
    seed: int,
    residual: bool,
    save: bool,
    as_json: bool,
    goal: Path | None,
    target: str | None,
    tolerance: tuple[float | None, float | None, float | None],
    max_steps: int | None,
    start: tuple[float | None, float | None, float | None],
    out: Path | None,
    pace: bool | None,
    connect: tuple[float, Path | None, Path | None],
    simulator_only: dict[str, object],
) -> None:
    """`eval --robot`: the bench procedure on a robot, with a progress bar and a summary."""
    from vitalskills.app.robot_eval import evaluate_skill_on_robot
    from vitalskills.cli.app import ExitCode, sigterm_as_interrupt
    from vitalskills.robot import RobotUnreachable
    from vitalskills.skills import default_library
    from vitalskills.teleop.goal import load_goal
    from vitalskills.teleop.motion import parse_target

    finished = 0
    with user_errors(codes={RobotUnreachable: ExitCode.UNREACHABLE}):
        refuse_given(
            simulator_only, ("applies", "apply"), "to the simulator, not to --robot",
            hint="on a robot the scene is your bench: leave them out (the simulator "
            "served as hardware takes its condition in `bridge serve`)",
        )  # fmt: skip
        if skill is None or goal is None:
            missing = " and ".join(f for f, v in (("--skill", skill), ("--goal", goal)) if not v)
            raise UsageError(
                f"--robot needs {missing}",
                hint="record a goal with `vitalskills goal record`, then "
                "`vitalskills eval --robot ADDR --skill NAME --goal goal.yaml`",
            )
        goal_file = load_goal(goal)
        if task is not None and task.value != goal_file.task:
            raise UsageError(
                f"--task `{task.value}` is not the task of {goal} (`{goal_file.task}`)",
                hint="leave --task out with --robot: the goal file says the task",
            )
        name, _, constraint = skill.partition("@")
        manifest = default_library(skills or []).get(name, constraint or None)
        settings = bench_settings(
            goal_file, max_steps=max_steps or manifest.max_steps, tolerance=tolerance,
            start=start, pace=pace,
        )  # fmt: skip
        try:
            with sigterm_as_interrupt(), _progress() as progress:
                bar = progress.add_task(
                    f"{goal_file.task} on {address}: skill {skill}", total=episodes, successes=0
                )

                def advance(record: EpisodeRecord) -> None:
                    nonlocal finished
                    finished += 1
                    done = progress.tasks[bar].fields["successes"] + record.success
                    progress.update(bar, advance=1, successes=done)

                def skipped(begun: Start) -> None:
                    progress.console.print(
                        f"skipped the start of seed {begun.seed}: {begun.skipped}",
                        markup=False, highlight=False, soft_wrap=True,
                    )  # fmt: skip

                result = evaluate_skill_on_robot(
                    address, manifest, goal, episodes=episodes, seed=seed, residual=residual,
                    target=None if target is None else parse_target(target), settings=settings,
                    out=out, save=save, command=command_line(ctx),
                    connect_timeout_s=connect[0], curve_secret=connect[1],
                    curve_server=connect[2], on_episode=advance, on_skip=skipped,
                )  # fmt: skip
        except KeyboardInterrupt:
            where = f"; records in {out}" if out is not None else ""
            err_console.print(
                f"interrupted: the robot was stopped; {finished} episodes finished{where}",
                soft_wrap=True,
            )
            raise typer.Exit(ExitCode.INTERRUPTED) from None
    if as_json:
        print(json.dumps(result.to_dict()))
        return
    table = Table(title=f"{result.task}: {result.policy} on {result.robot}")
    for column in ("episodes", "successes", "success rate", "seeds", "robot time"):
        table.add_column(column)
    table.add_row(
        str(result.episodes),
        str(result.successes),
        f"{100 * result.success_rate:.1f}%" if result.episodes else "-",
        f"{result.seeds[0]}..{result.seeds[-1]}" if result.seeds else "-",
        f"{result.robot_time_s:.1f} s",
    )
    console.print(table)
    console.print(result.summary(), soft_wrap=True)
    if result.failed_seeds:
        console.print(f"failed seeds: {result.failed_seeds}")
    for entry in result.skipped:
        console.print(f"skipped seed {entry['seed']}: {entry['reason']}", soft_wrap=True)
    if out is not None:
        console.print(f"records in {out}")


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("successes {task.fields[successes]}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    )


@sim_app.command("show")
def show_command(
    task: TaskOption,
    out: Annotated[Path, typer.Option("--out", help="Folder for the pictures.")],
    condition: ConditionOption = ConditionName.canonical,
    seed: Annotated[int, typer.Option("--seed", help="Episode seed.")] = 0,
    distractors: DistractorsOption = None,
) -> None:
    """Write wrist and scene pictures and a tactile plot of one expert episode."""
    from vitalskills.sim.show import show_episode

    with user_errors():
        result = show_episode(task.value, condition.value, seed, out, distractors=distractors)
    verdict = "succeeded" if result.success else "failed"
    console.print(f"expert {verdict} in {result.steps} steps; wrote:")
    for path in result.files:
        console.print(f"  {path}")


@sim_app.command("tasks")
def tasks_command() -> None:
    """List the simulator's tasks with their tolerances."""
    from vitalskills.sim.tasks import TASKS

    table = Table(title="simulator tasks")
    for column in ("task", "gymnasium id", "clearance", "success"):
        table.add_column(column)
    for spec in TASKS.values():
        needs = f"{spec.required_depth * 1000:.0f} mm deep"
        if spec.kind == "swipe":
            needs += f", {spec.swipe_travel * 100:.0f} cm along the slot"
        table.add_row(spec.name, spec.gym_id, f"{spec.clearance * 1000:.1f} mm", needs)
    console.print(table)
