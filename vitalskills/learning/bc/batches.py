"""Seeded BC training batches: histories, action chunks, loss masks, and their augmentation.

With augmentation on, each image is first composited onto a random background outside
its keep mask (with `relight`, its kept pixels re-shaded), then shifted and
colour-jittered. Tactile readings get Gaussian noise above the skin's free-space level
(docs/learning.md says why). Every random draw comes from the run's generator, in a
fixed order, so a resumed run draws exactly what the uninterrupted one would have.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np
import torch

from vitalskills.learning.augment import (
    background_pool,
    colour_jitter,
    composite,
    random_shift,
    relight,
)
from vitalskills.learning.bc.config import BCConfig, TrainConfig
from vitalskills.learning.bc.demos import Demos


@dataclass
class Batch:
    """One training batch: histories of inputs and the action chunks that follow."""

    images: torch.Tensor  # (B, T, 3, H, W) in [0, 1]
    tactile: torch.Tensor | None  # (B, T, D)
    actions: torch.Tensor  # (B, T, C, A) raw
    valid: torch.Tensor  # (B, T, C) bool: chunk entries inside the episode
    pose: torch.Tensor | None  # (B, T, 4) normalized target pose, for the auxiliary loss
    pose_valid: torch.Tensor | None = None  # (B, T) bool: has a pose target; None: all

    def to(self, device: torch.device) -> Batch:
        """Return the batch on `device` (sampling and augmentation stay on the CPU)."""
        if device.type == "cpu":
            return self
        tensors = {field.name: getattr(self, field.name) for field in fields(self)}
        return replace(self, **{k: v.to(device) for k, v in tensors.items() if v is not None})


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
            pose_valid=None if d.pose_valid is None else torch.from_numpy(d.pose_valid[frames]),
        )
