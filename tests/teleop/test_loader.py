"""`load_device`: the built-in names, `module:Class` devices, and clear errors.

Nothing is opened here (building a device never grabs a terminal or a USB port), so
the built-in devices load on a machine without a SpaceMouse or a gamepad.
"""

from __future__ import annotations

import pytest

from vitalskills.teleop import JogScale, TeleopDevice, TeleopError, load_device
from vitalskills.teleop.gamepad import GamepadDevice
from vitalskills.teleop.keyboard import KeyboardDevice
from vitalskills.teleop.spacemouse import SpaceMouseDevice

from .scripted_devices import ScriptDevice


class Incomplete:
    """A class that forgot most of the device protocol."""

    name = "incomplete"

    def command(self, observation):
        return None


class Fussy:
    """A device whose constructor takes no options."""

    name = "fussy"

    def __init__(self) -> None: ...


@pytest.mark.parametrize(
    ("spec", "cls"),
    [("keyboard", KeyboardDevice), ("spacemouse", SpaceMouseDevice), ("gamepad", GamepadDevice)],
)
def test_built_in_devices_load_unopened_with_the_scale(spec: str, cls: type) -> None:
    scale = JogScale(step=0.004, rotation_step=0.05)
    device = load_device(spec, scale=scale)
    assert isinstance(device, cls) and isinstance(device, TeleopDevice)
    assert device.name == spec
    mapper = getattr(device, "keys", None) or device.mapper
    assert mapper.state.scale is scale


def test_module_class_builds_any_device_with_its_options() -> None:
    device = load_device(
        "tests.teleop.scripted_devices:ScriptDevice", options={"script": "2:success,1:redo"}
    )
    assert isinstance(device, ScriptDevice)
    assert [mark.value for _, mark in device.script] == ["success", "redo"]


def test_options_reach_built_in_devices() -> None:
    device = load_device("spacemouse", options={"zone": "0.3"})
    assert device.mapper.zone == 0.3


@pytest.mark.parametrize(
    ("spec", "options", "message", "hint"),
    [
        ("joystick", None, "unknown teleop device `joystick`", "keyboard, spacemouse, gamepad"),
        (":Thing", None, "unknown teleop device", "module.path:ClassName"),
        ("no_such_module_xyz:Device", None, "cannot import", "PYTHONPATH"),
        ("tests.teleop.test_loader:Missing", None, "has no class `Missing`", "class defined"),
        ("tests.teleop.test_loader:Incomplete", None, "lacks `open`, `reset`, `mark`, `close`",
         "docs/teleop.md"),
        ("tests.teleop.test_loader:Fussy", {"speed": "1"}, "rejected its options ['speed']",
         "--device-option"),
        ("keyboard", {"volume": "11"}, "rejected its options ['volume']", "--device-option"),
    ],
)  # fmt: skip
def test_errors_say_what_is_wrong_and_what_to_do(
    spec: str, options: dict | None, message: str, hint: str
) -> None:
    with pytest.raises(TeleopError) as raised:
        load_device(spec, options=options)
    assert message in raised.value.message
    assert hint in (raised.value.hint or "")
    assert raised.value.code == "T002"


def test_bad_jog_scales_are_refused() -> None:
    with pytest.raises(TeleopError, match="step"):
        JogScale(step=0.0)
    with pytest.raises(TeleopError, match="speeds"):
        JogScale(speeds=(2.0,), speed=0)
    with pytest.raises(TeleopError, match="speed"):
        JogScale(speed=7)
