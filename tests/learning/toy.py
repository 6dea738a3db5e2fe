"""A tiny real robot for pipeline tests: a square moves on a 2-D table towards a target.

It implements the `Robot` interface with the same observation keys and label-map mask
as the simulator, renders real images, and has an expert whose action depends on what
the image shows, so a policy can learn from its demonstrations. It stands in for the
MuJoCo simulator only where a test must be fast; the end-to-end test uses the simulator.
"""

from __future__ import annotations

import time

import numpy as np

from vitalskills.robot import CameraSpec, Observation, RobotCapabilities, SceneFrame

LABELS = {"background": 0, "target": 1, "gripper": 2, "held": 3}


class ToyRobot:
    """A square `gripper` pushing towards a `target` disc; success within 2 pixels."""

    def __init__(self, size: int = 32, step_delay: float = 0.0) -> None:
        self.size = size
        self.step_delay = step_delay
        self.pos = np.zeros(2)
        self.target = np.zeros(2)
        self.rng = np.random.default_rng(0)
        self.stopped = 0

    def capabilities(self) -> RobotCapabilities:
        return RobotCapabilities(
            name="toy",
            sensors=["wrist_rgb", "tactile", "ee_pose", "gripper"],
            cameras=[CameraSpec(name="wrist_rgb", width=self.size, height=self.size)],
            tactile_dim=15,
            privileged=True,
        )

    def reset(self, seed: int | None = None) -> Observation:
        self.rng = np.random.default_rng(seed)
        self.pos = self.rng.uniform(4, self.size - 4, 2)
        self.target = self.rng.uniform(4, self.size - 4, 2)
        return self.observe()

    def observe(self) -> Observation:
        n = self.size
        yy, xx = np.mgrid[0:n, 0:n]
        labels = np.zeros((n, n), np.uint8)
        disc = (yy - self.target[1]) ** 2 + (xx - self.target[0]) ** 2 <= 9
        labels[disc] = LABELS["target"]
        square = (np.abs(yy - self.pos[1]) <= 2) & (np.abs(xx - self.pos[0]) <= 2)
        labels[square] = LABELS["gripper"]
        rgb = (self.rng.uniform(0, 60, (n, n, 3))).astype(np.uint8)
        rgb[labels == LABELS["target"]] = (220, 40, 40)
        rgb[labels == LABELS["gripper"]] = (40, 220, 40)
        delta = self.target - self.pos
        tactile = np.zeros(15, np.float32)
        tactile[:2] = delta / n
        return {
            "wrist_rgb": rgb,
            "tactile": tactile,
            "ee_pose": np.array([*self.pos / n, 0.0, 1.0, 0.0, 0.0, 0.0], np.float32),
            "gripper": np.ones(1, np.float32),
            "success": np.array([np.linalg.norm(delta) < 2.0]),
            "privileged/wrist_mask": labels,
        }

    def act(self, action: np.ndarray) -> np.ndarray:
        applied = np.clip(np.asarray(action, np.float32), -1.0, 1.0)
        self.pos = np.clip(self.pos + 2.0 * applied[:2], 0, self.size - 1)
        if self.step_delay:
            time.sleep(self.step_delay)
        return applied

    def stop(self) -> None:
        self.stopped += 1

    def scene(self) -> SceneFrame:
        raise NotImplementedError("the toy robot has no scene camera")

    def close(self) -> None:
        pass


class ToyExpert:
    """Move towards the target at most one unit per axis per step."""

    def reset(self) -> None:
        pass

    def act(self, observation: Observation) -> np.ndarray:
        labels = observation["privileged/wrist_mask"]
        ty, tx = np.argwhere(labels == LABELS["target"]).mean(axis=0)
        pos = observation["ee_pose"][:2] * labels.shape[0]
        step = np.clip((np.array([tx, ty]) - pos) / 2.0, -1.0, 1.0)
        return np.array([step[0], step[1], 0, 0, 0, 0, 1.0], np.float32)
