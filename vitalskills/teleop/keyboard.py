"""The terminal keyboard as a teleoperation device: works in any terminal, over SSH too.

The terminal is put in cbreak mode (no line buffering, no echo: each key arrives as
it is pressed) and restored on `close`, on interpreter exit, and on every way out of
`vitalskills collect`. Cbreak rather than full raw mode keeps Ctrl-C a signal (so an
interrupt stops the robot through the normal path) and keeps the live display's line
endings intact. A terminal has no key-release events: holding a key jogs through the
terminal's auto-repeat, and a single tap moves exactly one control step.

Keys (end-effector frame; the axes of a gripper pointing down are given in brackets):

    w / s   +x / -x          d / a   +y / -y          f / r   +z / -z  [down / up]
    e / q   +yaw / -yaw      i / k   +pitch / -pitch  l / j   +roll / -roll
    space   gripper open / close         + / -   faster / slower (1..4 pick a level)
    Enter or y  success    n  failure    x  discard    u  redo    Esc or Q  quit

`KeyMap` is the key-to-command core with no terminal (tests feed it synthetic keys);
`TerminalKeys` reads keys from a terminal; `KeyboardDevice` joins the two.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import select
import sys
import termios
import tty

import numpy as np

from vitalskills.robot import Observation
from vitalskills.teleop.device import Mark
from vitalskills.teleop.errors import TeleopError
from vitalskills.teleop.jog import JogScale, JogState

ESC = "\x1b"
#: Jog keys: key -> (axis 0..5 of the command, direction).
JOG_KEYS: dict[str, tuple[int, float]] = {
    "w": (0, 1.0),
    "s": (0, -1.0),
    "d": (1, 1.0),
    "a": (1, -1.0),
    "f": (2, 1.0),
    "r": (2, -1.0),
    "l": (3, 1.0),
    "j": (3, -1.0),
    "i": (4, 1.0),
    "k": (4, -1.0),
    "e": (5, 1.0),
    "q": (5, -1.0),
}
MARK_KEYS: dict[str, Mark] = {
    "\r": Mark.SUCCESS,
    "\n": Mark.SUCCESS,
    "y": Mark.SUCCESS,
    "n": Mark.FAILURE,
    "x": Mark.DISCARD,
    "u": Mark.REDO,
    ESC: Mark.QUIT,
    "Q": Mark.QUIT,
}
GRIPPER_KEY = " "
FASTER_KEYS = ("+", "=")
SLOWER_KEYS = ("-", "_")
LEVEL_KEYS = ("1", "2", "3", "4", "5", "6", "7", "8", "9")
#: The keys every device with a terminal understands (marks, speed, gripper).
MARK_LEGEND = "Enter/y success · n failure · x discard · u redo · Esc/Q quit"
LEGEND = (
    "w/s ±x · d/a ±y · f/r ±z (down/up) · e/q ±yaw · i/k ±pitch · l/j ±roll · "
    "space gripper · +/- speed · " + MARK_LEGEND
)


def split_keys(text: str) -> list[str]:
    """Split what a terminal sent into keys.

    An escape sequence (an arrow or function key: ESC `[` or `O` ... final byte) and
    an Alt chord (ESC then a key in the same read) are one key each, which no table
    maps, so they do nothing; only a lone ESC is the Esc key.
    """
    keys: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == ESC and i + 1 < len(text):
            j = i + 1
            if text[j] in "[O":
                j += 1
                while j < len(text) and not (text[j].isalpha() or text[j] == "~"):
                    j += 1
            keys.append(text[i : j + 1])
            i = j + 1
            continue
        keys.append(char)
        i += 1
    return keys


def apply_shared_key(state: JogState, key: str) -> bool:
    """Apply a key every device's terminal understands; return whether it was one.

    Verdict keys queue a mark, `space` toggles the gripper, `+`/`-` and the digits set
    the speed.
    """
    if key in MARK_KEYS:
        state.push_mark(MARK_KEYS[key])
    elif key == GRIPPER_KEY:
        state.toggle_gripper()
    elif key in FASTER_KEYS:
        state.faster()
    elif key in SLOWER_KEYS:
        state.slower()
    elif key in LEVEL_KEYS:
        state.speed_index = min(int(key) - 1, len(state.scale.speeds) - 1)
    else:
        return False
    return True


class KeyMap:
    """Turn a stream of keys into one command per control step, and into verdicts.

    Each step moves along every jog key pressed since the previous step, once per key
    (a key that auto-repeats three times in one step still moves one step's worth).

    Args:
        scale: the size of a full step.
        gripper: the gripper command at the start of every episode (1: closed).
    """

    def __init__(self, scale: JogScale | None = None, gripper: float = 1.0) -> None:
        self.state = JogState(scale=scale or JogScale(), gripper_start=gripper)
        self._pressed: set[str] = set()

    def feed(self, key: str) -> None:
        """Take one key (as `split_keys` returns them)."""
        if key in JOG_KEYS:
            self._pressed.add(key)
        else:
            apply_shared_key(self.state, key)

    def command(self) -> np.ndarray:
        """The command for this step from the jog keys pressed since the last one."""
        axes = np.zeros(6)
        for key in self._pressed:
            axis, sign = JOG_KEYS[key]
            axes[axis] += sign
        self._pressed.clear()
        return self.state.command(np.clip(axes, -1.0, 1.0))

    def mark(self) -> Mark | None:
        return self.state.pop_mark()

    def reset(self) -> None:
        """Forget pressed keys and verdicts; close the gripper again; keep the speed."""
        self._pressed.clear()
        self.state.reset()


class TerminalKeys:
    """Read keys from a terminal in cbreak mode, without blocking; restore it on close.

    Args:
        fd: the terminal's file descriptor (default: standard input).
    """

    def __init__(self, fd: int | None = None) -> None:
        self._fd = fd
        self._saved: list | None = None

    @property
    def fd(self) -> int:
        return sys.stdin.fileno() if self._fd is None else self._fd

    @property
    def is_open(self) -> bool:
        """Whether the terminal is in cbreak mode (opened and not closed)."""
        return self._saved is not None

    def open(self) -> None:
        """Switch the terminal to cbreak mode (raise `TeleopError` when it is not one)."""
        if self._saved is not None:
            return
        try:
            fd = self.fd
            is_tty = os.isatty(fd)
        except (OSError, ValueError):
            is_tty = False
        if not is_tty:
            raise TeleopError(
                "the keyboard device needs a terminal on standard input",
                hint="run `vitalskills collect` in a terminal (over SSH: `ssh -t`), or pick "
                "another device with --teleop",
            )
        self._saved = termios.tcgetattr(fd)
        atexit.register(self.close)  # also restored if the program exits without close
        tty.setcbreak(fd, termios.TCSANOW)

    def read(self) -> list[str]:
        """Every key typed since the last read (empty when none); never blocks."""
        if self._saved is None:
            return []
        data = b""
        while select.select([self.fd], [], [], 0)[0]:
            chunk = os.read(self.fd, 1024)
            if not chunk:  # the terminal went away
                break
            data += chunk
        return split_keys(data.decode("utf-8", errors="ignore"))

    def close(self) -> None:
        """Give the terminal its settings back; safe to call twice."""
        if self._saved is None:
            return
        saved, self._saved = self._saved, None
        atexit.unregister(self.close)
        with contextlib.suppress(OSError, termios.error):  # a terminal gone needs nothing
            termios.tcsetattr(self.fd, termios.TCSADRAIN, saved)


class KeyboardDevice:
    """Jog the end effector with keys and judge episodes with keys (see the module doc).

    Args:
        scale: the size of a full step (default 0.01 m, 0.1 rad).
        fd: the terminal to read (default: standard input).
        gripper: the gripper command at the start of every episode (1: closed).
    """

    name = "keyboard"
    legend = LEGEND

    def __init__(
        self, scale: JogScale | None = None, *, fd: int | None = None, gripper: float = 1.0
    ) -> None:
        self.keys = KeyMap(scale, gripper=gripper)
        self.terminal = TerminalKeys(fd)

    def open(self) -> None:
        self.terminal.open()

    def _pump(self) -> None:
        for key in self.terminal.read():
            self.keys.feed(key)

    def reset(self) -> None:
        self._pump()  # keys typed while the arm moved to the start count for nothing
        self.keys.reset()

    def command(self, observation: Observation) -> np.ndarray:
        self._pump()
        return self.keys.command()

    def mark(self) -> Mark | None:
        self._pump()
        return self.keys.mark()

    def close(self) -> None:
        self.terminal.close()
