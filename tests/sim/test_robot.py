"""`SimRobot` behind the `Robot` interface: observations, actions, and the scene camera."""

import numpy as np
import pytest

from vitalskills.robot import Robot, RobotError
from vitalskills.sim import SimRobot
from vitalskills.sim.env import MASK_LABELS


def test_sim_robot_is_a_robot_with_privileged_extras() -> None:
    with SimRobot("usb_insert", seed=3, image_size=64) as robot:
        assert isinstance(robot, Robot)
        caps = robot.capabilities()
        assert caps.privileged and caps.tactile_dim == 15 and caps.action_dim == 7
        assert {c.name for c in caps.cameras} == {"wrist", "scene"}
        obs = robot.reset(seed=3)
        assert obs["wrist_rgb"].shape == (64, 64, 3)
        mask = obs["privileged/wrist_mask"]
        assert mask.shape == (64, 64)
        assert set(np.unique(mask)) <= set(MASK_LABELS.values())
        assert (mask == MASK_LABELS["gripper"]).any()
        applied = robot.act(np.array([0.5, 0, 0, 0, 0, 2.0, 1.0]))
        assert applied[0] == pytest.approx(0.01) and applied[5] == pytest.approx(0.1)
        assert robot.observe()["ee_pose"].shape == (7,)
        with pytest.raises(RobotError, match="7 finite numbers"):
            robot.act(np.array([0.0, np.nan, 0, 0, 0, 0, 1.0]))
        with pytest.raises(RobotError, match="7 finite numbers"):
            robot.act(np.zeros(3))
        robot.stop()
        before = robot.observe()["ee_pose"].copy()
        robot.act(np.array([0, 0, 0, 0, 0, 0, 1.0]))
        assert np.allclose(robot.observe()["ee_pose"][:3], before[:3], atol=1e-3)


def test_home_start_is_away_from_the_target_and_reproducible() -> None:
    robot = SimRobot("key_in_lock", "spatial")
    first = robot.reset(seed=11)["ee_pose"].copy()
    assert np.linalg.norm(first[:3] - [0.5, 0.0, 0.25]) < 0.03
    assert np.array_equal(robot.reset(seed=11)["ee_pose"], first)
    robot.close()


def _project(frame, point: np.ndarray) -> tuple[int, int, float]:
    cam = np.linalg.inv(frame.extrinsics) @ np.append(point, 1.0)
    uvw = frame.intrinsics @ cam[:3]
    return int(uvw[0] / uvw[2]), int(uvw[1] / uvw[2]), float(cam[2])


@pytest.mark.parametrize("condition", ["canonical", "scene"])
def test_scene_frame_geometry_matches_the_privileged_truth(condition: str) -> None:
    with SimRobot("plug_in_socket", condition, seed=5) as robot:  # locate runs from home
        robot.reset(seed=5)
        frame = robot.scene()
        h, w = frame.depth.shape
        assert frame.rgb.shape == (h, w, 3) and frame.intrinsics.shape == (3, 3)
        assert np.allclose(frame.extrinsics[3], [0, 0, 0, 1])
        assert "power strip" in frame.labels["power_strip"]
        u, v, z = _project(frame, frame.objects["power_strip"])
        assert 0 <= u < w and 0 <= v < h
        assert frame.segmentation["power_strip"][v, u]
        assert frame.depth[v, u] == pytest.approx(z, abs=0.004)
        # Every target pixel back-projects onto the strip (within its footprint).
        vs, us = np.nonzero(frame.segmentation["power_strip"])
        rays = np.linalg.inv(frame.intrinsics) @ np.stack([us + 0.5, vs + 0.5, np.ones_like(us)])
        cam = rays * frame.depth[vs, us]
        base = frame.extrinsics[:3, :3] @ cam + frame.extrinsics[:3, 3:4]
        target = robot.env.target_matrix()
        local = np.linalg.inv(target[:3, :3]) @ (base - target[:3, 3:4])
        assert np.percentile(np.abs(local[0]), 95) < 0.14
        assert np.percentile(np.abs(local[1]), 95) < 0.035
        assert np.percentile(local[2], 95) < 0.036
        if condition == "scene":
            decoys = [n for n in frame.labels if n.startswith("distractor")]
            assert 2 <= len(decoys) <= 5
            assert all(frame.segmentation[n].shape == (h, w) for n in decoys)
