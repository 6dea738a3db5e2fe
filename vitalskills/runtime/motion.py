"""Motion leaves: `reach` and `move` servo the end effector with bounded delta actions.

Each tick observes `ee_pose`, and either finishes (within tolerance), gives up (step
limit), or sends one 7-D action (robot.py's convention: deltas in the ee frame) whose
translation is at most `MotionLimits.max_step`. Orientation is held, except that a
servo given a heading also turns the gripper about base z (at most
`MotionLimits.max_turn` per step) until it faces that way.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from vitalskills.lang.ir import Span
from vitalskills.robot import SafetyStop
from vitalskills.robot.geometry import ee_pose, heading, wrap_angle
from vitalskills.runtime.leaves import fmt_point
from vitalskills.runtime.nodes import Node, Status

if TYPE_CHECKING:
    from vitalskills.perception.grounder import LocateResult
    from vitalskills.runtime.context import ExecutionContext


def _located(ctx: ExecutionContext, name: str | None) -> tuple[str | None, LocateResult | None]:
    """The blackboard key `name` stands for (`None`: the latest located) and its result."""
    key = name if name is not None else ctx.blackboard.latest
    return key, ctx.blackboard.results.get(key) if key is not None else None


def located_heading(ctx: ExecutionContext, name: str | None) -> float | None:
    """The located target's heading about base z, None if unknown.

    A footprint gives the heading only up to its symmetry (a half or a quarter turn);
    the equivalent nearest the base x axis is taken, as in the demonstrations (targets
    within 30 degrees of it). Not the one nearest the gripper's heading: after a failed
    attempt the gripper may be turned anywhere, and a card reader faced from the wrong
    side is swiped backwards.
    """
    _, result = _located(ctx, name)
    if result is None or result.yaw is None or not result.yaw_period:
        return None
    period = float(result.yaw_period)
    return float(result.yaw) - period * round(float(result.yaw) / period)


def resolve_target(ctx: ExecutionContext, name: str | None) -> tuple[np.ndarray | None, str]:
    """Look a located name up on the blackboard: its base-frame point, or why there is none.

    `None` means the latest located object.
    """
    key, result = _located(ctx, name)
    if key is None:
        return None, "nothing has been located yet"
    if result is None:
        return None, f"`{key}` has not been located yet"
    if not result.found or result.point is None:
        return None, f"`{key}` was not found"
    return np.asarray(result.point, dtype=np.float64)[:3], key


class Servo:
    """One bounded servo toward a fixed base-frame point (and heading), one action per `step`."""

    def __init__(
        self,
        target: np.ndarray,
        start: np.ndarray,
        ctx: ExecutionContext,
        heading: float | None = None,
        start_heading: float = 0.0,
    ) -> None:
        self.target = target
        self.heading = heading
        self.steps = 0
        limits = ctx.limits
        self.limit = math.ceil(float(np.linalg.norm(target - start)) / limits.max_step)
        if heading is not None:
            self.limit += math.ceil(abs(wrap_angle(heading - start_heading)) / limits.max_turn)
        self.limit += limits.slack_steps

    def step(self, ctx: ExecutionContext) -> tuple[bool | None, float]:
        """Act once toward the target: (True, d) arrived, (False, d) gave up, (None, d) moving."""
        position, rotation = ee_pose(ctx.robot.observe())
        delta = self.target - position
        distance = float(np.linalg.norm(delta))
        turn = 0.0 if self.heading is None else wrap_angle(self.heading - heading(rotation))
        if distance <= ctx.limits.tolerance and abs(turn) <= ctx.limits.angle_tolerance:
            return True, distance
        if self.steps >= self.limit:
            return False, distance
        if distance > ctx.limits.max_step:
            delta *= ctx.limits.max_step / distance
        turn = float(np.clip(turn, -ctx.limits.max_turn, ctx.limits.max_turn))
        action = np.zeros(7, dtype=np.float32)
        action[:3] = rotation.T @ delta
        action[3:6] = rotation.T @ np.array([0.0, 0.0, turn])
        action[6] = ctx.gripper_command
        ctx.robot.act(action)
        self.steps += 1
        return None, distance


class ServoMotion(Node):
    """A leaf that drives the end effector to one point chosen on entry."""

    moves_robot = True

    def __init__(self, label: str, *, span: Span | None = None) -> None:
        super().__init__(label, span=span)
        self.servo: Servo | None = None
        self.blocked = ""

    def goal(self, ctx: ExecutionContext, position: np.ndarray, rotation: np.ndarray) -> str:
        """Set `self.servo`'s target from the current pose, or return why there is none."""
        raise NotImplementedError

    def initialise(self, ctx: ExecutionContext) -> None:
        position, rotation = ee_pose(ctx.robot.observe())
        self.servo = None
        self.blocked = self.goal(ctx, position, rotation)

    def update(self, ctx: ExecutionContext) -> Status:
        if self.servo is None:
            return self.failure(self.blocked)
        try:
            arrived, distance = self.servo.step(ctx)
        except SafetyStop as stop:
            return self.failure(f"safety stop: {stop.message}")
        self.values["steps"] = self.servo.steps
        self.values["distance"] = distance
        if arrived:
            return self.success(
                f"arrived at {fmt_point(self.servo.target)} within {distance * 1000:.1f} mm "
                f"after {self.servo.steps} step{'' if self.servo.steps == 1 else 's'}"
            )
        if arrived is False:
            return self.failure(
                f"still {distance * 1000:.1f} mm from {fmt_point(self.servo.target)} "
                f"after {self.servo.steps} step{'' if self.servo.steps == 1 else 's'}"
            )
        return self.running(f"{distance * 1000:.0f} mm to go")


class Reach(ServoMotion):
    """Move the end effector to a located target (or a point param) plus an offset.

    A located target's heading, when its footprint gives one, turns the gripper too, so
    that fingers meet an object across and a skill starts facing its target as trained.
    """

    kind = "reach"

    def __init__(
        self,
        label: str,
        *,
        name: str | None = None,
        point: np.ndarray | None = None,
        offset: np.ndarray | None = None,
        span: Span | None = None,
    ) -> None:
        super().__init__(label, span=span)
        self.name = name
        self.point = point
        self.offset = np.zeros(3) if offset is None else np.asarray(offset, dtype=np.float64)

    def goal(self, ctx: ExecutionContext, position: np.ndarray, rotation: np.ndarray) -> str:
        point, why = (self.point, "") if self.point is not None else resolve_target(ctx, self.name)
        if point is None:
            return f"cannot reach: {why}"
        target = point + self.offset
        self.values["target"] = target
        facing = None if self.point is not None else located_heading(ctx, self.name)
        if facing is not None:
            self.values["heading_deg"] = round(float(np.degrees(facing)), 1)
        self.servo = Servo(target, position, ctx, heading=facing, start_heading=heading(rotation))
        return ""


class Move(ServoMotion):
    """Move the end effector by a displacement in the base or the end-effector frame."""

    kind = "move"

    def __init__(
        self, label: str, delta: np.ndarray, frame: str = "base", *, span: Span | None = None
    ) -> None:
        super().__init__(label, span=span)
        self.delta = np.asarray(delta, dtype=np.float64)
        self.frame = frame

    def goal(self, ctx: ExecutionContext, position: np.ndarray, rotation: np.ndarray) -> str:
        delta = rotation @ self.delta if self.frame == "ee" else self.delta
        target = position + delta
        self.values["target"] = target
        self.servo = Servo(target, position, ctx)
        return ""
