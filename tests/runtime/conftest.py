"""Builders for the runtime tests: IR by hand, a deterministic executor, a recording robot.

The helpers are exposed through the `rt` fixture so that every test module shares one
copy. Runs use the real dry-run robot (kinematic) and a `ManualClock`, so timeouts and
tick counts are deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from vitalskills.app.dryrun import DryRunGrounder, DryRunPolicyProvider, DryRunRobot
from vitalskills.lang import ir
from vitalskills.robot import Observation
from vitalskills.runtime import (
    Event,
    Executor,
    ManualClock,
    Plan,
    RunResult,
    build_plan,
)


@dataclass
class Manifest:
    """The manifest fields the executor reads (what `SkillManifest` provides)."""

    name: str
    version: str = "1.0.0"
    approach_offset: tuple[float, float, float] = (0.0, 0.0, 0.05)
    control_hz: float = 10.0
    max_steps: int = 40


class GoalRobot(DryRunRobot):
    """A dry-run robot that judges success like a simulator: ee within 5 mm of `goal`."""

    def __init__(self, goal: tuple[float, float, float] = (0.5, 0.0, 0.02), **kw: Any) -> None:
        super().__init__(**kw)
        self.goal = np.asarray(goal)

    def observe(self) -> Observation:
        observation = super().observe()
        done = np.linalg.norm(self.position - self.goal) < 0.005
        observation["success"] = np.array([done])
        return observation


class GoalPolicy:
    """A proportional policy toward a goal; `misses` first attempts push sideways instead."""

    def __init__(self, goal: np.ndarray, misses: int) -> None:
        self.goal = goal
        self.misses = misses
        self.attempts = 0

    def reset(self) -> None:
        self.attempts += 1

    def act(self, observation: Observation) -> np.ndarray:
        assert "success" not in observation, "the policy must not see the success flag"
        action = np.zeros(7, dtype=np.float32)
        if self.attempts <= self.misses:
            action[:3] = (0.0, 0.01, 0.0)
            return action
        pose = observation["ee_pose"]
        w, x, y, z = pose[3:]
        rot = np.array(
            [
                [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
            ]
        )
        action[:3] = rot.T @ np.clip(self.goal - pose[:3], -0.01, 0.01)
        return action


class GoalPolicies:
    """Policy provider handing out `GoalPolicy`s and remembering them."""

    def __init__(self, goal: tuple[float, float, float] = (0.5, 0.0, 0.02), misses: int = 0):
        self.goal = np.asarray(goal)
        self.misses = misses
        self.policies: dict[str, GoalPolicy] = {}

    def load(self, manifest: Manifest) -> GoalPolicy:
        policy = GoalPolicy(self.goal, self.misses)
        self.policies[manifest.name] = policy
        return policy


def q(value: float, unit: str) -> ir.Quantity:
    kind, factor = ir.UNITS[unit]
    return ir.Quantity(value=value * factor, unit=unit, dimension=kind)


def vec(values: list[float], unit: str = "mm") -> ir.Vector:
    kind, factor = ir.UNITS[unit]
    return ir.Vector(values=[v * factor for v in values], unit=unit, dimension=kind)


def ref(name: str) -> ir.Ref:
    return ir.Ref(name=name)


def task(*body: Any, params: list[ir.Param] | None = None) -> ir.Task:
    return ir.Task(name="t", params=params or [], body=list(body))


def plan_of(t: ir.Task, **manifests: Manifest) -> Plan:
    return build_plan(t, lambda name, version: manifests.get(name) or Manifest(name))


@dataclass
class Outcome:
    plan: Plan
    result: RunResult | None
    robot: DryRunRobot
    events: list[Event]
    moving: list[tuple[str, str | None, bool]]
    error: BaseException | None = None

    def node(self, label: str) -> Any:
        """The plan node whose label is `label` (exactly one must match)."""
        found = [n for n in self.plan.nodes if n.label == label]
        assert len(found) == 1, f"{len(found)} nodes labelled {label!r}"
        return found[0]

    def status(self, label: str) -> str:
        return self.node(label).status.value


def run(
    t: ir.Task,
    *,
    robot: DryRunRobot | None = None,
    grounder: Any = None,
    policies: Any = None,
    clock: ManualClock | None = None,
    timeout: float | None = None,
    manifests: dict[str, Manifest] | None = None,
    expect: type[BaseException] | None = None,
) -> Outcome:
    robot = robot or DryRunRobot()
    events: list[Event] = []
    moving: list[tuple[str, str | None, bool]] = []
    the_robot = robot

    def record(event: Event) -> None:
        events.append(event)
        moving.append((event.event, event.label, the_robot.moving))

    executor = Executor(
        robot,
        {"dry-run": grounder or DryRunGrounder()},
        policies or DryRunPolicyProvider(),
        clock=clock or ManualClock(),
        subscribers=[record],
        timeout=timeout,
    )
    plan = plan_of(t, **(manifests or {}))
    if expect is None:
        return Outcome(plan, executor.run(plan), robot, events, moving)
    with pytest.raises(expect) as caught:
        executor.run(plan)
    return Outcome(plan, None, robot, events, moving, caught.value)


@pytest.fixture
def rt() -> SimpleNamespace:
    """The shared builders: `rt.task(...)`, `rt.run(...)`, IR shorthands, test doubles."""
    return SimpleNamespace(
        q=q,
        vec=vec,
        ref=ref,
        task=task,
        plan_of=plan_of,
        run=run,
        ir=ir,
        Manifest=Manifest,
        GoalRobot=GoalRobot,
        GoalPolicies=GoalPolicies,
    )
