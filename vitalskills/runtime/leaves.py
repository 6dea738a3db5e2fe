"""Leaves that do not servo the arm: locate, wait, fail, gripper."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np

from vitalskills.lang.ir import Span
from vitalskills.robot import SafetyStop
from vitalskills.runtime.nodes import Node, Status

if TYPE_CHECKING:
    from vitalskills.runtime.context import ExecutionContext


def fmt_point(point: np.ndarray) -> str:
    """A base-frame point as `(x, y, z) m` with millimetre precision."""
    x, y, z = (float(v) for v in point[:3])
    return f"({x:.3f}, {y:.3f}, {z:.3f}) m"


class Locate(Node):
    """Ask a grounder for `query` in the current scene frame and bind the result.

    A target that is not found (or scores below `min_score`) is bound as not found and
    the node still succeeds: `if found` decides what to do, and a motion to a target that
    was not found fails there. The grounder is called once, within one tick; the robot
    is not moving meanwhile.
    """

    kind = "locate"

    def __init__(
        self,
        label: str,
        query: str,
        *,
        name: str | None = None,
        min_score: float | None = None,
        grounder: str | None = None,
        span: Span | None = None,
    ) -> None:
        super().__init__(label, span=span)
        self.query = query
        self.name = name or query
        self.min_score = min_score
        self.grounder = grounder

    def update(self, ctx: ExecutionContext) -> Status:
        grounder = ctx.grounder(self.grounder)
        result = grounder.locate(ctx.robot.scene(), self.query)
        low = self.min_score is not None and result.score < self.min_score
        unusable = result.found and (result.point is None or result.frame != "base")
        if low or unusable:
            result = dataclasses.replace(result, found=False)
        ctx.blackboard.bind(self.name, result)
        self.values = {
            "query": self.query,
            "name": self.name,
            "grounder": result.grounder,
            "found": result.found,
            "score": result.score,
            "point": result.point if result.found else None,
            "frame": result.frame,
            "privileged": result.privileged,
            "placeholder": result.placeholder,
            "timings": result.timings,
        }
        tag = " (dry-run placeholder, not perception)" if result.placeholder else ""
        if result.found:
            assert result.point is not None
            return self.success(
                f"found `{self.query}` at {fmt_point(result.point)}, score {result.score:.2f}{tag}"
            )
        if low:
            why = f"best score {result.score:.2f} is below min_score {self.min_score:g}"
        elif unusable:
            why = f"the grounder gave no base-frame point (frame `{result.frame}`)"
        else:
            why = "the grounder found nothing"
        return self.success(f"`{self.query}` not found: {why}{tag}")


class Wait(Node):
    """Hold still for a duration on the executor's clock."""

    kind = "wait"

    def __init__(self, label: str, seconds: float, *, span: Span | None = None) -> None:
        super().__init__(label, span=span)
        self.seconds = seconds

    def update(self, ctx: ExecutionContext) -> Status:
        assert self.started_at is not None
        elapsed = ctx.clock.now() - self.started_at
        if elapsed >= self.seconds:
            return self.success(f"waited {self.seconds:g} s")
        return self.running(f"waiting, {self.seconds - elapsed:.1f} s left")


class Fail(Node):
    """Fail with the author's message."""

    kind = "fail"

    def __init__(self, label: str, message: str, *, span: Span | None = None) -> None:
        super().__init__(label, span=span)
        self.message = message

    def update(self, ctx: ExecutionContext) -> Status:
        return self.failure(self.message)


class Gripper(Node):
    """Command the gripper open or closed and wait until it gets there or stops moving.

    Closing on an object stops short of fully closed; that counts as success (it holds
    something). Opening that stops short fails (something blocks the fingers).
    """

    kind = "gripper"
    moves_robot = True

    def __init__(self, label: str, action: str, *, span: Span | None = None) -> None:
        super().__init__(label, span=span)
        self.action = action
        self.command = 1.0 if action == "close" else -1.0
        self.goal = 1.0 if action == "close" else 0.0
        self.previous: float | None = None
        self.sent = 0

    def initialise(self, ctx: ExecutionContext) -> None:
        ctx.gripper_command = self.command
        self.previous = None
        self.sent = 0

    def update(self, ctx: ExecutionContext) -> Status:
        done = "closed" if self.action == "close" else "opened"
        observation = ctx.robot.observe()
        if "gripper" not in observation:
            if self.sent >= 1:
                return self.success(f"gripper {done} (the robot reports no gripper state)")
        else:
            state = float(np.asarray(observation["gripper"]).reshape(-1)[0])
            self.values["gripper"] = state
            if abs(state - self.goal) <= 0.05:
                return self.success(f"gripper {done}")
            if self.previous is not None and abs(state - self.previous) < 1e-3:
                if self.action == "close":
                    return self.success(f"gripper closed on an object at {state:.2f}")
                return self.failure(f"gripper stuck at {state:.2f} while opening")
            self.previous = state
        if self.sent >= ctx.limits.gripper_steps:
            return self.failure(f"gripper did not settle in {self.sent} control steps")
        action = np.zeros(7, dtype=np.float32)
        action[6] = self.command
        try:
            ctx.robot.act(action)
        except SafetyStop as stop:
            return self.failure(f"safety stop: {stop.message}")
        self.sent += 1
        return self.running(f"{'closing' if self.action == 'close' else 'opening'} the gripper")
