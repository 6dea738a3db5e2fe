"""The residual policy (ViTaL): a small actor that corrects a frozen BC policy's action.

The actor sees what the BC policy's own encoders make of the current step (image
features, tactile features) and the BC action itself, and outputs a squashed offset in
[-1, 1] per corrected dimension. The action sent is the BC action plus that offset times
`offset_scale` (metres, xyz) and `rotation_scale` (radians, axis-angle, when `dims` is
`xyz_rot`), clipped to the skill's limits. The last layer starts near zero, so a fresh
residual leaves the BC policy's behaviour unchanged.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from vitalskills.errors import Model, validate_model
from vitalskills.learning.errors import PolicyConfigError
from vitalskills.learning.model import VitalBC
from vitalskills.learning.policy import BCPolicy
from vitalskills.robot import Observation


class ResidualConfig(BaseModel):
    """The residual actor's shape and how its output maps onto the BC action."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["vital_residual"] = "vital_residual"
    dims: Literal["xyz", "xyz_rot"] = Field(
        "xyz", description="corrected action dimensions: translation, or also rotation"
    )
    offset_scale: float = Field(0.004, gt=0, description="metres per unit of residual (xyz)")
    rotation_scale: float = Field(0.03, gt=0, description="radians per unit (with xyz_rot)")
    feature_dim: int = Field(ge=1, description="actor input size, fixed by the BC policy")
    hidden: int = Field(256, ge=8)
    layers: int = Field(3, ge=1, description="hidden layers of the actor MLP")
    init_scale: float = Field(0.01, gt=0, description="last-layer weights ~ U(-s, s)")
    log_std_min: float = -5.0
    log_std_max: float = 2.0

    @property
    def action_dim(self) -> int:
        """How many action dimensions the residual corrects."""
        return 3 if self.dims == "xyz" else 6

    def scales(self) -> np.ndarray:
        """Return the per-dimension scale from residual units to action units."""
        scale = [self.offset_scale] * 3
        if self.dims == "xyz_rot":
            scale += [self.rotation_scale] * 3
        return np.asarray(scale, np.float32)


def validated(cls: type[Model], data: dict[str, Any], source: str) -> Model:
    """Build `cls` from `data`, raising `PolicyConfigError` that names the field and value."""
    hint = "see docs/residual.md for the residual settings"
    return validate_model(cls, data, PolicyConfigError, source, hint=hint)


def feature_dim(model: VitalBC) -> int:
    """Return the actor input size for a BC network: its features plus the BC action."""
    tactile = model.config.width if model.config.uses_tactile else 0
    return model.config.width + tactile + model.config.action_dim


@torch.inference_mode()
def residual_input(policy: BCPolicy, bc_action: np.ndarray) -> np.ndarray:
    """Return the actor's input for the step `policy` has just acted on.

    It reuses the image features (and tactile reading) of the BC policy's step, so the
    actor sees exactly what the frozen encoders saw, without encoding the image again.
    """
    model = policy.model
    assert policy.features is not None, "the BC policy has not acted yet"
    parts = [policy.features]
    if model.config.uses_tactile:
        reading = policy.tactile[-1]
        parts.append(model.tactile((reading - model.tactile_mean) / model.tactile_std))
    parts.append(model.normalize_actions(torch.from_numpy(np.asarray(bc_action, np.float32))))
    return torch.cat(parts).numpy().astype(np.float32)


class ResidualActor(torch.nn.Module):
    """Tanh-Gaussian actor: MLP (`layers` x `hidden`, LayerNorm after the first) -> mean, std."""

    def __init__(self, config: ResidualConfig) -> None:
        super().__init__()
        self.config = config
        width, blocks = config.hidden, []
        inputs = config.feature_dim
        for index in range(config.layers):
            blocks.append(torch.nn.Linear(inputs, width))
            if index == 0:
                blocks.append(torch.nn.LayerNorm(width))
            blocks.append(torch.nn.ReLU())
            inputs = width
        self.trunk = torch.nn.Sequential(*blocks)
        self.head = torch.nn.Linear(width, 2 * config.action_dim)
        torch.nn.init.uniform_(self.head.weight, -config.init_scale, config.init_scale)
        torch.nn.init.zeros_(self.head.bias)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the pre-squash mean and the log std, each (B, action_dim)."""
        mean, raw = self.head(self.trunk(features)).chunk(2, dim=-1)
        low, high = self.config.log_std_min, self.config.log_std_max
        return mean, low + 0.5 * (high - low) * (torch.tanh(raw) + 1.0)

    def sample(
        self, features: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw squashed actions and their log-probabilities (reparameterized)."""
        mean, log_std = self(features)
        noise = torch.randn(mean.shape, generator=generator)
        raw = mean + noise * log_std.exp()
        action = torch.tanh(raw)
        gaussian = -0.5 * noise.pow(2) - log_std - 0.5 * np.log(2 * np.pi)
        # Change of variables through tanh, in the numerically stable form.
        squash = 2.0 * (np.log(2.0) - raw - torch.nn.functional.softplus(-2.0 * raw))
        return action, (gaussian - squash).sum(-1)

    @torch.inference_mode()
    def act(self, features: np.ndarray) -> np.ndarray:
        """Return the deterministic residual (the squashed mean) for one input vector."""
        mean, _ = self(torch.from_numpy(features)[None])
        return torch.tanh(mean)[0].numpy()


def compose_action(
    bc_action: np.ndarray, residual: np.ndarray, config: ResidualConfig, low: np.ndarray,
    high: np.ndarray,
) -> np.ndarray:  # fmt: skip
    """Add the scaled residual to the BC action's first dimensions and clip to the limits."""
    action = np.array(bc_action, np.float32)
    action[: config.action_dim] += config.scales() * np.asarray(residual, np.float32)
    return np.clip(action, low, high).astype(np.float32)


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
        offset = self.actor.act(residual_input(self.bc, bc_action))
        return compose_action(bc_action, offset, self.actor.config, self.bc.low, self.bc.high)
