"""One-call entry points behind `vitalskills locate`: a frame from files, or from the simulator."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vitalskills.perception.config import PerceptionConfig
from vitalskills.perception.factory import make_grounder
from vitalskills.perception.frames import read_frame
from vitalskills.perception.grounder import LocateResult
from vitalskills.robot import SceneFrame


@dataclass
class Located:
    """A result with the frame it was computed on and, in simulation, the true target."""

    result: LocateResult
    frame: SceneFrame
    truth: np.ndarray | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the result's JSON, plus the true point and the error when known."""
        data = self.result.to_json()
        if self.truth is not None:
            data["true_point"] = self.truth.tolist()
            found = self.result.point is not None
            error = float(np.linalg.norm(self.result.point - self.truth)) if found else None
            data["error_m"] = error
        return data


def locate_files(
    image: Path,
    depth: Path,
    intrinsics: str,
    query: str,
    *,
    extrinsics: Path | None = None,
    depth_scale: float = 1.0,
    grounder: str | None = None,
    overrides: dict[str, Any] | None = None,
    config: PerceptionConfig | None = None,
) -> Located:
    """Locate `query` in an image + depth pair; without extrinsics the point is camera-frame."""
    frame = read_frame(image, depth, intrinsics, extrinsics, depth_scale)
    result = make_grounder(grounder, config, overrides).locate(frame, query)
    if extrinsics is None:
        result.frame = "camera"
    return Located(result, frame)


def sim_frame(task: str, condition: str, seed: int, distractors: int | None = None) -> SceneFrame:
    """Return the scene camera's RGB-D frame of a simulated task (with privileged labels)."""
    from vitalskills.sim import SimRobot

    robot = SimRobot(task, condition=condition, seed=seed, distractors=distractors)
    try:
        robot.reset(seed=seed)
        return robot.scene()
    finally:
        robot.close()


def locate_sim(
    task: str,
    condition: str,
    seed: int,
    query: str,
    *,
    grounder: str = "sim",
    distractors: int | None = None,
    overrides: dict[str, Any] | None = None,
    config: PerceptionConfig | None = None,
) -> Located:
    """Locate `query` in a simulated scene; the answer carries the named object's true point."""
    from vitalskills.perception.sim_grounder import matching_objects

    frame = sim_frame(task, condition, seed, distractors)
    result = make_grounder(grounder, config, overrides).locate(frame, query)
    names = [name for name in matching_objects(frame, query) if name in frame.objects]
    truth = np.asarray(frame.objects[names[0]], dtype=np.float64) if names else None
    return Located(result, frame, truth)


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
