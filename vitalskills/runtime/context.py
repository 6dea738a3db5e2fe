"""What every node sees while it runs: the robot, the grounders, the policies, the clock.

The clock is injectable so that timeouts are deterministic in tests and instant in dry
runs; the blackboard holds the `LocateResult`s that `locate` binds to names.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from vitalskills.errors import VitalskillsError
from vitalskills.perception.grounder import Grounder, LocateResult
from vitalskills.robot import Policy, PolicyProvider, Robot, SkillSpec
from vitalskills.runtime.events import EventBus

if TYPE_CHECKING:
    from vitalskills.runtime.nodes import Node


class Clock(Protocol):
    """Where time comes from: `now()` in seconds and `sleep(seconds)`."""

    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class MonotonicClock:
    """Real time, for real robots and the simulator."""

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class ManualClock:
    """Virtual time that only moves when slept: deterministic tests and instant dry runs."""

    def __init__(self, start: float = 0.0) -> None:
        # Whole nanoseconds, so that ten 0.1 s ticks make exactly 1 s.
        self.ns = round(start * 1e9)

    def now(self) -> float:
        return self.ns / 1e9

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.ns += round(seconds * 1e9)


class GrounderNotAvailable(VitalskillsError):
    """A `locate` named a grounder this run was not given."""

    code = "X001"


@dataclass
class MotionLimits:
    """Bounds of the servo loops behind `reach`, `move` and a skill's approach.

    Args:
        max_step: largest translation per control step, metres.
        tolerance: distance to the target that counts as arrived, metres.
        slack_steps: control steps allowed beyond the straight-line minimum before a
            motion gives up (a blocked or heavily clipped arm fails instead of hanging).
        gripper_steps: control steps a gripper command may take to settle.
        max_turn: largest rotation about base z per control step, radians.
        angle_tolerance: heading error that counts as aligned, radians.
    """

    max_step: float = 0.01
    tolerance: float = 0.002
    max_turn: float = 0.1
    angle_tolerance: float = 0.01
    slack_steps: int = 50
    gripper_steps: int = 20


@dataclass
class Blackboard:
    """Located targets by name, and the latest one (the default target of `run skill`)."""

    results: dict[str, LocateResult] = field(default_factory=dict)
    latest: str | None = None

    def bind(self, name: str, result: LocateResult) -> None:
        self.results[name] = result
        self.latest = name


@dataclass
class ExecutionContext:
    """Everything a node may use; built once per run by the executor."""

    robot: Robot
    grounders: Mapping[str, Grounder]
    policies: PolicyProvider
    clock: Clock
    events: EventBus
    limits: MotionLimits = field(default_factory=MotionLimits)
    blackboard: Blackboard = field(default_factory=Blackboard)
    #: Last gripper command sent (-1 open .. 1 close); motions keep it unchanged.
    gripper_command: float = -1.0
    default_grounder: str | None = None
    policy_cache: dict[tuple[str, str], Policy] = field(default_factory=dict)

    def policy(self, skill: SkillSpec) -> Policy:
        """Load a skill's policy once per run, however many `run skill` nodes use it."""
        key = (skill.name, skill.version)
        if key not in self.policy_cache:
            self.policy_cache[key] = self.policies.load(skill)
        return self.policy_cache[key]

    def grounder(self, name: str | None) -> Grounder:
        """Return the grounder a `locate` asked for, or the run's default one."""
        key = name or self.default_grounder
        if key is None and len(self.grounders) == 1:
            return next(iter(self.grounders.values()))
        if key is not None and key in self.grounders:
            return self.grounders[key]
        known = ", ".join(sorted(self.grounders)) or "none"
        raise GrounderNotAvailable(
            f"grounder `{key}` is not available in this run (available: {known})",
            hint="name one of the available grounders, or drop `grounder` to use the default",
        )

    def emit(self, kind: str, node: Node) -> None:
        """Publish a node's lifecycle event on the run's event stream."""
        self.events.node_event(kind, node, self.clock.now())
