"""Trained skills at run time: the one place the runtime gets a skill's policy from.

A skill folder holds a BC policy and maybe a residual over it. `load_skill_policy`
builds a `BCPolicy` (`bc.policy`), or a `ResidualPolicy` (`residual.policy`) around it
when the skill has a residual, from verified files; `TrainedPolicyProvider` offers
that to the runtime as its `PolicyProvider`.
"""

from __future__ import annotations

import numpy as np

from vitalskills.learning.bc.policy import BCPolicy
from vitalskills.learning.errors import PolicyPackageError
from vitalskills.learning.residual.policy import ResidualPolicy
from vitalskills.learning.skill_folder import has_residual, load_residual, load_skill_model
from vitalskills.robot import Policy, SkillSpec
from vitalskills.skills.manifest import SkillManifest

__all__ = [
    "BCPolicy",
    "ResidualPolicy",
    "TrainedPolicyProvider",
    "load_bc_policy",
    "load_skill_policy",
]


def load_bc_policy(manifest: SkillManifest) -> BCPolicy:
    """Verify and load a trained skill's policy (see `skill_folder.load_skill_model`)."""
    model = load_skill_model(manifest)
    return BCPolicy(model, np.asarray(manifest.action.low), np.asarray(manifest.action.high))


def load_skill_policy(manifest: SkillManifest, residual: bool = True) -> Policy:
    """Load a skill's BC policy, corrected by its residual when it has one and `residual`."""
    policy = load_bc_policy(manifest)
    if residual and has_residual(manifest):
        return ResidualPolicy(policy, load_residual(manifest, policy.model))
    return policy


class TrainedPolicyProvider:
    """The runtime's `PolicyProvider` for skills packaged by `vitalskills train bc|residual`.

    Args:
        residual: apply a skill's residual when it has one (off: the BC part alone).
    """

    def __init__(self, residual: bool = True) -> None:
        self.residual = residual

    def load(self, manifest: SkillSpec) -> Policy:
        if not isinstance(manifest, SkillManifest):
            raise PolicyPackageError(
                f"skill `{manifest.name}` has no manifest on disk to load weights from"
            )
        return load_skill_policy(manifest, self.residual)
