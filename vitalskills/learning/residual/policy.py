"""The residual at run time: the BC policy's action plus the actor's deterministic offset.

The actor's input reuses what the BC policy's encoders computed for the step it has
just acted on (`residual_input`), so the image is encoded once per step.
"""

from __future__ import annotations

import numpy as np
import torch

from vitalskills.learning.bc.policy import BCPolicy
from vitalskills.learning.residual.actor import ResidualActor, compose_action
from vitalskills.robot import Observation


@torch.inference_mode()
def residual_input(
    policy: BCPolicy, bc_action: np.ndarray, sees: str = "vision_touch"
) -> np.ndarray:
    """Return the actor's input for the step `policy` has just acted on.

    It reuses the image features (and tactile reading) of the BC policy's step, so the
    actor sees exactly what the frozen encoders saw, without encoding the image again.
    `sees` is `ResidualConfig.sees`: `touch` leaves the image features out.
    """
    model = policy.model
    assert policy.features is not None, "the BC policy has not acted yet"
    parts = [policy.features] if sees == "vision_touch" else []
    if model.config.uses_tactile:
        reading = policy.tactile[-1]
        parts.append(model.tactile((reading - model.tactile_mean) / model.tactile_std))
    parts.append(model.normalize_actions(torch.from_numpy(np.asarray(bc_action, np.float32))))
    return torch.cat(parts).numpy().astype(np.float32)


class ResidualPolicy:
    """A `Policy` (reset/act): the BC policy's action corrected by a residual actor."""

    def __init__(self, bc: BCPolicy, actor: ResidualActor) -> None:
        self.bc = bc
        self.actor = actor.eval()

    def reset(self) -> None:
        """Start a new attempt (the BC policy forgets its history and chunks)."""
        self.bc.reset()

    def act(self, observation: Observation) -> np.ndarray:
        """Return the BC action plus the deterministic residual, clipped."""
        bc_action = self.bc.act(observation)
        offset = self.actor.act(residual_input(self.bc, bc_action, self.actor.config.sees))
        return compose_action(bc_action, offset, self.actor.config, self.bc.low, self.bc.high)
