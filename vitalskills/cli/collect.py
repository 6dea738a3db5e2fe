"""`vitalskills collect`: record demonstrations into a dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vitalskills.cli.app import app, console, user_errors
from vitalskills.cli.learning import progress_bar
from vitalskills.cli.sim import WristJitterOption


@app.command()
def collect(
    task: Annotated[str, typer.Option("--task", help="Simulator task to demonstrate.")],
    out: Annotated[Path, typer.Option("--out", help="Dataset folder (created or appended).")],
    episodes: Annotated[
        int, typer.Option("--episodes", min=1, help="Demonstrations to write.")
    ] = 32,
    condition: Annotated[
        str, typer.Option("--condition", help="canonical, spatial or scene.")
    ] = "canonical",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the first attempt.")] = 0,
    max_steps: Annotated[
        int, typer.Option("--max-steps", min=1, help="Step limit per attempt.")
    ] = 150,
    image_size: Annotated[
        int, typer.Option("--image-size", min=16, help="Wrist image side.")
    ] = 128,
    keep_failures: Annotated[
        bool, typer.Option("--keep-failures", help="Also write demonstrations that failed.")
    ] = False,
    wrist_jitter_mm: WristJitterOption = None,
) -> None:
    """Record scripted-expert demonstrations in the simulator into a dataset."""
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
        )  # fmt: skip
    steps = sum(meta.length for meta in report.written)
    console.print(
        f"wrote {len(report.written)} episodes ({steps} steps) to {out}; "
        f"{len(report.discarded_seeds)} failed attempts discarded"
        + (f" (seeds {report.discarded_seeds})" if report.discarded_seeds else "")
    )
