"""Moving the arm by commands: the approach point, random starts, a bounded-step servo.

What the teleoperated collector does on its own between episodes (go to a start, back
out) goes through `robot.act` like any command, in steps within the robot's limits, as
a person jogging the arm would: no teleporting reset is needed, so the same moves work
on a real arm and on the simulator served as hardware. Only the position and the
heading about base z are servoed; the tool's tilt stays as it is.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from vitalskills.errors import UsageError
from vitalskills.robot import Observation, Robot, RobotCapabilities
from vitalskills.robot.geometry import ee_pose, heading, rotate_yaw, wrap_angle
from vitalskills.teleop.device import Mark, TeleopDevice


@dataclass(frozen=True)
class Target:
    """The approach point: where episodes start around, base frame (m), with a heading.

    `yaw` (rad) is the gripper's heading about base z at the approach; None takes the
    heading the arm has when the collection starts.
    """

    position: tuple[float, float, float]
    yaw: float | None = None

    def describe(self) -> str:
        x, y, z = self.position
        text = f"({x:.4f}, {y:.4f}, {z:.4f}) m"
        return text if self.yaw is None else f"{text}, yaw {math.degrees(self.yaw):.1f} deg"


def _floats(text: str, option: str, counts: tuple[int, ...], example: str) -> list[float]:
    try:
        values = [float(part) for part in text.replace(" ", "").split(",")]
    except ValueError:
        values = []
    if len(values) not in counts or not all(math.isfinite(v) for v in values):
        raise UsageError(f"{option} `{text}` is not {example}", hint=f"e.g. {option} {example}")
    return values


def parse_target(text: str, approach_offset: str | None = None) -> Target:
    """Parse `--target X,Y,Z[,YAW]` (m, rad, base frame), plus `--approach-offset DX,DY,DZ`.

    The offset turns a located point (the output of `vitalskills locate`) into the
    approach point: it is in the target's frame (turned by YAW about z), as a skill's
    `approach_offset` is.
    """
    values = _floats(text, "--target", (3, 4), "0.5,0.0,0.12 or 0.5,0.0,0.12,0.0")
    yaw = values[3] if len(values) == 4 else None
    position = np.array(values[:3])
    if approach_offset is not None:
        offset = np.array(_floats(approach_offset, "--approach-offset", (3,), "0,0,0.062"))
        position = position + np.array([*rotate_yaw(offset[:2], yaw or 0.0), offset[2]])
    return Target(tuple(float(v) for v in position), yaw)


@dataclass(frozen=True)
class StartBox:
    """Where episodes start: uniform in a box around the approach point (target frame).

    The defaults are the simulator's own start distribution (where a `reach` step
    leaves the gripper): +-15 mm in x and y, +-10 mm in z, +-10 deg of heading.
    """

    half_x: float = 0.015
    half_y: float = 0.015
    half_z: float = 0.010
    yaw: float = math.radians(10.0)

    def __post_init__(self) -> None:
        for name in ("half_x", "half_y", "half_z", "yaw"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise UsageError(f"start box `{name}` must be >= 0, got `{value}`")

    def draw(self, seed: int, target: Target) -> tuple[np.ndarray, float]:
        """The start (position, heading) of seed `seed` around `target` (with a yaw)."""
        assert target.yaw is not None
        rng = np.random.default_rng(seed)
        half = np.array([self.half_x, self.half_y, self.half_z])
        offset = rng.uniform(-half, half)
        position = np.asarray(target.position) + np.array(
            [*rotate_yaw(offset[:2], target.yaw), offset[2]]
        )
        return position, wrap_angle(target.yaw + rng.uniform(-self.yaw, self.yaw))


@dataclass(frozen=True)
class MotionLimits:
    """How the collector's own moves go: bounded steps toward a pose, then stop.

    Args:
        step: largest translation per control step (m); never above the robot's own
            per-axis limit.
        turn: largest heading change per control step (rad).
        tolerance: distance that counts as arrived (m).
        angle_tolerance: heading error that counts as arrived (rad).
        slack_steps: steps allowed beyond the straight-line minimum.
        backout: how far the arm rises after an episode before going to the next start (m).
    """

    step: float = 0.01
    turn: float = 0.1
    tolerance: float = 0.002
    angle_tolerance: float = 0.01
    slack_steps: int = 50
    backout: float = 0.03

    def for_robot(self, caps: RobotCapabilities) -> MotionLimits:
        """These limits, shrunk to what the robot applies per step without clipping."""
        bounds = caps.action_limits
        if not bounds:
            return self
        return replace(self, step=min(self.step, *bounds[:3]), turn=min(self.turn, bounds[5]))


class Pacer:
    """Keep a loop at the robot's control rate (or run it as fast as it goes)."""

    def __init__(self, hz: float, enabled: bool) -> None:
        self.period = 1.0 / hz if enabled and hz > 0 else 0.0
        self._next = time.monotonic()

    def wait(self) -> None:
        if not self.period:
            return
        self._next += self.period
        delay = self._next - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:
            self._next = time.monotonic()  # late: do not try to catch up


def servo_step(
    observation: Observation, position: np.ndarray, yaw: float, limits: MotionLimits, gripper: float
) -> tuple[np.ndarray | None, float]:
    """One bounded action toward (position, heading), or None when there; and the distance.

    Only the position and the heading about base z are servoed: the tool's tilt stays
    what it is (pointing down for an insertion).
    """
    now, rotation = ee_pose(observation)
    delta = np.asarray(position, dtype=np.float64) - now
    distance = float(np.linalg.norm(delta))
    turn = wrap_angle(yaw - heading(rotation))
    if distance <= limits.tolerance and abs(turn) <= limits.angle_tolerance:
        return None, distance
    if distance > limits.step:
        delta *= limits.step / distance
    turn = float(np.clip(turn, -limits.turn, limits.turn))
    action = np.zeros(7, dtype=np.float32)
    action[:3] = rotation.T @ delta
    action[3:6] = rotation.T @ np.array([0.0, 0.0, turn])
    action[6] = gripper
    return action, distance


def move_to(
    robot: Robot,
    observation: Observation,
    position: np.ndarray,
    yaw: float,
    *,
    limits: MotionLimits,
    gripper: float,
    pacer: Pacer,
    interrupt: Callable[[], bool] | None = None,
) -> tuple[Observation, float]:
    """Servo the end effector to (position, heading); return the last observation and the
    distance left (0 to `tolerance` when it arrived, more when the step budget ran out or
    `interrupt()`, asked before every step, said to stop). The robot is stopped after."""
    now, rotation = ee_pose(observation)
    budget = math.ceil(float(np.linalg.norm(np.asarray(position) - now)) / limits.step)
    budget += math.ceil(abs(wrap_angle(yaw - heading(rotation))) / limits.turn)
    budget += limits.slack_steps
    distance = math.inf
    for _ in range(budget + 1):
        action, distance = servo_step(observation, position, yaw, limits, gripper)
        if action is None or (interrupt is not None and interrupt()):
            break
        robot.act(action)
        observation = robot.observe()
        pacer.wait()
    robot.stop()
    return observation, distance


def travel_to(
    robot: Robot,
    observation: Observation,
    position: np.ndarray,
    yaw: float,
    *,
    limits: MotionLimits,
    gripper: float,
    pacer: Pacer,
    interrupt: Callable[[], bool] | None = None,
) -> tuple[Observation, float]:
    """Go to a start: level with it or higher first, then across, then down to it.

    Rising first keeps a held object clear of the target on the way; each leg is a
    `move_to`, so the robot is stopped after each and the distance left is the last leg's.
    """
    now, _ = ee_pose(observation)
    height = max(float(now[2]), float(position[2]))
    legs = (np.array([*now[:2], height]), np.array([*position[:2], height]), position)
    distance = math.inf
    for leg in legs:
        observation, distance = move_to(
            robot, observation, np.asarray(leg, dtype=np.float64), yaw, limits=limits,
            gripper=gripper, pacer=pacer, interrupt=interrupt,
        )  # fmt: skip
    return observation, distance


def jog_until_marked(
    robot: Robot,
    device: TeleopDevice,
    observation: Observation,
    *,
    pacer: Pacer,
    on_step: Callable[[Observation], None] | None = None,
) -> tuple[Observation | None, Observation]:
    """Let the operator jog the arm with `device` until they mark success or quit.

    What a person does to show the robot a pose (the approach point, the finished pose):
    every control step the device's command goes to the robot, nothing is recorded.
    Returns the observation at the accepted pose (None when the operator quit) and the
    last observation; the robot is stopped either way.
    """
    try:
        while True:
            mark = device.mark()
            if mark is Mark.SUCCESS:
                return observation, observation
            if mark is Mark.QUIT:
                return None, observation
            command = np.asarray(device.command(observation), dtype=np.float32)
            robot.act(command)
            observation = robot.observe()
            if on_step is not None:
                on_step(observation)
            pacer.wait()
    finally:
        robot.stop()
