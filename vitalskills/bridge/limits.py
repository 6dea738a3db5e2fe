"""Robot-side safety limits: what the bridge server enforces whatever the client sends.

Clipping limits (workspace box, step size, speed) shrink an action and the server
returns the action actually applied. Tripping limits (tactile or force reading) stop
the robot and latch a protective stop until the next `reset`.
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import BaseModel, Field, model_validator

from vitalskills.robot import Observation
from vitalskills.robot.geometry import quat_to_matrix


class SafetyLimits(BaseModel):
    """Limits the server enforces on every action and observation.

    The speed limit applies per control step: a step may move at most
    `max_speed * (1 / control_hz)` metres, so it is as deterministic as the actions.
    """

    workspace_min: tuple[float, float, float] = Field(
        (-1.0, -1.0, 0.0), description="lower corner of the end-effector box, base frame, m"
    )
    workspace_max: tuple[float, float, float] = Field(
        (1.0, 1.0, 1.5), description="upper corner of the end-effector box, base frame, m"
    )
    max_step: float = Field(0.05, gt=0, description="largest translation per action, m")
    max_rotation_step: float = Field(0.5, gt=0, description="largest rotation per action, rad")
    max_speed: float = Field(0.5, gt=0, description="largest end-effector speed, m/s")
    max_tactile: float = Field(
        1e6, gt=0, description="protective stop when any |tactile| value exceeds this"
    )
    max_force: float = Field(
        1e6, gt=0, description="protective stop when the `force` reading's norm exceeds this, N"
    )

    @model_validator(mode="after")
    def _box_is_ordered(self) -> SafetyLimits:
        if any(lo >= hi for lo, hi in zip(self.workspace_min, self.workspace_max, strict=True)):
            raise ValueError(
                f"workspace_min {self.workspace_min} must be below workspace_max "
                f"{self.workspace_max} on every axis"
            )
        return self


def _clip_norm(vector: list[float], limit: float) -> list[float]:
    norm = math.hypot(*vector)
    return [v * (limit / norm) for v in vector] if norm > limit else vector


def clip_action(
    action: np.ndarray, ee_pose: np.ndarray | None, limits: SafetyLimits, control_hz: float
) -> np.ndarray:
    """Shrink a 7-D action so that it respects the step, speed and workspace limits.

    The translation is in the end-effector frame, so the box is checked on the target
    position in the base frame. When the end effector is already outside the box it
    may move back toward it but not further out. An action within every limit comes
    back bit for bit. (Plain floats: this runs on every step, numpy is slower here.)
    """
    values = np.asarray(action).ravel().tolist()
    step = min(limits.max_step, limits.max_speed / control_hz)
    move = _clip_norm(values[:3], step)
    turn = _clip_norm(values[3:6], limits.max_rotation_step)
    grip = min(1.0, max(-1.0, values[6]))
    if ee_pose is not None and len(ee_pose) >= 7:
        move = _keep_in_box(move, np.asarray(ee_pose).ravel().tolist(), limits)
    return np.array([*move, *turn, grip], dtype=np.float32)


def _keep_in_box(move: list[float], pose: list[float], limits: SafetyLimits) -> list[float]:
    """Shorten `move` (end-effector frame) so that the target stays in the workspace box."""
    position = pose[:3]
    low, high = limits.workspace_min, limits.workspace_max
    # Fast path: a box around the position, wider than the move by a margin far above
    # rounding, inside the workspace; then the exact test below would not clip either.
    reach = math.hypot(*move) * (1 + 1e-9) + 1e-12
    if all(low[i] <= position[i] - reach and position[i] + reach <= high[i] for i in range(3)):
        return move
    r = quat_to_matrix(pose[3:7]).tolist()
    dx, dy, dz = move
    target = [position[i] + r[i][0] * dx + r[i][1] * dy + r[i][2] * dz for i in range(3)]
    clipped = [
        min(max(target[i], min(low[i], position[i])), max(high[i], position[i])) for i in range(3)
    ]
    if clipped == target:
        return move
    ox, oy, oz = (clipped[i] - position[i] for i in range(3))
    return [r[0][i] * ox + r[1][i] * oy + r[2][i] * oz for i in range(3)]


def tripped_limit(observation: Observation, limits: SafetyLimits) -> str | None:
    """Say which reading exceeds its protective-stop limit, or None when all are fine."""
    tactile = observation.get("tactile")
    if tactile is not None and tactile.size:
        peak = float(np.abs(tactile).max())
        if not math.isfinite(peak) or peak > limits.max_tactile:
            return f"tactile reading {peak:.4g} exceeds the limit {limits.max_tactile:.4g}"
    force = observation.get("force")
    if force is not None and force.size:
        norm = float(np.linalg.norm(force))
        if not math.isfinite(norm) or norm > limits.max_force:
            return f"force {norm:.4g} N exceeds the limit {limits.max_force:.4g} N"
    return None
