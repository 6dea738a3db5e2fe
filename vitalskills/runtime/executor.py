"""The executor: ticks a plan at the robot's control rate and always leaves it stopped.

A run ends when the root finishes, when the optional run-level timeout expires, on
Ctrl-C (KeyboardInterrupt) or on an exception. Every way out halts whatever is running
(motion nodes stop the robot when halted) and then calls `robot.stop()` once more.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from vitalskills.perception.grounder import Grounder
from vitalskills.robot import PolicyProvider, Robot
from vitalskills.runtime.context import (
    Clock,
    ExecutionContext,
    MonotonicClock,
    MotionLimits,
)
from vitalskills.runtime.events import EventBus, Subscriber
from vitalskills.runtime.nodes import Status
from vitalskills.runtime.plan import Plan


def current_gripper_command(robot: Robot, default: float) -> float:
    """The gripper command that keeps the gripper as it is now: close (1) when closed.

    Motions repeat the last gripper command; before any `gripper` step that is the
    robot's own state, so a reach does not open a gripper that holds an object.
    A robot without a `gripper` reading keeps `default`.
    """
    reading = robot.observe().get("gripper")
    if reading is None or np.asarray(reading).size == 0:
        return default
    return 1.0 if float(np.asarray(reading).reshape(-1)[0]) >= 0.5 else -1.0


@dataclass
class RunResult:
    """How a run ended: the root's status and reason, seconds on the run clock, ticks."""

    status: Status
    reason: str
    elapsed: float
    ticks: int

    @property
    def ok(self) -> bool:
        return self.status is Status.SUCCESS


class Executor:
    """Run plans on one robot with one set of grounders and one policy provider.

    Args:
        robot: the robot; it is left stopped on every exit path.
        grounders: grounders by name; a `locate` without `grounder` uses `default_grounder`
            (or the only one).
        policies: loads each skill's policy before the first tick.
        clock: real time by default; a `ManualClock` makes runs deterministic and instant.
        subscribers: event consumers (trace writer, live display).
        timeout: optional limit on the whole run, seconds on `clock`.
        limits: servo bounds for motions.
    """

    def __init__(
        self,
        robot: Robot,
        grounders: Mapping[str, Grounder],
        policies: PolicyProvider,
        *,
        clock: Clock | None = None,
        subscribers: list[Subscriber] | None = None,
        timeout: float | None = None,
        limits: MotionLimits | None = None,
        default_grounder: str | None = None,
        run_info: Mapping[str, object] | None = None,
    ) -> None:
        self.robot = robot
        self.grounders = grounders
        self.policies = policies
        self.clock = clock or MonotonicClock()
        self.subscribers = list(subscribers or [])
        self.timeout = timeout
        self.limits = limits or MotionLimits()
        self.default_grounder = default_grounder
        self.run_info = dict(run_info or {})

    def run(self, plan: Plan) -> RunResult:
        """Tick `plan` until it finishes; re-raises Ctrl-C and errors after halting.

        Raises:
            KeyboardInterrupt: after halting the plan and stopping the robot.
            VitalskillsError: a robot, grounder or policy error, after the same clean-up.
        """
        events = EventBus(self.subscribers)
        ctx = ExecutionContext(
            robot=self.robot,
            grounders=self.grounders,
            policies=self.policies,
            clock=self.clock,
            events=events,
            limits=self.limits,
            default_grounder=self.default_grounder,
        )
        period = 1.0 / self.robot.capabilities().control_hz
        start = self.clock.now()
        ticks = 0
        events.task_event(
            "task_started",
            start,
            values={"task": plan.task, "nodes": plan.describe(), **self.run_info},
        )
        root = plan.root
        status, reason = Status.HALTED, "did not start"
        try:
            for node in root.walk():
                node.prepare(ctx)
            ctx.gripper_command = current_gripper_command(self.robot, ctx.gripper_command)
            while True:
                tick_start = self.clock.now()
                status = root.tick(ctx)
                ticks += 1
                reason = root.reason
                if status is not Status.RUNNING:
                    break
                if self.timeout is not None and self.clock.now() - start >= self.timeout:
                    reason = f"the run exceeded its {self.timeout:g} s limit"
                    root.halt(ctx, reason)
                    status = Status.FAILURE
                    break
                self.clock.sleep(period - (self.clock.now() - tick_start))
        except KeyboardInterrupt:
            status, reason = Status.HALTED, "interrupted (Ctrl-C)"
            self._halt(ctx, plan, reason)
            raise
        except BaseException as error:
            status, reason = Status.HALTED, f"stopped by an error: {error}"
            self._halt(ctx, plan, reason)
            raise
        finally:
            try:
                self.robot.stop()
            finally:
                now = self.clock.now()
                events.task_event(
                    "task_finished",
                    now,
                    status=status.value,
                    reason=reason,
                    values={"ticks": ticks},
                )
        return RunResult(status, reason, now - start, ticks)

    def _halt(self, ctx: ExecutionContext, plan: Plan, reason: str) -> None:
        """Halt the running nodes; a failure while halting must not mask the first one."""
        with contextlib.suppress(Exception):
            plan.root.halt(ctx, reason)
