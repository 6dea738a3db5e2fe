"""A demonstration dataset in memory for BC: frames concatenated, episode bounds, statistics.

Training samples histories and action chunks that must not cross an episode's end, so
every frame keeps the index of its episode's start and end. The normalization
statistics the network stores as buffers are computed here from the same arrays.

An operator's pauses (frames whose applied action barely moves the arm) are dropped on
loading: a still frame paired with a still action teaches a policy to stop where the
demonstration went on, and a person teleoperating a robot pauses often.

Loading reads only what a real robot records unless asked for the simulator's
privileged signals: every episode passes through `visible`, which drops each
`privileged.*` array before anything (masks, pose targets) can read it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vitalskills.learning.bc.hindsight import (
    EE_POSE_KEY,
    hindsight_targets,
    pose_features,
    seen_from_gripper,
)
from vitalskills.learning.dataset import ACTION, DemoDataset, Episode
from vitalskills.learning.errors import TrainingError
from vitalskills.learning.masks import IMAGE_KEY, MaskSource

TACTILE_KEY = "observation.tactile"
TARGET_POSE_KEY = "privileged.target_pose"
#: Stored keys that only a simulator can fill (see `vitalskills.robot.interface`).
PRIVILEGED_PREFIX = "privileged."
#: A pause turns the arm less than this (rad), besides moving it less than `pause_mm`.
PAUSE_ROTATION = 1e-3


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
    #: (N,) bool: frames with a pose target (failed episodes have no hindsight goal);
    #: None when every frame has one.
    pose_valid: np.ndarray | None = None
    #: Frames dropped as the operator's pauses (see `pauses`).
    paused: int = 0


def is_privileged(key: str) -> bool:
    """Whether a stored frame key holds a simulator-only signal."""
    return key.startswith(PRIVILEGED_PREFIX)


def visible(episode: Episode, privileged: bool = False) -> Episode:
    """Return the episode as training may read it: without `privileged.*` arrays unless allowed.

    Only the names of the dropped arrays are looked at, never their contents.
    """
    if privileged:
        return episode
    frames = {key: episode.frames[key] for key in episode.frames if not is_privileged(key)}
    return Episode(meta=episode.meta, frames=frames)


def pauses(actions: np.ndarray, pause_mm: float) -> np.ndarray:
    """(T,) bool: the frames whose action is a pause in an episode's (T, 7) actions.

    A pause moves the arm less than `pause_mm`, turns it less than `PAUSE_ROTATION`
    and leaves the gripper command as the frame before gave it. `pause_mm` 0 finds none.
    """
    if pause_mm <= 0:
        return np.zeros(len(actions), bool)
    still = np.linalg.norm(actions[:, :3], axis=1) < pause_mm / 1000.0
    still &= np.linalg.norm(actions[:, 3:6], axis=1) < PAUSE_ROTATION
    gripper = actions[:, 6:]
    same = np.ones(len(actions), bool)
    same[1:] = np.all(gripper[1:] == gripper[:-1], axis=1)
    return still & same


def target_from_gripper(ee_pose: np.ndarray, target_pose: np.ndarray) -> np.ndarray:
    """The target's position in the gripper frame and its heading there, (N, 4).

    `ee_pose` is (N, 7) position + wxyz quaternion, `target_pose` (N, 4, 4), both in
    the base frame.
    """
    return pose_features(seen_from_gripper(ee_pose, target_pose))


def _needed_keys(tactile: bool, pose: bool, privileged: bool) -> list[str]:
    needed = [IMAGE_KEY, ACTION] + ([TACTILE_KEY] if tactile else [])
    if pose:
        needed += [EE_POSE_KEY, TARGET_POSE_KEY] if privileged else [EE_POSE_KEY]
    return needed


def _pose_rows(episode: Episode, privileged: bool) -> np.ndarray | None:
    frames = episode.frames
    if privileged:
        return target_from_gripper(frames[EE_POSE_KEY], frames[TARGET_POSE_KEY])
    return hindsight_targets(episode)


def load_demos(
    dataset: DemoDataset,
    tactile: bool,
    masks: MaskSource | None,
    pose: bool = False,
    *,
    privileged: bool = False,
    pause_mm: float = 0.0,
) -> Demos:
    """Load and concatenate a dataset's frames, with keep masks when augmenting.

    Frames that are pauses (`pauses` with `pause_mm`) are left out; an episode that is
    nothing but pauses is left out whole.

    With `pose`, also the target pose seen from the gripper (normalized), for the
    auxiliary pose loss: from hindsight (the goal pose of each successful episode and
    the end-effector pose; failed episodes get none), or with `privileged` from the
    simulator's true target pose. Without `privileged` no `privileged.*` array reaches
    `masks` or anything else here.

    Raises:
        TrainingError: the dataset is empty or lacks the arrays the policy needs, or
            (with `pose`) no episode has a goal.
    """
    if len(dataset) == 0:
        raise TrainingError(f"dataset `{dataset.root}` has no episodes")
    needed = _needed_keys(tactile, pose, privileged)
    missing = [key for key in needed if key not in dataset.info.features]
    if missing:
        raise TrainingError(
            f"dataset `{dataset.root}` has no {', '.join(f'`{k}`' for k in missing)}",
            hint="train with --no-tactile for a dataset without touch, --pose-weight 0 "
            "for one without the "
            + ("simulator's target pose" if privileged else "end-effector pose"),
        )
    images, tactiles, actions, keeps, poses, starts, ends = [], [], [], [], [], [], []
    offset = paused = 0
    for stored in dataset:
        episode = visible(stored, privileged)
        moving = ~pauses(episode.frames[ACTION], pause_mm)
        length = int(moving.sum())
        paused += len(moving) - length
        if length == 0:
            continue
        images.append(episode.frames[IMAGE_KEY][moving])
        actions.append(episode.frames[ACTION][moving].astype(np.float32))
        if tactile:
            tactiles.append(episode.frames[TACTILE_KEY][moving].astype(np.float32))
        if masks is not None:
            keeps.append(masks.keep(episode)[moving])
        if pose:
            rows = _pose_rows(episode, privileged)
            poses.append(None if rows is None else rows[moving])
        starts.append(np.full(length, offset))
        ends.append(np.full(length, offset + length))
        offset += length
    if not images:
        raise TrainingError(
            f"every frame of dataset `{dataset.root}` is a pause (moves under {pause_mm} mm)",
            hint="train with --pause-mm 0 to keep every frame",
        )
    demos = Demos(
        images=np.concatenate(images),
        tactile=np.concatenate(tactiles) if tactile else None,
        actions=np.concatenate(actions),
        keep=np.concatenate(keeps) if masks is not None else None,
        pose=None,
        starts=np.concatenate(starts),
        ends=np.concatenate(ends),
        paused=paused,
    )
    if pose:
        demos.pose, demos.pose_valid = _stack_poses(dataset, poses, [len(i) for i in images])
    return demos


def _stack_poses(
    dataset: DemoDataset, poses: list[np.ndarray | None], lengths: list[int]
) -> tuple[np.ndarray, np.ndarray | None]:
    """Standardize the pose rows of the episodes that have them; zeros and a mask elsewhere."""
    pairs = list(zip(poses, lengths, strict=True))
    valid = np.concatenate([np.full(n, rows is not None) for rows, n in pairs])
    if not valid.any():
        raise TrainingError(
            f"dataset `{dataset.root}` has no successful episode to take a hindsight goal from",
            hint="train with --pose-weight 0, or collect successful demonstrations",
        )
    stacked = np.concatenate([np.zeros((n, 4), np.float32) if r is None else r for r, n in pairs])
    stacked[valid] = standardize(stacked[valid])
    stacked[~valid] = 0.0
    return stacked, None if valid.all() else valid


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
