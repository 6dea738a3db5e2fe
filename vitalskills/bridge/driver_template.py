"""A complete driver for a real arm: a UFactory xArm with a wrist camera and a tactile skin.

Copy this file next to your robot code, adapt the four hardware sections marked
`HARDWARE`, and serve it:

    vitalskills bridge serve --driver my_robot.driver:XArmDriver \\
        --option ip=192.168.1.200 --option wrist_camera=0 --option tactile_port=/dev/ttyACM0 \\
        --workspace 0.2,-0.4,0.02,0.7,0.4,0.5 --max-step 0.01 --max-tactile 300

The bridge server calls these methods from one thread, one at a time, and enforces
the workspace box, step and speed limits, tactile/force protective stops, the
watchdog and the e-stop itself: the driver only has to do what it is told and stop
promptly. See docs/drivers.md for the contract.

Vendor SDKs (`xarm-python-sdk`, `opencv-python`, `pyserial`, `pyrealsense2`) are
imported only when a real device is opened; pass your own `arm`, `camera` or
`tactile` objects to use other hardware (the tests do, since no arm exists there).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from vitalskills.bridge.drivers import DriverError
from vitalskills.robot import CameraSpec, Observation, RobotCapabilities, SceneFrame
from vitalskills.robot.geometry import axis_angle_to_rpy, rpy_to_quat

#: Home pose: x, y, z in mm, roll, pitch, yaw in rad (gripper pointing down).
HOME = (400.0, 0.0, 300.0, math.pi, 0.0, 0.0)
GRIPPER_OPEN, GRIPPER_CLOSED = 850.0, 0.0
TACTILE_DIM = 15
BASELINE_READINGS = 5


class XArmDriver:
    """An xArm 7 with a two-finger gripper, a wrist RGB camera and a 15-D tactile skin.

    Args:
        ip: the arm controller's address (when `arm` is not given).
        wrist_camera: OpenCV camera index or path of the wrist camera.
        tactile_port: serial port of the tactile skin (one line of 15 numbers per read).
        scene_camera: RealSense serial number of the scene RGB-D camera ("" for none).
        scene_extrinsics: JSON file with the 4x4 camera-to-base matrix of that camera.
        image_size: side of the square wrist image, as the skills were trained.
        arm, camera, tactile: ready hardware objects to use instead of opening devices.
    """

    def __init__(
        self,
        ip: str = "192.168.1.200",
        wrist_camera: str = "0",
        tactile_port: str = "/dev/ttyACM0",
        scene_camera: str = "",
        scene_extrinsics: str = "",
        image_size: str | int = 128,
        arm: Any = None,
        camera: Any = None,
        tactile: Any = None,
    ) -> None:
        self.image_size = int(image_size)
        self.arm = arm if arm is not None else self._open_arm(ip)
        self.camera = camera if camera is not None else self._open_camera(wrist_camera)
        self.tactile = tactile if tactile is not None else self._open_tactile(tactile_port)
        self.scene_camera = self._open_scene(scene_camera) if scene_camera else None
        self.scene_extrinsics = (
            np.array(json.loads(Path(scene_extrinsics).read_text()), dtype=float)
            if scene_extrinsics
            else np.eye(4)
        )
        self.baseline = np.zeros(TACTILE_DIM, dtype=np.float32)

    # ---------------------------------------------------------------- HARDWARE: open
    @staticmethod
    def _open_arm(ip: str) -> Any:
        try:
            from xarm.wrapper import XArmAPI
        except ImportError:
            raise DriverError(
                "the xArm SDK is not installed", hint="pip install xarm-python-sdk"
            ) from None
        arm = XArmAPI(ip, is_radian=True)
        arm.motion_enable(enable=True)
        arm.set_mode(0)  # position control
        arm.set_state(0)  # ready
        arm.set_gripper_enable(True)
        return arm

    @staticmethod
    def _open_camera(source: str) -> Any:
        try:
            import cv2
        except ImportError:
            raise DriverError("OpenCV is not installed", hint="pip install opencv-python") from None
        camera = cv2.VideoCapture(int(source) if source.isdigit() else source)
        if not camera.isOpened():
            raise DriverError(f"cannot open wrist camera {source!r}")
        return camera

    @staticmethod
    def _open_tactile(port: str) -> Any:
        try:
            import serial
        except ImportError:
            raise DriverError("pyserial is not installed", hint="pip install pyserial") from None
        return serial.Serial(port, 115200, timeout=0.05)

    @staticmethod
    def _open_scene(serial_number: str) -> Any:
        try:
            import pyrealsense2 as rs
        except ImportError:
            raise DriverError(
                "pyrealsense2 is not installed", hint="pip install pyrealsense2"
            ) from None
        pipeline, config = rs.pipeline(), rs.config()
        config.enable_device(serial_number)
        config.enable_stream(rs.stream.color, 640, 480, rs.format.rgb8, 30)
        config.enable_stream(rs.stream.depth, 640, 480, rs.format.z16, 30)
        pipeline.start(config)
        return (pipeline, rs.align(rs.stream.color))

    # ---------------------------------------------------------------- HARDWARE: sense
    def _read_pose(self) -> np.ndarray:
        code, pose = self.arm.get_position(is_radian=True)
        if code != 0:
            raise DriverError(f"xArm get_position failed with code {code}")
        x, y, z, roll, pitch, yaw = pose
        return np.concatenate([np.array([x, y, z]) / 1000.0, rpy_to_quat(roll, pitch, yaw)])

    def _read_gripper(self) -> float:
        code, position = self.arm.get_gripper_position()
        if code != 0 or position is None:
            raise DriverError(f"xArm get_gripper_position failed with code {code}")
        return float(np.clip(1.0 - position / GRIPPER_OPEN, 0.0, 1.0))

    def _read_image(self) -> np.ndarray:
        from PIL import Image

        ok, frame = self.camera.read()  # OpenCV gives BGR
        if not ok:
            raise DriverError("the wrist camera returned no frame")
        image = Image.fromarray(np.ascontiguousarray(frame[..., ::-1]))
        size = (self.image_size, self.image_size)
        return np.asarray(image.resize(size, Image.Resampling.BOX), dtype=np.uint8)

    def _read_tactile_raw(self) -> np.ndarray:
        line = self.tactile.readline().decode("ascii", errors="replace").split()
        if len(line) != TACTILE_DIM:
            raise DriverError(f"tactile skin sent {len(line)} values, expected {TACTILE_DIM}")
        return np.array([float(v) for v in line], dtype=np.float32)

    # ---------------------------------------------------------------- HARDWARE: move
    def _move_tool_relative(self, delta_m: np.ndarray, rotvec: np.ndarray) -> None:
        if self.arm.state == 4:  # stopped by `stop`: a new command resumes motion
            self.arm.set_state(0)
        roll, pitch, yaw = axis_angle_to_rpy(rotvec)
        x, y, z = (float(v) * 1000.0 for v in delta_m)
        code = self.arm.set_tool_position(
            x=x, y=y, z=z, roll=roll, pitch=pitch, yaw=yaw, is_radian=True, wait=True
        )
        if code != 0:
            raise DriverError(f"xArm set_tool_position failed with code {code}")

    def _set_gripper(self, command: float) -> None:
        opening = GRIPPER_OPEN + (GRIPPER_CLOSED - GRIPPER_OPEN) * (command + 1.0) / 2.0
        self.arm.set_gripper_position(opening, wait=False)

    # ---------------------------------------------------------------- the driver API
    def capabilities(self) -> RobotCapabilities:
        """What this arm offers; skills are checked against it before a task runs."""
        cameras = [CameraSpec(name="wrist", width=self.image_size, height=self.image_size)]
        sensors = ["wrist_rgb", "tactile", "ee_pose", "gripper"]
        if self.scene_camera is not None:
            cameras.append(CameraSpec(name="scene", width=640, height=480, depth=True))
            sensors.append("scene_rgbd")
        return RobotCapabilities(
            name="xarm7",
            sensors=sensors,
            cameras=cameras,
            tactile_dim=TACTILE_DIM,
            action_dim=7,
            control_hz=6.0,
        )

    def reset(self, seed: int | None = None) -> Observation:
        """Go home, open the gripper, and re-measure the tactile baseline (seed unused)."""
        if self.arm.state == 4:
            self.arm.set_state(0)
        code = self.arm.set_position(*HOME, is_radian=True, wait=True)
        if code != 0:
            raise DriverError(f"xArm could not go home (code {code})")
        self._set_gripper(-1.0)
        readings = [self._read_tactile_raw() for _ in range(BASELINE_READINGS)]
        self.baseline = np.median(readings, axis=0).astype(np.float32)
        return self.observe()

    def observe(self) -> Observation:
        """Read every sensor once; tactile is baseline-subtracted."""
        return {
            "wrist_rgb": self._read_image(),
            "tactile": self._read_tactile_raw() - self.baseline,
            "ee_pose": self._read_pose().astype(np.float32),
            "gripper": np.array([self._read_gripper()], dtype=np.float32),
        }

    def act(self, action: np.ndarray) -> np.ndarray:
        """Move by one already-clipped 7-D action in the tool frame; return it."""
        action = np.asarray(action, dtype=np.float32)
        self._move_tool_relative(action[:3], action[3:6])
        self._set_gripper(float(action[6]))
        return action

    def stop(self) -> None:
        """Stop motion now and hold (xArm state 4); must be fast and never raise."""
        self.arm.set_state(4)

    def scene(self) -> SceneFrame:
        """One aligned RGB-D frame from the scene camera with its camera model."""
        if self.scene_camera is None:
            raise DriverError(
                "no scene camera is configured", hint="pass --option scene_camera=SERIAL"
            )
        pipeline, align = self.scene_camera
        frames = align.process(pipeline.wait_for_frames())
        color, depth = frames.get_color_frame(), frames.get_depth_frame()
        k = color.profile.as_video_stream_profile().intrinsics
        return SceneFrame(
            rgb=np.asanyarray(color.get_data()).copy(),
            depth=np.asanyarray(depth.get_data()).astype(np.float32) * depth.get_units(),
            intrinsics=np.array([[k.fx, 0, k.ppx], [0, k.fy, k.ppy], [0, 0, 1]]),
            extrinsics=self.scene_extrinsics,
        )

    def close(self) -> None:
        """Stop, then release every device."""
        self.stop()
        self.camera.release()
        self.tactile.close()
        if self.scene_camera is not None:
            self.scene_camera[0].stop()
        self.arm.disconnect()
