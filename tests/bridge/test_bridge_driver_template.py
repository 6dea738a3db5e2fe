"""The real-arm driver template, served through the bridge.

No xArm, camera or tactile skin exists here, so this test hands the template small
stand-ins with the same methods as the xArm SDK, OpenCV's VideoCapture and a serial
port (the only mocks in the bridge tests); everything else is the real path.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import served

from vitalskills.bridge import connect
from vitalskills.bridge.driver_template import XArmDriver
from vitalskills.robot import RobotError, SafetyStop
from vitalskills.robot.geometry import axis_angle_to_rpy, rpy_to_quat


class FakeXArm:
    """Stands in for `xarm.wrapper.XArmAPI`: records commands, integrates tool moves."""

    def __init__(self) -> None:
        self.state = 0
        self.pose = [0.0, 0.0, 0.0, math.pi, 0.0, 0.0]
        self.gripper = 850.0
        self.calls: list[tuple] = []

    def get_position(self, is_radian: bool = True) -> tuple[int, list[float]]:
        return 0, list(self.pose)

    def set_position(self, *pose: float, is_radian: bool, wait: bool) -> int:
        self.pose = list(pose)
        self.calls.append(("set_position", *pose))
        return 0

    def set_tool_position(self, **move: float) -> int:
        assert self.state == 0, "moved while stopped"
        self.calls.append(("set_tool_position", move["x"], move["y"], move["z"]))
        # Gripper pointing down: tool x = base x, tool y = -base y, tool z = -base z.
        self.pose[0] += move["x"]
        self.pose[1] -= move["y"]
        self.pose[2] -= move["z"]
        return 0

    def get_gripper_position(self) -> tuple[int, float]:
        return 0, self.gripper

    def set_gripper_position(self, position: float, wait: bool) -> int:
        self.gripper = position
        return 0

    def set_state(self, state: int) -> int:
        self.state = state
        self.calls.append(("set_state", state))
        return 0

    def disconnect(self) -> None:
        self.calls.append(("disconnect",))


class FakeCamera:
    """Stands in for `cv2.VideoCapture`: a 480x640 BGR frame, blue left, red right."""

    def read(self) -> tuple[bool, np.ndarray]:
        frame = np.zeros((480, 640, 3), dtype=np.uint8)
        frame[:, :320, 0] = 200  # blue in BGR
        frame[:, 320:, 2] = 100  # red in BGR
        return True, frame

    def release(self) -> None:
        pass


class FakeSkin:
    """Stands in for a serial port: lines of 15 numbers, offset by a fixed bias."""

    def __init__(self) -> None:
        self.press = 0.0

    def readline(self) -> bytes:
        values = np.arange(15) * 0.5 + 10.0 + self.press
        return (" ".join(f"{v:.3f}" for v in values) + "\n").encode()

    def close(self) -> None:
        pass


def test_rotation_helpers_agree() -> None:
    np.testing.assert_allclose(rpy_to_quat(math.pi, 0, 0), [0, 1, 0, 0], atol=1e-12)
    roll, pitch, yaw = axis_angle_to_rpy(np.array([0.0, 0.0, 0.3]))
    assert (roll, pitch) == pytest.approx((0.0, 0.0)) and yaw == pytest.approx(0.3)
    assert axis_angle_to_rpy(np.array([0.2, 0.0, 0.0]))[0] == pytest.approx(0.2)


def test_template_behind_the_bridge() -> None:
    arm, skin = FakeXArm(), FakeSkin()
    driver = XArmDriver(arm=arm, camera=FakeCamera(), tactile=skin, image_size=64)
    with served(driver) as server, connect(server.address) as client:
        assert client.capabilities().name == "xarm7"
        obs = client.reset()
        np.testing.assert_allclose(obs["ee_pose"], [0.4, 0.0, 0.3, 0, 1, 0, 0], atol=1e-6)
        np.testing.assert_allclose(obs["tactile"], 0.0, atol=1e-6)  # baseline subtracted
        assert obs["wrist_rgb"].shape == (64, 64, 3)
        assert tuple(obs["wrist_rgb"][0, 0]) == (0, 0, 200)  # BGR became RGB
        assert tuple(obs["wrist_rgb"][0, -1]) == (100, 0, 0)
        assert obs["gripper"][0] == pytest.approx(0.0)

        client.act(np.array([0.01, 0.0, 0.02, 0, 0, 0, 1.0]))  # tool z = down
        name, *move = arm.calls[-1]
        assert name == "set_tool_position" and move == pytest.approx([10.0, 0.0, 20.0])
        obs = client.observe()
        np.testing.assert_allclose(obs["ee_pose"][:3], [0.41, 0.0, 0.28], atol=1e-6)
        assert obs["gripper"][0] == pytest.approx(1.0)

        client.stop()
        assert arm.state == 4
        client.act(np.zeros(7))  # a new command resumes
        assert arm.state == 0

        skin.press = 50.0
        server.limits = server.limits.model_copy(update={"max_tactile": 10.0})
        with pytest.raises(SafetyStop, match="protective stop"):
            client.act(np.zeros(7))
        assert arm.state == 4
    assert driver.scene_camera is None


def test_template_without_a_scene_camera_says_so() -> None:
    driver = XArmDriver(arm=FakeXArm(), camera=FakeCamera(), tactile=FakeSkin())
    with (
        served(driver) as server,
        connect(server.address) as client,
        pytest.raises(RobotError, match="no scene camera is configured"),
    ):
        client.scene()
