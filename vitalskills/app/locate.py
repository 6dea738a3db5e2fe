"""What `vitalskills locate` reads frames from and reports, and the simulator's accuracy check."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from vitalskills.perception.config import PerceptionConfig
from vitalskills.perception.factory import make_grounder
from vitalskills.perception.frames import read_frame
from vitalskills.perception.grounder import LocateResult
from vitalskills.robot import Robot, SceneFrame


@dataclass
class Located:
    """A result with the frame it was computed on and, in simulation, the true target."""

    result: LocateResult
    frame: SceneFrame
    truth: np.ndarray | None = None

    @property
    def error_m(self) -> float | None:
        """The distance (m) from the found point to the true target, when both are known."""
        if self.truth is None or self.result.point is None:
            return None
        return float(np.linalg.norm(self.result.point - self.truth))

    def to_json(self) -> dict[str, Any]:
        """Return the result's JSON, plus the true point and the error when known."""
        data = self.result.to_json()
        if self.truth is not None:
            data["true_point"] = self.truth.tolist()
            data["error_m"] = self.error_m
        return data


class FrameSource(Protocol):
    """Where a session's frames come from."""

    @property
    def name(self) -> str:
        """What the source is, for status lines: `scene.png`, `sim:plug_in_socket`, ..."""
        ...

    @property
    def point_frame(self) -> str:
        """The frame results are in: `base`, or `camera` for files without extrinsics."""
        ...

    def grab(self) -> SceneFrame: ...

    def close(self) -> None: ...


@dataclass
class FileFrames:
    """An image + depth pair on disk; each grab reads the files again."""

    image: Path
    depth: Path
    intrinsics: str
    extrinsics: Path | None = None
    depth_scale: float = 1.0

    @property
    def name(self) -> str:
        return str(self.image)

    @property
    def point_frame(self) -> str:
        return "camera" if self.extrinsics is None else "base"

    def grab(self) -> SceneFrame:
        """Read the files (raises `UsageError` / `BadFrame` for a bad file)."""
        return read_frame(
            self.image, self.depth, self.intrinsics, self.extrinsics, self.depth_scale
        )

    def close(self) -> None:
        """Nothing to release."""


class RobotFrames:
    """A robot's scene camera: the in-process simulator, or a bridge client.

    Args:
        robot: the robot; this source closes it.
        name: what to call it in status lines.
    """

    point_frame = "base"

    def __init__(self, robot: Robot, name: str) -> None:
        self.robot = robot
        self.name = name

    def grab(self) -> SceneFrame:
        """Ask the robot for one scene-camera frame."""
        return self.robot.scene()

    def close(self) -> None:
        """Close the robot (a bridge client also asks the arm to stop, as it always does)."""
        self.robot.close()


def sim_frames(task: str, condition: str, seed: int, distractors: int | None = None) -> RobotFrames:
    """The scene camera of simulated `task` after a reset with `seed` (privileged labels)."""
    from vitalskills.sim import SimRobot

    robot = SimRobot(task, condition=condition, seed=seed, distractors=distractors)
    try:
        robot.reset(seed=seed)
    except BaseException:
        robot.close()
        raise
    return RobotFrames(robot, f"sim:{task}")


def robot_frames(address: str, **connect_options: Any) -> RobotFrames:
    """The scene camera of the robot at bridge `address` (`bridge.client.connect` options).

    Raises:
        RobotUnreachable: no bridge server answered.
    """
    from vitalskills.bridge.client import connect

    return RobotFrames(connect(address, **connect_options), address)


def sim_frame(task: str, condition: str, seed: int, distractors: int | None = None) -> SceneFrame:
    """Return the scene camera's RGB-D frame of a simulated task (with privileged labels)."""
    source = sim_frames(task, condition, seed, distractors)
    try:
        return source.grab()
    finally:
        source.close()


def true_point(frame: SceneFrame, query: str) -> np.ndarray | None:
    """Return the true point of the object `query` names, when the frame carries one.

    Only a frame with privileged labels does: a simulated scene, in process or served
    over the bridge without `--hardware`. Camera files and a real robot's camera do not,
    and the answer is None.
    """
    from vitalskills.perception.sim_grounder import matching_objects

    names = [name for name in matching_objects(frame, query) if name in frame.objects]
    return np.asarray(frame.objects[names[0]], dtype=np.float64) if names else None


@dataclass
class SimReport:
    """How close the grounder came to the true target over simulated scenes."""

    tasks: list[str]
    seeds: list[int]
    errors_m: list[float]
    absent_not_found: int
    distractors_seen: int

    def within(self, tolerance_m: float) -> float:
        """Return the fraction of scenes whose error is at most `tolerance_m`."""
        return float(np.mean([error <= tolerance_m for error in self.errors_m]))


def evaluate_sim(
    tasks: list[str],
    seeds: range | list[int],
    *,
    condition: str = "scene",
    grounder: str = "sim",
    absent_query: str = "screwdriver",
    config: PerceptionConfig | None = None,
) -> SimReport:
    """Locate each task's target in seed `s` of task `tasks[s % len(tasks)]`; measure error.

    A scene where the target is not found counts as an infinite error. Every scene is
    also asked for `absent_query`, which no scene contains.
    """
    from vitalskills.sim import TASKS

    locator = make_grounder(grounder, config)
    errors, absent_ok, distractors = [], 0, 0
    for seed in seeds:
        spec = TASKS[tasks[seed % len(tasks)]]
        frame = sim_frame(spec.name, condition, seed)
        distractors += sum(name.startswith("distractor") for name in frame.labels)
        result = locator.locate(frame, spec.target_labels[0])
        truth = frame.objects[spec.target]
        errors.append(float(np.linalg.norm(result.point - truth)) if result.found else np.inf)
        absent_ok += not locator.locate(frame, absent_query).found
    return SimReport(list(tasks), list(seeds), errors, absent_ok, distractors)
