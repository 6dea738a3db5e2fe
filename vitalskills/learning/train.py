"""Train the ViTaL BC policy on a demonstration dataset: seeded, checkpointed, resumable.

Every sample is one step of one episode: the last `history` frames up to it and the next
`chunk` actions after it (steps past the episode's end are masked out of the loss). With
augmentation on, each image is first composited onto a random background outside its
keep mask (with `relight`, its kept pixels re-shaded), then shifted and colour-jittered.
Tactile readings get Gaussian noise above the skin's free-space level: without it the
policy reads its own last motion from the tiny inertial signal and copies it (the
copycat failure of BC with history-bearing inputs) instead of looking. With `pose_head`,
an auxiliary loss asks the image features to predict where the target is seen from the
gripper (simulator demonstrations carry the true pose): without it, behind random
backgrounds, the encoder of the harder tasks learned nothing in 2,500 steps and the
policy predicted the mean action whatever it saw. The head is not used to act. The loss
is the mean squared error on normalized actions (the paper's Gaussian NLL with a fixed
std, up to scale).

Checkpoints hold the model, the optimizer state and both random generators, so a
resumed run continues exactly where the interrupted one stopped.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from safetensors.torch import load_file, save_file

from vitalskills.errors import validate_model
from vitalskills.learning.augment import (
    background_pool,
    colour_jitter,
    composite,
    random_shift,
    relight,
)
from vitalskills.learning.config import BCConfig
from vitalskills.learning.dataset import ACTION, DemoDataset
from vitalskills.learning.errors import TrainingError
from vitalskills.learning.masks import IMAGE_KEY, LabelMasks, MaskSource
from vitalskills.learning.model import VitalBC
from vitalskills.robot.geometry import quat_to_matrix

TACTILE_KEY = "observation.tactile"
EE_POSE_KEY = "observation.ee_pose"
TARGET_POSE_KEY = "privileged.target_pose"


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


def load_torch_compiler() -> None:
    """Import `torch._dynamo` (and with it triton) now, before MuJoCo opens a GL context.

    Optimizers import `torch._dynamo` on first use, which imports triton; importing
    triton's bundled LLVM after MuJoCo has loaded Mesa (EGL or OSMesa) segfaults the
    process. Processes that render and then train call this before rendering.
    """
    import torch._dynamo  # noqa: F401


@dataclass
class Demos:
    """Every frame of a dataset in memory, episodes concatenated."""

    images: np.ndarray  # (N, H, W, 3) uint8
    tactile: np.ndarray | None  # (N, D) float32
    actions: np.ndarray  # (N, A) float32
    keep: np.ndarray | None  # (N, H, W) bool
    pose: np.ndarray | None  # (N, 4) float32 target pose seen from the gripper, normalized
    starts: np.ndarray  # (N,) index of each frame's episode start
    ends: np.ndarray  # (N,) index one past each frame's episode end


def target_from_gripper(ee_pose: np.ndarray, target_pose: np.ndarray) -> np.ndarray:
    """The target's position in the gripper frame and its heading there, (N, 4).

    `ee_pose` is (N, 7) position + wxyz quaternion, `target_pose` (N, 4, 4), both in
    the base frame.
    """
    rotations = np.stack([quat_to_matrix(q) for q in ee_pose[:, 3:7]])  # (N, 3, 3)
    offset = np.einsum("nji,nj->ni", rotations, target_pose[:, :3, 3] - ee_pose[:, :3])
    axis = np.einsum("nji,nj->ni", rotations, target_pose[:, :3, 0])
    return np.column_stack([offset, np.arctan2(axis[:, 1], axis[:, 0])]).astype(np.float32)


def load_demos(
    dataset: DemoDataset, tactile: bool, masks: MaskSource | None, pose: bool = False
) -> Demos:
    """Load and concatenate a dataset's frames, with keep masks when augmenting.

    With `pose`, also the target pose seen from the gripper (normalized), for the
    auxiliary pose loss; it needs the simulator's privileged target pose.

    Raises:
        TrainingError: the dataset is empty or lacks the arrays the policy needs.
    """
    if len(dataset) == 0:
        raise TrainingError(f"dataset `{dataset.root}` has no episodes")
    needed = [IMAGE_KEY, ACTION] + ([TACTILE_KEY] if tactile else [])
    needed += [EE_POSE_KEY, TARGET_POSE_KEY] if pose else []
    missing = [key for key in needed if key not in dataset.info.features]
    if missing:
        raise TrainingError(
            f"dataset `{dataset.root}` has no {', '.join(f'`{k}`' for k in missing)}",
            hint="train with --no-tactile for a dataset without touch, --pose-weight 0 "
            "for one without the simulator's target pose",
        )
    images, tactiles, actions, keeps, poses, starts, ends = [], [], [], [], [], [], []
    offset = 0
    for episode in dataset:
        length = len(episode)
        images.append(episode.frames[IMAGE_KEY])
        actions.append(episode.frames[ACTION].astype(np.float32))
        if tactile:
            tactiles.append(episode.frames[TACTILE_KEY].astype(np.float32))
        if masks is not None:
            keeps.append(masks.keep(episode))
        if pose:
            frames = episode.frames
            poses.append(target_from_gripper(frames[EE_POSE_KEY], frames[TARGET_POSE_KEY]))
        starts.append(np.full(length, offset))
        ends.append(np.full(length, offset + length))
        offset += length
    return Demos(
        images=np.concatenate(images),
        tactile=np.concatenate(tactiles) if tactile else None,
        actions=np.concatenate(actions),
        keep=np.concatenate(keeps) if masks is not None else None,
        pose=standardize(np.concatenate(poses)) if pose else None,
        starts=np.concatenate(starts),
        ends=np.concatenate(ends),
    )


def mean_std(values: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-column mean and std of (N, D) values; constant columns get std 1."""
    mean = torch.from_numpy(values.mean(axis=0).astype(np.float32))
    std = torch.from_numpy(values.std(axis=0).astype(np.float32))
    return mean, torch.where(std < 1e-6, torch.ones_like(std), std)


def standardize(values: np.ndarray) -> np.ndarray:
    """Zero mean, unit std per column (constant columns keep std 1)."""
    mean, std = mean_std(values)
    return ((values - mean.numpy()) / std.numpy()).astype(np.float32)


def compute_stats(demos: Demos) -> dict[str, torch.Tensor]:
    """Return mean/std normalization statistics; constant dimensions get std 1."""
    stats = dict(zip(("action_mean", "action_std"), mean_std(demos.actions), strict=True))
    if demos.tactile is not None:
        stats.update(zip(("tactile_mean", "tactile_std"), mean_std(demos.tactile), strict=True))
    return stats


class Batcher:
    """Draw seeded training batches of histories, action chunks and loss masks."""

    def __init__(
        self, demos: Demos, config: BCConfig, train: TrainConfig, generator: torch.Generator
    ) -> None:
        self.demos = demos
        self.config = config
        self.train = train
        self.generator = generator
        self.pool = (
            background_pool(
                demos.images.shape[1],
                train.backgrounds,
                train.seed,
                Path(train.background_dir) if train.background_dir else None,
            )
            if train.augment
            else None
        )

    def sample(self, batch_size: int) -> Batch:
        """Return one seeded training batch."""
        d, cfg = self.demos, self.config
        picks = torch.randint(0, len(d.actions), (batch_size,), generator=self.generator).numpy()
        back = np.arange(cfg.history - 1, -1, -1)
        frames = np.maximum(picks[:, None] - back, d.starts[picks][:, None])  # (B, T)
        ahead = frames[..., None] + np.arange(cfg.chunk)  # (B, T, C)
        valid = ahead < d.ends[picks][:, None, None]
        ahead = np.minimum(ahead, d.ends[picks][:, None, None] - 1)
        images = d.images[frames]  # (B, T, H, W, 3)
        keep = None
        if self.pool is not None and d.keep is not None:
            keep = d.keep[frames]
            choice = torch.randint(0, len(self.pool), (batch_size,), generator=self.generator)
            backgrounds = self.pool[choice.numpy()][:, None]
            images = composite(images, keep, backgrounds)
        pixels = torch.from_numpy(images).permute(0, 1, 4, 2, 3).float().div_(255.0)
        batch, steps = pixels.shape[:2]
        flat = pixels.flatten(0, 1)
        if keep is not None:
            kept = torch.from_numpy(keep).flatten(0, 1)
            flat = relight(flat, kept, self.generator, self.train.relight)
        if self.train.augment:
            flat = random_shift(flat, self.train.shift_pad, self.generator)
            if self.train.jitter:
                j = self.train.jitter
                flat = colour_jitter(flat, self.generator, brightness=j, contrast=j, saturation=j)
        if flat.shape[-1] != cfg.image_size:
            flat = torch.nn.functional.interpolate(
                flat, size=(cfg.image_size, cfg.image_size), mode="bilinear", antialias=True
            )
        tactile = None
        if d.tactile is not None:
            tactile = torch.from_numpy(d.tactile[frames])
            noise = torch.randn(tactile.shape, generator=self.generator)
            tactile = tactile + self.train.tactile_noise * noise
        return Batch(
            images=flat.view(batch, steps, *flat.shape[1:]),
            tactile=tactile,
            actions=torch.from_numpy(d.actions[ahead]),
            valid=torch.from_numpy(valid),
            pose=torch.from_numpy(d.pose[frames]) if d.pose is not None else None,
        )


@dataclass
class Batch:
    """One training batch: histories of inputs and the action chunks that follow."""

    images: torch.Tensor  # (B, T, 3, H, W) in [0, 1]
    tactile: torch.Tensor | None  # (B, T, D)
    actions: torch.Tensor  # (B, T, C, A) raw
    valid: torch.Tensor  # (B, T, C) bool: chunk entries inside the episode
    pose: torch.Tensor | None  # (B, T, 4) normalized target pose, for the auxiliary loss


def bc_loss(model: VitalBC, batch: Batch, pose_weight: float = 0.0) -> torch.Tensor:
    """Mean squared error on normalized actions over the valid chunk entries.

    With a pose head and `pose_weight`, plus that weight times the error of the target
    pose predicted from the image features.
    """
    features = model.encode(batch.images)
    predicted = model.decode(features, batch.tactile)
    error = (predicted - model.normalize_actions(batch.actions)).pow(2).mean(-1)
    loss = (error * batch.valid).sum() / batch.valid.sum().clamp(min=1)
    if batch.pose is not None and pose_weight > 0:
        loss = loss + pose_weight * (model.pose(features) - batch.pose).pow(2).mean()
    return loss


def _save_checkpoint(
    folder: Path,
    model: VitalBC,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    step: int,
    losses: list[float],
) -> None:
    """Write the training state to `folder` atomically (a temporary sibling, then rename)."""
    tmp = folder.with_name(f".tmp-{folder.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, tmp / "model.safetensors")
    tensors = {"rng.data": generator.get_state(), "rng.torch": torch.get_rng_state()}
    state = optimizer.state_dict()
    for index, entry in state["state"].items():
        for name, value in entry.items():
            tensors[f"optim.{index}.{name}"] = torch.as_tensor(value).contiguous()
    save_file(tensors, tmp / "training.safetensors")
    meta = {
        "step": step,
        "losses": losses,
        "param_groups": state["param_groups"],
        "config": model.config.model_dump(mode="json"),
    }
    (tmp / "state.json").write_text(json.dumps(meta))
    replace_folder(tmp, folder)


def replace_folder(tmp: Path, folder: Path) -> None:
    """Make the fully written folder `tmp` become `folder`.

    Files are fsynced first, so a crash at any point leaves the previous checkpoint or
    the new one, never a torn mix.
    """
    for path in tmp.iterdir():
        with path.open("rb") as handle:
            os.fsync(handle.fileno())
    old = folder.with_name(f".old-{folder.name}")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.rename(old)
    tmp.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


def _load_checkpoint(
    folder: Path, model: VitalBC, optimizer: torch.optim.Optimizer, generator: torch.Generator
) -> tuple[int, list[float]]:
    try:
        weights = load_file(folder / "model.safetensors")
        tensors = load_file(folder / "training.safetensors")
        meta = json.loads((folder / "state.json").read_text())
        if meta.get("config") != model.config.model_dump(mode="json"):
            raise ValueError("it was trained with a different policy config")
        model.load_state_dict(weights)
    except (OSError, RuntimeError, ValueError, KeyError) as error:
        raise TrainingError(
            f"checkpoint `{folder}` cannot be resumed: {str(error).splitlines()[0]}",
            hint="train from scratch into a new --out, or delete the checkpoint",
        ) from None
    optim_state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            optim_state.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": optim_state, "param_groups": meta["param_groups"]})
    generator.set_state(tensors["rng.data"])
    torch.set_rng_state(tensors["rng.torch"])
    return int(meta["step"]), list(meta["losses"])


@dataclass
class TrainResult:
    """A finished run: the trained model, per-step losses, wall time of this process."""

    model: VitalBC
    losses: list[float]
    seconds: float
    resumed_from: int


def train_bc(
    dataset: DemoDataset,
    config: BCConfig,
    train: TrainConfig,
    checkpoints: Path,
    *,
    masks: MaskSource | None = None,
    resume: bool = False,
    on_step: Callable[[int, float], None] | None = None,
) -> TrainResult:
    """Train a `VitalBC` on `dataset`, checkpointing into `checkpoints/latest`.

    Args:
        masks: where keep masks come from; default: the dataset's stored label map.
        resume: continue from `checkpoints/latest` if it exists.
        on_step: called after every step with (step, loss), for progress display.

    Raises:
        TrainingError: bad data, or a checkpoint that does not match this run.
    """
    torch.manual_seed(train.seed)
    generator = torch.Generator().manual_seed(train.seed)
    if train.augment and masks is None:
        masks = LabelMasks(dataset.info.mask_labels)
    demos = load_demos(
        dataset, config.uses_tactile, masks if train.augment else None, pose=config.pose_head
    )
    if (
        config.uses_tactile
        and demos.tactile is not None
        and demos.tactile.shape[1] != config.tactile_dim
    ):
        raise TrainingError(
            f"dataset tactile vectors have {demos.tactile.shape[1]} values, "
            f"config `tactile_dim` is {config.tactile_dim}"
        )
    model = VitalBC(config)
    model.set_stats(compute_stats(demos))
    optimizer = torch.optim.AdamW(model.parameters(), lr=train.lr, weight_decay=train.weight_decay)
    batcher = Batcher(demos, config, train, generator)
    latest = checkpoints / "latest"
    step, losses = 0, []
    if resume and latest.is_dir():
        step, losses = _load_checkpoint(latest, model, optimizer, generator)
    resumed_from = step
    started = time.perf_counter()
    model.train()
    while step < train.steps:
        loss = bc_loss(model, batcher.sample(train.batch_size), train.pose_weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), train.grad_clip)
        optimizer.step()
        step += 1
        losses.append(loss.item())
        if on_step is not None:
            on_step(step, losses[-1])
        if step % train.checkpoint_every == 0 or step == train.steps:
            _save_checkpoint(latest, model, optimizer, generator, step, losses)
    model.eval()
    return TrainResult(model, losses, time.perf_counter() - started, resumed_from)
