"""The one interface every robot sits behind, and the observations it reports.

Implementations: the bridge client (a real robot, or a simulator in another process)
and the in-process simulator driver. Robot-side drivers served by the bridge have the
same methods, so one class can be used in process or behind the bridge.

Conventions:
- Observations are a flat dict of numpy arrays: `wrist_rgb` (H, W, 3) uint8,
  `tactile` (D,) float32 baseline-subtracted, `ee_pose` (7,) xyz metres + quaternion
  wxyz in the base frame, `gripper` (1,) 0 = open .. 1 = closed. A robot that can judge
  task success (the simulator) adds `success` (1,) bool. Privileged data that a real
  robot cannot have (simulator segmentation, true object poses) is keyed
  `privileged/...` and must never be fed to a policy at deployment.
- Actions are 7-D float32: xyz delta (metres) and axis-angle rotation delta (radians)
  in the end-effector frame, plus the gripper command (-1 open .. 1 close). `act`
  returns the action actually applied after clipping.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel, Field

from vitalskills.errors import VitalskillsError

Observation = dict[str, np.ndarray]


class CameraSpec(BaseModel):
    """A camera a robot has, by name, with its image size."""

    name: str
    width: int
    height: int
    depth: bool = False


class RobotCapabilities(BaseModel):
    """What a robot offers; the checker compares skills' needs against it."""

    name: str
    sensors: list[str] = Field(
        default_factory=list,
        description="sensor names: wrist_rgb, tactile, ee_pose, gripper, scene_rgbd",
    )
    cameras: list[CameraSpec] = Field(default_factory=list)
    tactile_dim: int | None = None
    action_dim: int = 7
    control_hz: float = 10.0
    action_limits: list[float] | None = Field(
        default=None,
        description="the bound the robot itself clips each action component's magnitude "
        "to (7 values), or None when it applies actions as given; the bridge server "
        "applies these first so that the robot's own clip never changes a move's direction",
    )
    privileged: bool = Field(
        default=False, description="true only for simulators that expose ground truth"
    )


@dataclass
class SceneFrame:
    """One RGB-D frame of the scene camera with its camera model.

    `intrinsics` is the 3x3 pinhole matrix; `extrinsics` is the 4x4 camera-to-base
    transform with the OpenCV camera convention (x right, y down, z forward).
    `segmentation` (object name -> bool mask), `objects` (object name -> true 3D
    target point in the base frame) and `labels` (object name -> phrases people use for
    it, e.g. "power strip", "socket") are privileged: only a simulator fills them.
    """

    rgb: np.ndarray
    depth: np.ndarray
    intrinsics: np.ndarray
    extrinsics: np.ndarray
    segmentation: dict[str, np.ndarray] = field(default_factory=dict)
    objects: dict[str, np.ndarray] = field(default_factory=dict)
    labels: dict[str, list[str]] = field(default_factory=dict)


class RobotError(VitalskillsError):
    """The robot could not do what was asked (unreachable, disconnected, refused)."""

    code = "R001"


class RobotUnreachable(RobotError):
    """No robot answered at the address (nothing listening, wrong address or keys)."""

    code = "R003"


class SafetyStop(RobotError):
    """The robot stopped itself: a limit, a protective stop, an e-stop or the watchdog."""

    code = "R002"


@runtime_checkable
class Robot(Protocol):
    """A robot as the executor sees it; a context manager that stops on exit."""

    def capabilities(self) -> RobotCapabilities: ...

    def reset(self, seed: int | None = None) -> Observation: ...

    def observe(self) -> Observation: ...

    def act(self, action: np.ndarray) -> np.ndarray: ...

    def stop(self) -> None: ...

    def scene(self) -> SceneFrame: ...

    def close(self) -> None: ...
