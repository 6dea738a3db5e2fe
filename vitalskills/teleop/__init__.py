"""Teleoperation devices for collecting demonstrations on a robot (see `device.py`)."""

from vitalskills.teleop.device import Mark, TeleopDevice

__all__ = ["Mark", "TeleopDevice"]
