"""`HardwareSim`: the simulator as a real robot (nothing privileged, one scene, no teleports).

Also: `SimRobot`, which trained skills are evaluated on, is unchanged by it.
"""

from __future__ import annotations

import itertools
import logging

import msgpack
import numpy as np
import pytest

from vitalskills.robot import RobotError
from vitalskills.robot.geometry import matrix_to_axis_angle, pose_matrix, quat_to_matrix
from vitalskills.sim import HardwareSim, SimRobot
from vitalskills.sim.env import DOWN
from vitalskills.sim.expert import ScriptedExpert
from vitalskills.sim.hardware import (
    CHROMA_GREEN,
    DECOY_CLEAR,
    DISTRACTOR_CLEAR,
    HOME_TOLERANCE,
    HOMING_STEP,
    OBSERVED,
)
from vitalskills.sim.randomize import MAX_TARGET_YAW, REGION

SMALL = {"image_size": 24, "scene_size": (24, 32)}
STILL_OPEN = np.array([0, 0, 0, 0, 0, 0, -1.0], np.float32)
#: Each control step of a reset moves the measured end effector at most this far (m):
#: the commanded step plus the compliant gripper's lag.
HOMING_BOUND = HOMING_STEP + 0.002


def _state(robot: HardwareSim, key: str) -> np.ndarray:
    return np.asarray(robot.operator_state()[key])


def _walk(robot: HardwareSim, steps: int, move: tuple[float, float, float]) -> None:
    """Move the end effector by `move` (m, base frame) per step, gripper closed."""
    for _ in range(steps):
        rot = _state(robot, "ee")[:3, :3]
        robot.act(np.concatenate([rot.T @ np.array(move), [0, 0, 0, 1.0]]).astype(np.float32))


def _insert(robot: HardwareSim, seed: int = 0) -> None:
    """Let the scripted expert (which may look at the simulator) insert the object."""
    expert = ScriptedExpert(robot.env, seed=seed)
    obs = robot.observe()
    for _ in range(200):
        robot.act(expert(obs))
        obs = robot.observe()
        if robot.operator_state()["success"]:
            return
    raise AssertionError("the expert did not insert the object")


# ---------------------------------------------------------------- SimRobot is unchanged
#: `SimRobot("plug_in_socket", "spatial", seed=4)`, 32 px wrist, 24 x 32 scene, after
#: three steps of ACTIONS[0] and three of ACTIONS[1] (the second opens the gripper and
#: the plug falls): measured before `HardwareSim` was added.
ACTIONS = [
    np.array([0.004, -0.003, 0.006, 0.02, -0.01, 0.05, 1.0], np.float32),
    np.array([-0.01, 0.01, -0.01, 0.0, 0.0, -0.1, -1.0], np.float32),
]
GOLDEN = {
    "ee_pose": [
        0.48125321, -0.00776904, 0.24816546, 0.03472372, -0.99147189, -0.12542219, 0.00685882,
    ],
    "gripper": [0.00011638],
    "privileged/insertion_depth": [0.0],
    "privileged/target_pose": [
        [0.87819493, -0.47830293, 0.0, 0.63291681],
        [0.47830293, 0.87819493, 0.0, 0.00453102],
        [0.0, 0.0, 1.0, 0.0],
        [0.0, 0.0, 0.0, 1.0],
    ],
    "tactile": [
        -0.00028252, 0.01722754, 0.00294592, -0.01202901, 0.01345429, -0.00118574, 0.00868407,
        0.00413615, -0.01950921, -0.00370301, -0.03076487, -0.00080508, 0.01037654, -0.01148928,
        0.00919082,
    ],
}  # fmt: skip
GOLDEN_WRIST_MEAN = [177.30078125, 167.8662109375, 155.10546875]
GOLDEN_MASK_COUNTS = [907, 35, 72, 10]
GOLDEN_SCENE_MEAN = [194.50260417, 181.97526042, 166.25520833]
GOLDEN_OBJECTS = {
    "power_strip": [0.63291683, 0.00453102, 0.032],
    "plug": [0.49854857, 0.01709092, 0.00020819],
}


def test_sim_robot_episodes_are_unchanged() -> None:
    with SimRobot("plug_in_socket", "spatial", seed=4, image_size=32, scene_size=(24, 32)) as robot:
        robot.reset(seed=4)
        for action in [ACTIONS[0]] * 3 + [ACTIONS[1]] * 3:
            robot.act(action)
        obs = robot.observe()
        frame = robot.scene()
        assert robot.capabilities().privileged
    public = ["ee_pose", "gripper", "success", "tactile", "wrist_rgb"]
    truth = ["privileged/insertion_depth", "privileged/target_pose", "privileged/wrist_mask"]
    assert sorted(obs) == sorted([*public, *truth])
    for key, expected in GOLDEN.items():
        np.testing.assert_allclose(
            obs[key], np.asarray(expected, np.float32), atol=1e-5, err_msg=key
        )
    assert not obs["success"][0]
    np.testing.assert_allclose(obs["wrist_rgb"].reshape(-1, 3).mean(0), GOLDEN_WRIST_MEAN, atol=1.0)
    counts = np.bincount(obs["privileged/wrist_mask"].ravel(), minlength=4)
    assert np.abs(counts - GOLDEN_MASK_COUNTS).max() <= 3
    np.testing.assert_allclose(frame.rgb.reshape(-1, 3).mean(0), GOLDEN_SCENE_MEAN, atol=1.0)
    assert sorted(frame.objects) == sorted(GOLDEN_OBJECTS)
    for name, point in GOLDEN_OBJECTS.items():
        np.testing.assert_allclose(frame.objects[name], point, atol=1e-5, err_msg=name)
    assert "power strip" in frame.labels["power_strip"] and frame.segmentation


def test_hardware_sim_is_the_same_simulator_without_the_ground_truth() -> None:
    """Built with a seed, it starts as `SimRobot.reset(seed)` does and moves the same."""
    with (
        SimRobot("usb_insert", "scene", seed=6, **SMALL) as sim,
        HardwareSim("usb_insert", "scene", seed=6, **SMALL) as arm,
    ):
        expected = sim.reset(seed=6)
        for step in range(4):
            obs = arm.observe()
            assert sorted(obs) == sorted(OBSERVED)
            for key in OBSERVED:
                np.testing.assert_array_equal(obs[key], expected[key], err_msg=f"{step} {key}")
            action = ACTIONS[0] * (1 + step)
            np.testing.assert_array_equal(arm.act(action), sim.act(action))
            expected = sim.observe()
        caps, sim_caps = arm.capabilities(), sim.capabilities()
        assert not caps.privileged
        assert caps.model_dump() == {**sim_caps.model_dump(), "privileged": False}
        frame = arm.scene()
        np.testing.assert_array_equal(frame.rgb, sim.scene().rgb)
        assert frame.segmentation == {} and frame.objects == {} and frame.labels == {}


def test_it_starts_home_with_the_object_in_the_gripper() -> None:
    with HardwareSim("key_in_lock", "spatial", seed=11, **SMALL) as arm:
        state = arm.operator_state()
        ee, held = np.asarray(state["ee"]), np.asarray(state["held"])
        assert np.linalg.norm(ee[:3, 3] - [0.5, 0.0, 0.25]) < 0.03
        assert state["holding"] and state["steps"] == 0 and not state["success"]
        grip = arm.env.task.grip_height
        np.testing.assert_allclose(held[:3, 3], ee[:3, 3] + ee[:3, :3] @ [0, 0, grip], atol=1e-6)


# ---------------------------------------------------------------- reset
def test_reset_drives_the_arm_home_and_moves_nothing_else() -> None:
    with HardwareSim("plug_in_socket", "spatial", seed=3, **SMALL) as arm:
        home = arm.home.copy()
        target = _state(arm, "target")
        _walk(arm, 14, (0.006, -0.006, -0.01))
        away = arm.observe()["ee_pose"][:3].copy()
        assert np.linalg.norm(away - home[:3]) > 0.1
        obs = arm.reset(seed=123)
        path = np.asarray(arm.last_homing)
        np.testing.assert_allclose(path[0][:3], away, atol=1e-6)
        steps = np.linalg.norm(np.diff(path[:, :3], axis=0), axis=1)
        assert len(steps) >= 14 and steps.max() <= HOMING_BOUND
        # Low down and away, it rises straight up before it crosses over.
        assert np.linalg.norm(path[1:4, :2] - away[:2], axis=1).max() < 1e-3
        assert np.linalg.norm(obs["ee_pose"][:3] - home[:3]) <= HOME_TOLERANCE[0]
        turn = matrix_to_axis_angle(quat_to_matrix(obs["ee_pose"][3:]).T @ quat_to_matrix(home[3:]))
        assert np.linalg.norm(turn) <= HOME_TOLERANCE[1]
        np.testing.assert_array_equal(_state(arm, "target"), target)
        state = arm.operator_state()
        assert state["holding"] and state["steps"] == 0
        assert sorted(obs) == sorted(OBSERVED)


def test_reset_pulls_an_inserted_object_out_the_way_it_went_in() -> None:
    with HardwareSim("key_in_lock", "spatial", seed=5, **SMALL) as arm:
        arm.reset()
        target = _state(arm, "target")
        _insert(arm)
        inserted = arm.observe()["ee_pose"][:3].copy()
        arm.reset()
        path = np.asarray(arm.last_homing)
        rising = path[path[:, 2] < inserted[2] + 0.05]
        assert np.linalg.norm(rising[:, :2] - inserted[:2], axis=1).max() < 1e-3
        state = arm.operator_state()
        assert state["holding"] and not state["success"] and state["insertion_depth"] == 0.0
        np.testing.assert_array_equal(np.asarray(state["target"]), target)
        ee, held = np.asarray(state["ee"]), np.asarray(state["held"])
        grip = arm.env.task.grip_height
        np.testing.assert_allclose(held[:3, 3], ee[:3, 3] + ee[:3, :3] @ [0, 0, grip], atol=1e-3)


def test_the_scene_stays_put_across_resets() -> None:
    with HardwareSim("card_swipe", "scene", seed=8, **SMALL) as arm:
        target = _state(arm, "target")
        looks = arm.env.model.mat_rgba.copy(), arm.env.model.light_dir.copy()
        first = arm.scene().rgb
        for seed in (None, 1, 2):
            arm.reset(seed=seed)
            np.testing.assert_array_equal(_state(arm, "target"), target)
            np.testing.assert_array_equal(arm.env.model.mat_rgba, looks[0])
            np.testing.assert_array_equal(arm.env.model.light_dir, looks[1])
        # Only the arm (at home again, within a millimetre) can differ in the picture.
        assert np.mean(np.abs(arm.scene().rgb.astype(int) - first)) < 1.0


# ---------------------------------------------------------------- the operator
def test_move_target_draws_a_new_place_as_the_condition_does(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with HardwareSim("plug_in_socket", "scene", seed=2, distractors=3, **SMALL) as arm:
        looks = arm.env.model.mat_rgba.copy()
        ee = arm.observe()["ee_pose"].copy()
        places = [_state(arm, "target")]
        with caplog.at_level(logging.INFO, logger="vitalskills.sim"):
            for count in (1, 2, 3):
                assert arm.operator("move_target") == {"reseat": 0, "move_target": count}
                places.append(_state(arm, "target"))
        assert [r.getMessage().split(" (")[0] for r in caplog.records] == [
            f"operator request {n}: move_target" for n in (1, 2, 3)
        ]
        for before, after in itertools.pairwise(places):
            assert np.linalg.norm(after[:2, 3] - before[:2, 3]) > 1e-3
        for place in places[1:]:
            assert REGION[0][0] <= place[0, 3] <= REGION[0][1]
            assert REGION[1][0] <= place[1, 3] <= REGION[1][1] and place[2, 3] == 0.0
            assert abs(np.arctan2(place[1, 0], place[0, 0])) <= MAX_TARGET_YAW + 1e-9
            for item in arm.env.layout.distractors:
                clear = DECOY_CLEAR if item.decoy else DISTRACTOR_CLEAR
                assert np.linalg.norm(place[:2, 3] - item.pos[:2]) > clear
        np.testing.assert_array_equal(arm.env.model.mat_rgba, looks)  # the same looks
        np.testing.assert_allclose(arm.observe()["ee_pose"], ee, atol=1e-9)  # the arm stays
        np.testing.assert_array_equal(arm.env.layout.target_pos, places[-1][:3, 3])
        # The skills can still be run on it: the expert inserts at the new place.
        arm.reset()
        _insert(arm)


def test_move_target_in_canonical_keeps_its_one_place_and_refuses_while_in_use() -> None:
    with HardwareSim("usb_insert", "canonical", seed=0, **SMALL) as arm:
        target = _state(arm, "target")
        arm.operator("move_target")
        np.testing.assert_array_equal(_state(arm, "target"), target)
        _insert(arm)
        with pytest.raises(RobotError, match="touches the target"):
            arm.operator("move_target")
        assert arm.operator_counts == {"reseat": 0, "move_target": 1}


def test_reseat_puts_a_dropped_object_back_in_the_hand() -> None:
    with HardwareSim("plug_in_socket", "spatial", seed=1, **SMALL) as arm:
        for _ in range(6):
            arm.act(STILL_OPEN)
        assert not arm.operator_state()["holding"]
        assert _state(arm, "held")[2, 3] < 0.01  # on the table
        ee = arm.observe()["ee_pose"].copy()
        assert arm.operator("reseat") == {"reseat": 1, "move_target": 0}
        np.testing.assert_allclose(arm.observe()["ee_pose"], ee, atol=1e-9)  # the arm stays
        state = arm.operator_state()
        assert state["holding"]
        grip = arm.env.task.grip_height
        nominal = np.asarray(state["ee"]) @ pose_matrix(np.array([0, 0, grip]), DOWN)
        np.testing.assert_allclose(np.asarray(state["held"]), nominal, atol=1e-9)
        _walk(arm, 5, (0.0, 0.01, 0.0))
        state = arm.operator_state()
        nominal = np.asarray(state["ee"]) @ pose_matrix(np.array([0, 0, grip]), DOWN)
        np.testing.assert_allclose(np.asarray(state["held"])[:3, 3], nominal[:3, 3], atol=1e-3)
        assert arm.observe()["gripper"][0] > 0.9


def test_reseat_is_refused_where_a_person_could_not_seat_the_object() -> None:
    with HardwareSim("plug_in_socket", "canonical", seed=0, **SMALL) as arm:
        for _ in range(3):
            arm.act(STILL_OPEN)
        for _ in range(24):  # down to the table: the plug would go into it
            arm.act(np.array([0, 0, 0.01, 0, 0, 0, -1.0], np.float32))
        held = _state(arm, "held")
        with pytest.raises(RobotError, match="cannot be seated"):
            arm.operator("reseat")
        np.testing.assert_allclose(_state(arm, "held"), held, atol=1e-9)  # nothing changed
        assert arm.operator_counts["reseat"] == 0 and not arm.operator_state()["holding"]
        with pytest.raises(RobotError, match="unknown operator request `sweep`"):
            arm.operator("sweep")


def test_operator_state_is_what_a_stand_in_operator_needs() -> None:
    with HardwareSim("plug_in_socket+card_swipe", "spatial", seed=4, **SMALL) as arm:
        state = arm.operator_state()
        assert msgpack.unpackb(msgpack.packb(state)) == state  # plain values only
        assert state["task"] == "plug_in_socket"
        assert state["scene"] == "plug_in_socket+card_swipe"
        for key in ("target", "held", "ee"):
            assert np.asarray(state[key]).shape == (4, 4)
        np.testing.assert_array_equal(np.asarray(state["target"]), arm.env.target_matrix())
        arm.act(ACTIONS[0])
        arm.act(ACTIONS[0])
        state = arm.operator_state()
        assert state["steps"] == 2 and isinstance(state["insertion_depth"], float)
        arm.reset()
        assert arm.operator_state()["steps"] == 0


# ---------------------------------------------------------------- green screen
def _backdrop_pixels(arm: HardwareSim, camera: str, rgb: np.ndarray) -> np.ndarray:
    """The pixels of `rgb` (from `camera`) that show the table top or the wall."""
    env = arm.env
    geoms = env.render_segmentation(camera, *rgb.shape[:2])
    backdrop = [env.model.geom("table").id, env.model.geom("wall").id]
    return rgb[np.isin(geoms, backdrop)].astype(int)


@pytest.mark.parametrize("condition", ["canonical", "scene"])
def test_green_screen_makes_the_table_and_the_wall_green(condition: str) -> None:
    def green(pixels: np.ndarray) -> np.ndarray:
        r, g, b = pixels.T
        return (g > r + 60) & (g > b + 40)

    for screen in (False, True):
        with HardwareSim("usb_insert", condition, seed=2, green_screen=screen, **SMALL) as arm:
            scene = _backdrop_pixels(arm, "scene", arm.scene().rgb)
            wrist = _backdrop_pixels(arm, "wrist", arm.observe()["wrist_rgb"])
            assert len(scene) > 200 and len(wrist) > 200
            if screen:
                assert green(scene).all() and green(wrist).all()
                hue = scene.mean(0) / scene.mean(0).max()
                np.testing.assert_allclose(
                    hue, np.array(CHROMA_GREEN) / max(CHROMA_GREEN), atol=0.05
                )
            else:
                assert not green(scene).any() and not green(wrist).any()
