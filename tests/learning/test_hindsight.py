"""Hindsight target poses: their goal sources, and how far they are from the simulator's truth."""

from __future__ import annotations

import numpy as np
import pytest

from vitalskills.learning.bc.demos import target_from_gripper
from vitalskills.learning.bc.hindsight import (
    episode_goal,
    hindsight_targets,
    pose_features,
    seen_from_gripper,
)
from vitalskills.learning.dataset import Episode, EpisodeMeta
from vitalskills.learning.errors import TrainingError
from vitalskills.robot.geometry import matrix_to_axis_angle, matrix_to_quat, pose_matrix, yaw_matrix

EPISODES = 32  # as many as a shipped skill's demonstrations


def episode(ee: np.ndarray, success: bool = True, **extra: object) -> Episode:
    meta = EpisodeMeta(index=0, length=len(ee), success=success, extra=extra)
    return Episode(meta=meta, frames={"observation.ee_pose": ee.astype(np.float32)})


def vector(matrix: np.ndarray) -> list[float]:
    return [*matrix[:3, 3], *matrix_to_quat(matrix[:3, :3])]


def test_the_goal_comes_from_the_marked_pose_then_the_final_then_the_last_frame() -> None:
    ee = np.array([[0.5, 0.0, 0.2, 1.0, 0.0, 0.0, 0.0], [0.5, 0.0, 0.1, 1.0, 0.0, 0.0, 0.0]])
    marked, final = [0.4, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0], [0.3, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]
    goal = episode_goal(episode(ee, goal_ee_pose=marked, final_ee_pose=final))
    assert goal is not None and goal.source == "goal_ee_pose"
    np.testing.assert_allclose(goal.matrix[:3, 3], marked[:3])
    goal = episode_goal(episode(ee, final_ee_pose=final))
    assert goal is not None and goal.source == "final_ee_pose"
    goal = episode_goal(episode(ee))
    assert goal is not None and goal.source == "last_frame"
    np.testing.assert_allclose(goal.matrix[:3, 3], ee[-1, :3], atol=1e-7)
    assert episode_goal(episode(ee, success=False, goal_ee_pose=marked)) is None
    assert hindsight_targets(episode(ee, success=False)) is None
    with pytest.raises(TrainingError, match="episode 0: `goal_ee_pose`: a goal pose needs 7"):
        episode_goal(episode(ee, goal_ee_pose=[0.1, 0.2]))


def test_the_goal_seen_from_the_gripper_is_its_offset_and_heading_in_the_gripper_frame() -> None:
    rng = np.random.default_rng(0)
    down = np.diag([1.0, -1.0, -1.0])
    rotations = [yaw_matrix(a) @ down for a in rng.uniform(-np.pi, np.pi, 5)]
    ee = np.array([vector(pose_matrix(rng.uniform(-0.5, 0.5, 3), r)) for r in rotations])
    goal = pose_matrix(np.array([0.5, 0.1, 0.05]), yaw_matrix(0.4))
    ours = hindsight_targets(episode(ee, goal_ee_pose=vector(goal)))
    assert ours is not None
    for row, pose, rotation in zip(ours, ee, rotations, strict=True):
        np.testing.assert_allclose(row[:3], rotation.T @ (goal[:3, 3] - pose[:3]), atol=1e-6)
        axis = rotation.T @ goal[:3, 0]
        assert row[3] == pytest.approx(np.arctan2(axis[1], axis[0]), abs=1e-5)
    # The privileged formula is the same one applied to the true target pose.
    privileged = target_from_gripper(ee, np.repeat(goal[None], 5, 0))
    np.testing.assert_allclose(ours, privileged, atol=1e-6)
    # Seen from the goal itself, the goal is at the origin with no heading.
    at_goal = pose_features(seen_from_gripper(np.array([vector(goal)]), goal))
    np.testing.assert_allclose(at_goal, 0.0, atol=1e-6)


def rollouts(task: str) -> list[tuple[Episode, np.ndarray]]:
    """Scripted-expert demonstrations of `task`: the episode a collector would store (with
    the pose where success was observed as its goal) and the true target pose per frame."""
    from vitalskills.sim.env import VitalEnv
    from vitalskills.sim.expert import expert_policy

    env = VitalEnv(task, "canonical", render_wrist=False)
    out = []
    try:
        for seed in range(EPISODES):
            expert = expert_policy(env, seed)
            observation, _ = env.reset(seed=seed)
            poses, targets, done, info = [], [], False, {}
            while not done:
                poses.append(observation["ee_pose"])
                targets.append(env.target_matrix())
                observation, _, terminated, truncated, info = env.step(expert(observation))
                done = terminated or truncated
            assert info["success"], f"{task} seed {seed}: the expert failed"
            ee = np.array(poses)
            goal = observation["ee_pose"].astype(float).tolist()
            out.append((episode(ee, goal_ee_pose=goal), np.array(targets)))
    finally:
        env.close()
    return out


def angle_deg(rotation: np.ndarray) -> float:
    return float(np.degrees(np.linalg.norm(matrix_to_axis_angle(rotation))))


def hindsight_errors(task: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per demonstration of `task`: the largest error of the hindsight target against the
    simulator's truth on any of its frames, after removing the task's nominal success
    offset (mm, degrees), and the largest error of the heading the pose head learns
    (degrees)."""
    episodes = rollouts(task)
    truths, hindsights, offsets = [], [], []
    for demo, targets in episodes:
        ee = demo.frames["observation.ee_pose"]
        goal = episode_goal(demo)
        assert goal is not None and goal.source == "goal_ee_pose"
        truth = seen_from_gripper(ee, targets)  # inv(ee_t) @ target_t
        hindsight = seen_from_gripper(ee, goal.matrix)  # inv(ee_t) @ goal
        # They differ by one constant per episode: the success pose in the target frame.
        offset = np.linalg.inv(truth) @ hindsight
        np.testing.assert_allclose(offset, np.broadcast_to(offset[0], offset.shape), atol=1e-6)
        truths.append(truth)
        hindsights.append(hindsight)
        offsets.append(offset[0])
    # The task's nominal success offset: the mean over its demonstrations (the rotation
    # projected back onto a rotation).
    nominal = np.eye(4)
    nominal[:3, 3] = np.mean([c[:3, 3] for c in offsets], axis=0)
    u, _, vt = np.linalg.svd(np.sum([c[:3, :3] for c in offsets], axis=0))
    nominal[:3, :3] = u @ vt
    mm, deg, headings = [], [], []
    for truth, hindsight in zip(truths, hindsights, strict=True):
        corrected = hindsight @ np.linalg.inv(nominal)
        gaps = np.linalg.norm(corrected[:, :3, 3] - truth[:, :3, 3], axis=1)
        mm.append(1000 * float(gaps.max()))
        pairs = zip(corrected, truth, strict=True)
        deg.append(max(angle_deg(t[:3, :3].T @ c[:3, :3]) for c, t in pairs))
        heading = pose_features(corrected)[:, 3] - pose_features(truth)[:, 3]
        wrapped = (heading + np.pi) % (2 * np.pi) - np.pi
        headings.append(float(np.degrees(np.abs(wrapped).max())))
    return np.array(mm), np.array(deg), np.array(headings)


#: The largest error allowed on any one demonstration per task (mm, degrees), and why it
#: is not 1 mm and 1 degree.
BOUNDS = {
    # The USB plug sits in its port with 0.25 mm of play.
    "usb_insert": (1.0, 1.0),
    # The prongs sit anywhere in holes 1.5 mm wider than they are (+-0.75 mm across).
    "plug_in_socket": (1.1, 1.0),
    # Success is seen after a step of up to 1.5 mm down past the required depth, so the
    # key ends anywhere in that 1.5 mm; and the blade has +-0.7 mm of play across.
    "key_in_lock": (1.7, 1.0),
    # The swipe succeeds after 60 mm of travel that starts wherever the card went into the
    # slot, and the card turns in the fingers as it drags: the end point is no target.
    "card_swipe": (3.5, 5.0),
}


@pytest.mark.parametrize("task", list(BOUNDS))
def test_hindsight_targets_agree_with_the_simulators(task: str) -> None:
    """The typical demonstration's hindsight target is within 1 mm and 1 degree of the
    truth on every task; single demonstrations stray by the play the task allows."""
    mm, deg, heading = hindsight_errors(task)
    print(
        f"{task}: median {np.median(mm):.2f} mm {np.median(deg):.2f} deg, "
        f"worst {mm.max():.2f} mm {deg.max():.2f} deg, heading {heading.max():.2f} deg, "
        f"{int(np.sum((mm <= 1.0) & (deg <= 1.0)))}/{len(mm)} within 1 mm and 1 deg"
    )
    assert np.median(mm) <= 1.0 and np.median(deg) <= 1.0 and np.median(heading) <= 1.0
    limit_mm, limit_deg = BOUNDS[task]
    assert mm.max() <= limit_mm and deg.max() <= limit_deg, (mm.max(), deg.max())
    if task != "card_swipe":
        assert deg.max() <= 1.0 and heading.max() <= 1.0
