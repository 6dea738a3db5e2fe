"""The gymnasium environments: API, reproducibility, conditions, control and reward."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from vitalskills.errors import VitalskillsError
from vitalskills.robot.geometry import pose_matrix
from vitalskills.sim import TASKS, SimError, make_env
from vitalskills.sim.env import LEASH, MAX_TRANSLATION


@pytest.mark.parametrize("name", sorted(TASKS))
def test_check_env_passes(name: str) -> None:
    env = gym.make(TASKS[name].gym_id, image_size=64, render_mode="rgb_array")
    check_env(env.unwrapped)
    env.reset(seed=0)
    assert env.render().shape == (240, 320, 3)
    env.close()


def test_observation_conventions() -> None:
    env = make_env("plug_in_socket", seed=0)
    obs, info = env.reset()
    assert obs["wrist_rgb"].shape == (128, 128, 3) and obs["wrist_rgb"].dtype == np.uint8
    assert obs["tactile"].shape == (15,) and obs["tactile"].dtype == np.float32
    assert obs["ee_pose"].shape == (7,)
    assert np.linalg.norm(obs["ee_pose"][3:]) == pytest.approx(1.0, abs=1e-5)
    assert obs["gripper"][0] == pytest.approx(1.0, abs=0.01)
    assert obs["success"].dtype == bool and not obs["success"][0]
    assert {"success", "insertion_depth", "goal_distance"} <= set(info)
    env.close()


def _rollout(env, seed: int, steps: int = 8) -> list[dict]:
    obs, _ = env.reset(seed=seed)
    out = [obs]
    rng = np.random.default_rng(123)
    for _ in range(steps):
        obs, *_ = env.step(rng.uniform(env.action_space.low, env.action_space.high))
        out.append(obs)
    return out


def test_same_seed_same_episode() -> None:
    env = make_env("usb_insert", "scene", image_size=48)
    first, again, other = _rollout(env, 7), _rollout(env, 7), _rollout(env, 8)
    for a, b in zip(first, again, strict=True):
        for key in a:
            assert np.array_equal(a[key], b[key]), key
    assert not np.array_equal(first[0]["wrist_rgb"], other[0]["wrist_rgb"])
    assert not np.array_equal(first[-1]["tactile"], other[-1]["tactile"])
    env.close()


def _scene_images(condition: str, seeds: range) -> list[np.ndarray]:
    env = make_env("plug_in_socket", condition, render_wrist=False, render_mode="rgb_array")
    images = []
    for seed in seeds:
        env.reset(seed=seed)
        images.append(env.render().astype(float))
    env.close()
    return images


def _changed_fraction(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.abs(a - b).max(axis=-1) > 30))


def test_conditions_really_differ_across_seeds() -> None:
    canonical = _scene_images("canonical", range(3))
    spatial = _scene_images("spatial", range(3))
    scene = _scene_images("scene", range(3))
    pairs = [(0, 1), (0, 2), (1, 2)]
    change = {
        name: np.mean([_changed_fraction(images[i], images[j]) for i, j in pairs])
        for name, images in (("canonical", canonical), ("spatial", spatial), ("scene", scene))
    }
    # Canonical seeds move only the gripper a little; spatial moves the target too;
    # scene changes table, wall and lights, so most pixels change.
    assert change["canonical"] < 0.03
    assert change["spatial"] > 2 * change["canonical"]
    assert change["scene"] > 0.5


def test_target_poses_per_condition() -> None:
    poses = {}
    for condition in ("canonical", "spatial"):
        env = make_env("key_in_lock", condition, render_wrist=False)
        poses[condition] = []
        for seed in range(5):
            env.reset(seed=seed)
            poses[condition].append(env.target_matrix())
    assert all(np.allclose(p, poses["canonical"][0]) for p in poses["canonical"])
    xy = np.array([p[:2, 3] for p in poses["spatial"]])
    assert np.ptp(xy[:, 0]) > 0.05 and np.ptp(xy[:, 1]) > 0.05
    assert np.all((xy[:, 0] >= 0.35) & (xy[:, 0] <= 0.65) & (np.abs(xy[:, 1]) <= 0.2))


def test_start_is_around_the_approach_point() -> None:
    env = make_env("plug_in_socket", "spatial", render_wrist=False)
    for seed in range(5):
        env.reset(seed=seed)
        target = env.target_matrix()
        offset = env.task.approach_offset() + env.task.target_point()
        approach = target[:3, :3] @ offset + target[:3, 3]
        error = np.linalg.inv(target[:3, :3]) @ (env.ee_pose_matrix()[:3, 3] - approach)
        assert np.all(np.abs(error) <= [0.0151, 0.0151, 0.0101])


def test_distractor_option() -> None:
    env = make_env("card_swipe", "canonical", distractors=3, render_wrist=False)
    env.reset(seed=0)
    assert len(env.layout.distractors) == 3
    env = make_env("card_swipe", "scene", render_wrist=False)
    counts = set()
    for seed in range(8):
        env.reset(seed=seed)
        counts.add(len(env.layout.distractors))
    assert counts <= {2, 3, 4, 5} and len(counts) > 1
    with pytest.raises(SimError, match="distractors"):
        make_env("card_swipe", distractors=9)


def test_unknown_task_and_condition_are_user_errors() -> None:
    with pytest.raises(VitalskillsError, match="unknown simulator task `socket`") as error:
        make_env("socket")
    assert "plug_in_socket" in error.value.hint
    with pytest.raises(VitalskillsError, match="unknown condition"):
        make_env("usb_insert", "kitchen")


def test_actions_are_clamped_and_motion_follows_the_ee_frame() -> None:
    env = make_env("key_in_lock", render_wrist=False)
    env.reset(seed=0)
    start = env.ee_pose_matrix()
    _, _, _, _, info = env.step(np.array([0.5, 0, 0, 0, 0, 0, 1.0]))
    assert info["applied_action"][0] == pytest.approx(MAX_TRANSLATION)
    for _ in range(2):
        env.step(np.array([0, 0, 0, 0, 0, 0, 1.0]))
    moved = env.ee_pose_matrix()[:3, 3] - start[:3, 3]
    assert np.dot(moved, start[:3, 0]) == pytest.approx(MAX_TRANSLATION, abs=0.0015)
    env.close()


def test_pushing_into_the_table_gives_bounded_forces() -> None:
    env = make_env("usb_insert", render_wrist=False)
    env.reset(seed=0)
    # On the hub's top face, 2 cm beside the port.
    env.place_held(pose_matrix(np.array([0.02, 0.0, env.task.entry_z + 0.001]), np.eye(3)))
    peak = 0.0
    for _ in range(20):
        env.step(np.array([0, 0, 0.01, 0, 0, 0, 1.0]))  # EE z points down
        force, _ = env.grasp_wrench()
        peak = max(peak, float(np.linalg.norm(force)))
    assert 1.0 < peak < 60.0
    held_z = env.held_matrix()[2, 3]
    assert held_z > env.target_matrix()[2, 3] + env.task.entry_z - 0.001  # no tunnelling
    mocap = env.data.mocap_pos[0]
    assert np.linalg.norm(mocap - env.ee_pose_matrix()[:3, 3]) <= LEASH + 1e-6
    env.close()


def test_opening_the_gripper_drops_the_object() -> None:
    env = make_env("plug_in_socket", render_wrist=False)
    env.reset(seed=0)
    z0 = env.held_matrix()[2, 3]
    for _ in range(5):
        obs, *_ = env.step(np.array([0, 0, 0, 0, 0, 0, -1.0]))
    assert obs["gripper"][0] < 0.2
    assert env.held_matrix()[2, 3] < z0 - 0.02


def test_reward_rewards_progress_and_success() -> None:
    env = make_env("key_in_lock", render_wrist=False)
    env.reset(seed=0)
    goal = env.goal_matrix()
    ee = env.ee_pose_matrix()
    toward = ee[:3, :3].T @ (goal[:3, 3] - ee[:3, 3])
    toward[2] = 0.0
    _, reward, *_ = env.step(np.concatenate([np.clip(toward, -0.005, 0.005), [0, 0, 0, 1.0]]))
    assert reward > 0
    _, reward, *_ = env.step(np.concatenate([-np.clip(toward, -0.005, 0.005), [0, 0, 0, 1.0]]))
    assert reward < 0


@pytest.mark.parametrize("condition", ["canonical", "scene"])
def test_wrist_jitter_moves_only_the_wrist_camera_in_any_condition(condition: str) -> None:
    from vitalskills.sim.randomize import sample_layout

    spec = TASKS["plug_in_socket"]
    shifts = []
    for seed in range(20):
        plain = sample_layout(spec, condition, np.random.default_rng(seed))
        jittered = sample_layout(spec, condition, np.random.default_rng(seed), wrist_jitter=0.003)
        np.testing.assert_array_equal(plain.wrist_shift, 0.0)
        np.testing.assert_array_equal(plain.start_pos, jittered.start_pos)
        np.testing.assert_array_equal(plain.camera_shift, jittered.camera_shift)
        assert plain.start_yaw == jittered.start_yaw
        shifts.append(jittered.wrist_shift)
    shifts = np.array(shifts)
    assert np.abs(shifts).max() <= 0.003 and np.abs(shifts).max() > 0.002


def test_a_jittered_wrist_camera_sees_a_different_image() -> None:
    images = []
    for jitter in (None, 0.003):
        env = make_env("plug_in_socket", condition="canonical", image_size=32, wrist_jitter=jitter)
        obs, _ = env.reset(seed=1)
        images.append(obs["wrist_rgb"].astype(int))
        env.close()
    assert np.abs(images[0] - images[1]).mean() > 1.0
