"""A demonstration dataset in memory for BC: frames concatenated, episode bounds, statistics.

Training samples histories and action chunks that must not cross an episode's end, so
every frame keeps the index of its episode's start and end. The normalization
statistics the network stores as buffers are computed here from the same arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vitalskills.learning.dataset import ACTION, DemoDataset
from vitalskills.learning.errors import TrainingError
from vitalskills.learning.masks import IMAGE_KEY, MaskSource
from vitalskills.robot.geometry import quat_to_matrix

TACTILE_KEY = "observation.tactile"
EE_POSE_KEY = "observation.ee_pose"
TARGET_POSE_KEY = "privileged.target_pose"


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
