"""Collect demonstrations on a robot by teleoperation: `vitalskills collect --robot --teleop`.

Each episode starts the arm at a random pose around the approach point, the operator
drives it to success and judges the episode (success / failure / discard / redo / quit)
with a key or button, and the arm backs out and goes to the next start. The collector's
own moves (to a start, backing out) are bounded-step commands through `robot.act`
(`vitalskills.teleop.motion`), so the same loop runs on a real arm and on the simulator
served as hardware.

The dataset records what the robot reported and the action it applied after its own
limits (`act`'s return), never what the device asked for. An episode is written
atomically when it ends (`DatasetWriter`): a killed collection loses at most the one in
progress. The robot is stopped on every way out (the end, an error, Ctrl-C).
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vitalskills.errors import UsageError
from vitalskills.learning.dataset import DatasetInfo, DatasetWriter, EpisodeMeta, EpisodeRecorder
from vitalskills.learning.errors import DatasetError
from vitalskills.robot import Observation, Robot, RobotError, SafetyStop
from vitalskills.robot.geometry import ee_pose, heading
from vitalskills.teleop import JogScale, Mark, TeleopDevice, load_device
from vitalskills.teleop.motion import (
    MotionLimits,
    Pacer,
    StartBox,
    Target,
    jog_until_marked,
    move_to,
    travel_to,
)

#: What ended an episode besides the operator's verdict.
STEP_LIMIT = "step_limit"
SAFETY_STOP = "safety_stop"
#: A verdict given before the operator sent a single command: nothing to write.
EMPTY = "empty"


# ---------------------------------------------------------------------- what the display sees
@dataclass
class TeleopStatus:
    """What the live display shows, sent to `on_event` whenever it changes.

    `phase` is `jog` (waiting for the approach point), `moving` (the collector moves the
    arm), `episode` (the operator drives), `done`.
    """

    phase: str
    message: str
    episodes: int
    written: int = 0
    attempt: int = 0
    steps: int = 0
    duration_s: float = 0.0
    tactile: float | None = None
    last_mark: str | None = None
    legend: str = ""
    device: str = ""


def tactile_magnitude(observation: Observation) -> float | None:
    """The norm of the tactile reading, when the robot has touch."""
    reading = observation.get("tactile")
    return None if reading is None else float(np.linalg.norm(np.asarray(reading, dtype=float)))


def operator_counts(robot: Robot) -> Any:
    """What the robot says about its operator side channel, if anything (else None).

    A bridge server that serves an operator view reports `operator_counts` in its
    `hello`; a robot may also offer an `operator_counts()` method with fresher counts.
    """
    method = getattr(robot, "operator_counts", None)
    if callable(method):
        return method()
    hello = getattr(robot, "hello", None)
    if isinstance(hello, dict):
        return hello.get("operator_counts")
    return None


# ---------------------------------------------------------------------- the report
@dataclass
class TeleopReport:
    """What a teleoperated collection did."""

    dataset: Path
    episodes: int
    written: list[EpisodeMeta] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    target: Target | None = None
    quit: bool = False
    steps: int = 0
    duration_s: float = 0.0
    operator_counts: Any = None

    @property
    def attempts(self) -> int:
        """Episodes the operator drove, whatever their outcome."""
        return sum(self.outcomes.values())

    def summary(self) -> str:
        """One line a person reads at the end."""
        parts = [
            f"wrote {len(self.written)} of {self.episodes} episodes "
            f"({sum(m.length for m in self.written)} steps) to {self.dataset}"
        ]
        if self.outcomes:
            counted = ", ".join(f"{n} {kind}" for kind, n in sorted(self.outcomes.items()))
            parts.append(f"attempts: {counted}")
        if self.quit:
            parts.append("stopped by the operator")
        if isinstance(self.operator_counts, dict):
            counts = ", ".join(f"{k} {v}" for k, v in self.operator_counts.items())
            parts.append(f"operator requests: {counts or 'none'}")
        return "; ".join(parts)


# ---------------------------------------------------------------------- the collection
@dataclass
class _Episode:
    mark: Mark
    reason: str
    recorder: EpisodeRecorder
    last: Observation
    duration_s: float


class TeleopCollector:
    """One teleoperated collection; `collect_teleop` is the one call that runs it."""

    def __init__(
        self,
        robot: Robot,
        device: TeleopDevice,
        *,
        episodes: int,
        start_box: StartBox,
        seed: int,
        max_steps: int,
        keep_failures: bool,
        gripper: float,
        limits: MotionLimits,
        pace: bool,
        on_event: Callable[[TeleopStatus], None] | None,
    ) -> None:
        self.robot, self.device = robot, device
        self.caps = robot.capabilities()
        self.start_box, self.seed, self.max_steps = start_box, seed, max_steps
        self.keep_failures, self.gripper = keep_failures, gripper
        self.limits = limits.for_robot(self.caps)
        self.pacer = Pacer(self.caps.control_hz, pace)
        self.on_event = on_event
        self.quitting = False
        self.status = TeleopStatus(
            phase="moving",
            message="starting",
            episodes=episodes,
            legend=str(getattr(device, "legend", "")),
            device=device.name,
        )

    def show(self, **changes: Any) -> None:
        for key, value in changes.items():
            setattr(self.status, key, value)
        if self.on_event is not None:
            self.on_event(self.status)

    def quit_asked(self) -> bool:
        """Whether the operator asked to quit while the collector moved the arm.

        Between episodes only quitting counts: any other verdict is for no episode.
        """
        if not self.quitting and self.device.mark() is Mark.QUIT:
            self.quitting = True
        return self.quitting

    def move(
        self, observation: Observation, position: np.ndarray, yaw: float
    ) -> tuple[Observation, float]:
        return move_to(
            self.robot, observation, position, yaw, limits=self.limits,
            gripper=self.gripper, pacer=self.pacer, interrupt=self.quit_asked,
        )  # fmt: skip

    def jog_target(self, observation: Observation) -> tuple[Target | None, Observation]:
        """Let the operator jog the arm to the approach point; None if they quit.

        This is no episode: nothing is recorded and the device is not reset (it was just
        opened).
        """
        self.show(
            phase="jog",
            message="jog the arm to the approach point, then mark success (Enter) to accept",
        )
        accepted, observation = jog_until_marked(
            self.robot, self.device, observation, pacer=self.pacer,
            on_step=lambda seen: self.show(tactile=tactile_magnitude(seen)),
        )  # fmt: skip
        if accepted is None:
            return None, observation
        position, rotation = ee_pose(accepted)
        return Target(tuple(float(v) for v in position), heading(rotation)), observation

    def travel(
        self, observation: Observation, position: np.ndarray, yaw: float
    ) -> tuple[Observation, float]:
        """Go to a start: level with it or higher first, then across, then down to it."""
        return travel_to(
            self.robot, observation, position, yaw, limits=self.limits, gripper=self.gripper,
            pacer=self.pacer, interrupt=self.quit_asked,
        )  # fmt: skip

    def back_out(self, observation: Observation) -> Observation:
        """Rise `backout` metres straight up from where the episode ended."""
        now, rotation = ee_pose(observation)
        up = now + np.array([0.0, 0.0, self.limits.backout])
        return self.move(observation, up, heading(rotation))[0]

    def run_episode(self, observation: Observation) -> _Episode:
        """Let the operator drive from `observation` until a verdict or the step limit."""
        recorder = EpisodeRecorder()
        self.device.reset()
        started = time.monotonic()
        self.show(phase="episode", message="operator driving", steps=0, duration_s=0.0)
        reason = "operator"
        while True:
            mark = self.device.mark()
            if mark is not None:
                break
            if recorder.length >= self.max_steps:
                mark, reason = Mark.FAILURE, STEP_LIMIT
                break
            command = np.asarray(self.device.command(observation), dtype=np.float32)
            try:
                applied = self.robot.act(command)
            except SafetyStop:
                mark, reason = Mark.FAILURE, SAFETY_STOP
                break
            recorder.record(observation, applied)
            observation = self.robot.observe()
            self.show(
                steps=recorder.length,
                duration_s=time.monotonic() - started,
                tactile=tactile_magnitude(observation),
            )
            self.pacer.wait()
        self.robot.stop()
        return _Episode(mark, reason, recorder, observation, time.monotonic() - started)


def collect_teleop(
    robot: Robot,
    device: TeleopDevice,
    *,
    out: Path,
    episodes: int,
    task: str,
    condition: str = "canonical",
    target: Target | None = None,
    start_box: StartBox | None = None,
    seed: int = 0,
    max_steps: int = 600,
    keep_failures: bool = False,
    max_attempts: int | None = None,
    gripper: float = 1.0,
    limits: MotionLimits | None = None,
    pace: bool = True,
    reset_each: bool = True,
    on_event: Callable[[TeleopStatus], None] | None = None,
) -> TeleopReport:
    """Append `episodes` teleoperated demonstrations of `task` to the dataset at `out`.

    Args:
        robot: any `Robot`; in practice the bridge client of `--robot ADDR`.
        device: the operator (built, not yet opened: it is opened and closed here).
        target: the approach point; None: the device's `suggest_target()` if it has one
            and it returns `(position, yaw)` (the scripted operator sees the scene), else
            the operator jogs the arm there and marks success to accept it.
        start_box: where episodes start around the target (default `StartBox()`).
        seed: start `k` (counting new starts, not redos) is drawn with seed `seed + k`,
            which the episode records as its seed.
        max_steps: the operator's step limit per episode; reaching it is a failure.
        keep_failures: also write episodes marked failed (and those that hit the limit).
        max_attempts: stop after this many driven episodes (None: no limit).
        gripper: the gripper command of the collector's own moves (1: closed, holding
            the object).
        limits: the collector's own moves (steps, tolerances, the back-out height).
        pace: run at the robot's control rate (a person needs it; the simulator does not).
        reset_each: call `robot.reset()` before the collection and, after backing out,
            before every later episode: it starts the robot's episode (clears a latched
            stop, re-zeroes the tactile skin, and on the simulator served as hardware
            its success latch) and may drive the arm home by its own controller. Off:
            reset once after a safety stop only.
        on_event: called with a `TeleopStatus` whenever the display should change.

    Returns:
        What was written and how each attempt ended.

    Raises:
        DatasetError: the dataset at `out` holds another task, condition or robot.
        RobotError: the robot failed (the robot is stopped first).
    """
    if episodes < 1:
        raise DatasetError(f"--episodes must be at least 1, got {episodes}")
    if max_steps < 1:
        raise UsageError(f"--max-steps must be at least 1, got {max_steps}")
    collector = TeleopCollector(
        robot, device, episodes=episodes, start_box=start_box or StartBox(), seed=seed,
        max_steps=max_steps, keep_failures=keep_failures, gripper=gripper,
        limits=limits or MotionLimits(), pace=pace, on_event=on_event,
    )  # fmt: skip
    info = DatasetInfo(
        task=task,
        condition=condition,
        control_hz=collector.caps.control_hz,
        source=f"teleop:{device.name}",
        robot=collector.caps.model_dump(mode="json"),
    )
    report = TeleopReport(dataset=Path(out), episodes=episodes)
    began = time.monotonic()
    try:
        device.open()
        with DatasetWriter(Path(out), info) as writer:
            _collect(collector, writer, report, target, max_attempts, reset_each)
    except BaseException:
        with contextlib.suppress(RobotError):  # the first error is the one to report
            robot.stop()
        raise
    else:
        robot.stop()
    finally:
        device.close()
        report.duration_s = time.monotonic() - began
        with contextlib.suppress(RobotError):
            report.operator_counts = operator_counts(robot)
    return report


def _collect(
    collector: TeleopCollector,
    writer: DatasetWriter,
    report: TeleopReport,
    target: Target | None,
    max_attempts: int | None,
    reset_each: bool,
) -> None:
    robot, device = collector.robot, collector.device
    observation = robot.reset() if reset_each else robot.observe()
    if target is None:
        suggest = getattr(device, "suggest_target", None)
        suggested = suggest() if callable(suggest) else None
        if suggested is not None:
            position, yaw = suggested
            target = Target(tuple(float(v) for v in position), yaw)
        else:
            target, observation = collector.jog_target(observation)
            if target is None:
                report.quit = True
                collector.show(phase="done", message="stopped by the operator")
                return
    if target.yaw is None:
        target = Target(target.position, heading(ee_pose(observation)[1]))
    report.target = target
    start_index, marks = 0, []
    first = True
    while len(report.written) < report.episodes:
        if max_attempts is not None and report.attempts >= max_attempts:
            break
        start_seed = collector.seed + start_index
        position, yaw = collector.start_box.draw(start_seed, target)
        collector.show(phase="moving", attempt=report.attempts + 1, steps=0, duration_s=0.0)
        if not first:
            collector.show(message="backing out")
            observation = collector.back_out(observation)
            if reset_each and not collector.quitting:
                collector.show(message="resetting the robot")
                observation = robot.reset()
        first = False
        collector.show(message="moving to the start")
        if not collector.quitting:
            observation, left = collector.travel(observation, position, yaw)
        if collector.quitting:
            report.quit = True
            collector.show(phase="done", message="stopped by the operator")
            return
        episode = collector.run_episode(observation)
        observation = episode.last
        kind = episode.reason if episode.reason != "operator" else episode.mark.value
        if episode.mark in (Mark.SUCCESS, Mark.FAILURE) and not episode.recorder.length:
            kind = EMPTY
        marks.append(kind)
        if episode.mark is Mark.QUIT:
            report.quit = True
            collector.show(phase="done", message="stopped by the operator", last_mark=kind)
            return
        report.outcomes[kind] += 1
        report.steps += episode.recorder.length
        success = episode.mark is Mark.SUCCESS
        keep = success or (episode.mark is Mark.FAILURE and collector.keep_failures)
        if keep and episode.recorder.length:
            extra = _episode_extra(collector, episode, marks, target, position, yaw, left, success)
            report.written.append(
                writer.add_episode(
                    episode.recorder.frames(), seed=start_seed, success=success, extra=extra
                )
            )
        if episode.reason == SAFETY_STOP:
            observation = robot.reset()  # clears the latched stop (before any other move)
        if episode.mark is not Mark.REDO:
            start_index += 1
            marks = []
        collector.show(written=len(report.written), last_mark=kind)
    collector.show(phase="moving", message="backing out")
    collector.back_out(observation)
    collector.show(phase="done", message="collection finished")


def _episode_extra(
    collector: TeleopCollector,
    episode: _Episode,
    marks: list[str],
    target: Target,
    position: np.ndarray,
    yaw: float,
    left: float,
    success: bool,
) -> dict[str, Any]:
    """What an episode's metadata says about how it was made."""
    extra: dict[str, Any] = {
        "operator": {
            "device": collector.device.name,
            "duration_s": round(episode.duration_s, 3),
            "marks": list(marks),
            "ended_by": episode.reason,
        },
        "start": {
            "position": [float(v) for v in position],
            "yaw": float(yaw),
            "error_m": float(left),
            "target": list(target.position),
            "target_yaw": target.yaw,
        },
    }
    if success:
        # The pose the operator judged a success at: the BC trainer's hindsight goal.
        extra["goal_ee_pose"] = [float(v) for v in np.asarray(episode.last["ee_pose"]).ravel()]
    counts = operator_counts(collector.robot)
    if counts is not None:
        extra["operator_counts"] = counts
    return extra


# ---------------------------------------------------------------------- from the command line
#: `--teleop expert`: the simulator's scripted expert as the operator.
EXPERT = "expert"


def resolve_device(
    spec: str,
    *,
    operator_view: str | None = None,
    options: dict[str, Any] | None = None,
    scale: JogScale | None = None,
) -> TeleopDevice:
    """Build the device `--teleop` names: `expert`, or what `load_device` knows.

    Raises:
        UsageError: `--operator-view` with a device that does not look at the scene.
        TeleopError: an unknown or unusable device.
    """
    options = dict(options or {})
    if spec == EXPERT:
        from vitalskills.app.scripted_operator import ScriptedOperator

        return ScriptedOperator(operator_view, **options)
    if operator_view is not None:
        raise UsageError(
            "--operator-view is for `--teleop expert` (the scripted operator looks there)",
            hint="leave it out, or pass it to your own device with --device-option KEY=VALUE",
        )
    return load_device(spec, scale=scale, options=options)


def collect_from_robot(
    address: str,
    device_spec: str,
    *,
    out: Path,
    episodes: int,
    task: str,
    condition: str = "canonical",
    target: Target | None = None,
    operator_view: str | None = None,
    device_options: dict[str, Any] | None = None,
    scale: JogScale | None = None,
    pace: bool | None = None,
    max_attempts: int | None = None,
    connect_timeout_s: float = 5.0,
    curve_secret: Path | None = None,
    curve_server: Path | None = None,
    **collect_options: Any,
) -> TeleopReport:
    """Connect to the robot at `address`, build the device, collect; what the CLI calls.

    `pace` defaults to on for a person's device and off for the scripted operator;
    `max_attempts` to 3 x `episodes` for the scripted operator (a person decides when
    to stop). Other keyword arguments go to `collect_teleop`.
    """
    from vitalskills.bridge import connect

    device = resolve_device(
        device_spec, operator_view=operator_view, options=device_options, scale=scale
    )
    scripted = device_spec == EXPERT
    if pace is None:
        pace = not scripted
    if max_attempts is None and scripted:
        max_attempts = 3 * episodes
    robot = connect(
        address,
        connect_timeout_s=connect_timeout_s,
        curve_secret=curve_secret,
        curve_server=curve_server,
    )
    try:
        return collect_teleop(
            robot, device, out=out, episodes=episodes, task=task, condition=condition,
            target=target, pace=pace, max_attempts=max_attempts, **collect_options,
        )  # fmt: skip
    finally:
        robot.close()
