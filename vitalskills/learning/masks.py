"""Where the keep masks for semantic augmentation come from: a small interface, two sources.

`LabelMasks` reads a label map stored with the demonstrations (the simulator's
privileged segmentation). `SamMasks` prompts SAM with points or boxes on an episode's
first frame and propagates through the episode: each later frame is prompted with the
box around the previous frame's mask, as a tracker would. Either gives one (T, H, W)
bool array per episode: the union of the parts to keep.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from vitalskills.learning.dataset import Episode
from vitalskills.learning.errors import DatasetError

IMAGE_KEY = "observation.wrist_rgb"
KEEP_PARTS = ("target", "gripper", "held")


class MaskSource(Protocol):
    """Give the pixels to keep in every frame of an episode."""

    def keep(self, episode: Episode) -> np.ndarray: ...


@dataclass(frozen=True)
class LabelMasks:
    """Keep the pixels whose stored label is one of `parts` (names from `labels`)."""

    labels: dict[str, int]
    key: str = "privileged.wrist_mask"
    parts: tuple[str, ...] = KEEP_PARTS

    def keep(self, episode: Episode) -> np.ndarray:
        if self.key not in episode.frames:
            raise DatasetError(
                f"episode {episode.meta.index} has no `{self.key}` segmentation to augment with",
                hint="collect with the simulator's privileged masks, use SAM masks, "
                "or train with --no-augment",
            )
        unknown = [part for part in self.parts if part not in self.labels]
        if unknown:
            raise DatasetError(
                f"the dataset's mask labels have no {', '.join(f'`{p}`' for p in unknown)}",
                hint=f"labels are: {', '.join(self.labels) or 'none'}",
            )
        values = [self.labels[part] for part in self.parts]
        return np.isin(episode.frames[self.key], values)


@dataclass(frozen=True)
class SamPrompt:
    """One part to segment on the first frame: a foreground point (u, v) or a box."""

    point: tuple[float, float] | None = None
    box: tuple[float, float, float, float] | None = None

    def __post_init__(self) -> None:
        if (self.point is None) == (self.box is None):
            raise DatasetError("a SAM prompt needs exactly one of `point` or `box`")


class Segmenter(Protocol):
    """The part of `vitalskills.perception.sam.SamMasker` that propagation needs."""

    def mask(
        self, rgb: np.ndarray, box: tuple[float, float, float, float]
    ) -> tuple[np.ndarray, float]: ...

    def mask_at_point(self, rgb: np.ndarray, u: float, v: float) -> tuple[np.ndarray, float]: ...


def mask_box(mask: np.ndarray, margin: float) -> tuple[float, float, float, float] | None:
    """Return the box (x0, y0, x1, y1) around a mask, grown by `margin` pixels; None if empty."""
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        return None
    height, width = mask.shape
    return (
        max(0.0, cols.min() - margin),
        max(0.0, rows.min() - margin),
        min(width - 1.0, cols.max() + margin),
        min(height - 1.0, rows.max() + margin),
    )


class SamMasks:
    """Segment each prompted part with SAM and track it through the episode.

    Args:
        segmenter: a `SamMasker` (any real SAM checkpoint loaded by the perception code).
        prompts: the parts to keep, prompted on frame 0 of every episode.
        margin: pixels added around the previous mask's box when tracking.
    """

    def __init__(self, segmenter: Segmenter, prompts: Sequence[SamPrompt], margin: float = 4.0):
        if not prompts:
            raise DatasetError("SAM masks need at least one prompt (a point or a box)")
        self.segmenter = segmenter
        self.prompts = list(prompts)
        self.margin = margin

    def keep(self, episode: Episode) -> np.ndarray:
        images = episode.frames[IMAGE_KEY]
        keep = np.zeros(images.shape[:3], bool)
        for prompt in self.prompts:
            previous: np.ndarray | None = None
            for t, image in enumerate(images):
                box = prompt.box if previous is None else mask_box(previous, self.margin)
                if previous is None and prompt.point is not None:
                    mask, _ = self.segmenter.mask_at_point(image, *prompt.point)
                elif box is None:
                    mask = previous  # the part vanished: keep its last mask rather than none
                else:
                    mask, _ = self.segmenter.mask(image, box)
                if not mask.any() and previous is not None:
                    mask = previous
                keep[t] |= mask
                previous = mask
        return keep
