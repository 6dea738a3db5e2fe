"""`run skill`: reach the target at the skill's approach offset, then roll its policy out.

The approach offset is in the target's frame: when `locate` measured the target's
heading, the gripper turns to face it and the offset turns with it, so the policy
starts where its demonstrations did, however the target lies on the table.

One attempt = approach (a bounded servo) + rollout (one policy action per tick) until
the robot reports `success`, the policy's own `succeeded(obs)` says so, the attempt's
timeout expires, or `max_steps` runs out. A failed attempt stops the robot and starts
over from the approach, `retries` more times. A safety stop ends the node at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from vitalskills.lang.ir import Span
from vitalskills.robot import Policy, PolicyFailure, SafetyStop, SkillSpec, policy_view
from vitalskills.robot.geometry import ee_pose, heading, rotate_yaw
from vitalskills.runtime.leaves import fmt_point
from vitalskills.runtime.motion import Servo, located_heading, resolve_target
from vitalskills.runtime.nodes import Node, Status

if TYPE_CHECKING:
    from vitalskills.runtime.context import ExecutionContext


#: Publish a progress event (step, tactile magnitude) every this many policy steps.
PROGRESS_EVERY = 5


class RunSkill(Node):
    """Run one learned skill at a located target, with retries and a per-attempt timeout."""

    kind = "run_skill"
    moves_robot = True

    def __init__(
        self,
        label: str,
        skill: SkillSpec,
        *,
        at: str | None = None,
        point: np.ndarray | None = None,
        retries: int = 0,
        timeout: float | None = None,
        span: Span | None = None,
    ) -> None:
        super().__init__(label, span=span)
        self.skill = skill
        self.at = at
        self.point = point
        self.attempts = 1 + max(0, retries)
        self.timeout = timeout
        self.policy: Policy | None = None
        self.attempt = 0
        self.attempt_started = 0.0
        self.servo: Servo | None = None
        self.steps = 0
        self.phase = "approach"
        self.blocked = ""

    def prepare(self, ctx: ExecutionContext) -> None:
        self.policy = ctx.policy(self.skill)

    def initialise(self, ctx: ExecutionContext) -> None:
        if self.policy is None:
            self.prepare(ctx)
        self.attempt = 0
        self.values["total_steps"] = 0
        self._begin_attempt(ctx)

    def _begin_attempt(self, ctx: ExecutionContext) -> None:
        assert self.policy is not None
        self.attempt += 1
        self.attempt_started = ctx.clock.now()
        self.steps = 0
        self.phase = "approach"
        self.servo = None
        point, why = (self.point, "") if self.point is not None else resolve_target(ctx, self.at)
        if point is None:
            self.blocked = f"cannot run `{self.skill.name}`: {why}"
            return
        position, rotation = ee_pose(ctx.robot.observe())
        now = heading(rotation)
        facing = None if self.point is not None else located_heading(ctx, self.at)
        offset = np.asarray(self.skill.approach_offset, dtype=np.float64)
        if facing is not None:
            # The approach offset is in the target's frame: turn it with the target.
            offset = np.array([*rotate_yaw(offset[:2], facing), offset[2]])
        target = point + offset
        self.values["attempts"] = self.attempt
        try:
            self.policy.reset()
        except PolicyFailure as error:
            self.blocked = f"the policy of `{self.skill.name}` failed: {error.message}"
            return
        self.servo = Servo(target, position, ctx, heading=facing, start_heading=now)
        self.values.update(
            attempts=self.attempt, steps=0, phase="approach", target=point, approach=target
        )
        if facing is not None:
            self.values["heading_deg"] = round(float(np.degrees(facing)), 1)

    def _attempt_failed(self, ctx: ExecutionContext, why: str) -> Status:
        ctx.robot.stop()
        if self.attempt >= self.attempts:
            return self.failure(
                f"`{self.skill.name}` failed all {self.attempts} attempts; last: {why}"
                if self.attempts > 1
                else why
            )
        self.running(f"attempt {self.attempt} of {self.attempts} failed ({why}); retrying")
        ctx.emit("node_progress", self)
        self._begin_attempt(ctx)
        return Status.RUNNING

    def update(self, ctx: ExecutionContext) -> Status:
        if self.servo is None:
            return self.failure(self.blocked)
        try:
            return self._step(ctx)
        except SafetyStop as stop:
            return self.failure(f"safety stop during attempt {self.attempt}: {stop.message}")
        except PolicyFailure as error:
            # Its process is gone or mute: another attempt would meet the same, so stop the
            # arm and fail the skill; the task's own fallbacks decide what comes next.
            ctx.robot.stop()
            return self.failure(f"the policy of `{self.skill.name}` failed: {error.message}")

    def _step(self, ctx: ExecutionContext) -> Status:
        assert self.servo is not None and self.policy is not None
        name = self.skill.name
        if self.timeout is not None and ctx.clock.now() - self.attempt_started >= self.timeout:
            return self._attempt_failed(ctx, f"timed out after {self.timeout:g} s")
        if self.phase == "approach":
            arrived, distance = self.servo.step(ctx)
            if arrived is None:
                return self.running(
                    f"approaching {fmt_point(self.servo.target)}, {distance * 1000:.0f} mm to go"
                )
            if arrived is False:
                return self._attempt_failed(
                    ctx, f"could not reach the approach pose ({distance * 1000:.1f} mm away)"
                )
            self.phase = self.values["phase"] = "policy"
        observation = ctx.robot.observe()
        judged = "success" in observation
        if judged and bool(np.asarray(observation["success"]).reshape(-1)[0]):
            return self._finish(f"`{name}` succeeded after {self.steps} policy steps", True)
        succeeded = getattr(self.policy, "succeeded", None)
        if succeeded is not None and succeeded(policy_view(observation)):
            return self._finish(f"`{name}` reports success after {self.steps} policy steps", True)
        if self.steps >= self.skill.max_steps:
            if judged:
                return self._attempt_failed(ctx, f"no success within {self.steps} policy steps")
            return self._finish(
                f"`{name}` ran all {self.steps} steps; nothing reports success, "
                "so the outcome is not verified",
                False,
            )
        action = np.asarray(self.policy.act(policy_view(observation)), dtype=np.float32)
        ctx.robot.act(action)
        self.steps += 1
        self.values["steps"] = self.steps
        self.values["total_steps"] += 1
        if "tactile" in observation:
            tactile = np.asarray(observation["tactile"], dtype=np.float64)
            self.values["tactile"] = float(np.linalg.norm(tactile))
        status = self.running(
            f"policy step {self.steps} of at most {self.skill.max_steps}"
            f" (attempt {self.attempt} of {self.attempts})"
        )
        if self.steps % PROGRESS_EVERY == 0:
            ctx.emit("node_progress", self)
        return status

    def _finish(self, reason: str, verified: bool) -> Status:
        self.values["verified"] = verified
        if self.attempts > 1:
            reason += f" (attempt {self.attempt} of {self.attempts})"
        return self.success(reason)
