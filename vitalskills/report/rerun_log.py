"""A run as a rerun recording: `run --record DIR` writes `DIR/run.rrd`, `run --rerun` streams it.

The recorder (`report.record.Recorder`) feeds this from the hooks that also make the video:
every event, one sample per action the robot applied, and each frame a grounder saw with
what it found. Entity paths (the table is in docs/running.md):

    plan/events                 TextLog            every event of the run
    plan/nodes/<id>_<kind>      TextLog            a node's status when it changes, and why
    cameras/wrist               EncodedImage       every action (JPEG)
    cameras/scene               EncodedImage       every few actions (JPEG)
    locate/<name>/scene         EncodedImage       the scene frame a `locate` grounded in
    locate/<name>/scene/mask    SegmentationImage  the grounder's mask (lossless; 1 = target)
    signals/tactile             Scalars            every action
    signals/action              Scalars            the applied 7-D action, every action
    world/ee                    Transform3D        the end effector in the base frame
    world/targets/<name>        Points3D           a located target in the base frame

Everything is on the `step` timeline (actions applied so far); rerun adds `log_time`.
`import rerun` costs about a second, so it happens when a log is opened, not at import.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import numpy as np

from vitalskills.errors import VitalskillsError
from vitalskills.robot import Observation, SceneFrame
from vitalskills.robot.geometry import ee_pose
from vitalskills.runtime.events import Event

if TYPE_CHECKING:
    import rerun as rr

    from vitalskills.perception.grounder import LocateResult

log = logging.getLogger("vitalskills.report")

SPAWN = "spawn"
"""`live=SPAWN` starts a viewer on this machine and streams to it."""

SPAWN_PORT = 9876
"""The port a spawned viewer listens on (rerun's default: an open viewer there is reused)."""

CONNECT_TIMEOUT_S = 2.0
"""How long to wait for a viewer at `--rerun-url` to accept a connection before the run."""

CLOSE_TIMEOUT_S = 10.0
"""How long closing waits for logged data to reach the file and the viewer."""

JPEG_QUALITY = 90
"""Camera images are JPEG: raw frames would make a minute's run hundreds of megabytes."""

ACTION_NAMES = ["dx", "dy", "dz", "rx", "ry", "rz", "gripper"]


class RerunUnavailable(VitalskillsError):
    """No viewer to stream to: a bad or unreachable `--rerun-url`, or no display to spawn on."""

    code = "X011"


def check_viewer_url(url: str) -> None:
    """Fail before anything runs when no rerun viewer accepts connections at `url`.

    Raises:
        RerunUnavailable: `url` is not a rerun gRPC address, or nothing listens there.
    """
    parts = urlsplit(url)
    if parts.scheme not in {"rerun", "rerun+http", "rerun+https"} or not parts.hostname:
        raise RerunUnavailable(
            f"`{url}` is not a rerun viewer address",
            hint="pass --rerun-url rerun+http://HOST:PORT/proxy (a viewer started with `rerun` "
            "listens on rerun+http://127.0.0.1:9876/proxy)",
        )
    port = parts.port or (80 if parts.scheme == "rerun+http" else 443)
    try:
        socket.create_connection((parts.hostname, port), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as error:
        raise RerunUnavailable(
            f"no rerun viewer answered at {url}: {error.strerror or error}",
            hint="start one with `rerun` (it listens on rerun+http://127.0.0.1:9876/proxy), "
            "check the address, or leave --rerun-url out",
        ) from None


def spawn_viewer(stream: rr.RecordingStream) -> str:
    """Start a rerun viewer on this machine (or reuse the one on its port) for `stream`.

    Returns its URL, for the stream's sink.

    Raises:
        RerunUnavailable: there is no display to open its window on.
    """
    import rerun as rr

    linux = sys.platform.startswith("linux")
    if linux and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise RerunUnavailable(
            "--rerun opens a viewer window, but this machine has no display "
            "(neither DISPLAY nor WAYLAND_DISPLAY is set)",
            hint="stream to a viewer on another machine with --rerun-url "
            "rerun+http://HOST:9876/proxy, or record with --record DIR and open DIR/run.rrd "
            "with `rerun` later",
        )
    # Without `recording`, rerun finds no enabled recording and skips the spawn.
    rr.spawn(port=SPAWN_PORT, connect=False, executable_path=viewer_executable(), recording=stream)
    return f"rerun+http://127.0.0.1:{SPAWN_PORT}/proxy"


def viewer_executable() -> str | None:
    """The viewer shipped with the installed SDK (the same version), or None to search PATH."""
    import rerun_cli

    binary = Path(rerun_cli.__file__).with_name("rerun")
    return str(binary) if binary.is_file() else None


class RerunLog:
    """Log one run into an `.rrd` file, a live viewer, or both.

    Args:
        path: the `.rrd` file to write (overwritten), or None.
        live: None, `SPAWN` (start a viewer here), or a viewer's URL
            (`rerun+http://HOST:PORT/proxy`), checked before anything runs.

    Raises:
        RerunUnavailable: `live` names a viewer that cannot be reached or opened.
    """

    def __init__(self, path: Path | None, *, live: str | None = None) -> None:
        import rerun as rr

        self.stream = rr.RecordingStream("vitalskills", recording_id=uuid.uuid4())
        sinks: list[Any] = []
        if live == SPAWN:
            sinks.append(rr.GrpcSink(spawn_viewer(self.stream)))
        elif live is not None:
            check_viewer_url(live)
            sinks.append(rr.GrpcSink(live))
        if path is not None:  # after the viewer's checks, so that a refusal writes no file
            sinks.append(rr.FileSink(Path(path)))
        self.stream.set_sinks(*sinks)
        self.step = 0
        self.statuses: dict[int, str | None] = {}
        self.grounded: dict[str, tuple[SceneFrame, LocateResult]] = {}
        self.stream.log("world", rr.ViewCoordinates.RIGHT_HAND_Z_UP, static=True)
        self.stream.log("world/ee", rr.TransformAxes3D(0.05), static=True)
        self.stream.log("signals/action", rr.SeriesLines(names=ACTION_NAMES), static=True)
        self.stream.log(
            "locate",
            rr.AnnotationContext([(0, "background", (0, 0, 0, 0)), (1, "target", (255, 0, 80))]),
            static=True,
        )

    def event(self, event: Event) -> None:
        """Log an event, a node's status change, and a finished `locate`'s target and mask."""
        import rerun as rr

        level = _level(event)
        if event.event == "task_started":
            self.stream.send_recording_name(str(event.values.get("task", "run")))
        self.stream.set_time("step", sequence=self.step)
        self.stream.log("plan/events", rr.TextLog(_describe(event), level=level))
        if event.node is not None and self.statuses.get(event.node, "") != event.status:
            self.statuses[event.node] = event.status
            self.stream.log(
                f"plan/nodes/{event.node:02d}_{event.kind}",
                rr.TextLog(f"{event.label}: {event.status} ({event.reason})", level=level),
            )
        if event.kind == "locate" and event.event == "node_finished":
            self._located(event.values)

    def grounded_in(self, frame: SceneFrame, result: LocateResult) -> None:
        """Keep the frame a grounder saw and its result until the `locate` finishes."""
        self.grounded[result.query] = (frame, result)

    def sample(
        self,
        step: int,
        observation: Observation,
        scene_rgb: np.ndarray | None,
        applied: np.ndarray,
    ) -> None:
        """Log what the robot reported after action number `step` (1-based) was applied.

        Args:
            scene_rgb: a scene camera image taken now, or None when none was.
        """
        import rerun as rr

        self.step = step
        self.stream.set_time("step", sequence=step)
        if "wrist_rgb" in observation:
            self._image("cameras/wrist", observation["wrist_rgb"])
        if scene_rgb is not None:
            self._image("cameras/scene", scene_rgb)
        if "tactile" in observation:
            tactile = np.asarray(observation["tactile"], np.float64).reshape(-1)
            self.stream.log("signals/tactile", rr.Scalars(tactile))
        self.stream.log("signals/action", rr.Scalars(np.asarray(applied, np.float64).reshape(-1)))
        if "ee_pose" in observation:
            position, rotation = ee_pose(observation)
            self.stream.log("world/ee", rr.Transform3D(translation=position, mat3x3=rotation))

    def close(self) -> None:
        """Write everything logged to the file and the viewer, then close them.

        A viewer that went away mid-run costs it the rest of the stream, not the run: that
        is a warning, and the file is still completed.
        """
        try:
            self.stream.flush(timeout_sec=CLOSE_TIMEOUT_S)
        except RuntimeError as error:
            log.warning("the rerun viewer did not receive the whole run: %s", error)
        finally:
            self.stream.disconnect()

    def _located(self, values: dict[str, Any]) -> None:
        import rerun as rr

        label = str(values.get("name", ""))
        part = rr.escape_entity_path_part(label)
        seen = self.grounded.pop(str(values.get("query")), None)
        if seen is not None:
            frame, result = seen
            self._image(f"locate/{part}/scene", frame.rgb)
            if result.mask is not None:
                mask = np.asarray(result.mask).astype(np.uint8)
                self.stream.log(f"locate/{part}/scene/mask", rr.SegmentationImage(mask))
        point = values.get("point")
        if values.get("found") and point is not None:
            self.stream.log(
                f"world/targets/{part}",
                rr.Points3D([np.asarray(point, np.float64)[:3]], radii=0.01, labels=[label]),
            )
        else:
            # A target not found this time must not leave an earlier one on screen.
            self.stream.log(f"world/targets/{part}", rr.Clear(recursive=False))

    def _image(self, entity: str, rgb: np.ndarray) -> None:
        import rerun as rr

        image = np.ascontiguousarray(np.asarray(rgb)[..., :3], dtype=np.uint8)
        self.stream.log(entity, rr.Image(image).compress(jpeg_quality=JPEG_QUALITY))


def _level(event: Event) -> str:
    if event.status == "failure":
        return "ERROR"
    if event.status == "halted":
        return "WARN"
    return "DEBUG" if event.event == "node_progress" else "INFO"


def _describe(event: Event) -> str:
    """One line per event: what happened, to which node, with what status and why."""
    head = f"t={event.t:.2f} s {event.event}"
    if event.node is None:
        task = event.values.get("task")
        head += f" {task}" if task else ""
        return f"{head}: {event.status} ({event.reason})" if event.status else head
    return f"{head} [{event.node}] {event.label}: {event.status} ({event.reason})"
