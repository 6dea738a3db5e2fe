"""`vitalskills locate`: ground a text query to a 3D point in an RGB-D frame or a sim scene."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, get_args

import typer

from vitalskills.cli.app import app, console, renamed, user_errors
from vitalskills.cli.sim import ConditionName, TaskName
from vitalskills.errors import UsageError
from vitalskills.perception.config import PointFormat

_MODEL = "Model options (override the grounder's config)"

#: --point-format's choices: the config's `point_format` values.
PointFormatName = StrEnum("PointFormatName", [(name, name) for name in get_args(PointFormat)])


def _overrides(**options: object) -> dict[str, object]:
    return {key: value for key, value in options.items() if value is not None}


@app.command()
def locate(
    image: Annotated[
        Path | None, typer.Argument(help="Scene RGB image (PNG/JPEG); omit with --task.")
    ] = None,
    query: Annotated[
        str, typer.Option("--query", "-q", help="What to find, e.g. 'power strip'.")
    ] = "",
    depth: Annotated[
        Path | None, typer.Option(help="Depth map as .npy, metres (see --depth-scale).")
    ] = None,
    intrinsics: Annotated[
        str | None, typer.Option(help="Pinhole intrinsics fx,fy,cx,cy in pixels.")
    ] = None,
    extrinsics: Annotated[
        Path | None,
        typer.Option(help="4x4 camera-to-base matrix (.npy/.json/.yaml); else camera frame."),
    ] = None,
    depth_scale: Annotated[float, typer.Option(help="Multiply depth by this to get metres.")] = 1.0,
    grounder: Annotated[
        str | None,
        typer.Option(help="Grounder: fast, owlv2-sam, vlm-point, sam3, sim or one from config."),
    ] = None,
    detector: Annotated[
        str | None,
        typer.Option(help="Detector directory or cached HF id.", rich_help_panel=_MODEL),
    ] = None,
    masker: Annotated[
        str | None,
        typer.Option(
            help="Masker: a SAM / SAM-HQ / SAM 2 / EdgeTAM model folder or cached HF id, "
            "or a sam_vit_*.pth.",
            rich_help_panel=_MODEL,
        ),
    ] = None,
    sam_checkpoint: Annotated[
        Path | None, typer.Option(help="SAM checkpoint sam_vit_*.pth.", rich_help_panel=_MODEL)
    ] = None,
    sam_type: Annotated[
        str | None,
        typer.Option(
            help="SAM type vit_b/vit_l/vit_h (default: from file name).", rich_help_panel=_MODEL
        ),
    ] = None,
    threshold: Annotated[
        float | None, typer.Option(help="Minimum detector score.", rich_help_panel=_MODEL)
    ] = None,
    vlm_model: Annotated[
        str | None,
        typer.Option(help="Pointing VLM directory or cached HF id.", rich_help_panel=_MODEL),
    ] = None,
    prompt: Annotated[
        str | None,
        typer.Option(
            help="VLM prompt with {query}, e.g. 'Point at the {query}.'", rich_help_panel=_MODEL
        ),
    ] = None,
    point_format: Annotated[
        PointFormatName | None,
        typer.Option(
            help="How the VLM writes points: auto (from its config.json), molmo, molmo2, qwen3, "
            "or bare pairs in pixels/percent/unit/permille.",
            rich_help_panel=_MODEL,
        ),
    ] = None,
    device: Annotated[
        str | None, typer.Option(help="Torch device: cpu, cuda, ...", rich_help_panel=_MODEL)
    ] = None,
    sim: Annotated[
        TaskName | None,
        typer.Option("--task", help="Locate in a simulated scene of this task instead."),
    ] = None,
    sim_old: Annotated[str | None, typer.Option("--sim", hidden=True)] = None,
    condition: Annotated[
        ConditionName, typer.Option(help="Simulator condition (with --task).")
    ] = ConditionName.canonical,
    seed: Annotated[int, typer.Option(help="Simulator scene seed (with --task).")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    out: Annotated[
        Path | None, typer.Option(help="Write an overlay PNG: box, mask and point.")
    ] = None,
) -> None:
    """Find QUERY in a scene RGB-D frame and print its 3D point in the robot base frame."""
    from vitalskills.app.locate import locate_files, locate_sim
    from vitalskills.perception.overlay import save_overlay

    overrides = _overrides(
        detector=detector,
        masker=masker,
        sam_checkpoint=sam_checkpoint,
        sam_type=sam_type,
        threshold=threshold,
        model=vlm_model,
        prompt=prompt,
        point_format=point_format.value if point_format else None,
        device=device,
    )
    with user_errors():
        task = renamed("--task", sim.value if sim else None, "--sim", sim_old)
        if not query:
            raise UsageError("--query is required", hint="e.g. --query 'power strip'")
        if task is not None:
            located = locate_sim(
                task, condition.value, seed, query, grounder=grounder or "sim",
                overrides=overrides,
            )  # fmt: skip
        elif image is None or depth is None or intrinsics is None:
            raise UsageError(
                "give IMAGE with --depth and --intrinsics, or --task TASK (a simulated scene)",
                hint="vitalskills locate scene.png --depth scene.npy --intrinsics 600,600,320,240 "
                "--query mug",
            )
        else:
            located = locate_files(
                image,
                depth,
                intrinsics,
                query,
                extrinsics=extrinsics,
                depth_scale=depth_scale,
                grounder=grounder,
                overrides=overrides,
            )
        if out is not None:
            save_overlay(out, located.frame, located.result, located.truth)
    result = located.result
    if as_json:
        console.print_json(json.dumps(located.to_json()))
        return
    if result.found:
        x, y, z = result.point
        console.print(
            f"found [bold]{result.query}[/bold] with {result.grounder} "
            f"(score {result.score:.3f}) at ({x:.4f}, {y:.4f}, {z:.4f}) m, {result.frame} frame"
            + (" [privileged]" if result.privileged else "")
        )
    else:
        console.print(f"[yellow]not found[/yellow]: {result.query}: {result.detail}")
    if located.truth is not None and result.point is not None:
        console.print(
            f"true target at {located.truth.round(4).tolist()}, "
            f"error {located.to_json()['error_m'] * 1000:.1f} mm"
        )
    if out is not None:
        console.print(f"overlay written to {out}")
