"""The SpaceMouse device: puck readings to commands, buttons to gripper and verdicts.

No SpaceMouse can be plugged into these tests, so readings are synthetic
`SpaceMouseState`s (and, for the package's reading type, a namedtuple shaped like
`pyspacemouse.read()`'s). Opening without the `pyspacemouse` package is tested for real
where the package is not installed.
"""

from __future__ import annotations

import importlib.util
from collections import namedtuple

import numpy as np
import pytest

from vitalskills.teleop import JogScale, Mark, TeleopDevice, TeleopError
from vitalskills.teleop.spacemouse import (
    SpaceMouseDevice,
    SpaceMouseMapper,
    SpaceMouseState,
    spacemouse_axes,
)

FULL = JogScale(speeds=(0.5, 1.0), speed=1)


def test_axes_follow_the_documented_mapping() -> None:
    state = SpaceMouseState(x=0.6, y=1.0, z=-1.0, roll=1.0, pitch=-1.0, yaw=1.0)
    np.testing.assert_allclose(
        spacemouse_axes(state, zone=0.0), [1.0, 0.6, 1.0, 1.0, -1.0, -1.0]
    )  # forward -> +x, right -> +y, pushing down -> +z (down), twist -> -rz


def test_dead_zone_ignores_a_resting_hand_and_still_reaches_full_scale() -> None:
    mapper = SpaceMouseMapper(FULL, zone=0.1)
    resting = SpaceMouseState(x=0.05, y=-0.08, z=0.09, roll=0.02, pitch=-0.1, yaw=0.1)
    np.testing.assert_allclose(mapper.command(resting)[:6], 0.0)
    full = mapper.command(SpaceMouseState(y=1.0))
    assert full[0] == pytest.approx(0.01)
    half = mapper.command(SpaceMouseState(y=0.55))
    assert half[0] == pytest.approx(0.005)


def test_commands_stay_within_one_step_whatever_the_deflection() -> None:
    mapper = SpaceMouseMapper(FULL, zone=0.0)
    command = mapper.command(SpaceMouseState(x=1.0, y=1.0, z=1.0, roll=1.0, pitch=1.0, yaw=1.0))
    assert np.linalg.norm(command[:3]) == pytest.approx(0.01, rel=1e-6)
    assert np.linalg.norm(command[3:6]) == pytest.approx(0.1, rel=1e-6)
    slow = SpaceMouseMapper(JogScale(speeds=(0.25,), speed=0), zone=0.0)
    assert slow.command(SpaceMouseState(y=1.0))[0] == pytest.approx(0.0025)


def test_buttons_act_on_presses_not_while_held() -> None:
    mapper = SpaceMouseMapper(FULL)
    assert mapper.command(SpaceMouseState(buttons=(0, 0)))[6] == 1.0
    assert mapper.command(SpaceMouseState(buttons=(1, 0)))[6] == -1.0  # left: open
    assert mapper.command(SpaceMouseState(buttons=(1, 0)))[6] == -1.0  # held: no toggle
    assert mapper.command(SpaceMouseState(buttons=(0, 0)))[6] == -1.0
    assert mapper.command(SpaceMouseState(buttons=(1, 0)))[6] == 1.0  # pressed again
    assert mapper.mark() is None
    mapper.command(SpaceMouseState(buttons=(0, 1)))  # right: success
    mapper.command(SpaceMouseState(buttons=(0, 1)))
    assert mapper.mark() is Mark.SUCCESS
    assert mapper.mark() is None
    mapper.command(SpaceMouseState(buttons=(1, 1)))
    mapper.reset()
    assert mapper.mark() is None
    assert mapper.command(SpaceMouseState())[6] == 1.0  # closed again


def test_readings_of_the_package_convert() -> None:
    Reading = namedtuple("Reading", "t x y z roll pitch yaw buttons")
    reading = Reading(0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, [0, 1])
    assert SpaceMouseState.from_reading(reading) == SpaceMouseState(
        0.1, 0.2, 0.3, 0.4, 0.5, 0.6, (0, 1)
    )
    Old = namedtuple("Old", "t x y z roll pitch yaw button")  # older pyspacemouse
    assert SpaceMouseState.from_reading(Old(0, 0, 0, 0, 0, 0, 0, [1])).buttons == (1,)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(TeleopError, match="dead zone"):
        SpaceMouseMapper(zone=1.0)
    with pytest.raises(TeleopError, match="axes"):
        SpaceMouseMapper(axes=(("x", 1.0),))


@pytest.mark.skipif(
    importlib.util.find_spec("pyspacemouse") is not None, reason="pyspacemouse is installed"
)
def test_opening_without_the_package_says_how_to_install_it() -> None:
    device = SpaceMouseDevice()
    assert isinstance(device, TeleopDevice)
    with pytest.raises(TeleopError) as raised:
        device.open()
    assert raised.value.code == "T001"
    assert "pyspacemouse" in raised.value.message
    assert "uv pip install pyspacemouse" in (raised.value.hint or "")
    device.close()
