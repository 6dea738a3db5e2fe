"""The residual actor (ViTaL): a small network that corrects a frozen BC policy's action.

The actor sees what the BC policy's own encoders make of the current step (image
features, tactile features; or, with `sees: touch`, the tactile features alone) and the
BC action itself, and outputs a squashed offset in
[-1, 1] per corrected dimension. The action sent is the BC action plus that offset times
`offset_scale` (metres, xyz) and `rotation_scale` (radians, axis-angle, when `dims` is
`xyz_rot`), clipped to the skill's limits (`compose_action`). The last layer starts near
zero, so a fresh residual leaves the BC policy's behaviour unchanged. The two run
together at run time as `vitalskills.learning.policies.ResidualPolicy`.
"""

from __future__ import annotations

import numpy as np
import torch

from vitalskills.learning.bc.model import VitalBC
from vitalskills.learning.residual.config import ResidualConfig


def feature_dim(model: VitalBC, sees: str = "vision_touch") -> int:
    """Return the actor input size for a BC network: its features plus the BC action.

    `sees` is `ResidualConfig.sees`: `touch` leaves the image features out.
    """
    tactile = model.config.width if model.config.uses_tactile else 0
    image = model.config.width if sees == "vision_touch" else 0
    return image + tactile + model.config.action_dim


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
