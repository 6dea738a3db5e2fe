"""The residual's settings, each a validated model: the actor's, SAC's and the run's.

`ResidualConfig` is saved with the actor's weights (the skill folder needs it to build
the actor again); `SACConfig` and `RunConfig` are recorded in the run's provenance.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from vitalskills.errors import Model, validate_model
from vitalskills.learning.errors import PolicyConfigError


class ResidualConfig(BaseModel):
    """The residual actor's shape and how its output maps onto the BC action."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["vital_residual"] = "vital_residual"
    dims: Literal["xyz", "xyz_rot"] = Field(
        "xyz", description="corrected action dimensions: translation, or also rotation"
    )
    offset_scale: float = Field(0.004, gt=0, description="metres per unit of residual (xyz)")
    rotation_scale: float = Field(0.03, gt=0, description="radians per unit (with xyz_rot)")
    sees: Literal["vision_touch", "touch"] = Field(
        "vision_touch",
        description="what the actor sees besides the BC action: the BC encoders' image and "
        "tactile features, or the tactile features alone (a residual blind to how the scene "
        "looks)",
    )
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


class SACConfig(BaseModel):
    """SAC hyperparameters; the defaults are the paper's code's."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ensemble: int = Field(5, ge=2, description="critics; targets use their minimum")
    critic_hidden: int = Field(256, ge=8)
    critic_layers: int = Field(2, ge=1)
    gamma: float = Field(0.99, gt=0, le=1)
    tau: float = Field(0.1, gt=0, le=1, description="Polyak rate of the target critics")
    lr: float = Field(1e-4, gt=0, description="actor and critic learning rate")
    alpha_lr: float = Field(3e-4, gt=0, description="temperature learning rate")
    init_temperature: float = Field(1.0, gt=0)
    target_entropy: float | None = Field(None, description="default: -|A| / 2")
    utd: int = Field(16, ge=1, description="critic updates per environment step")
    batch_size: int = Field(256, ge=1)
    grad_clip: float = Field(5.0, gt=0)
    buffer: int = Field(10_000, ge=1, description="replay capacity (transitions)")
    seed_steps: int = Field(300, ge=0, description="steps of uniform residuals before learning")


class RunConfig(BaseModel):
    """How long to train, how often to evaluate and checkpoint, and what the actor sees."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    steps: int = Field(6000, ge=1, description="environment steps")
    seed: int = Field(0, ge=0)
    eval_every: int = Field(1000, ge=1, description="environment steps between evaluations")
    eval_episodes: int = Field(10, ge=1)
    checkpoint_every: int = Field(1000, ge=1, description="steps; written at the next episode end")
    augment: bool = Field(True, description="semantic augmentation of the wrist image")
    backgrounds: int = Field(256, ge=1)
    relight: float = Field(
        0.0, ge=0, description="re-shade the kept pixels too, as `train bc --relight` does"
    )
    max_episode_steps: int | None = Field(None, ge=1, description="default: the simulator's")
    reward_scale: float = Field(1.0, gt=0)
    window: int = Field(20, ge=1, description="recent episodes in the training success rate")
    privileged_critic: bool = Field(
        True,
        description="critics also see the goal pose from the gripper (in the simulator its "
        "truth; on a robot from the goal file and the end-effector pose)",
    )
