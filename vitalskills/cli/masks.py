"""`vitalskills masks`: keep masks for real demonstrations, stored in the dataset."""

from __future__ import annotations

import shlex
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from vitalskills.cli.app import app, command_line, console, err_console, user_errors
from vitalskills.cli.perception import DtypeName
from vitalskills.errors import UsageError

_CHROMA = "Green / blue screen (--chroma)"
_VIDEO = "SAM2 / EdgeTAM video propagation (--sam2)"
_TABLE_MAX = 30  # longer runs print the spread, not every episode
_SUSPECT = (0.01, 0.95)  # kept fractions outside this range deserve a look at the sheet


class ScreenColour(StrEnum):
    green = "green"
    blue = "blue"


def _hue_range(text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    try:
        low, high = (float(part) for part in text.split(","))
    except ValueError:
        raise UsageError(
            f"`--hue-range {text}` is not LO,HI", hint="e.g. --hue-range 80,160 (degrees)"
        ) from None
    return low, high


def _command(ctx: typer.Context, data: Path) -> str:
    """The command as typed, for the record: DATA, then every option not at its default."""
    words = shlex.split(command_line(ctx))
    if "data" in words:  # `command_line` writes arguments as options; put DATA back
        at = words.index("data")
        del words[at : at + 2]
    return shlex.join([*words[:2], str(data), *words[2:]])


def _method_line(method: dict[str, Any]) -> str:
    """Say in a few words how the masks were made."""
    if method.get("method") == "chroma":
        low, high = method["hue_range"]
        line = f"a {method['colour']} chroma key (hue {low:g}..{high:g} degrees)"
    elif method.get("method") == "video":
        parts = ", ".join(prompt["name"] for prompt in method.get("prompts", []))
        line = f"{method.get('model_type')} video propagation of {parts} ({method.get('model')})"
    else:
        line = str(method.get("method"))
    regions = method.get("keep_regions")
    return line + (f" plus {len(regions)} fixed region(s)" if regions else "")


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
    )


def _summary(run: Any) -> None:
    """Print the kept fraction per episode (or its spread) and where the sheets are."""
    written = run.written
    skipped = len(run.episodes) - len(written)
    console.print(
        f"masked {len(written)} episode{'s' if len(written) != 1 else ''} of {run.root}"
        + (f" ({skipped} already had masks)" if skipped else "")
        + f" with {_method_line(run.method)}",
        markup=False,
        soft_wrap=True,
    )
    if not written:
        return
    fractions = [episode.kept_fraction for episode in written]
    if len(written) <= _TABLE_MAX:
        table = Table("episode", "frames", "kept", box=None, pad_edge=False)
        for episode in written:
            table.add_row(str(episode.index), str(episode.frames), f"{episode.kept_fraction:.1%}")
        console.print(table)
    low = min(written, key=lambda episode: episode.kept_fraction)
    high = max(written, key=lambda episode: episode.kept_fraction)
    console.print(
        f"mean kept fraction {sum(fractions) / len(fractions):.1%} "
        f"(min {low.kept_fraction:.1%} episode {low.index}, "
        f"max {high.kept_fraction:.1%} episode {high.index})",
        soft_wrap=True,
    )
    suspects = [
        episode.index
        for episode in written
        if not _SUSPECT[0] <= episode.kept_fraction <= _SUSPECT[1]
    ]
    if suspects:
        console.print(
            f"[yellow]check[/yellow] episodes {', '.join(map(str, suspects))}: they keep almost "
            "nothing or almost everything",
            soft_wrap=True,
        )
    if any(episode.sheet is not None for episode in written):
        sheets = f"contact sheets: {run.sheets_dir}/episode_NNNNNN.png"
        console.print(sheets, markup=False, soft_wrap=True)


@app.command("masks")
def masks_command(
    ctx: typer.Context,
    data: Annotated[Path, typer.Argument(help="Dataset folder (from `collect`).")],
    chroma: Annotated[
        ScreenColour | None,
        typer.Option("--chroma", help="Key out a screen of this colour.", rich_help_panel=_CHROMA),
    ] = None,
    hue_range: Annotated[
        str | None,
        typer.Option(
            "--hue-range",
            help="Screen hues LO,HI in degrees (default: green 70,170, blue 180,260).",
            rich_help_panel=_CHROMA,
        ),
    ] = None,
    min_saturation: Annotated[
        float,
        typer.Option(
            "--min-saturation",
            help="Screen pixels are at least this saturated (0..1).",
            rich_help_panel=_CHROMA,
        ),
    ] = 0.25,
    min_value: Annotated[
        float,
        typer.Option(
            "--min-value",
            help="Screen pixels are at least this bright (0..1).",
            rich_help_panel=_CHROMA,
        ),
    ] = 0.15,
    open_radius: Annotated[
        int,
        typer.Option(
            "--open-radius",
            help="Drop kept specks holding no square of this radius (pixels); "
            "thin parts joined to a larger one stay.",
            rich_help_panel=_CHROMA,
        ),
    ] = 1,
    close_radius: Annotated[
        int,
        typer.Option(
            "--close-radius",
            help="Fill holes in kept parts up to this square radius (pixels).",
            rich_help_panel=_CHROMA,
        ),
    ] = 2,
    sam2: Annotated[
        Path | None,
        typer.Option(
            "--sam2",
            help="Local SAM2 or EdgeTAM video model directory (save_pretrained).",
            rich_help_panel=_VIDEO,
        ),
    ] = None,
    prompt: Annotated[
        list[str] | None,
        typer.Option(
            "--prompt",
            help="NAME=U,V: a click on the first frame (NAME: target, held or gripper; "
            "U column, V row); repeat for more parts or points.",
            rich_help_panel=_VIDEO,
        ),
    ] = None,
    negative: Annotated[
        list[str] | None,
        typer.Option(
            "--negative",
            help="NAME=U,V: a click on background next to that part (repeatable).",
            rich_help_panel=_VIDEO,
        ),
    ] = None,
    device: Annotated[
        str,
        typer.Option("--device", help="auto, cpu or cuda.", rich_help_panel=_VIDEO),
    ] = "auto",
    dtype: Annotated[
        DtypeName,
        typer.Option(
            help="Video model precision: float32, or auto (float16 on CUDA, float32 on CPU), "
            "float16, bfloat16 for speed on a GPU.",
            rich_help_panel=_VIDEO,
        ),
    ] = DtypeName.float32,
    keep_region: Annotated[
        list[str] | None,
        typer.Option(
            "--keep-region",
            help="X0,Y0,X1,Y1: a box kept in every frame, e.g. the gripper (repeatable).",
        ),
    ] = None,
    only_missing: Annotated[
        bool, typer.Option("--only-missing", help="Skip episodes that already have masks.")
    ] = False,
    no_sheets: Annotated[
        bool, typer.Option("--no-sheets", help="Do not write DATA/masks/*.png contact sheets.")
    ] = False,
) -> None:
    """Compute keep masks for every episode of DATA and store them as `mask.keep`.

    --chroma keys out a green or blue screen behind the scene.
    --sam2 tracks parts clicked on each episode's first frame (SAM2 or EdgeTAM).
    A contact sheet per episode, DATA/masks/episode_NNNNNN.png, shows what is kept.
    See docs/masks.md.
    """
    from vitalskills.learning.masks import (
        ChromaKey,
        KeepRegions,
        VideoMasks,
        check_maskable,
        describe,
        parse_box,
        write_masks,
    )

    with user_errors():
        if (chroma is None) == (sam2 is None):
            raise UsageError(
                "give exactly one of --chroma COLOUR or --sam2 MODEL_DIR",
                hint="e.g. `vitalskills masks DATA --chroma green`",
            )
        boxes = tuple(parse_box(spec) for spec in keep_region or ())
        video: VideoMasks | None = None
        source: Any
        if sam2 is not None:
            chroma_options = {
                "--hue-range": hue_range is not None,
                "--min-saturation": min_saturation != ChromaKey.min_saturation,
                "--min-value": min_value != ChromaKey.min_value,
                "--open-radius": open_radius != ChromaKey.open_radius,
                "--close-radius": close_radius != ChromaKey.close_radius,
            }
            given = [name for name, changed in chroma_options.items() if changed]
            if given:
                raise UsageError(f"{', '.join(given)} tune --chroma, not --sam2")
            from vitalskills.perception.video_segment import build_prompts, load_video_segmenter

            prompts = build_prompts(prompt or [], negative or [])
            check_maskable(data)  # before loading a model, which may take a while
            with err_console.status(f"loading the video model from {sam2}"):
                segmenter = load_video_segmenter(sam2, device, dtype.value)
            source = video = VideoMasks(segmenter, prompts)
        else:
            if prompt or negative or dtype is not DtypeName.float32:
                raise UsageError("--prompt, --negative and --dtype are for --sam2, not --chroma")
            source = ChromaKey(
                colour=str(chroma),
                hue_range=_hue_range(hue_range),
                min_saturation=min_saturation,
                min_value=min_value,
                open_radius=open_radius,
                close_radius=close_radius,
            )
            check_maskable(data)
        if boxes:
            source = KeepRegions(source, boxes)
        method = {**describe(source), "command": _command(ctx, data)}
        with _progress() as progress:
            episodes = progress.add_task("episodes", total=None)
            frames = progress.add_task("frames", total=None, visible=False)

            def start(position: int, count: int, index: int, length: int) -> None:
                progress.update(episodes, total=count, completed=position)
                progress.update(episodes, description=f"episode {index}")
                progress.reset(frames, total=length, visible=video is not None)

            if video is not None:
                video.on_frame = lambda done, total: progress.update(frames, completed=done)
            run = write_masks(
                data,
                source,
                method=method,
                sheets=not no_sheets,
                only_missing=only_missing,
                on_start=start,
                on_episode=lambda result: progress.advance(episodes),
            )
    _summary(run)
