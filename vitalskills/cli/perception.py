"""`vitalskills locate`: ground a text query to a 3D point in an RGB-D frame or a sim scene."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, get_args

import typer

from vitalskills.cli.app import (
    ConnectTimeoutOption,
    CurveSecretOption,
    CurveServerOption,
    ExitCode,
    app,
    console,
    err_console,
    renamed,
    sigterm_as_interrupt,
    user_errors,
)
from vitalskills.cli.bench import refuse_given
from vitalskills.cli.sim import ConditionName, TaskName
from vitalskills.errors import UsageError
from vitalskills.perception.config import Dtype, PointFormat

if TYPE_CHECKING:
    from vitalskills.app.locate import FrameSource, Located
    from vitalskills.app.locate_live import Answer, LocateSession

_MODEL = "Model options (override the grounder's config)"
_LIVE = "Live: several queries or frames with one loaded grounder"

#: --point-format's choices: the config's `point_format` values.
PointFormatName = StrEnum("PointFormatName", [(name, name) for name in get_args(PointFormat)])
#: --dtype's choices: the config's `dtype` values.
DtypeName = StrEnum("DtypeName", [(name, name) for name in get_args(Dtype)])

REPL_PROMPT = "locate> "


def _overrides(**options: object) -> dict[str, object]:
    return {key: value for key, value in options.items() if value is not None}


@app.command()
def locate(
    image: Annotated[
        Path | None,
        typer.Argument(help="Scene RGB image (PNG/JPEG); omit with --task or --robot."),
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
    track: Annotated[
        Path | None,
        typer.Option(
            help="SAM 2 / EdgeTAM video model folder: follow a query found once to later "
            "frames by video propagation (owlv2-sam, fast).",
            rich_help_panel=_MODEL,
        ),
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
        str | None,
        typer.Option(
            help="Torch device: auto (CUDA when present, the default), cpu, cuda.",
            rich_help_panel=_MODEL,
        ),
    ] = None,
    dtype: Annotated[
        DtypeName | None,
        typer.Option(
            help="Model precision: auto (float16 on CUDA, float32 on CPU), float32, float16, "
            "bfloat16 (owlv2-sam, fast, vlm-point, sam3).",
            rich_help_panel=_MODEL,
        ),
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
    robot: Annotated[
        str | None,
        typer.Option(
            "--robot",
            help="Locate in frames of this robot's scene camera, over the bridge "
            "(tcp://HOST:PORT); the arm is not moved.",
        ),
    ] = None,
    repl: Annotated[
        bool,
        typer.Option(
            "--repl",
            help="Read queries from stdin, one a line, and answer each on the same frame "
            "(:frame takes a new one, :help lists commands).",
            rich_help_panel=_LIVE,
        ),
    ] = False,
    watch: Annotated[
        bool,
        typer.Option(
            "--watch",
            help="Locate --query on a new frame again and again (--robot or --task); Ctrl-C stops.",
            rich_help_panel=_LIVE,
        ),
    ] = False,
    interval: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            help="With --watch: start a frame at most every S seconds (default 1).",
            rich_help_panel=_LIVE,
        ),
    ] = None,
    frames: Annotated[
        int | None,
        typer.Option(min=1, help="With --watch: stop after N frames.", rich_help_panel=_LIVE),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print the result as JSON (one object a line when live)."),
    ] = False,
    out: Annotated[
        Path | None, typer.Option(help="Write an overlay PNG: box, mask and point.")
    ] = None,
    connect_timeout: ConnectTimeoutOption = 5.0,
    curve_secret: CurveSecretOption = None,
    curve_server: CurveServerOption = None,
) -> None:
    """Find QUERY in a scene RGB-D frame and print its 3D point in the robot base frame.

    Frames come from IMAGE with --depth and --intrinsics, a simulated scene (--task) or a
    robot's scene camera (--robot). --repl and --watch keep the grounder loaded for many
    queries or frames.

    Exit codes: 0: answered (not found is an answer); 1: an error stopped it, or a --repl
    line was refused; 2: a usage error; 3: no bridge server answered at --robot;
    130: interrupted (Ctrl-C or SIGTERM).
    """
    from vitalskills.app.locate_live import LocateSession
    from vitalskills.perception.factory import make_grounder
    from vitalskills.robot import RobotUnreachable

    overrides = _overrides(
        detector=detector,
        masker=masker,
        sam_checkpoint=sam_checkpoint,
        sam_type=sam_type,
        threshold=threshold,
        track=str(track) if track is not None else None,
        model=vlm_model,
        prompt=prompt,
        point_format=point_format.value if point_format else None,
        device=device,
        dtype=dtype.value if dtype else None,
    )
    with user_errors(codes={RobotUnreachable: ExitCode.UNREACHABLE}):
        task = renamed("--task", sim.value if sim else None, "--sim", sim_old)
        _check_mode(query, repl=repl, watch=watch, interval=interval, frames=frames, out=out)
        source = _open_source(
            image, depth, intrinsics, extrinsics, depth_scale, task, condition.value, seed,
            robot, watch=watch,
            connect=dict(
                connect_timeout_s=connect_timeout, curve_secret=curve_secret,
                curve_server=curve_server,
            ),
        )  # fmt: skip
        name = grounder or ("sim" if task is not None else None)
        session = LocateSession(source, lambda: make_grounder(name, overrides=overrides))
    with session, sigterm_as_interrupt():
        if repl:
            _repl(session, query, as_json)
        elif watch:
            _watch(session, query, as_json, interval=1.0 if interval is None else interval,
                   frames=frames)  # fmt: skip
        else:
            with user_errors():
                answer = session.ask(query)
            _print_once(answer.located, as_json, out)


def _check_mode(
    query: str,
    *,
    repl: bool,
    watch: bool,
    interval: float | None,
    frames: int | None,
    out: Path | None,
) -> None:
    """Refuse options that do not fit together: --repl, --watch or a single locate."""
    if repl and watch:
        raise UsageError(
            "--repl and --watch do not go together",
            hint="--repl answers queries typed on stdin; --watch repeats one --query",
        )
    if repl or watch:
        refuse_given(
            {"--out": out}, ("applies", "apply"), "to a single locate, not to --repl or --watch",
            hint="leave it out, or run one locate with --out",
        )  # fmt: skip
    if not watch:
        refuse_given(
            {"--interval": interval, "--frames": frames}, ("applies", "apply"),
            "only with --watch", hint="add --watch to locate again on new frames",
        )  # fmt: skip
    if not query.strip() and not repl:
        raise UsageError("--query is required", hint="e.g. --query 'power strip'")


def _open_source(
    image: Path | None,
    depth: Path | None,
    intrinsics: str | None,
    extrinsics: Path | None,
    depth_scale: float,
    task: str | None,
    condition: str,
    seed: int,
    robot: str | None,
    *,
    watch: bool,
    connect: dict[str, object],
) -> FrameSource:
    """The frames to locate in: files, a simulated scene or a robot's scene camera."""
    from vitalskills.app.locate import FileFrames, robot_frames, sim_frames

    given = [name for name, value in (("IMAGE", image), ("--task", task), ("--robot", robot))
             if value is not None]  # fmt: skip
    if len(given) > 1:
        raise UsageError(
            f"{' and '.join(given)} both name the frames: give one",
            hint="IMAGE with --depth and --intrinsics, --task TASK, or --robot ADDRESS",
        )
    if task is not None:
        return sim_frames(task, condition, seed)
    if robot is not None:
        return robot_frames(robot, **connect)
    if watch:
        raise UsageError(
            "--watch needs a live source: --robot ADDRESS or --task TASK",
            hint="files do not change by themselves; use --repl and :frame to read them again",
        )
    if image is None or depth is None or intrinsics is None:
        raise UsageError(
            "give IMAGE with --depth and --intrinsics, or --task TASK (a simulated scene), or "
            "--robot ADDRESS (a robot's scene camera)",
            hint="vitalskills locate scene.png --depth scene.npy --intrinsics 600,600,320,240 "
            "--query mug",
        )
    return FileFrames(image, depth, intrinsics, extrinsics, depth_scale)


def _print_once(located: Located, as_json: bool, out: Path | None) -> None:
    """Print a single locate's result (pretty JSON or a sentence) and write the overlay."""
    from vitalskills.perception.overlay import save_overlay

    if out is not None:
        with user_errors():
            save_overlay(out, located.frame, located.result, located.truth)
    if as_json:
        console.print_json(json.dumps(located.to_json()))
        return
    console.print(_sentence(located))
    if located.truth is not None and located.error_m is not None:
        console.print(
            f"true target at {located.truth.round(4).tolist()}, "
            f"error {located.error_m * 1000:.1f} mm"
        )
    if out is not None:
        console.print(f"overlay written to {out}")


def _sentence(located: Located) -> str:
    """`found QUERY with GROUNDER (score S) at (x, y, z) m, FRAME frame`, or why not."""
    result = located.result
    if not result.found:
        return f"[yellow]not found[/yellow]: {result.query}: {result.detail}"
    x, y, z = result.point
    return (
        f"found [bold]{result.query}[/bold] with {result.grounder} "
        f"(score {result.score:.3f}) at ({x:.4f}, {y:.4f}, {z:.4f}) m, {result.frame} frame"
        + (" \\[privileged]" if result.privileged else "")
    )


def _print_answer(answer: Answer, as_json: bool, prefix: str = "") -> None:
    """Print one live answer: a JSON line, or the sentence with its path and latency."""
    if as_json:
        console.print(json.dumps(answer.to_json()), markup=False, highlight=False, soft_wrap=True)
        return
    how = "tracked" if answer.tracked else "text query"
    extra = f"; {how}, {answer.latency_s * 1000:.0f} ms"
    error = answer.located.error_m
    if error is not None:
        extra += f", error {error * 1000:.1f} mm"
    console.print(prefix + _sentence(answer.located) + extra)


def _ready(session: LocateSession) -> None:
    err_console.print(
        f"[dim]grounder `{session.grounder.name}` ready in {session.load_s:.1f} s; "
        f"frames from {session.source.name}[/]"
    )


def _input_lines() -> Iterator[str]:
    """Lines of stdin: with a prompt in a terminal, plain lines when piped."""
    if not sys.stdin.isatty():
        yield from sys.stdin
        return
    import readline  # noqa: F401  (line editing and history for input())

    err_console.print("[dim]a query a line; :frame takes a new frame, :help, :quit[/]")
    while True:
        try:
            yield input(REPL_PROMPT)
        except EOFError:
            return


def _repl(session: LocateSession, query: str, as_json: bool) -> None:
    """Answer --query (if given) and each line of stdin on the session's frame."""
    from itertools import chain

    from vitalskills.app.locate_live import Help, NewFrame, Refused
    from vitalskills.app.locate_live import repl as answers

    _ready(session)
    refused = 0
    lines = chain([query] if query.strip() else [], _input_lines())
    try:
        with user_errors():
            for event in answers(session, lines):
                if isinstance(event, Refused):
                    refused += 1
                    err_console.print(event.error.render(), markup=False, highlight=False)
                elif isinstance(event, NewFrame):
                    height, width = event.frame.rgb.shape[:2]
                    err_console.print(
                        f"frame {event.index}: {width}x{height} from {session.source.name}",
                        markup=False, highlight=False,
                    )  # fmt: skip
                elif isinstance(event, Help):
                    for command, what in event.commands.items():
                        err_console.print(f"{command:8} {what}", markup=False, highlight=False)
                else:
                    _print_answer(event, as_json)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        raise typer.Exit(ExitCode.INTERRUPTED) from None
    if refused:
        raise typer.Exit(ExitCode.FAILED)


def _watch(
    session: LocateSession, query: str, as_json: bool, *, interval: float, frames: int | None
) -> None:
    """Locate `query` on new frames until `frames` are done or Ctrl-C; a line per frame."""
    from vitalskills.app.locate_live import watch

    _ready(session)
    done = 0
    try:
        with user_errors():
            for answer in watch(session, query, frames=frames, interval_s=interval):
                done += 1
                _print_answer(answer, as_json, prefix=f"frame {answer.frame_index}: ")
    except KeyboardInterrupt:
        err_console.print(f"stopped after {done} frames")
        raise typer.Exit(ExitCode.INTERRUPTED) from None
