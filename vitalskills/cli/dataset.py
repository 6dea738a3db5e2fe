"""`vitalskills dataset export|import`: demonstrations in and out of LeRobotDataset v3.0."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from vitalskills.cli.app import console, user_errors
from vitalskills.cli.learning import progress_bar

if TYPE_CHECKING:
    from vitalskills.learning.lerobot_io.mapping import Column, Unmapped

dataset_app = typer.Typer(
    name="dataset",
    help="Move demonstration datasets in and out of other formats (LeRobot).",
    no_args_is_help=True,
)


class DatasetFormat(StrEnum):
    """Formats `dataset export --to` writes."""

    lerobot = "lerobot"


def _print_columns(columns: list[Column], lerobot_first: bool) -> None:
    for column in columns:
        keys = ", ".join(source.key for source in column.sources)
        kind = column.dtype if column.dtype in ("image", "video") else "values"
        shape = "x".join(map(str, column.shape))
        pair = f"{column.key} <- {keys}" if lerobot_first else f"{keys} <- {column.key}"
        console.print(f"  {pair} ({kind}, {shape})", markup=False, highlight=False)


def _print_left_out(unmapped: list[Unmapped], lossy: list[str]) -> None:
    for item in unmapped:
        console.print(f"not mapped: {item}", markup=False, highlight=False, soft_wrap=True)
    for item in lossy:
        console.print(f"lossy: {item}", markup=False, highlight=False, soft_wrap=True)


@dataset_app.command("export")
def export_command(
    data: Annotated[Path, typer.Argument(help="Dataset folder (from `collect`).")],
    out: Annotated[Path, typer.Argument(help="Folder to write (must not exist).")],
    to: Annotated[
        DatasetFormat, typer.Option("--to", help="The format to write (only `lerobot` so far).")
    ],
    video: Annotated[
        bool,
        typer.Option(
            "--video",
            help="Colour cameras as H.264 MP4 (small, lossy) instead of PNG frames "
            "(lossless). Masks are always PNG.",
        ),
    ] = False,
    task_text: Annotated[
        str | None,
        typer.Option("--task-text", help="The task as LeRobot stores it (default: its name)."),
    ] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option(
            "--exclude",
            help="Leave out arrays whose key matches this pattern, e.g. 'privileged.*' "
            "(repeatable; LeRobot policies take every image feature as an input).",
        ),
    ] = None,
) -> None:
    """Write DATA as a LeRobotDataset v3.0 folder OUT (docs/datasets.md#lerobot).

    Everything a LeRobot feature cannot hold is listed, and kept in OUT's meta/info.json
    so that `dataset import` restores the dataset exactly.
    """
    from vitalskills.learning.lerobot_io.export import export_lerobot

    with user_errors(), progress_bar() as progress:
        bar = progress.add_task("export", total=None)
        result = export_lerobot(
            data,
            out,
            video=video,
            task_text=task_text,
            exclude=exclude or (),
            on_episode=lambda done, total: progress.update(bar, completed=done, total=total),
        )
    console.print(
        f"exported {result.episodes} episodes ({result.frames} frames) of {data} to "
        f"{result.out} as LeRobotDataset v3.0:",
        markup=False,
        soft_wrap=True,
    )
    _print_columns(result.columns, lerobot_first=True)
    _print_left_out(result.unmapped, result.lossy)


@dataset_app.command("import")
def import_command(
    source: Annotated[Path, typer.Argument(help="LeRobotDataset v3.0 folder (meta/info.json).")],
    out: Annotated[Path, typer.Argument(help="Dataset folder to write (must not exist).")],
    task: Annotated[
        str | None,
        typer.Option("--task", help="The dataset's task name (default: the first task text)."),
    ] = None,
    all_succeeded: Annotated[
        bool,
        typer.Option(
            "--all-succeeded",
            help="Mark every episode a success (default: its last `next.success`, if any).",
        ),
    ] = False,
) -> None:
    """Write the LeRobot dataset SOURCE as a vitalskills dataset OUT (for `train bc`).

    What has no place in a vitalskills dataset is listed, and recorded in OUT's
    meta/info.json (`origin`).
    """
    from vitalskills.learning.lerobot_io.importer import import_lerobot

    with user_errors(), progress_bar() as progress:
        bar = progress.add_task("import", total=None)
        result = import_lerobot(
            source,
            out,
            task=task,
            all_succeeded=all_succeeded,
            on_episode=lambda done, total: progress.update(bar, completed=done, total=total),
        )
    how = " (a vitalskills export, restored exactly)" if result.exact else ""
    console.print(
        f"imported {result.episodes} episodes ({result.frames} frames) of {source} to "
        f"{result.out}, task `{result.task}`{how}:",
        markup=False,
        soft_wrap=True,
    )
    _print_columns(result.columns, lerobot_first=False)
    _print_left_out(result.unmapped, result.lossy)
