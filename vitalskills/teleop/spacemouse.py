"""A 3Dconnexion SpaceMouse as a teleoperation device (through the `pyspacemouse` package).

The puck's six axes (each -1..1) become the end-effector command, scaled so that a full
deflection moves one jog step at the current speed; a dead zone keeps a resting hand
from drifting the arm. The left button toggles the gripper, the right one marks
success. The terminal's keys work alongside (verdicts, speed, gripper: see
`keyboard.py`) when standard input is a terminal.

`pyspacemouse` is imported only when the device is opened, so the package is needed
only by those who use one: `uv pip install pyspacemouse` (it needs the system's
hidapi library, e.g. `sudo apt-get install libhidapi-hidraw0`, and read access to
`/dev/hidraw*`). `spacemouse_command` is the pure state-to-command core the tests
drive with synthetic states.

Axis mapping: the defaults assume the operator stands behind the robot, facing along
the base x axis, with the gripper pointing down (end-effector x forward, y to the
right, z down). Pushing the puck forward moves the gripper forward, right moves it
right, lifting it lifts the gripper, twisting turns it about the vertical. Pass
`axes` to change this.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from vitalskills.robot import Observation
from vitalskills.teleop.device import Mark
from vitalskills.teleop.errors import DeviceSpecError, TeleopError
from vitalskills.teleop.jog import JogScale, JogState, deadzone
from vitalskills.teleop.keyboard import MARK_LEGEND, TerminalKeys, apply_shared_key

AXIS_NAMES = ("x", "y", "z", "roll", "pitch", "yaw")
#: For each command axis (ee x, y, z, rx, ry, rz): the SpaceMouse axis and its sign.
DEFAULT_AXES: tuple[tuple[str, float], ...] = (
    ("y", 1.0),
    ("x", 1.0),
    ("z", -1.0),
    ("roll", 1.0),
    ("pitch", 1.0),
    ("yaw", -1.0),
)
LEGEND = "puck: move · left button: gripper · right button: success · " + MARK_LEGEND
INSTALL_HINT = (
    "install it with `uv pip install pyspacemouse` (it needs the system hidapi library, "
    "e.g. `sudo apt-get install libhidapi-hidraw0`), or pick another device with --teleop"
)


@dataclass(frozen=True)
class SpaceMouseState:
    """One reading of the puck: six axes in -1..1 and the buttons (1 pressed)."""

    x: float = 0.0
    y: float = 0.0
    z: float = 0.0
    roll: float = 0.0
    pitch: float = 0.0
    yaw: float = 0.0
    buttons: tuple[int, ...] = ()

    @classmethod
    def from_reading(cls, reading: Any) -> SpaceMouseState:
        """Convert what `pyspacemouse.read()` returns (`buttons`, or `button` in old ones)."""
        buttons = getattr(reading, "buttons", None)
        if buttons is None:
            buttons = getattr(reading, "button", ())
        values = {name: float(getattr(reading, name, 0.0)) for name in AXIS_NAMES}
        return cls(**values, buttons=tuple(int(b) for b in buttons))


def spacemouse_axes(
    state: SpaceMouseState,
    axes: tuple[tuple[str, float], ...] = DEFAULT_AXES,
    zone: float = 0.1,
) -> np.ndarray:
    """The six command axes (-1..1, end-effector frame) a puck reading asks for."""
    return np.array([sign * deadzone(getattr(state, name), zone) for name, sign in axes])


class SpaceMouseMapper:
    """Turn SpaceMouse readings into commands and button presses into actions.

    Args:
        scale: the size of a full deflection, one step.
        zone: the dead zone (fraction of full deflection).
        axes: the axis mapping (see the module doc).
        gripper_button, success_button: which buttons toggle the gripper and mark success.
        gripper: the gripper command at the start of every episode (1: closed).
    """

    def __init__(
        self,
        scale: JogScale | None = None,
        *,
        zone: float = 0.1,
        axes: tuple[tuple[str, float], ...] = DEFAULT_AXES,
        gripper_button: int = 0,
        success_button: int = 1,
        gripper: float = 1.0,
    ) -> None:
        if len(axes) != 6 or any(name not in AXIS_NAMES for name, _ in axes):
            raise DeviceSpecError(
                f"SpaceMouse `axes` must map 6 command axes to {AXIS_NAMES}, got `{axes}`",
                code="T003",
            )
        if not 0.0 <= zone < 1.0:
            raise DeviceSpecError(
                f"SpaceMouse dead zone must be in [0, 1), got `{zone}`", code="T003"
            )
        self.state = JogState(scale=scale or JogScale(), gripper_start=gripper)
        self.zone = zone
        self.axes = axes
        self.gripper_button = gripper_button
        self.success_button = success_button
        self._buttons: tuple[int, ...] = ()

    def _pressed(self, buttons: tuple[int, ...], index: int) -> bool:
        """Whether button `index` went down since the last reading (an edge, not a level)."""
        now = index < len(buttons) and bool(buttons[index])
        before = index < len(self._buttons) and bool(self._buttons[index])
        return now and not before

    def command(self, reading: SpaceMouseState) -> np.ndarray:
        """The command for one control step from the latest reading."""
        if self._pressed(reading.buttons, self.gripper_button):
            self.state.toggle_gripper()
        if self._pressed(reading.buttons, self.success_button):
            self.state.push_mark(Mark.SUCCESS)
        self._buttons = reading.buttons
        return self.state.command(spacemouse_axes(reading, self.axes, self.zone))

    def mark(self) -> Mark | None:
        return self.state.pop_mark()

    def reset(self) -> None:
        self.state.reset()


class SpaceMouseDevice:
    """A 3Dconnexion SpaceMouse, with the terminal's keys for verdicts.

    Args:
        scale: the size of a full deflection (default 0.01 m, 0.1 rad per step).
        zone: the dead zone.
        device: the `pyspacemouse` device name to open (default: the first found).
        keyboard: also read verdict, speed and gripper keys from the terminal when
            standard input is one.
        gripper: the gripper command at the start of every episode (1: closed).
    """

    name = "spacemouse"
    legend = LEGEND

    def __init__(
        self,
        scale: JogScale | None = None,
        *,
        zone: float | str = 0.1,
        device: str | None = None,
        keyboard: bool | str = True,
        gripper: float = 1.0,
    ) -> None:
        self.mapper = SpaceMouseMapper(scale, zone=float(zone), gripper=gripper)
        self.device_name = device
        self.keyboard = keyboard not in (False, "0", "false", "no")
        self.terminal = TerminalKeys()
        self._module: Any = None
        self._handle: Any = None

    def open(self) -> None:
        try:
            import pyspacemouse
        except ImportError:
            raise TeleopError(
                "the SpaceMouse device needs the `pyspacemouse` package", hint=INSTALL_HINT
            ) from None
        try:
            handle = pyspacemouse.open(device=self.device_name)
        except Exception as error:  # the package raises bare exceptions for HID trouble
            raise TeleopError(
                f"cannot open the SpaceMouse: {error}",
                hint="plug it in, and give your user read access to /dev/hidraw* "
                "(a udev rule; see docs/teleop.md)",
            ) from None
        if not handle:
            raise TeleopError(
                "no SpaceMouse found",
                hint="plug it in, and give your user read access to /dev/hidraw* "
                "(a udev rule; see docs/teleop.md)",
            )
        self._module, self._handle = pyspacemouse, handle
        if self.keyboard:
            with contextlib.suppress(TeleopError):  # no terminal: the buttons mark success
                self.terminal.open()

    def _pump_keys(self) -> None:
        for key in self.terminal.read():
            apply_shared_key(self.mapper.state, key)

    def reset(self) -> None:
        self._pump_keys()
        self.mapper.reset()

    def command(self, observation: Observation) -> np.ndarray:
        self._pump_keys()
        reading = self._module.read() if self._module is not None else None
        state = SpaceMouseState() if reading is None else SpaceMouseState.from_reading(reading)
        return self.mapper.command(state)

    def mark(self) -> Mark | None:
        self._pump_keys()
        return self.mapper.mark()

    def close(self) -> None:
        self.terminal.close()
        if self._module is not None:
            module, self._module = self._module, None
            close = getattr(module, "close", None)
            if callable(close):
                # The device may already be gone; there is nothing left to release then.
                with contextlib.suppress(Exception):
                    close()
