"""The policy contract: how the executor gets a skill's local policy, and what it may see.

The learning code implements `PolicyProvider` for trained checkpoints; the dry run has
its own. A policy is LeRobot-shaped: `reset()` at the start of an attempt, then one
action per `act(observation)` call.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from vitalskills.errors import VitalskillsError
from vitalskills.robot.interface import Observation


class PolicyFailure(VitalskillsError):
    """A policy running in another process stopped answering, died or sent nonsense.

    The skill it drives fails (the arm is stopped first); the task goes on as after any
    failed skill, so a `try ... else` can fall back to another one.
    """

    code = "E330"


class SkillSpec(Protocol):
    """The parts of a skill manifest the executor needs (`SkillManifest` has them)."""

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...

    @property
    def approach_offset(self) -> tuple[float, float, float] | list[float]: ...

    @property
    def control_hz(self) -> float: ...

    @property
    def max_steps(self) -> int: ...


@runtime_checkable
class Policy(Protocol):
    """A loaded local policy: one 7-D action (see `interface.py`) per observation.

    A policy that can judge its own success may also define
    `succeeded(observation) -> bool`; the run-skill node asks it when the robot does
    not report `success` itself.
    """

    def reset(self) -> None: ...

    def act(self, observation: Observation) -> np.ndarray: ...


@runtime_checkable
class PolicyProvider(Protocol):
    """Load the policy of a skill; raises a `VitalskillsError` when it cannot."""

    def load(self, manifest: SkillSpec) -> Policy: ...


def policy_view(observation: Observation) -> Observation:
    """What a policy may see: privileged simulator data and the success flag removed."""
    return {
        key: value
        for key, value in observation.items()
        if not key.startswith("privileged/") and key != "success"
    }
