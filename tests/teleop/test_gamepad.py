"""The gamepad device: input events to pad state, pad state to commands and verdicts.

No gamepad can be plugged into these tests, so events are synthetic (the Linux input
code names and values a pad sends through evdev or `inputs`). Opening without either
driver package is tested for real where neither is installed.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from vitalskills.teleop import JogScale, Mark, TeleopDevice, TeleopError
from vitalskills.teleop.gamepad import GamepadDevice, GamepadMapper, GamepadState, apply_event

FULL = JogScale(speeds=(0.25, 0.5, 1.0), speed=2)


def pad_of(*events: tuple[str, float]) -> tuple[GamepadState, list[str]]:
    state, presses = GamepadState(), []
    for code, value in events:
        state, pressed = apply_event(state, code, value)
        if pressed:
            presses.append(pressed)
    return state, presses


def test_events_scale_sticks_keep_the_dpad_and_track_buttons() -> None:
    state, presses = pad_of(
        ("ABS_X", 32767), ("ABS_Y", -32768), ("ABS_RX", 0), ("ABS_HAT0Y", -1),
        ("BTN_SOUTH", 1), ("BTN_SOUTH", 2), ("BTN_EAST", 1), ("BTN_EAST", 0), ("SYN_REPORT", 0),
    )  # fmt: skip
    assert state.axes["ABS_X"] == pytest.approx(1.0)
    assert state.axes["ABS_Y"] == pytest.approx(-1.0)
    assert state.axes["ABS_RX"] == pytest.approx(0.0, abs=1e-4)
    assert state.axes["ABS_HAT0Y"] == -1.0
    assert state.buttons == frozenset({"BTN_SOUTH"})
    assert presses == ["BTN_SOUTH", "BTN_EAST"]  # a tap between two steps still counts
    # An axis with another range (an evdev absinfo of 0..255).
    state, _ = apply_event(GamepadState(), "ABS_X", 255, low=0, high=255)
    assert state.axes["ABS_X"] == pytest.approx(1.0)


def test_sticks_and_dpad_follow_the_documented_mapping() -> None:
    mapper = GamepadMapper(FULL, zone=0.0)
    state, _ = pad_of(("ABS_Y", -32768))  # left stick forward
    assert mapper.command(state)[0] == pytest.approx(0.01)
    state, _ = pad_of(("ABS_X", 32767))  # left stick right
    assert mapper.command(state)[1] == pytest.approx(0.01)
    state, _ = pad_of(("ABS_RY", -32768))  # right stick up: the gripper rises (-z)
    assert mapper.command(state)[2] == pytest.approx(-0.01)
    state, _ = pad_of(("ABS_RX", 32767))
    assert mapper.command(state)[5] == pytest.approx(0.1)
    state, _ = pad_of(("ABS_HAT0X", 1), ("ABS_HAT0Y", -1))
    command = mapper.command(state)
    assert command[3] > 0 and command[4] > 0
    assert np.linalg.norm(command[3:6]) == pytest.approx(0.1, rel=1e-6)


def test_the_dead_zone_ignores_a_drifting_stick() -> None:
    mapper = GamepadMapper(FULL, zone=0.15)
    state, _ = pad_of(("ABS_X", 4000), ("ABS_Y", -3000), ("ABS_RY", 2500))
    np.testing.assert_allclose(mapper.command(state)[:6], 0.0)


@pytest.mark.parametrize(
    ("button", "mark"),
    [
        ("BTN_SOUTH", Mark.SUCCESS), ("BTN_EAST", Mark.FAILURE), ("BTN_NORTH", Mark.DISCARD),
        ("BTN_WEST", Mark.REDO), ("BTN_START", Mark.QUIT),
    ],
)  # fmt: skip
def test_verdict_buttons(button: str, mark: Mark) -> None:
    mapper = GamepadMapper(FULL)
    state, presses = pad_of((button, 1))
    mapper.command(state, presses)
    assert mapper.mark() is mark
    assert mapper.mark() is None


def test_select_toggles_the_gripper_and_shoulders_change_speed() -> None:
    mapper = GamepadMapper(FULL, zone=0.0)
    forward, _ = pad_of(("ABS_Y", -32768))
    assert mapper.command(forward, ["BTN_SELECT"])[6] == -1.0
    assert mapper.command(forward, ["BTN_TL"])[0] == pytest.approx(0.005)
    assert mapper.command(forward, ["BTN_TL", "BTN_TL"])[0] == pytest.approx(0.0025)
    assert mapper.command(forward, ["BTN_TR"])[0] == pytest.approx(0.005)
    mapper.reset()
    assert mapper.command(forward)[6] == 1.0


def test_buttons_can_be_remapped_and_bad_maps_are_refused() -> None:
    mapper = GamepadMapper(buttons={"BTN_TR": "success"})
    mapper.press("BTN_SOUTH")
    assert mapper.mark() is None
    mapper.press("BTN_TR")
    assert mapper.mark() is Mark.SUCCESS
    with pytest.raises(TeleopError, match="unknown actions"):
        GamepadMapper(buttons={"BTN_SOUTH": "dance"})
    with pytest.raises(TeleopError, match="backend"):
        GamepadDevice(backend="sdl")


@pytest.mark.skipif(
    importlib.util.find_spec("evdev") is not None or importlib.util.find_spec("inputs") is not None,
    reason="a gamepad package is installed",
)
def test_opening_without_a_driver_package_says_how_to_install_one() -> None:
    device = GamepadDevice()
    assert isinstance(device, TeleopDevice)
    with pytest.raises(TeleopError) as raised:
        device.open()
    assert "evdev" in raised.value.message and "inputs" in raised.value.message
    assert "uv pip install evdev" in (raised.value.hint or "")
    device.close()
