"""`vitalskills train bc|residual`: learning skills from demonstrations."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from vitalskills.cli.app import command_line, console, err_console, user_errors
from vitalskills.cli.sim import ConditionName, TaskName

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
    steps: Annotated[int, typer.Option("--steps", min=1)] = 2000,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 32,
    lr: Annotated[float, typer.Option("--lr", min=0.0)] = 3e-4,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    checkpoint_every: Annotated[int, typer.Option("--checkpoint-every", min=1)] = 500,
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
    image_size: Annotated[int, typer.Option("--image-size", min=32)] = 128,
    width: Annotated[int, typer.Option("--width", min=8)] = 128,
    layers: Annotated[int, typer.Option("--layers", min=1)] = 4,
    history: Annotated[int, typer.Option("--history", min=1)] = 1,
    chunk: Annotated[int, typer.Option("--chunk", min=1)] = 10,
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
    task: Annotated[TaskName, typer.Option("--task", help="Simulator task to train on.")],
    condition: Annotated[
        ConditionName, typer.Option("--condition", help="canonical, spatial or scene.")
    ] = ConditionName.canonical,
    steps: Annotated[int, typer.Option("--steps", min=1, help="Environment steps.")] = 6000,
    seed: Annotated[int, typer.Option("--seed", min=0)] = 0,
    eval_every: Annotated[
        int, typer.Option("--eval-every", min=1, help="Steps between evaluations.")
    ] = 1000,
    eval_episodes: Annotated[int, typer.Option("--eval-episodes", min=1)] = 10,
    out: Annotated[
        Path | None, typer.Option("--out", help="Skill folder to write (default: --skill).")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue from OUT/residual_run/checkpoints/latest.")
    ] = False,
    rotation: Annotated[
        bool, typer.Option("--rotation", help="Correct the rotation as well as xyz.")
    ] = False,
    offset_scale: Annotated[
        float, typer.Option("--offset-scale", min=0.0, help="Metres per unit of residual.")
    ] = 0.004,
    utd: Annotated[int, typer.Option("--utd", min=1, help="Critic updates per step.")] = 16,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 256,
    seed_steps: Annotated[
        int, typer.Option("--seed-steps", min=0, help="Random residual steps first.")
    ] = 300,
    checkpoint_every: Annotated[int, typer.Option("--checkpoint-every", min=1)] = 1000,
    max_episode_steps: Annotated[int | None, typer.Option("--max-episode-steps", min=1)] = None,
    no_augment: Annotated[
        bool, typer.Option("--no-augment", help="No semantic augmentation during RL.")
    ] = False,
    init_temperature: Annotated[
        float, typer.Option("--init-temperature", min=1e-6, help="SAC's starting temperature.")
    ] = 1.0,
    no_privileged_critic: Annotated[
        bool,
        typer.Option(
            "--no-privileged-critic", help="Critics see only what the actor sees (no goal pose)."
        ),
    ] = False,
    threads: ThreadsOption = None,
) -> None:
    """Train a residual policy with SAC on top of a frozen BC skill, in the simulator."""

    from vitalskills.app.train import train_residual
    from vitalskills.learning.residual.config import RunConfig, SACConfig

    _use_threads(threads)
    command = command_line(ctx)
    with user_errors():
        sac = SACConfig(
            utd=utd, batch_size=batch_size, seed_steps=seed_steps,
            init_temperature=init_temperature,
        )  # fmt: skip
        run = RunConfig(
            steps=steps, seed=seed, eval_every=eval_every, eval_episodes=eval_episodes,
            checkpoint_every=checkpoint_every, augment=not no_augment,
            max_episode_steps=max_episode_steps, privileged_critic=not no_privileged_critic,
        )  # fmt: skip
        residual = {"dims": "xyz_rot" if rotation else "xyz", "offset_scale": offset_scale}
        with progress_bar("return", "success", "eval") as progress:
            shown = {"return": "-", "success": "-", "eval": "-"}
            bar = progress.add_task("train residual", total=steps, **shown)

            def advance(step: int, stats: dict[str, float]) -> None:
                shown["return"] = f"{stats['return']:.2f}"
                shown["success"] = f"{100 * stats['success']:.0f}%"
                if "eval" in stats:
                    shown["eval"] = f"{100 * stats['eval']:.0f}%"
                progress.update(bar, completed=step, **shown)

            result = train_residual(
                skill, task.value, condition.value, residual=residual, sac_config=sac, run=run,
                out=out, resume=resume, command=command, on_step=advance,
            )  # fmt: skip
    final = result.rows[-1]
    console.print(
        f"trained a residual for `{result.manifest.name}` on {task.value} ({condition.value}): "
        f"{final.step} steps, {result.seconds / 60:.1f} min; evaluation success "
        f"{final.eval_successes}/{final.eval_episodes} (started at "
        f"{result.rows[0].eval_successes}/{result.rows[0].eval_episodes}); "
        f"skill written to {out or skill}; log and plot in {result.files[0].parent}"
    )
