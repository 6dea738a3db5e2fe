"""`vitalskills eval` and `vitalskills sim ...`: evaluate policies, look at the simulator."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from vitalskills.cli.app import (
    SkillsDirs,
    app,
    command_line,
    console,
    err_console,
    user_errors,
)
from vitalskills.errors import UsageError

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
WristJitterOption = Annotated[
    float | None,
    typer.Option(
        "--wrist-jitter",
        min=0.0,
        help="Move the wrist camera on its mount by up to this many mm per axis (stress test).",
    ),
]


@app.command("eval")
def eval_command(
    ctx: typer.Context,
    task: TaskOption,
    policy: Annotated[
        PolicyName,
        typer.Option(
            "--policy", help="expert: scripted with privileged state; random: uniform actions."
        ),
    ] = PolicyName.expert,
    skill: Annotated[
        str | None,
        typer.Option(
            "--skill", help="Evaluate this library skill (NAME or NAME@CONSTRAINT) instead."
        ),
    ] = None,
    condition: ConditionOption = ConditionName.canonical,
    episodes: Annotated[int, typer.Option("--episodes", min=1, help="Episodes to run.")] = 20,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the first episode.")] = 0,
    distractors: DistractorsOption = None,
    wrist_jitter_mm: WristJitterOption = None,
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
) -> None:
    """Run a policy in the simulator for N seeded episodes and report its success rate."""
    from vitalskills.app.evaluate import check_savable, evaluate_skill, save_evaluation
    from vitalskills.sim.rollouts import evaluate
    from vitalskills.skills import default_library

    task, condition = task.value, condition.value
    label = f"skill {skill}" if skill else f"{policy.value} policy"
    label += " (BC only)" if no_residual else ""
    with user_errors(), _progress() as progress:
        for flag, given in (("--no-residual", no_residual), ("--save", save)):
            if given and not skill:
                raise UsageError(f"`{flag}` needs `--skill`", hint="name the skill to evaluate")
        if save:
            check_savable(distractors, wrist_jitter_mm)
        bar = progress.add_task(f"{task} {condition}: {label}", total=episodes, successes=0)
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
        )
        if skill:
            name, _, constraint = skill.partition("@")
            manifest = default_library(skills or []).get(name, constraint or None)
            result = evaluate_skill(manifest, task, condition, residual=not no_residual, **options)
            if save:
                save_evaluation(manifest, result, command_line(ctx))
        else:
            result = evaluate(task, policy.value, condition, **options)
    if as_json:
        print(json.dumps(result.to_dict()))
        return
    table = Table(title=f"{task}: {label}, {condition} condition")
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
