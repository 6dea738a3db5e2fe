"""Robot-side safety limits: what the bridge server enforces whatever the client sends.

Clipping limits (workspace box, step size, speed, rotation) shrink an action before
it reaches the driver, in the driver's own terms: when a driver declares that it
clips each action component itself (`RobotCapabilities.action_limits`), the server
applies those bounds first and shrinks the final move only uniformly, so the
driver's clip changes nothing and the target the server checked is the one the arm
gets. Tripping limits stop the robot and latch a protective stop until `reset`: a
tactile or force reading over its limit, and a measured pose that left the box or
moved further in one step than allowed, by more than the tracking tolerance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

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
    tracking_tolerance: float = Field(
        0.002,
        gt=0,
        description="protective stop when the measured end effector is this far (m) outside "
        "the box, or moved this much more than the step limit in one step",
    )
    rotation_tolerance: float = Field(
        0.05,
        gt=0,
        description="protective stop when the measured end effector turned this much (rad) "
        "more than the rotation limit in one step",
    )

    @model_validator(mode="after")
    def _box_is_ordered(self) -> SafetyLimits:
        if any(lo >= hi for lo, hi in zip(self.workspace_min, self.workspace_max, strict=True)):
            raise ValueError(
                f"workspace_min {self.workspace_min} must be below workspace_max "
                f"{self.workspace_max} on every axis"
            )
        return self

    def step_limit(self, control_hz: float) -> float:
        """The largest translation of one action, m: the step and the speed limit."""
        return min(self.max_step, self.max_speed / control_hz)


def _clip_norm(vector: list[float], limit: float) -> list[float]:
    norm = math.hypot(*vector)
    return [v * (limit / norm) for v in vector] if norm > limit else vector


def clip_action(
    action: np.ndarray,
    ee_pose: np.ndarray | None,
    limits: SafetyLimits,
    control_hz: float,
    action_limits: Sequence[float] | None = None,
) -> np.ndarray:
    """Shrink a 7-D action so that it respects every limit, the driver's own included.

    In order: each component to the driver's `action_limits` (when it declares them);
    the translation's norm to the step limit and the rotation's to
    `max_rotation_step`; the gripper to [-1, 1]; then the target position (base frame)
    into the workspace box, where a move outside the box may go back toward it but not
    further out. When the box changed the move and the driver clips per component, the
    move is then shortened as a whole (never per component: that would turn it) until
    every component is within the driver's bounds, so the driver applies exactly this
    action. An action within every limit comes back bit for bit. (Plain floats: this
    runs on every step, numpy is slower here.)
    """
    values = np.asarray(action).ravel().tolist()
    if action_limits is not None:
        pairs = zip(values, action_limits, strict=True)
        values = [min(bound, max(-bound, v)) for v, bound in pairs]
    move = _clip_norm(values[:3], limits.step_limit(control_hz))
    turn = _clip_norm(values[3:6], limits.max_rotation_step)
    grip = min(1.0, max(-1.0, values[6]))
    if ee_pose is not None and len(ee_pose) >= 7:
        boxed = _keep_in_box(move, np.asarray(ee_pose).ravel().tolist(), limits)
        if boxed is not move and action_limits is not None:
            boxed = _within_bounds(boxed, action_limits[:3])
        move = boxed
    return np.array([*move, *turn, grip], dtype=np.float32)


def _within_bounds(move: list[float], bounds: Sequence[float]) -> list[float]:
    """Scale `move` down as a whole until each component is within its bound."""
    scale = min([1.0] + [b / abs(m) for m, b in zip(move, bounds, strict=True) if abs(m) > b])
    return move if scale == 1.0 else [m * scale for m in move]


def _keep_in_box(move: list[float], pose: list[float], limits: SafetyLimits) -> list[float]:
    """Shorten `move` (end-effector frame) so that the target stays in the workspace box.

    Returns `move` itself when it needs no change.
    """
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


def box_excursion(position: Sequence[float], limits: SafetyLimits) -> float:
    """How far (m) `position` lies outside the workspace box; 0 inside it."""
    return outside_box(position, limits.workspace_min, limits.workspace_max)


def outside_box(position: Sequence[float], low: Sequence[float], high: Sequence[float]) -> float:
    """How far (m) `position` lies outside the box from `low` to `high`; 0 inside it."""
    corners = zip(position, low, high, strict=True)
    return math.hypot(*(max(lo - p, p - hi, 0.0) for p, lo, hi in corners))


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


def commanded_violation(
    applied: np.ndarray, sent: np.ndarray, pose: np.ndarray | None, limits: SafetyLimits
) -> str | None:
    """Say how the action a driver reports applying breaks the box, when it is not `sent`.

    A driver that clips actions its own way without declaring `action_limits` can turn
    a move the server kept inside the box into one that leaves it; this catches that.
    """
    if pose is None or len(pose) < 7 or np.array_equal(applied, sent):
        return None
    position = [float(v) for v in pose[:3]]
    r = quat_to_matrix([float(v) for v in pose[3:7]])
    target = (np.asarray(position) + r @ np.asarray(applied[:3], dtype=np.float64)).tolist()
    low = [min(lo, p) for lo, p in zip(limits.workspace_min, position, strict=True)]
    high = [max(hi, p) for hi, p in zip(limits.workspace_max, position, strict=True)]
    outside = outside_box(target, low, high)
    if outside > limits.tracking_tolerance:
        return (
            f"the driver applied {np.round(applied[:3], 5).tolist()} instead of "
            f"{np.round(sent[:3], 5).tolist()}, a target {outside * 1e3:.1f} mm outside the "
            "workspace box; declare the driver's own clipping in capabilities().action_limits"
        )
    return None


def motion_violation(
    before: np.ndarray | None, after: np.ndarray | None, limits: SafetyLimits, step: float
) -> str | None:
    """Say how a measured move broke the box, step or rotation limit beyond its tolerance.

    `before` and `after` are `ee_pose` readings around one action. A pose that was
    already outside the box may stay where it is or go back; it may not go further out.
    (Plain floats: this runs on every step.)
    """
    if after is None or len(after) < 7:
        return None
    pose = after.tolist()
    position = pose[:3]
    if not all(map(math.isfinite, pose)):
        return f"the measured end-effector pose {pose} is not finite"
    tolerance = limits.tracking_tolerance
    low, high = limits.workspace_min, limits.workspace_max
    start = before.tolist() if before is not None and len(before) >= 7 else None
    if start is not None:
        low = [min(lo, s) for lo, s in zip(low, start[:3], strict=True)]
        high = [max(hi, s) for hi, s in zip(high, start[:3], strict=True)]
    outside = outside_box(position, low, high)
    if outside > tolerance:
        return (
            f"the end effector is {outside * 1e3:.1f} mm outside the workspace box "
            f"(tolerance {tolerance * 1e3:.1f} mm) at {[round(p, 4) for p in position]}"
        )
    if start is None:
        return None
    moved = math.dist(position, start[:3])
    if moved > step + tolerance:
        return (
            f"the end effector moved {moved * 1e3:.1f} mm in one step "
            f"(limit {step * 1e3:.1f} mm + {tolerance * 1e3:.1f} mm tolerance)"
        )
    turned = _angle_between(start[3:7], pose[3:7])
    if turned > limits.max_rotation_step + limits.rotation_tolerance:
        return (
            f"the end effector turned {turned:.3f} rad in one step "
            f"(limit {limits.max_rotation_step:.3f} rad + {limits.rotation_tolerance:.3f} rad)"
        )
    return None


def _angle_between(q1: list[float], q2: list[float]) -> float:
    """The rotation angle (rad) between two quaternions (wxyz), normalised here."""
    n1 = math.hypot(*q1)
    n2 = math.hypot(*q2)
    if n1 == 0.0 or n2 == 0.0:
        return math.pi
    dot = abs(sum(a * b for a, b in zip(q1, q2, strict=True))) / (n1 * n2)
    return 2.0 * math.acos(min(1.0, dot))
