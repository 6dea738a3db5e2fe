"""Episodes on a bench: the paper's procedure for evaluating (and training) on a real arm.

The target stays fixed on the bench; before every episode the arm backs the held object
out along the goal's axis (straight up out of the opening, to the approach height), the
robot is reset, and the arm moves to a random start in the skill's local region (the
`StartBox` around the approach point). Then a policy runs until success, the step limit
or a safety stop. A real robot reports no success flag: success is the end effector
within the goal's tolerance (`vitalskills.teleop.goal`), and a pluggable detector (a
tactile or force signature) may add a condition.

`BenchEpisodes` is the procedure, driven one call at a time (`begin`, `step`, `end`) so
that an evaluation and a residual RL trainer share it; `robot_eval.evaluate_on_robot` is
the evaluation (`vitalskills eval --robot`). Every move goes through `robot.act` in bounded
steps (`vitalskills.teleop.motion`): nothing teleports, and a start the arm cannot reach
(outside the bridge's workspace box, blocked, or a protective stop on the way) is
skipped with its reason, never forced. Nothing here reads simulator state.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from vitalskills.app.teleop_collect import operator_counts
from vitalskills.bridge.limits import outside_box
from vitalskills.errors import UsageError
from vitalskills.robot import Observation, Robot, RobotError, SafetyStop
from vitalskills.robot.geometry import ee_pose, heading, wrap_angle
from vitalskills.teleop.goal import GoalFile, Tolerance
from vitalskills.teleop.motion import MotionLimits, Pacer, StartBox, move_to, travel_to

log = logging.getLogger("vitalskills.bench")

#: A detector judges one observation: True when its signal says the task is done.
SuccessDetector = Callable[[Observation], bool]

#: What ended an episode.
SUCCESS = "success"
STEP_LIMIT = "step_limit"
SAFETY_STOP = "safety_stop"
#: A start is reached when the arm stops this many times the move tolerance from it.
ARRIVAL_SLACK = 2.0


# ---------------------------------------------------------------------- the procedure
@dataclass(frozen=True)
class BenchSettings:
    """How bench episodes go.

    Args:
        start_box: where episodes start around the approach point (the skill's local
            region; the default is the simulator's and `collect`'s).
        limits: the procedure's own moves (step sizes, arrival tolerance); shrunk to what
            the robot applies unclipped.
        max_steps: policy steps per episode; reaching them is a failure.
        tolerance: what counts as at the goal (default: the goal file's).
        gripper: the gripper command of the procedure's own moves (1: closed, holding).
        pace: run at the robot's control rate (off only for a simulator).
        reset_each: call `robot.reset()` after backing out, before moving to the start
            (it clears a latched stop, re-zeroes the tactile skin, and may take the arm
            home by the robot's own controller); after a safety stop the robot is always
            reset before anything else moves.
        max_skips: give up after this many unreachable starts in a row.
    """

    start_box: StartBox = field(default_factory=StartBox)
    limits: MotionLimits = field(default_factory=MotionLimits)
    max_steps: int = 300
    tolerance: Tolerance | None = None
    gripper: float = 1.0
    pace: bool = True
    reset_each: bool = True
    max_skips: int = 10

    def __post_init__(self) -> None:
        if self.max_steps < 1:
            raise UsageError(f"--max-steps must be at least 1, got {self.max_steps}")


@dataclass
class Start:
    """Where an episode starts: the drawn pose, and how it went getting there."""

    seed: int
    position: list[float]
    yaw: float
    observation: Observation | None = None
    error_m: float = 0.0
    skipped: str | None = None  # why the start was not reached (None: reached)


@dataclass
class Judgement:
    """How far the end effector is from the goal, and whether that counts as done."""

    position_mm: float
    angle_deg: float
    within: bool  # within the tolerance
    detector: bool | None  # the detector's verdict (None: no detector)

    @property
    def success(self) -> bool:
        return self.within and self.detector is not False


@dataclass
class Step:
    """What one policy action did."""

    observation: Observation
    applied: np.ndarray | None
    judgement: Judgement | None
    steps: int
    done: bool
    ended_by: str | None  # SUCCESS, STEP_LIMIT or SAFETY_STOP when done

    @property
    def success(self) -> bool:
        return self.ended_by == SUCCESS


class BenchEpisodes:
    """The bench procedure on one robot and one goal; drive it with `begin`, `step`, `end`.

    `begin(seed)` backs out, resets and goes to the start of seed `seed` (or says why it
    could not); `step(action)` sends one action and judges it; `end()` stops the robot and
    counts the operator's interventions. The caller stops the robot on its own way out
    (`close` does, and is safe on any exit).
    """

    def __init__(
        self,
        robot: Robot,
        goal: GoalFile,
        settings: BenchSettings | None = None,
        *,
        detector: SuccessDetector | None = None,
    ) -> None:
        self.robot, self.goal = robot, goal
        self.settings = settings or BenchSettings()
        self.caps = robot.capabilities()
        self.limits = self.settings.limits.for_robot(self.caps)
        self.tolerance = self.settings.tolerance or goal.tolerance
        self.detector = detector
        self.pacer = Pacer(self.caps.control_hz, self.settings.pace)
        self.workspace = workspace_box(robot)
        self.observation: Observation | None = None
        self.steps = 0
        self.latched = False  # a protective stop waits for a reset
        self._counts_before: dict[str, int] = {}

    # ------------------------------------------------------------------ between episodes
    def back_out(self, observation: Observation) -> Observation:
        """Back the held object out along the goal's axis, to the approach height."""
        axis = self.goal.backout_axis()
        now, rotation = ee_pose(observation)
        rise = float(np.dot(np.asarray(self.goal.approach.position) - now, axis))
        if rise <= self.limits.tolerance:
            return observation
        return self._move(observation, now + rise * axis, heading(rotation))[0]

    def begin(self, seed: int) -> Start:
        """Back out, reset, and move to the start drawn with `seed`; the policy may go.

        A start outside the bridge's workspace box, one the arm stops short of, or a
        protective stop on the way skips it (`Start.skipped` says why); the arm is left
        stopped where it is, and the next `begin` backs out from there.
        """
        robot = self.robot
        self.steps = 0
        position, yaw = self.settings.start_box.draw(seed, self.goal.approach.target())
        start = Start(seed, [float(v) for v in position], float(yaw))
        if self.workspace is not None and (outside := outside_box(position, *self.workspace)):
            start.skipped = (
                f"start ({_fmt(position)}) m is {outside * 1000:.1f} mm outside the bridge's "
                "workspace box"
            )
            log.warning("skipping the start of seed %d: %s", seed, start.skipped)
            return start
        self._counts_before = _counts(robot)
        try:
            if self.latched:  # a protective stop: the robot is reset before anything moves
                observation = robot.reset()
                self.latched = False
                observation = self.back_out(observation)
            else:
                observation = self.back_out(self._observe())
                if self.settings.reset_each:
                    observation = robot.reset()
            observation, _ = travel_to(
                robot, observation, position, yaw, limits=self.limits,
                gripper=self.settings.gripper, pacer=self.pacer,
            )  # fmt: skip
        except RobotError as error:  # a protective stop, a refused move: never forced
            with contextlib.suppress(RobotError):
                robot.stop()
            self.latched = True
            start.skipped = f"the robot stopped on the way: {error.message}"
            log.warning("skipping the start of seed %d: %s", seed, start.skipped)
            return start
        self.observation = observation
        now, rotation = ee_pose(observation)
        start.error_m = float(np.linalg.norm(now - position))
        turn = abs(wrap_angle(yaw - heading(rotation)))
        if (
            start.error_m > ARRIVAL_SLACK * self.limits.tolerance
            or turn > ARRIVAL_SLACK * self.limits.angle_tolerance
        ):
            start.skipped = (
                f"the arm stopped {start.error_m * 1000:.1f} mm and {math.degrees(turn):.1f} "
                f"deg short of the start ({_fmt(position)}) m: it cannot get there"
            )
            log.warning("skipping the start of seed %d: %s", seed, start.skipped)
            return start
        start.observation = observation
        return start

    # ------------------------------------------------------------------ the episode
    def judge(self, observation: Observation) -> Judgement:
        """Whether `observation` is at the goal (within tolerance, and the detector agrees)."""
        error = self.goal.error(observation)
        verdict = None if self.detector is None else bool(self.detector(observation))
        return Judgement(
            round(1000 * error.distance, 3), round(math.degrees(error.angle), 3),
            self.tolerance.admits(error), verdict,
        )  # fmt: skip

    def step(self, action: np.ndarray) -> Step:
        """Send one action; judge where it left the arm; say whether the episode is over."""
        try:
            applied = self.robot.act(np.asarray(action, dtype=np.float32))
        except SafetyStop:
            self.latched = True
            observation = self._observe()
            return Step(observation, None, None, self.steps, True, SAFETY_STOP)
        self.steps += 1
        observation = self.robot.observe()
        self.observation = observation
        judgement = self.judge(observation)
        ended_by = SUCCESS if judgement.success else None
        if ended_by is None and self.steps >= self.settings.max_steps:
            ended_by = STEP_LIMIT
        if ended_by is None:
            self.pacer.wait()
        return Step(observation, applied, judgement, self.steps, ended_by is not None, ended_by)

    def end(self) -> dict[str, int]:
        """Stop the robot; return the operator's interventions during the episode."""
        self.robot.stop()
        return _difference(self._counts_before, _counts(self.robot))

    def finish(self) -> None:
        """After the last episode: back out (the object leaves its opening), then stop."""
        if self.observation is not None and not self.latched:
            self.back_out(self.observation)
        self.robot.stop()

    def close(self) -> None:
        """Stop the robot, whatever happened (safe on every way out)."""
        with contextlib.suppress(RobotError):
            self.robot.stop()

    # ------------------------------------------------------------------ internals
    def _observe(self) -> Observation:
        self.observation = self.robot.observe()
        return self.observation

    def _move(
        self, observation: Observation, position: np.ndarray, yaw: float
    ) -> tuple[Observation, float]:
        return move_to(
            self.robot, observation, position, yaw, limits=self.limits,
            gripper=self.settings.gripper, pacer=self.pacer,
        )  # fmt: skip


def workspace_box(robot: Robot) -> tuple[np.ndarray, np.ndarray] | None:
    """The bridge server's workspace box (from its `hello`), or None when not known."""
    hello = getattr(robot, "hello", None)
    limits = hello.get("limits") if isinstance(hello, dict) else None
    if not isinstance(limits, dict) or "workspace_min" not in limits:
        return None
    return np.asarray(limits["workspace_min"], float), np.asarray(limits["workspace_max"], float)


def _fmt(position: Sequence[float]) -> str:
    return ", ".join(f"{float(v):.4f}" for v in position)


def _counts(robot: Robot) -> dict[str, int]:
    try:
        counts = operator_counts(robot)
    except RobotError:
        return {}
    return dict(counts) if isinstance(counts, dict) else {}


def _difference(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {key: after[key] - before.get(key, 0) for key in after if after[key] != before.get(key)}
