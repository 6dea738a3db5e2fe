"""The dense reward toward a goal pose, one definition for the simulator and a robot's bench.

With the potential `phi = -(distance / 1 cm + angle / 0.1 rad)` from the end effector to
the goal pose, each step earns `phi_t - phi_(t-1)` (one unit per centimetre, or tenth of
a radian, of progress), and the step that succeeds also earns `SUCCESS_BONUS`.
"""

from __future__ import annotations

#: Earned by the step that succeeds.
SUCCESS_BONUS = 10.0


def potential(distance: float, angle: float) -> float:
    """The reward's potential: minus centimetres plus tenths of a radian to the goal."""
    return -(distance / 0.01 + angle / 0.1)
