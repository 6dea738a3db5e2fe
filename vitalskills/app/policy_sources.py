"""The policy of any skill, whatever its kind: trained here, LeRobot, a process, remote.

A skill's manifest says where its policy comes from (`policy.kind`, docs/skills.md).
This project's own are loaded in process (`learning.policies`); the others run in
another process or on another machine and answer over the policy protocol
(`bridge.policy_client`). `SkillPolicies` is the runtime's `PolicyProvider` for all of
them, and stops what it started when closed.
"""

from __future__ import annotations

import sys
from pathlib import Path

from vitalskills.bridge.policy_client import (
    SERVER_SCRIPT,
    RemotePolicy,
    connect_policy,
    start_policy,
)
from vitalskills.learning.policies import TrainedPolicyProvider
from vitalskills.robot import Policy, SkillSpec
from vitalskills.skills.manifest import PolicySource, SkillManifest


def server_command(source: PolicySource, root: Path | None) -> list[str]:
    """The command line that serves a `lerobot` or `process` skill's policy."""
    if source.kind == "lerobot":
        assert source.checkpoint is not None and source.python is not None
        checkpoint = Path(source.checkpoint)
        if not checkpoint.is_absolute() and root is not None:
            checkpoint = root / checkpoint
        return [
            source.python,
            str(SERVER_SCRIPT),
            "--lerobot",
            str(checkpoint),
            "--device",
            source.device,
            "--bind",
            "{address}",
        ]
    return [sys.executable if part == "{python}" else part for part in source.command]


class SkillPolicies:
    """Load each skill's policy by its kind; `close()` ends the servers it started.

    Args:
        residual: for this project's skills, apply the residual when there is one.
    """

    def __init__(self, residual: bool = True) -> None:
        self.trained = TrainedPolicyProvider(residual)
        self.remote: list[RemotePolicy] = []

    def load(self, manifest: SkillSpec) -> Policy:
        if not isinstance(manifest, SkillManifest) or manifest.policy.kind == "vitalskills":
            return self.trained.load(manifest)
        source = manifest.policy
        common = {
            "inputs": source.inputs,
            "action_low": manifest.action.low,
            "action_high": manifest.action.high,
            "image_sizes": {c.name: (c.height, c.width) for c in manifest.observation.cameras},
            "timeout_s": source.timeout_s,
            "startup_s": source.startup_s,
        }
        if source.kind == "remote":
            assert source.address is not None
            policy = connect_policy(manifest.name, source.address, **common)
        else:
            policy = start_policy(manifest.name, server_command(source, manifest.root), **common)
        self.remote.append(policy)
        return policy

    def close(self) -> None:
        for policy in self.remote:
            policy.close()
        self.remote.clear()
