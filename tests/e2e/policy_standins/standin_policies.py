"""Stand-ins for policies served from another environment, declared as such.

`vitalskills/bridge/policy_server.py --policy standin_policies:FACTORY` serves them over
the real policy protocol in a real child process. LeRobot itself cannot share this
project's environment (its releases for Python 3.11 pin an older torch), so the first
stand-in is this project's shipped `plug_insert` BC behind LeRobot's batch layout
(`observation.images.wrist` as float CHW in [0, 1], `observation.state`,
`observation.tactile`): a real policy, reached the way a LeRobot one is.
"""

from __future__ import annotations

import os
import time

import numpy as np


class PlugFromBatch:
    """The shipped `plug_insert` BC, fed from a LeRobot-style batch."""

    description = "stand-in: the shipped plug_insert BC behind LeRobot's batch layout"

    def __init__(self) -> None:
        from vitalskills.learning.policies import load_bc_policy
        from vitalskills.skills import SkillLibrary, project_skills_dir

        self.policy = load_bc_policy(SkillLibrary([project_skills_dir()]).get("plug_insert"))

    def reset(self) -> None:
        self.policy.reset()

    def select_action(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        image = np.round(batch["observation.images.wrist"].transpose(1, 2, 0) * 255)
        state = batch["observation.state"]
        observation = {
            "wrist_rgb": image.astype(np.uint8),
            "tactile": batch["observation.tactile"],
            "ee_pose": state[:7],
            "gripper": state[7:],
        }
        return self.policy.act(observation)


class _FailsAtAction:
    """Answers zeros until action number `at`, where `fail()` runs."""

    at = 0

    def __init__(self) -> None:
        self.actions = 0

    def reset(self) -> None:
        self.actions = 0

    def fail(self) -> None:
        raise NotImplementedError

    def select_action(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        self.actions += 1
        if self.actions == self.at:
            self.fail()
        return np.zeros(7, np.float32)


class Dies(_FailsAtAction):
    """Exits with code 3 at its third action, as a crashed policy process would."""

    description = "stand-in: dies at its third action"
    at = 3

    def fail(self) -> None:
        os._exit(3)


class Hangs(_FailsAtAction):
    """Stops answering at its second action, as a stuck GPU box would."""

    description = "stand-in: hangs at its second action"
    at = 2

    def fail(self) -> None:
        time.sleep(60)
