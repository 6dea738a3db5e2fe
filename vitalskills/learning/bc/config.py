"""The BC policy's settings and its training's, each a validated model.

`BCConfig` is the policy's own (saved with its weights, found by its `type` tag);
`TrainConfig` holds the optimisation and augmentation settings of one training run.
Defaults are sized for CPU training and inference on 128 px wrist images (see
docs/learning.md for how they differ from the paper's GPU-sized network and why).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from vitalskills.errors import validate_model
from vitalskills.learning.errors import PolicyConfigError, TrainingError


class BCConfig(BaseModel):
    """Visuotactile behaviour cloning: conv encoder + tactile MLP + causal transformer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["vital_bc"] = "vital_bc"

    # Inputs.
    image_key: str = Field("wrist_rgb", description="the camera the policy sees")
    image_size: int = Field(128, ge=32, le=256, description="square input side, pixels")
    tactile_dim: int | None = Field(
        15, ge=1, description="tactile vector length; null for a vision-only policy"
    )
    action_dim: int = Field(7, ge=1)

    # Visual encoder: ResNet-style stem and two stages with GroupNorm, spatial softmax.
    stem_channels: int = Field(32, ge=4)
    stage_channels: tuple[int, int] = (32, 64)
    groups: int = Field(8, ge=1, description="GroupNorm groups; must divide every width")
    keypoints: int = Field(32, ge=1, description="spatial-softmax keypoints")

    pose_head: bool = Field(
        False,
        description="train with an auxiliary head that predicts the target's pose from the "
        "image features (hindsight or simulator targets; unused when acting)",
    )

    # Trunk: GPT-style causal transformer over [image, tactile, action] tokens.
    width: int = Field(128, ge=8)
    layers: int = Field(4, ge=1)
    heads: int = Field(4, ge=1)
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    history: int = Field(1, ge=1, le=16, description="past steps seen by the trunk")

    # Head: action chunks with temporal ensembling.
    chunk: int = Field(10, ge=1, le=100, description="actions predicted per step")
    ensemble_k: float = Field(
        0.01,
        ge=-5.0,
        le=5.0,
        description="temporal-ensemble weight exp(-k * i) for the i-th oldest chunk: "
        "k > 0 favours older predictions (ACT), k < 0 the newest; 0 = plain mean",
    )

    @model_validator(mode="after")
    def _consistent(self) -> BCConfig:
        for name, value in (
            ("stem_channels", self.stem_channels),
            ("stage_channels", self.stage_channels[0]),
            ("stage_channels", self.stage_channels[1]),
        ):
            if value % self.groups:
                raise ValueError(f"`groups` ({self.groups}) must divide `{name}` ({value})")
        if self.width % self.heads:
            raise ValueError(f"`heads` ({self.heads}) must divide `width` ({self.width})")
        return self

    @property
    def uses_tactile(self) -> bool:
        """Whether the policy reads the tactile vector."""
        return self.tactile_dim is not None


POLICY_CONFIGS: dict[str, type[BCConfig]] = {"vital_bc": BCConfig}


def parse_config(data: dict[str, Any], source: str = "policy config") -> BCConfig:
    """Validate a policy config dict, picking its class by `type`.

    Raises:
        PolicyConfigError: unknown `type`, or a field with a bad value (named and quoted).
    """
    kind = data.get("type")
    if kind not in POLICY_CONFIGS:
        raise PolicyConfigError(
            f"{source}: unknown policy type `{kind}`",
            hint=f"known types: {', '.join(POLICY_CONFIGS)}",
        )
    return validate_model(
        POLICY_CONFIGS[kind], data, PolicyConfigError, source,
        hint="see docs/learning.md for the policy configuration fields",
    )  # fmt: skip


class TrainConfig(BaseModel):
    """Optimisation and augmentation settings (the policy's own are in `BCConfig`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    steps: int = Field(2000, ge=1)
    batch_size: int = Field(32, ge=1)
    lr: float = Field(3e-4, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    grad_clip: float = Field(1.0, gt=0)
    seed: int = 0
    checkpoint_every: int = Field(500, ge=1)
    augment: bool = True
    shift_pad: int = Field(4, ge=0)
    jitter: float = Field(
        0.3, ge=0, lt=1, description="colour jitter: brightness, contrast, saturation x 1 +- this"
    )
    relight: float = Field(
        0.0, ge=0, le=1, description="re-shading strength of the kept pixels (0: off)"
    )
    tactile_noise: float = Field(
        0.05, ge=0, description="std of Gaussian noise added to each tactile reading"
    )
    pose_weight: float = Field(
        1.0, ge=0, description="weight of the auxiliary target-pose loss (pose_head configs)"
    )
    pause_mm: float = Field(
        0.05,
        ge=0,
        description="drop frames whose applied action moves the arm less than this (mm), "
        "turns it less than 0.06 degrees and leaves the gripper command as it was: an "
        "operator's pauses (0: keep every frame)",
    )
    privileged: bool = Field(
        False,
        description="also read the simulator's privileged keys: the true target pose for the "
        "pose head and the label-map masks (the simulator-only recipe, for comparison)",
    )
    backgrounds: int = Field(256, ge=1, description="procedural backgrounds in the pool")
    background_dir: str | None = None

    @model_validator(mode="after")
    def _relight_needs_augment(self) -> TrainConfig:
        # Relighting re-shades augmentation's kept pixels: without augmentation it would
        # be silently off while provenance recorded a strength.
        if self.relight and not self.augment:
            raise ValueError(
                f"`relight` ({self.relight}) re-shades the kept pixels of augmentation, "
                "and `augment` is off"
            )
        return self


def parse_train_config(data: dict[str, Any], source: str = "training options") -> TrainConfig:
    """Validate training settings, naming the bad field and value.

    Raises:
        TrainingError: a field with a bad value, or settings that contradict each other.
    """
    hint = "see docs/learning.md for the training options"
    return validate_model(TrainConfig, data, TrainingError, source, hint=hint)
