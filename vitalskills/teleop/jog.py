"""What every device shares: the size of one jog step, speed levels, the gripper toggle.

A device turns its input into a 7-D command in the robot's action convention: xyz delta
(m) and axis-angle delta (rad) in the end-effector frame, then the gripper command
(-1 open .. 1 close). `JogScale` bounds a full deflection (or one key press) to one
control step of the simulator and the bridge's default limits: 0.01 m and 0.1 rad.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from vitalskills.teleop.device import Mark
from vitalskills.teleop.errors import DeviceSpecError

GRIPPER_CLOSED = 1.0
GRIPPER_OPEN = -1.0


@dataclass(frozen=True)
class JogScale:
    """How far one control step may move: the largest translation and rotation.

    Args:
        step: translation of a full command, m per step (0.01: the simulator's clip).
        rotation_step: rotation of a full command, rad per step (0.1).
        speeds: the speed levels the operator steps through, as fractions of a full step.
        speed: the index in `speeds` a device starts at.
    """

    step: float = 0.01
    rotation_step: float = 0.1
    speeds: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0)
    speed: int = 2

    def __post_init__(self) -> None:
        for name in ("step", "rotation_step"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise DeviceSpecError(
                    f"jog `{name}` must be a positive number, got `{value}`",
                    hint="e.g. 0.01 m and 0.1 rad per step (the bridge's default limits)",
                    code="T003",
                )
        if not self.speeds or not all(0 < s <= 1 for s in self.speeds):
            raise DeviceSpecError(
                f"jog `speeds` must be fractions in (0, 1], got `{self.speeds}`", code="T003"
            )
        if not 0 <= self.speed < len(self.speeds):
            raise DeviceSpecError(
                f"jog `speed` must index `speeds` (0..{len(self.speeds) - 1}), got `{self.speed}`",
                code="T003",
            )


def clip_command(command: np.ndarray, scale: JogScale) -> np.ndarray:
    """Shrink a 7-D command so that its translation and rotation fit one jog step."""
    out = np.asarray(command, dtype=np.float64).reshape(7).copy()
    for part, limit in ((slice(0, 3), scale.step), (slice(3, 6), scale.rotation_step)):
        norm = float(np.linalg.norm(out[part]))
        if norm > limit:
            out[part] *= limit / norm
    out[6] = min(1.0, max(-1.0, out[6]))
    return out.astype(np.float32)


def deadzone(value: float, zone: float) -> float:
    """Zero inside `zone`, then rescale so that the output still reaches +-1."""
    magnitude = abs(value)
    if magnitude <= zone:
        return 0.0
    return math.copysign(min(1.0, (magnitude - zone) / (1.0 - zone)), value)


@dataclass
class JogState:
    """What an operator sets and keeps between steps: speed, gripper, pending verdicts.

    `reset` (a new episode) forgets pending verdicts and closes the gripper again (the
    object is held at every start); the speed is the operator's choice and stays.
    """

    scale: JogScale = field(default_factory=JogScale)
    gripper_start: float = GRIPPER_CLOSED
    speed_index: int = -1
    gripper: float = GRIPPER_CLOSED
    marks: list[Mark] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.speed_index < 0:
            self.speed_index = self.scale.speed
        self.gripper = self.gripper_start

    @property
    def speed(self) -> float:
        """The current speed level, a fraction of a full step."""
        return self.scale.speeds[self.speed_index]

    def faster(self) -> None:
        self.speed_index = min(self.speed_index + 1, len(self.scale.speeds) - 1)

    def slower(self) -> None:
        self.speed_index = max(self.speed_index - 1, 0)

    def toggle_gripper(self) -> None:
        self.gripper = GRIPPER_OPEN if self.gripper > 0 else GRIPPER_CLOSED

    def push_mark(self, mark: Mark) -> None:
        self.marks.append(mark)

    def pop_mark(self) -> Mark | None:
        """The oldest verdict not yet handed out, else None."""
        return self.marks.pop(0) if self.marks else None

    def reset(self) -> None:
        self.marks.clear()
        self.gripper = self.gripper_start

    def command(self, axes: np.ndarray) -> np.ndarray:
        """The 7-D command for six axis values in -1..1 at the current speed."""
        axes = np.asarray(axes, dtype=np.float64).reshape(6)
        out = np.zeros(7)
        out[:3] = axes[:3] * self.scale.step * self.speed
        out[3:6] = axes[3:] * self.scale.rotation_step * self.speed
        out[6] = self.gripper
        return clip_command(out, self.scale)
