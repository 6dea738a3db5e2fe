"""The keyboard device: key streams to commands and verdicts, and the terminal it borrows.

No person types in these tests: keys are synthetic. The key-to-command core (`KeyMap`)
is fed key strings directly; the device itself reads a real pseudo-terminal (`pty`)
into which the test writes the bytes a terminal sends for each key, so cbreak mode,
non-blocking reads and the restoring of the terminal's settings run for real.
"""

from __future__ import annotations

import os
import pty
import termios
from collections.abc import Iterator

import numpy as np
import pytest

from vitalskills.teleop import JogScale, Mark, TeleopDevice, TeleopError
from vitalskills.teleop.keyboard import ESC, KeyboardDevice, KeyMap, split_keys

SCALE = JogScale(step=0.01, rotation_step=0.1, speeds=(0.1, 0.5, 1.0), speed=2)


def keys(keymap: KeyMap, text: str) -> None:
    for key in split_keys(text):
        keymap.feed(key)


def test_escape_sequences_are_one_key_and_a_lone_escape_is_esc() -> None:
    assert split_keys("w\x1b[A\x1bOPs") == ["w", "\x1b[A", "\x1bOP", "s"]
    assert split_keys("\x1b[15~x") == ["\x1b[15~", "x"]
    assert split_keys("\x1bw") == ["\x1bw"]  # Alt+w: no key of ours
    assert split_keys("a\x1b") == ["a", ESC]


@pytest.mark.parametrize(
    ("key", "axis", "sign"),
    [
        ("w", 0, 1), ("s", 0, -1), ("d", 1, 1), ("a", 1, -1), ("f", 2, 1), ("r", 2, -1),
        ("l", 3, 1), ("j", 3, -1), ("i", 4, 1), ("k", 4, -1), ("e", 5, 1), ("q", 5, -1),
    ],
)  # fmt: skip
def test_each_jog_key_moves_one_axis_one_full_step(key: str, axis: int, sign: int) -> None:
    keymap = KeyMap(SCALE)
    keys(keymap, key)
    command = keymap.command()
    expected = np.zeros(7, dtype=np.float32)
    expected[axis] = sign * (0.01 if axis < 3 else 0.1)
    expected[6] = 1.0  # the gripper stays closed
    np.testing.assert_allclose(command, expected, atol=1e-7)
    # The key was used up: the next step, with no key, is idle.
    np.testing.assert_allclose(keymap.command()[:6], 0.0)


def test_a_key_repeated_within_one_step_moves_once_and_chords_stay_within_a_step() -> None:
    keymap = KeyMap(SCALE)
    keys(keymap, "www")  # terminal auto-repeat between two control steps
    assert keymap.command()[0] == pytest.approx(0.01)
    keys(keymap, "wd")  # diagonal: one step long, not sqrt(2)
    command = keymap.command()
    assert np.linalg.norm(command[:3]) == pytest.approx(0.01, rel=1e-6)
    assert command[0] == pytest.approx(command[1])
    keys(keymap, "ws")  # opposite keys cancel
    np.testing.assert_allclose(keymap.command()[:3], 0.0)


def test_speed_keys_scale_the_step_and_digits_pick_a_level() -> None:
    keymap = KeyMap(SCALE)
    keys(keymap, "-w")
    assert keymap.command()[0] == pytest.approx(0.005)
    keys(keymap, "--w")  # already at the slowest after one more
    assert keymap.command()[0] == pytest.approx(0.001)
    keys(keymap, "+=w")
    assert keymap.command()[0] == pytest.approx(0.01)
    keys(keymap, "2q")
    assert keymap.command()[5] == pytest.approx(-0.05)
    keys(keymap, "9w")  # beyond the last level: the fastest
    assert keymap.command()[0] == pytest.approx(0.01)


def test_space_toggles_the_gripper_and_reset_closes_it_but_keeps_the_speed() -> None:
    keymap = KeyMap(SCALE)
    keys(keymap, " ")
    assert keymap.command()[6] == -1.0
    keys(keymap, " ")
    assert keymap.command()[6] == 1.0
    keys(keymap, " 1w")
    keymap.reset()
    keys(keymap, "w")
    command = keymap.command()
    assert command[6] == 1.0
    assert command[0] == pytest.approx(0.001)  # speed level 1 kept


@pytest.mark.parametrize(
    ("text", "mark"),
    [
        ("\r", Mark.SUCCESS), ("\n", Mark.SUCCESS), ("y", Mark.SUCCESS), ("n", Mark.FAILURE),
        ("x", Mark.DISCARD), ("u", Mark.REDO), (ESC, Mark.QUIT), ("Q", Mark.QUIT),
    ],
)  # fmt: skip
def test_verdict_keys(text: str, mark: Mark) -> None:
    keymap = KeyMap(SCALE)
    assert keymap.mark() is None
    keys(keymap, "w" + text)
    assert keymap.mark() is mark
    assert keymap.mark() is None  # handed out once


def test_verdicts_queue_in_order_and_reset_forgets_them() -> None:
    keymap = KeyMap(SCALE)
    keys(keymap, "nu")
    assert [keymap.mark(), keymap.mark()] == [Mark.FAILURE, Mark.REDO]
    keys(keymap, "yw")
    keymap.reset()
    assert keymap.mark() is None
    np.testing.assert_allclose(keymap.command()[:6], 0.0)


def test_arrow_keys_and_alt_chords_do_nothing() -> None:
    keymap = KeyMap(SCALE)
    keys(keymap, "\x1b[A\x1b[B\x1bw")
    assert keymap.mark() is None
    np.testing.assert_allclose(keymap.command()[:6], 0.0)


@pytest.fixture
def terminal() -> Iterator[tuple[int, int]]:
    """A real pseudo-terminal: (the side a person types into, the side the device reads)."""
    typed, device_side = pty.openpty()
    try:
        yield typed, device_side
    finally:
        os.close(typed)
        os.close(device_side)


def test_the_device_reads_a_terminal_in_cbreak_mode_and_restores_it(
    terminal: tuple[int, int],
) -> None:
    typed, fd = terminal
    before = termios.tcgetattr(fd)
    device = KeyboardDevice(SCALE, fd=fd)
    assert isinstance(device, TeleopDevice)
    device.open()
    mode = termios.tcgetattr(fd)
    assert not mode[3] & termios.ICANON and not mode[3] & termios.ECHO
    assert mode[3] & termios.ISIG  # Ctrl-C still interrupts (and stops the robot)
    try:
        assert device.mark() is None  # nothing typed: no blocking, no verdict
        os.write(typed, b"d\x1b[Cd")
        command = device.command({})
        assert command[1] == pytest.approx(0.01) and command[0] == 0.0
        os.write(typed, b"y")
        assert device.mark() is Mark.SUCCESS
        os.write(typed, b"wx")  # typed while the arm moves to the next start
        device.reset()
        assert device.mark() is None
        np.testing.assert_allclose(device.command({})[:6], 0.0)
        os.write(typed, b"\x1b")
        assert device.mark() is Mark.QUIT
    finally:
        device.close()
    assert termios.tcgetattr(fd) == before
    device.close()  # twice is fine
    assert termios.tcgetattr(fd) == before


def test_without_a_terminal_the_device_says_what_to_do(tmp_path) -> None:
    with (tmp_path / "not-a-tty").open("w") as handle:
        device = KeyboardDevice(fd=handle.fileno())
        with pytest.raises(TeleopError) as raised:
            device.open()
    assert "needs a terminal" in raised.value.message
    assert "ssh -t" in (raised.value.hint or "")
    device.close()  # nothing to restore
