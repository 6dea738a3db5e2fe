"""What a teleoperation device is to `vitalskills collect`: commands in, verdicts out.

A device turns a person's hand (a keyboard, a SpaceMouse, a gamepad) or a stand-in
operator (the simulator's scripted expert) into one 7-D command per control step, in
the robot's action convention (xyz delta in metres and axis-angle delta in radians in
the end-effector frame, then the gripper command -1 open .. 1 close), and tells the
collector when the operator has judged the episode.

Optional members the collector uses when present: `legend` (a line of the device's keys
for the live display) and `suggest_target() -> (xyz, yaw) | None` (an approach point the
operator can see, used when `--target` is not given). See docs/teleop.md.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol, runtime_checkable

import numpy as np

from vitalskills.robot import Observation


class Mark(StrEnum):
    """The operator's verdict on the episode in progress."""

    SUCCESS = "success"  # keep it, as a successful demonstration
    FAILURE = "failure"  # keep it, marked failed (written only with --keep-failures)
    DISCARD = "discard"  # throw it away and go on
    REDO = "redo"  # throw it away and try the same start again
    QUIT = "quit"  # throw it away and end the collection


@runtime_checkable
class TeleopDevice(Protocol):
    """A source of commands and verdicts; opened once, reset every episode."""

    name: str

    def open(self) -> None:
        """Acquire the device (raise `TeleopError` with a hint when it is missing)."""
        ...

    def reset(self) -> None:
        """A new episode starts: forget held keys, pending marks and any plan."""
        ...

    def command(self, observation: Observation) -> np.ndarray:
        """The 7-D command for this control step (zeros when the operator is idle)."""
        ...

    def mark(self) -> Mark | None:
        """The operator's verdict if one was given since the last call, else None.

        Polled every control step, and also while the collector moves the arm between
        episodes, where only `Mark.QUIT` counts.
        """
        ...

    def close(self) -> None:
        """Release the device (restore the terminal); safe to call twice."""
        ...
