"""Chained scenes: two tasks' stations, taking the next object from its rack, success."""

from __future__ import annotations

import numpy as np
import pytest

from vitalskills.robot.geometry import matrix_to_axis_angle, yaw_matrix
from vitalskills.sim import SimError, make_env
from vitalskills.sim.env import DOWN
from vitalskills.sim.randomize import RACK_CLEAR, STATION_CLEAR, sample_layout
from vitalskills.sim.tasks import TASKS, get_stations

CHAIN = "plug_in_socket+card_swipe"
UP = np.array([0.0, 0.0, 1.0])


@pytest.mark.parametrize(
    "name", ["plug_in_socket+plug_in_socket", "plug_in_socket+card_swipe+usb_insert", "a+b"]
)
def test_bad_chains_are_clear_errors(name: str) -> None:
    with pytest.raises(SimError):
        get_stations(name)


@pytest.mark.parametrize("condition", ["canonical", "spatial", "scene"])
def test_the_second_station_stands_clear_of_the_first(condition: str) -> None:
    first, second = TASKS["plug_in_socket"], TASKS["card_swipe"]
    for seed in range(40):
        layout = sample_layout(first, condition, np.random.default_rng(seed), second=second)
        alone = sample_layout(first, condition, np.random.default_rng(seed))
        station = layout.station
        assert station is not None and alone.station is None
        target, other = layout.target_pos[:2], station.target_pos[:2]
        assert np.linalg.norm(target - other) > STATION_CLEAR
        for point in (target, other):
            assert np.linalg.norm(station.rack_pos[:2] - point) > RACK_CLEAR
        for item in layout.distractors:
            assert np.linalg.norm(item.pos[:2] - other) > 0.12


def _servo(env, point: np.ndarray, yaw: float, gripper: float, steps: int = 80) -> dict:
    """Drive the end effector to `point` with heading `yaw` (a test's scripted arm)."""
    obs: dict = {}
    for _ in range(steps):
        ee = env.ee_pose_matrix()
        move = np.clip(ee[:3, :3].T @ (point - ee[:3, 3]), -0.01, 0.01)
        turn = matrix_to_axis_angle(ee[:3, :3].T @ yaw_matrix(yaw) @ DOWN)
        action = np.concatenate([move, np.clip(turn, -0.1, 0.1), [gripper]])
        obs, *_ = env.step(action.astype(np.float32))
    return obs


def test_closing_around_the_racked_object_takes_it_and_switches_the_task() -> None:
    env = make_env(CHAIN, "spatial", image_size=32, render_wrist=False)
    env.reset(seed=5)
    assert env.task.name == "plug_in_socket"
    station = env.layout.station
    card = env.body_id("held_1")
    grip = env.data.xpos[card] + np.array([0.0, 0.0, TASKS["card_swipe"].grip_height])
    env.step(np.array([0, 0, 0, 0, 0, 0, -1.0], np.float32))  # let go of the plug
    # Closing 25 mm beside the card (further than its rack lets it lean toward the
    # closing finger) grasps nothing: it stays in its rack.
    aside = grip + yaw_matrix(station.rack_yaw) @ np.array([0.0, 0.025, 0.0])
    _servo(env, aside + UP * 0.05, station.rack_yaw, -1.0)
    _servo(env, aside, station.rack_yaw, -1.0)
    _servo(env, aside, station.rack_yaw, 1.0, steps=3)
    assert env.task.name == "plug_in_socket"
    _servo(env, aside + UP * 0.05, station.rack_yaw, -1.0)
    # Around the card at its grip point, closing takes it and the task follows.
    _servo(env, grip + UP * 0.05, station.rack_yaw, -1.0)
    _servo(env, grip, station.rack_yaw, -1.0)
    obs = _servo(env, grip, station.rack_yaw, 1.0, steps=3)
    assert env.task.name == "card_swipe" and obs["gripper"][0] > 0.95
    _servo(env, grip + UP * 0.08, station.rack_yaw, 1.0)
    assert env.data.xpos[card][2] > 0.07  # lifted out of the rack with the gripper
    env.close()


def _grip_in_hand(env) -> np.ndarray:
    """The card's grip point in the end-effector frame (what the test reads off the sim)."""
    card, ee = env.body_id("held_1"), env.ee_pose_matrix()
    rot = env.data.xmat[card].reshape(3, 3)
    grip = env.data.xpos[card] + rot @ np.array([0.0, 0.0, TASKS["card_swipe"].grip_height])
    return ee[:3, :3].T @ (grip - ee[:3, 3])


def test_fingers_closing_off_centre_hold_the_card_where_they_closed() -> None:
    env = make_env(CHAIN, "spatial", image_size=32, render_wrist=False)
    held = []
    for along in (0.012, 0.0):  # 12 mm along the card's length, then at its grip point
        env.reset(seed=5)
        station = env.layout.station
        card = env.body_id("held_1")
        grip = env.data.xpos[card] + np.array([0.0, 0.0, TASKS["card_swipe"].grip_height])
        env.step(np.array([0, 0, 0, 0, 0, 0, -1.0], np.float32))  # let go of the plug
        # 6 mm across it too: the closing fingers lean the card and centre it.
        point = grip + yaw_matrix(station.rack_yaw) @ np.array([along, 0.006, 0.0])
        _servo(env, point + UP * 0.05, station.rack_yaw, -1.0)
        _servo(env, point, station.rack_yaw, -1.0)
        _servo(env, point, station.rack_yaw, 1.0, steps=3)
        assert env.task.name == "card_swipe"
        _servo(env, point + UP * 0.08, station.rack_yaw, 1.0)
        held.append(_grip_in_hand(env))
    off_centre, centred = held
    assert abs(abs(off_centre[0]) - 0.012) < 0.002  # held 12 mm along the pads
    assert abs(off_centre[1]) < 0.0015  # centred between the fingers
    assert np.linalg.norm(centred[:2]) < 0.0015  # the next episode's grasp is nominal again
    env.close()


def test_a_released_object_no_longer_reports_success_in_a_chain() -> None:
    env = make_env(CHAIN, "canonical", image_size=32, render_wrist=False)
    env.reset(seed=0)
    inserted = np.eye(4)
    inserted[:3, 3] = env.task.goal_tip()
    assert env.place_held(inserted)
    obs, *_ = env.step(np.array([0, 0, 0, 0, 0, 0, 1.0], np.float32))
    assert obs["success"][0]
    obs, *_ = env.step(np.array([0, 0, 0, 0, 0, 0, -1.0], np.float32))
    assert not obs["success"][0]  # the next skill is judged on the next object
    env.close()
