"""The collector's own moves: the approach point, random starts, the bounded-step servo.

The arm is the bridge tests' kinematic `FakeArm`, driven in process (the collection
tests drive it through a real bridge server).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.bridge.fake_arm import FakeArm
from vitalskills.errors import UsageError
from vitalskills.robot import RobotCapabilities
from vitalskills.robot.geometry import ee_pose, heading
from vitalskills.teleop.motion import (
    MotionLimits,
    Pacer,
    StartBox,
    Target,
    move_to,
    parse_target,
    servo_step,
)


def test_targets_parse_with_and_without_yaw_and_offsets_turn_with_it() -> None:
    assert parse_target("0.5,0,0.1") == Target((0.5, 0.0, 0.1), None)
    assert parse_target(" 0.5, -0.1, 0.1, 1.5 ") == Target((0.5, -0.1, 0.1), 1.5)
    located = parse_target("0.5,0,0.02,1.5707963", approach_offset="0.01,0,0.06")
    np.testing.assert_allclose(located.position, (0.5, 0.01, 0.08), atol=1e-6)


@pytest.mark.parametrize("text", ["0.5,0", "a,b,c", "1,2,3,4,5", "0.5,nan,0.1", ""])
def test_malformed_targets_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError) as raised:
        parse_target(text)
    assert raised.value.message.startswith(f"--target `{text}` is not")
    assert "--target 0.5,0.0,0.12" in (raised.value.hint or "")
    with pytest.raises(UsageError, match="--approach-offset"):
        parse_target("0.5,0,0.1", approach_offset="1,2")


def test_starts_are_uniform_in_the_turned_box_and_reproducible() -> None:
    box = StartBox(half_x=0.02, half_y=0.005, half_z=0.01, yaw=0.1)
    target = Target((0.5, 0.1, 0.2), math.pi / 2)
    starts = [box.draw(seed, target) for seed in range(200)]
    offsets = np.array([position - np.array(target.position) for position, _ in starts])
    # Turned by 90 degrees: the box's long side (x) lies along base y.
    assert np.abs(offsets[:, 1]).max() > 0.015 and np.abs(offsets[:, 1]).max() <= 0.02
    assert np.abs(offsets[:, 0]).max() <= 0.005 + 1e-12
    assert np.abs(offsets[:, 2]).max() <= 0.01
    yaws = np.array([yaw for _, yaw in starts])
    assert np.all(np.abs(yaws - math.pi / 2) <= 0.1 + 1e-12)
    position, yaw = box.draw(7, target)
    again = box.draw(7, target)
    np.testing.assert_array_equal(position, again[0])
    assert yaw == again[1]
    with pytest.raises(UsageError):
        StartBox(half_x=-0.01)


def test_a_servo_step_is_bounded_and_in_the_end_effector_frame() -> None:
    arm = FakeArm()  # pointing down: ee x = base x, ee y = -base y, ee z = -base z
    observation = arm.observe()
    position, _ = ee_pose(observation)
    limits = MotionLimits(step=0.01, turn=0.1)
    goal = position + np.array([0.0, 0.1, 0.0])  # 10 cm along base +y
    action, distance = servo_step(observation, goal, 0.0, limits, gripper=1.0)
    assert distance == pytest.approx(0.1)
    np.testing.assert_allclose(action[:3], [0.0, -0.01, 0.0], atol=1e-7)
    assert action[6] == 1.0
    action, _ = servo_step(observation, position, 1.0, limits, gripper=-1.0)
    np.testing.assert_allclose(action[3:6], [0.0, 0.0, -0.1], atol=1e-7)  # +yaw is -ee z
    assert servo_step(observation, position + 0.001, 0.0, limits, 1.0)[0] is None


def test_move_to_arrives_within_tolerance_and_stops_the_arm() -> None:
    arm = FakeArm()
    start = arm.observe()
    goal = ee_pose(start)[0] + np.array([0.03, -0.02, -0.05])
    observation, left = move_to(
        arm, start, goal, 0.3, limits=MotionLimits(), gripper=1.0, pacer=Pacer(10.0, False)
    )
    position, rotation = ee_pose(observation)
    assert left <= 0.002
    assert np.linalg.norm(position - goal) <= 0.002
    assert heading(rotation) == pytest.approx(0.3, abs=0.01)
    assert not arm.moving and arm.stops == 1


def test_limits_shrink_to_what_the_robot_applies_unclipped() -> None:
    caps = RobotCapabilities(name="arm", action_limits=[0.004, 0.005, 0.006, 0.05, 0.05, 0.03, 1])
    shrunk = MotionLimits(step=0.01, turn=0.1).for_robot(caps)
    assert (shrunk.step, shrunk.turn) == (0.004, 0.03)
    assert MotionLimits().for_robot(RobotCapabilities(name="arm")) == MotionLimits()
