"""A deterministic arm for bridge tests, loaded as a user driver (`fake_arm:FakeArm`).

It integrates actions exactly like a position-controlled arm (translation in the
end-effector frame, axis-angle rotation, gripper), renders a small image and a
tactile vector from its state, and can append each `stop()` (with its
`time.monotonic()`) and each `act()` to log files, so that a test in another process
can see when the server stopped or moved it. Like many real arms (and the simulator)
it can clip each action component itself, declaring the bounds or not.
"""

from __future__ import annotations

import time

import numpy as np

from vitalskills.robot import (
    CameraSpec,
    Observation,
    RobotCapabilities,
    SceneFrame,
)


def _axis_angle_quat(rotvec: np.ndarray) -> np.ndarray:
    angle = float(np.linalg.norm(rotvec))
    if angle < 1e-12:
        return np.array([1.0, 0.0, 0.0, 0.0])
    axis = rotvec / angle
    return np.concatenate([[np.cos(angle / 2)], np.sin(angle / 2) * axis])


def _quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    w1, x1, y1, z1 = a
    w2, x2, y2, z2 = b
    return np.array(
        [
            w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
            w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
            w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
            w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
        ]
    )


class FakeArm:
    """A kinematic arm whose observations are pure functions of its state.

    Args:
        stop_log: append `stop <monotonic>` lines here on every `stop()`.
        act_log: append `act <action>` lines here on every `act()`.
        image: side of the square wrist image.
        contact_z: below this height the tactile reading grows (a table).
        axis_step: clip each translation component to this (m) and each rotation
            component to ten times it (rad), like the simulator; 0: no clipping.
        declare: report that clipping in `capabilities().action_limits`.
    """

    def __init__(
        self,
        stop_log: str = "",
        image: str | int = 32,
        contact_z: str | float = 0.05,
        act_log: str = "",
        axis_step: str | float = 0.0,
        declare: str | bool = True,
    ):
        self.stop_log = stop_log
        self.act_log = act_log
        self.image = int(image)
        self.contact_z = float(contact_z)
        step = float(axis_step)
        self.bounds = [step] * 3 + [10 * step] * 3 + [1.0] if step > 0 else None
        self.declare = declare not in (False, "0", "false", "no")
        self.moving = False
        self.stops = 0
        self._rng = np.random.default_rng(0)
        self.reset(seed=0)

    def capabilities(self) -> RobotCapabilities:
        return RobotCapabilities(
            name="fake-arm",
            sensors=["wrist_rgb", "tactile", "ee_pose", "gripper", "scene_rgbd"],
            cameras=[CameraSpec(name="wrist", width=self.image, height=self.image)],
            tactile_dim=15,
            control_hz=10.0,
            action_limits=self.bounds if self.declare else None,
        )

    def reset(self, seed: int | None = None) -> Observation:
        self._rng = np.random.default_rng(seed)
        self.position = np.array([0.4, 0.0, 0.3]) + self._rng.uniform(-0.05, 0.05, 3)
        self.quat = np.array([0.0, 1.0, 0.0, 0.0])  # pointing down
        self.grip = 0.0
        self.moving = False
        return self.observe()

    def observe(self) -> Observation:
        x, y, z = self.position
        grid = np.linspace(0.0, 1.0, self.image)
        image = np.stack(
            [
                np.add.outer(grid * x, grid) * 127,
                np.add.outer(grid, grid * y + 0.5) * 100,
                np.full((self.image, self.image), z * 500),
            ],
            axis=-1,
        )
        press = max(0.0, self.contact_z - z) * 1000.0
        tactile = (np.arange(15, dtype=np.float64) / 15.0 + 1.0) * press
        return {
            "wrist_rgb": np.clip(image, 0, 255).astype(np.uint8),
            "tactile": tactile.astype(np.float32),
            "ee_pose": np.concatenate([self.position, self.quat]).astype(np.float32),
            "gripper": np.array([self.grip], dtype=np.float32),
        }

    def act(self, action: np.ndarray) -> np.ndarray:
        applied = np.asarray(action, dtype=np.float32).copy()
        if self.bounds is not None:
            bounds = np.array(self.bounds, dtype=np.float32)
            applied = np.clip(applied, -bounds, bounds)
        if self.act_log:
            with open(self.act_log, "a") as log:
                log.write(f"act {applied.tolist()}\n")
        w, x, y, z = self.quat
        rotation = np.array(
            [
                [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
            ]
        )
        self.position = self.position + rotation @ applied[:3].astype(np.float64)
        self.quat = _quat_mul(self.quat, _axis_angle_quat(applied[3:6].astype(np.float64)))
        self.quat /= np.linalg.norm(self.quat)
        self.grip = float(np.clip(self.grip + 0.2 * applied[6], 0.0, 1.0))
        self.moving = True
        return applied

    def stop(self) -> None:
        self.moving = False
        self.stops += 1
        if self.stop_log:
            with open(self.stop_log, "a") as log:
                log.write(f"stop {time.monotonic():.6f}\n")

    def scene(self) -> SceneFrame:
        rgb = np.zeros((24, 32, 3), dtype=np.uint8)
        rgb[..., 0] = np.arange(32, dtype=np.uint8)
        depth = np.full((24, 32), 0.8, dtype=np.float32)
        mask = np.zeros((24, 32), dtype=bool)
        mask[10:14, 12:20] = True
        return SceneFrame(
            rgb=rgb,
            depth=depth,
            intrinsics=np.array([[30.0, 0, 16], [0, 30.0, 12], [0, 0, 1]]),
            extrinsics=np.eye(4),
            segmentation={"socket": mask},
            objects={"socket": np.array([0.5, 0.1, 0.02])},
            labels={"socket": ["socket", "power strip"]},
        )


class NoSceneArm(FakeArm):
    """The same arm without a scene camera (scene is optional for drivers)."""

    scene = None  # type: ignore[assignment]
