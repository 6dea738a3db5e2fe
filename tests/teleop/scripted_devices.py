"""Scripted stand-ins for a person at a teleoperation device, for the collection tests.

No person can sit at these tests, so a `ScriptDevice` plays one: for each episode it
pushes the arm a little for a set number of steps, then gives a set verdict. It is a
real `TeleopDevice` (loaded through `--teleop tests.teleop.scripted_devices:ScriptDevice`
in the command-line tests), not a mock of one.
"""

from __future__ import annotations

import time

import numpy as np

from vitalskills.robot import Observation
from vitalskills.teleop import Mark

#: An episode step count that never ends: the device never gives a verdict.
FOREVER = -1


def parse_script(script: str) -> list[tuple[int, Mark]]:
    """`"5:success,3:discard"` -> [(5, SUCCESS), (3, DISCARD)]; `-1:none` never marks."""
    plays = []
    for item in script.split(","):
        steps, _, mark = item.partition(":")
        plays.append((int(steps), Mark.SUCCESS if mark == "none" else Mark(mark)))
    return plays


class ScriptDevice:
    """Play a script: per episode, `steps` commands of `push` then the verdict.

    Args:
        script: `(steps, mark)` per episode, or the same as text (`"5:success,2:redo"`);
            after the last entry it quits.
        push: the command sent at every step (a small move along the gripper's x).
        reset_log: append `reset N` to this file at each episode's start (another
            process can watch the collection's progress).
        jog_steps: asked to jog to the approach point, push this many steps, then accept.
        sleep_s: wait this long in each command (a person is not instantaneous).
        interrupt: `EPISODE:STEP`: raise KeyboardInterrupt there, as Ctrl-C would.
    """

    name = "script"
    legend = "scripted test operator"

    def __init__(
        self,
        script: list[tuple[int, Mark]] | str = "3:success",
        push: tuple[float, ...] = (0.002, 0.0, 0.0, 0.0, 0.0, 0.01, 1.0),
        reset_log: str = "",
        jog_steps: int | str = 0,
        sleep_s: float | str = 0.0,
        interrupt: str = "",
    ) -> None:
        self.script = parse_script(script) if isinstance(script, str) else list(script)
        self.push = np.asarray(push, dtype=np.float32)
        self.reset_log = reset_log
        self.episode = -1
        self.steps = 0
        self.jog_steps = int(jog_steps)
        self.sleep_s = float(sleep_s)
        self.interrupt = tuple(int(v) for v in interrupt.split(":")) if interrupt else None
        self.opened = self.closed = False
        #: The end-effector pose (7,) each episode started from.
        self.starts: list[np.ndarray] = []

    def open(self) -> None:
        self.opened = True

    def reset(self) -> None:
        self.episode += 1
        self.steps = 0
        if self.reset_log:
            with open(self.reset_log, "a") as log:
                log.write(f"reset {self.episode}\n")

    def command(self, observation: Observation) -> np.ndarray:
        if self.steps == 0 and self.episode >= 0:
            self.starts.append(np.asarray(observation["ee_pose"]).copy())
        if self.interrupt == (self.episode, self.steps):
            raise KeyboardInterrupt
        self.steps += 1
        if self.sleep_s:
            time.sleep(self.sleep_s)
        return self.push.copy()

    def mark(self) -> Mark | None:
        if self.episode < 0:  # jogging to the approach point
            return Mark.SUCCESS if self.steps >= self.jog_steps else None
        if self.episode >= len(self.script):
            return Mark.QUIT
        steps, mark = self.script[self.episode]
        if steps != FOREVER and self.steps >= steps:
            return mark
        return None

    def close(self) -> None:
        self.closed = True
