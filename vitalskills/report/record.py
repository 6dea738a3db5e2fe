"""`--record DIR`: what a run leaves behind for a person to look at afterwards.

    DIR/trace.jsonl   every event, with run-clock and wall timestamps
    DIR/video.mp4     wrist camera | scene camera, with the plan's state written under them
    DIR/signals.png   tactile readings and actions over the run
    DIR/summary.json  the outcome of the task and of each node, and where the time went
    DIR/run.rrd       the same run for the rerun viewer (`report.rerun_log`)

Frames and signals are taken once per action the executor sends: the recorder wraps the
robot, forwards each call, then reads an observation (and every few actions a scene
frame) through its own, untimed, handle on the robot. It also wraps the grounders, so the
rerun log gets the frame and mask behind each `locate`. With no folder (`run --rerun`
alone) it only streams to the rerun viewer.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vitalskills.errors import VitalskillsError
from vitalskills.report.frames import compose_frame
from vitalskills.report.plot import plot_signals
from vitalskills.report.rerun_log import RerunLog
from vitalskills.report.summary import SummaryCollector
from vitalskills.robot import Observation, Robot, RobotCapabilities, SceneFrame
from vitalskills.runtime.events import Event
from vitalskills.runtime.executor import RunResult
from vitalskills.runtime.timing import Timings
from vitalskills.runtime.trace import TraceWriter

if TYPE_CHECKING:
    from vitalskills.perception.grounder import Grounder, LocateResult

FILES = {
    "trace": "trace.jsonl",
    "video": "video.mp4",
    "signals": "signals.png",
    "summary": "summary.json",
    "rerun": "run.rrd",
}
COMPOSITES = {"sequence", "if_found", "try", "retry", "timeout", "repeat"}


class RecordError(VitalskillsError):
    """A recording could not be written or read back."""

    code = "X010"


class Recorder:
    """Record one run into `directory` (created; files in it are overwritten).

    Args:
        directory: where the files go; None records nothing to disk (with `live`).
        scene_every: grab a scene camera frame every this many actions (it is the
            costliest part of recording; the wrist camera comes with every action).
        live: also stream to a rerun viewer: `rerun_log.SPAWN` or a viewer's URL.

    Raises:
        RecordError: the folder cannot be created.
        RerunUnavailable: the viewer `live` names cannot be reached or opened.
    """

    def __init__(
        self, directory: Path | None, *, scene_every: int = 3, live: str | None = None
    ) -> None:
        self.directory = None if directory is None else Path(directory)
        if self.directory is not None:
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise RecordError(
                    f"cannot create the recording folder `{directory}`: {error.strerror}",
                    hint="pass a writable folder with --record",
                ) from None
        # The viewer is checked first: a refused one leaves no open trace behind.
        rrd = None if self.directory is None else self.directory / FILES["rerun"]
        self.rerun = RerunLog(rrd, live=live) if rrd is not None or live is not None else None
        self.trace: TraceWriter | None = None
        if self.directory is not None:
            self.trace = TraceWriter(self.directory / FILES["trace"])
        self.scene_every = max(1, scene_every)
        self.collector = SummaryCollector()
        self.fetch: Robot | None = None
        self.control_hz = 10.0
        self.writer: Any = None
        self.scene_rgb: np.ndarray | None = None
        self.lines = ["", "", ""]
        self.steps = 0
        self.render_s = 0.0
        self.tactile: list[np.ndarray] = []
        self.actions: list[np.ndarray] = []
        self.spans: list[tuple[str, int, int | None]] = []

    def wrap(self, robot: Robot, fetch: Robot) -> Robot:
        """Return `robot` with every action recorded; frames are read through `fetch`."""
        self.fetch = fetch
        self.control_hz = fetch.capabilities().control_hz
        return RecordingRobot(robot, self)

    def wrap_grounders(self, grounders: dict[str, Grounder]) -> dict[str, Grounder]:
        """Return `grounders` with each frame they ground in, and their result, recorded."""
        return {name: RecordingGrounder(grounder, self) for name, grounder in grounders.items()}

    def __call__(self, event: Event) -> None:
        if self.trace is not None:
            self.trace(event)
        self.collector(event)
        if self.rerun is not None:
            self.rerun.event(event)
        if event.kind in COMPOSITES or event.node is None:
            if event.event == "task_finished":
                self.lines[0] = f"task {self.collector.task}: {event.status}"
                self.lines[1] = event.reason or ""
            return
        icon = {"running": ">", "success": "ok", "failure": "FAILED", "halted": "HALTED"}
        self.lines[1] = f"{event.label}  [{icon.get(event.status or '', event.status)}]"
        self.lines[2] = event.reason or ""
        if event.kind == "run_skill":
            if event.event == "node_started":
                self.spans.append((event.label or "", self.steps, None))
            elif event.event == "node_finished" and self.spans:
                label, start, _ = self.spans[-1]
                self.spans[-1] = (label, start, self.steps)

    def on_action(self, applied: np.ndarray) -> None:
        """Take one sample and one video frame after an action was applied."""
        assert self.fetch is not None
        start = time.perf_counter()
        observation = self.fetch.observe()
        fresh = self.steps % self.scene_every == 0
        if fresh:
            self.scene_rgb = self.fetch.scene().rgb
        self.steps += 1
        tactile = np.asarray(observation.get("tactile", np.zeros(0)), np.float32).reshape(-1)
        self.tactile.append(tactile)
        self.actions.append(np.asarray(applied, np.float32).reshape(-1))
        self.lines[0] = (
            f"task {self.collector.task}   t = {self.steps / self.control_hz:5.1f} s   "
            f"step {self.steps}   |tactile| = {float(np.linalg.norm(tactile)):.3f}"
        )
        if self.rerun is not None:
            self.rerun.sample(self.steps, observation, self.scene_rgb if fresh else None, applied)
        if self.directory is not None:
            self._write(compose_frame(observation.get("wrist_rgb"), self.scene_rgb, self.lines))
        self.render_s += time.perf_counter() - start

    def on_locate(self, frame: SceneFrame, result: LocateResult) -> None:
        """Keep the frame a grounder saw and what it found, for the rerun log."""
        if self.rerun is not None:
            self.rerun.grounded_in(frame, result)

    def _write(self, frame: np.ndarray) -> None:
        assert self.directory is not None
        if self.writer is None:
            import imageio.v2 as imageio

            self.writer = imageio.get_writer(
                self.directory / FILES["video"],
                fps=self.control_hz,
                codec="libx264",
                quality=7,
                macro_block_size=16,
                ffmpeg_log_level="error",
            )
        self.writer.append_data(frame)

    def finish(self, result: RunResult | None, timings: Timings) -> None:
        """Close the video and the rerun log, draw the signals, write the summary.

        Safe after a failed start.
        """
        start = time.perf_counter()
        if self.rerun is not None:
            self.rerun.close()
        if self.directory is not None:
            self._write_files(result, timings, start)

    def _write_files(self, result: RunResult | None, timings: Timings, start: float) -> None:
        assert self.directory is not None and self.trace is not None
        if self.writer is None and self.lines[0]:
            # A run that never acted still gets a one-frame video of how it ended.
            self._write(compose_frame(None, self.scene_rgb, self.lines))
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        self.trace.close()
        plot_signals(
            self.directory / FILES["signals"],
            np.array(self.tactile) if self.tactile else np.zeros((0, 0)),
            np.array(self.actions) if self.actions else np.zeros((0, 7)),
            self.control_hz,
            self.spans,
            title=f"task {self.collector.task}",
        )
        self.render_s += time.perf_counter() - start
        timings.add("render", self.render_s, calls=self.steps)
        files = {k: v for k, v in FILES.items() if (self.directory / v).exists() or k == "summary"}
        summary = self.collector.summary(
            steps=self.steps,
            timings=timings.to_json(),
            files=files,
            error=None if result is not None else "the run stopped before it finished",
        )
        (self.directory / FILES["summary"]).write_text(json.dumps(summary, indent=2) + "\n")


class RecordingRobot:
    """A `Robot` that tells its recorder about every action it forwards."""

    def __init__(self, robot: Robot, recorder: Recorder) -> None:
        self.inner = robot
        self.recorder = recorder

    def capabilities(self) -> RobotCapabilities:
        return self.inner.capabilities()

    def reset(self, seed: int | None = None) -> Observation:
        return self.inner.reset(seed=seed)

    def observe(self) -> Observation:
        return self.inner.observe()

    def act(self, action: np.ndarray) -> np.ndarray:
        applied = self.inner.act(action)
        self.recorder.on_action(applied)
        return applied

    def stop(self) -> None:
        self.inner.stop()

    def scene(self) -> SceneFrame:
        return self.inner.scene()

    def close(self) -> None:
        self.inner.close()


class RecordingGrounder:
    """A `Grounder` that tells its recorder about every frame it grounds in, and the result."""

    def __init__(self, grounder: Grounder, recorder: Recorder) -> None:
        self.inner = grounder
        self.recorder = recorder
        self.name = grounder.name

    def locate(self, frame: SceneFrame, query: str) -> LocateResult:
        result = self.inner.locate(frame, query)
        self.recorder.on_locate(frame, result)
        return result


def read_recording(directory: Path) -> dict[str, Any]:
    """Load a recording's summary, checking the folder holds one.

    Raises:
        RecordError: no `summary.json`, or it is not JSON.
    """
    path = Path(directory) / FILES["summary"]
    if not path.is_file():
        raise RecordError(
            f"`{directory}` is not a run recording (no {FILES['summary']})",
            hint="record a run with `vitalskills run TASK --record DIR`",
        )
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise RecordError(f"cannot read `{path}`: {error}") from None
