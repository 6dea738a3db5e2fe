"""A gamepad (Xbox or PlayStation layout) as a teleoperation device, through evdev or `inputs`.

    left stick      x (push forward: +x) and y (push right: +y)
    right stick     up / down: gripper up / down; left / right: yaw
    d-pad           up / down: pitch; left / right: roll
    LB / RB         slower / faster
    A  success      B  failure      X  discard      Y  redo
    View (select)   gripper open / close         Menu (start)   quit

The names are Linux input codes (`BTN_SOUTH` is A, `BTN_EAST` B, `BTN_NORTH` X,
`BTN_WEST` Y on the xpad and PlayStation drivers); `buttons` and `axes` change them.
The terminal's keys work alongside when standard input is a terminal.

The driver package is imported only when the device is opened: `evdev` on Linux
(`uv pip install evdev`, and read access to `/dev/input/event*`: the `input` group),
else `inputs` (`uv pip install inputs`). A background thread reads the pad's events
into a `GamepadState` and counts button presses, so that a tap shorter than a control
step still counts. `apply_event` and `GamepadMapper` are the pure core the tests drive
with synthetic events.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from vitalskills.robot import Observation
from vitalskills.teleop.device import Mark
from vitalskills.teleop.errors import DeviceSpecError, TeleopError
from vitalskills.teleop.jog import JogScale, JogState, deadzone
from vitalskills.teleop.keyboard import MARK_LEGEND, TerminalKeys, apply_shared_key

STICKS = ("ABS_X", "ABS_Y", "ABS_RX", "ABS_RY")
HATS = ("ABS_HAT0X", "ABS_HAT0Y")
#: For each command axis (ee x, y, z, rx, ry, rz): the pad axis and its sign (stick up
#: reads negative on Linux).
DEFAULT_AXES: tuple[tuple[str, float], ...] = (
    ("ABS_Y", -1.0),
    ("ABS_X", 1.0),
    ("ABS_RY", 1.0),
    ("ABS_HAT0X", 1.0),
    ("ABS_HAT0Y", -1.0),
    ("ABS_RX", 1.0),
)
ACTIONS = ("success", "failure", "discard", "redo", "quit", "gripper", "slower", "faster")
DEFAULT_BUTTONS: dict[str, str] = {
    "BTN_SOUTH": "success",
    "BTN_EAST": "failure",
    "BTN_NORTH": "discard",
    "BTN_WEST": "redo",
    "BTN_START": "quit",
    "BTN_SELECT": "gripper",
    "BTN_TL": "slower",
    "BTN_TR": "faster",
}
MARKS = {
    "success": Mark.SUCCESS,
    "failure": Mark.FAILURE,
    "discard": Mark.DISCARD,
    "redo": Mark.REDO,
    "quit": Mark.QUIT,
}
LEGEND = (
    "sticks/d-pad: move · LB/RB speed · View gripper · A success · B failure · X discard · "
    "Y redo · Menu quit · " + MARK_LEGEND
)
INSTALL_HINT = (
    "install `evdev` (Linux: `uv pip install evdev`, and join the `input` group) or "
    "`inputs` (`uv pip install inputs`), or pick another device with --teleop"
)


@dataclass(frozen=True)
class GamepadState:
    """The pad's axes (sticks and d-pad, each -1..1) and the buttons held down."""

    axes: Mapping[str, float] = field(default_factory=dict)
    buttons: frozenset[str] = frozenset()


def apply_event(
    state: GamepadState, code: str, value: float, low: float = -32768, high: float = 32767
) -> tuple[GamepadState, str | None]:
    """Apply one input event; return the new state and the button pressed, if one was.

    Sticks are scaled from [`low`, `high`] (the axis's range) to -1..1; the d-pad's
    -1/0/1 are kept; a button event with value 1 is a press, 0 a release (2, the
    kernel's auto-repeat, changes nothing). Other events are ignored.
    """
    if code in STICKS:
        scaled = 2.0 * (float(value) - low) / (high - low) - 1.0
        axes = dict(state.axes) | {code: float(np.clip(scaled, -1.0, 1.0))}
        return replace(state, axes=axes), None
    if code in HATS:
        return replace(state, axes=dict(state.axes) | {code: float(np.sign(value))}), None
    if code.startswith("BTN_"):
        if value == 1 and code not in state.buttons:
            return replace(state, buttons=state.buttons | {code}), code
        if value == 0:
            return replace(state, buttons=state.buttons - {code}), None
    return state, None


class GamepadMapper:
    """Turn a pad's state into commands, and its button presses into verdicts and settings.

    Args:
        scale: the size of a full deflection, one step.
        zone: the sticks' dead zone (fraction of full deflection).
        axes: the axis mapping (see `DEFAULT_AXES`).
        buttons: button code -> one of `ACTIONS`.
        gripper: the gripper command at the start of every episode (1: closed).
    """

    def __init__(
        self,
        scale: JogScale | None = None,
        *,
        zone: float = 0.15,
        axes: tuple[tuple[str, float], ...] = DEFAULT_AXES,
        buttons: Mapping[str, str] | None = None,
        gripper: float = 1.0,
    ) -> None:
        self.buttons = dict(DEFAULT_BUTTONS if buttons is None else buttons)
        unknown = sorted(set(self.buttons.values()) - set(ACTIONS))
        if unknown:
            raise DeviceSpecError(
                f"gamepad buttons map to unknown actions {unknown}",
                hint=f"use {', '.join(ACTIONS)}",
                code="T003",
            )
        if len(axes) != 6 or any(code not in STICKS + HATS for code, _ in axes):
            raise DeviceSpecError(
                f"gamepad `axes` must map 6 command axes to {STICKS + HATS}, got `{axes}`",
                code="T003",
            )
        if not 0.0 <= zone < 1.0:
            raise DeviceSpecError(f"gamepad dead zone must be in [0, 1), got `{zone}`", code="T003")
        self.state = JogState(scale=scale or JogScale(), gripper_start=gripper)
        self.zone = zone
        self.axes = axes

    def press(self, button: str) -> None:
        """Act on one button press (buttons mapped to nothing are ignored)."""
        action = self.buttons.get(button)
        if action in MARKS:
            self.state.push_mark(MARKS[action])
        elif action == "gripper":
            self.state.toggle_gripper()
        elif action == "slower":
            self.state.slower()
        elif action == "faster":
            self.state.faster()

    def command(self, pad: GamepadState, presses: Sequence[str] = ()) -> np.ndarray:
        """The command for one control step: `presses` are the buttons pressed since the last."""
        for button in presses:
            self.press(button)
        values = []
        for code, sign in self.axes:
            value = float(pad.axes.get(code, 0.0))
            values.append(sign * (deadzone(value, self.zone) if code in STICKS else value))
        return self.state.command(np.array(values))

    def mark(self) -> Mark | None:
        return self.state.pop_mark()

    def reset(self) -> None:
        self.state.reset()


def _event_name(names: Any, known: Mapping[str, str]) -> str:
    """evdev gives aliases as a list (`['BTN_A', 'BTN_GAMEPAD', 'BTN_SOUTH']`): pick ours."""
    if isinstance(names, list | tuple):
        return next((n for n in names if n in known or n in STICKS + HATS), names[0])
    return str(names)


class GamepadDevice:
    """A gamepad read in a background thread, with the terminal's keys for verdicts.

    Args:
        scale: the size of a full deflection (default 0.01 m, 0.1 rad per step).
        zone: the sticks' dead zone.
        backend: `evdev`, `inputs`, or `auto` (evdev if installed, else inputs).
        path: the evdev device (`/dev/input/eventN`; default: the first gamepad found).
        keyboard: also read verdict, speed and gripper keys from the terminal when
            standard input is one.
        gripper: the gripper command at the start of every episode (1: closed).
    """

    name = "gamepad"
    legend = LEGEND

    def __init__(
        self,
        scale: JogScale | None = None,
        *,
        zone: float | str = 0.15,
        backend: str = "auto",
        path: str | None = None,
        keyboard: bool | str = True,
        gripper: float = 1.0,
    ) -> None:
        if backend not in ("auto", "evdev", "inputs"):
            raise DeviceSpecError(
                f"unknown gamepad backend `{backend}`",
                hint="use evdev, inputs or auto",
                code="T003",
            )
        self.mapper = GamepadMapper(scale, zone=float(zone), gripper=gripper)
        self.backend = backend
        self.path = path
        self.keyboard = keyboard not in (False, "0", "false", "no")
        self.terminal = TerminalKeys()
        self._lock = threading.Lock()
        self._pad = GamepadState()
        self._presses: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._device: Any = None

    # -------------------------------------------------------------- reading the pad
    def _event(self, code: str, value: float, low: float = -32768, high: float = 32767) -> None:
        with self._lock:
            self._pad, pressed = apply_event(self._pad, code, value, low, high)
            if pressed is not None:
                self._presses.append(pressed)

    def _open_evdev(self) -> bool:
        try:
            import evdev
        except ImportError:
            return False
        paths = [self.path] if self.path else evdev.list_devices()
        for path in paths:
            try:
                device = evdev.InputDevice(path)
            except OSError as error:
                if self.path:
                    raise TeleopError(
                        f"cannot open gamepad `{path}`: {error}",
                        hint="check the path and that this user may read it (the `input` group)",
                    ) from None
                continue
            keys = device.capabilities().get(evdev.ecodes.EV_KEY, [])
            if evdev.ecodes.BTN_SOUTH in keys or evdev.ecodes.BTN_GAMEPAD in keys:
                self._device = device
                break
            device.close()
        if self._device is None:
            raise TeleopError(
                "no gamepad found among the input devices this user can read",
                hint="plug it in and join the `input` group (then log in again), or pass "
                "--device-option path=/dev/input/eventN",
            )
        ecodes = evdev.ecodes
        ranges = {}
        for code, info in self._device.capabilities().get(ecodes.EV_ABS, []):
            ranges[_event_name(ecodes.ABS[code], DEFAULT_BUTTONS)] = (info.min, info.max)

        def read() -> None:
            with contextlib.suppress(OSError):  # closing the device ends the loop
                for event in self._device.read_loop():
                    if self._stop.is_set():
                        return
                    if event.type == ecodes.EV_KEY:
                        names = ecodes.BTN.get(event.code) or ecodes.KEY.get(event.code)
                        if names:
                            self._event(_event_name(names, self.mapper.buttons), event.value)
                    elif event.type == ecodes.EV_ABS:
                        name = _event_name(ecodes.ABS.get(event.code, ""), DEFAULT_BUTTONS)
                        self._event(name, event.value, *ranges.get(name, (-32768, 32767)))

        self._thread = threading.Thread(target=read, name="gamepad", daemon=True)
        self._thread.start()
        return True

    def _open_inputs(self) -> bool:
        try:
            import inputs
        except ImportError:
            return False
        pads = inputs.devices.gamepads
        if not pads:
            raise TeleopError("no gamepad found", hint="plug one in, or pick another --teleop")
        self._device = pads[0]

        def read() -> None:
            while not self._stop.is_set():
                try:
                    events = self._device.read()
                except (OSError, inputs.UnpluggedError):
                    return
                for event in events:
                    if event.ev_type in ("Key", "Absolute"):
                        self._event(event.code, event.state)

        self._thread = threading.Thread(target=read, name="gamepad", daemon=True)
        self._thread.start()
        return True

    # -------------------------------------------------------------- TeleopDevice
    def open(self) -> None:
        opened = False
        if self.backend in ("auto", "evdev"):
            opened = self._open_evdev()
        if not opened and self.backend in ("auto", "inputs"):
            opened = self._open_inputs()
        if not opened:
            raise TeleopError(
                "the gamepad device needs the `evdev` or the `inputs` package", hint=INSTALL_HINT
            )
        if self.keyboard:
            with contextlib.suppress(TeleopError):  # no terminal: the pad's buttons suffice
                self.terminal.open()

    def _pump_keys(self) -> None:
        for key in self.terminal.read():
            apply_shared_key(self.mapper.state, key)

    def _drain(self) -> tuple[GamepadState, list[str]]:
        with self._lock:
            presses, self._presses = self._presses, []
            return self._pad, presses

    def reset(self) -> None:
        self._pump_keys()
        self._drain()  # presses made while the arm moved to the start count for nothing
        self.mapper.reset()

    def command(self, observation: Observation) -> np.ndarray:
        self._pump_keys()
        return self.mapper.command(*self._drain())

    def mark(self) -> Mark | None:
        self._pump_keys()
        # A verdict button pressed since the last command counts now.
        _, presses = self._drain()
        for button in presses:
            self.mapper.press(button)
        return self.mapper.mark()

    def close(self) -> None:
        self.terminal.close()
        self._stop.set()
        device, self._device = self._device, None
        close = getattr(device, "close", None)
        if callable(close):
            with contextlib.suppress(Exception):  # already unplugged: nothing to release
                close()
