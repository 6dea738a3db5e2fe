"""Where a run's wall time goes: wrappers that time the robot, the policies and grounders.

`vitalskills run --record` writes these figures into the summary, and
`benchmarks/run.py` prints them as a table. Each wrapper only adds a `perf_counter`
pair around the call it forwards.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vitalskills.perception.grounder import Grounder, LocateResult
from vitalskills.robot import (
    Observation,
    Policy,
    PolicyProvider,
    Robot,
    RobotCapabilities,
    SceneFrame,
    SkillSpec,
)


@dataclass
class Timings:
    """Seconds and call counts per named part of a run."""

    seconds: dict[str, float] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)

    @contextmanager
    def measure(self, name: str) -> Iterator[None]:
        """Add the wall time of the `with` body to `name`."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - start)

    def add(self, name: str, seconds: float, calls: int = 1) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds
        self.calls[name] = self.calls.get(name, 0) + calls

    def to_json(self) -> dict[str, dict[str, float]]:
        return {
            name: {"seconds": round(self.seconds[name], 6), "calls": self.calls[name]}
            for name in self.seconds
        }


class TimedRobot:
    """A `Robot` that adds the time of every call to `timings["bridge"]`."""

    def __init__(self, robot: Robot, timings: Timings, name: str = "bridge") -> None:
        self.inner = robot
        self.timings = timings
        self.name = name

    def capabilities(self) -> RobotCapabilities:
        return self.inner.capabilities()

    def reset(self, seed: int | None = None) -> Observation:
        with self.timings.measure(self.name):
            return self.inner.reset(seed=seed)

    def observe(self) -> Observation:
        with self.timings.measure(self.name):
            return self.inner.observe()

    def act(self, action: np.ndarray) -> np.ndarray:
        with self.timings.measure(self.name):
            return self.inner.act(action)

    def stop(self) -> None:
        with self.timings.measure(self.name):
            self.inner.stop()

    def scene(self) -> SceneFrame:
        with self.timings.measure(self.name):
            return self.inner.scene()

    def close(self) -> None:
        self.inner.close()


class TimedPolicy:
    """A `Policy` whose `act` time goes to `timings["policy"]`."""

    def __init__(self, policy: Policy, timings: Timings) -> None:
        self.inner = policy
        self.timings = timings

    def reset(self) -> None:
        self.inner.reset()

    def act(self, observation: Observation) -> np.ndarray:
        with self.timings.measure("policy"):
            return self.inner.act(observation)

    def __getattr__(self, name: str) -> Any:
        # Optional hooks (`succeeded`) pass through untouched.
        return getattr(self.inner, name)


class PreloadedPolicies:
    """A `PolicyProvider` that loads each skill once, timed, so it can be done up front."""

    def __init__(self, provider: PolicyProvider, timings: Timings) -> None:
        self.provider = provider
        self.timings = timings
        self.loaded: dict[tuple[str, str], Policy] = {}

    def load(self, manifest: SkillSpec) -> Policy:
        key = (manifest.name, manifest.version)
        if key not in self.loaded:
            with self.timings.measure("policy load"):
                policy = self.provider.load(manifest)
            self.loaded[key] = TimedPolicy(policy, self.timings)
        return self.loaded[key]


class TimedGrounder:
    """A `Grounder` whose `locate` time goes to `timings["locate"]`."""

    def __init__(self, grounder: Grounder, timings: Timings) -> None:
        self.inner = grounder
        self.timings = timings
        self.name = getattr(grounder, "name", "grounder")

    def locate(self, frame: SceneFrame, query: str) -> LocateResult:
        with self.timings.measure("locate"):
            return self.inner.locate(frame, query)
