"""The shared contracts every package builds on: robots, observations, policies, poses.

Nothing here imports another vitalskills package except `errors`.
"""

from vitalskills.robot.interface import (
    CameraSpec,
    Observation,
    Robot,
    RobotCapabilities,
    RobotError,
    RobotUnreachable,
    SafetyStop,
    SceneFrame,
)
from vitalskills.robot.policy import (
    Policy,
    PolicyFailure,
    PolicyProvider,
    SkillSpec,
    policy_view,
)

__all__ = [
    "CameraSpec",
    "Observation",
    "Policy",
    "PolicyFailure",
    "PolicyProvider",
    "Robot",
    "RobotCapabilities",
    "RobotError",
    "RobotUnreachable",
    "SafetyStop",
    "SceneFrame",
    "SkillSpec",
    "policy_view",
]
