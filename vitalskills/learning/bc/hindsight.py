"""Hindsight target poses: where the target is seen from the gripper, from proprioception.

A successful demonstration ends with the held object in its target, so the end-effector
pose at which success was marked (the goal) stands for the target: seen from the gripper
at frame t, the target is `inv(ee_t) @ goal`. That needs only what a real robot records
(its end-effector pose and the moment the operator said "done"), not the simulator's
privileged target pose. The two differ by one constant per episode, the success pose
relative to the target (the object seated in its opening), which is nearly the same for
every demonstration of a task: the auxiliary pose head learns where the goal is, and
the goal sits where the target is, up to that constant (figures in docs/learning.md).

Where the goal comes from, in order: `extra["goal_ee_pose"]` of the episode's metadata
(the pose at which the operator marked success, written by teleoperated collection),
`extra["final_ee_pose"]` (the observation after the last action, when a collector keeps
it), else the episode's last recorded `observation.ee_pose`. A failed episode has no goal.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from vitalskills.learning.dataset import Episode, EpisodeMeta
from vitalskills.learning.errors import TrainingError
from vitalskills.robot.geometry import pose_matrix, quat_to_matrix

EE_POSE_KEY = "observation.ee_pose"
#: Episode metadata keys that hold a goal pose (7 floats: xyz, wxyz, base frame), in order.
GOAL_KEYS = ("goal_ee_pose", "final_ee_pose")
#: How a goal is named when it is the last recorded frame's `observation.ee_pose`.
LAST_FRAME = "last_frame"


@dataclass(frozen=True)
class Goal:
    """An episode's goal: the end-effector pose (4x4, base frame) where it succeeded."""

    matrix: np.ndarray
    source: str  # one of GOAL_KEYS or LAST_FRAME


def pose_from_vector(pose: np.ndarray) -> np.ndarray:
    """Return the 4x4 transform of a 7-vector pose (xyz metres, wxyz quaternion)."""
    values = np.asarray(pose, dtype=np.float64).reshape(-1)
    if values.shape != (7,) or not np.all(np.isfinite(values)):
        raise TrainingError(f"a goal pose needs 7 finite numbers (xyz, wxyz), got {values}")
    return pose_matrix(values[:3], quat_to_matrix(values[3:7]))


def goal_source(meta: EpisodeMeta) -> str | None:
    """Return where an episode's goal comes from (see the module docstring); None if failed.

    Reads only the episode's metadata, so a run can say what it will use before loading.
    """
    if not meta.success:
        return None
    return next((key for key in GOAL_KEYS if meta.extra.get(key) is not None), LAST_FRAME)


def goal_counts(metas: list[EpisodeMeta]) -> Counter[str | None]:
    """Count the episodes by goal source (`None`: failed, no goal)."""
    return Counter(goal_source(meta) for meta in metas)


def episode_goal(episode: Episode) -> Goal | None:
    """Return the goal of a successful episode, None for a failed one.

    Raises:
        TrainingError: a stored goal pose that is not 7 finite numbers.
    """
    source = goal_source(episode.meta)
    if source is None:
        return None
    if source == LAST_FRAME:
        return Goal(pose_from_vector(episode.frames[EE_POSE_KEY][-1]), source)
    try:
        return Goal(pose_from_vector(episode.meta.extra[source]), source)
    except TrainingError as error:
        raise TrainingError(
            f"episode {episode.meta.index}: `{source}`: {error.message}",
            hint="the dataset's episode metadata was edited or written by another tool",
        ) from None


def seen_from_gripper(ee_poses: np.ndarray, pose: np.ndarray) -> np.ndarray:
    """Return `inv(ee_t) @ pose` for every row of (T, 7) end-effector poses: (T, 4, 4).

    `pose` is one 4x4 transform in the base frame (a goal) or one per row (T, 4, 4).
    """
    ee = np.stack([pose_from_vector(row) for row in ee_poses])
    return np.linalg.inv(ee) @ pose


def pose_features(relative: np.ndarray) -> np.ndarray:
    """The auxiliary head's target, (N, 4): position in the gripper frame and heading.

    `relative` (N, 4, 4) is a frame seen from the gripper; the heading is the yaw, in the
    gripper's x-y plane, of that frame's x axis.
    """
    axis = relative[:, :3, 0]
    heading = np.arctan2(axis[:, 1], axis[:, 0])
    return np.column_stack([relative[:, :3, 3], heading]).astype(np.float32)


def hindsight_targets(episode: Episode) -> np.ndarray | None:
    """The goal seen from the gripper at every frame, as `pose_features` (T, 4).

    None for a failed episode: it has no goal, and gets no auxiliary loss.
    """
    goal = episode_goal(episode)
    if goal is None:
        return None
    return pose_features(seen_from_gripper(episode.frames[EE_POSE_KEY], goal.matrix))
