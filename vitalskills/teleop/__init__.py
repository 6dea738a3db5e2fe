"""Teleoperation devices for collecting demonstrations on a robot (see `device.py`).

Built in: the terminal keyboard, a 3Dconnexion SpaceMouse and a gamepad; `load_device`
also builds any `module:Class` that meets `TeleopDevice`. Driver packages (pyspacemouse,
evdev, inputs) are imported only when a device is opened.
"""

from vitalskills.teleop.device import Mark, TeleopDevice
from vitalskills.teleop.errors import DeviceSpecError, TeleopError
from vitalskills.teleop.jog import JogScale
from vitalskills.teleop.loader import load_device

__all__ = ["DeviceSpecError", "JogScale", "Mark", "TeleopDevice", "TeleopError", "load_device"]
