"""Record a skill's goal pose: `vitalskills goal record --robot ADDR | --from-data DIR`.

Two ways, both ending in a `goal.yaml` relative to the approach point
(`vitalskills.teleop.goal`):

- on the robot: the operator jogs the arm with a teleop device to the approach point
  (unless `--target` gives it) and then to the finished pose, accepting each with the
  success key, exactly as `collect --robot --teleop` lets them jog to the approach point;
- from demonstrations: the median of the success poses (`goal_ee_pose`, the pose where the
  operator marked success) of a dataset written by `collect --robot`, each taken relative
  to the approach point its episode recorded (`extra.start.target`, `target_yaw`). When
  the demonstrations were still moving sideways as they succeeded (a swipe), the goal is
  one to pass through along that direction (`through`), not a place to stop.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from vitalskills.errors import UsageError
from vitalskills.learning.bc.hindsight import GOAL_KEYS, episode_goal, goal_source
from vitalskills.learning.dataset import DemoDataset, Episode
from vitalskills.robot import Robot, RobotError
from vitalskills.robot.geometry import ee_pose, heading, yaw_matrix
from vitalskills.teleop import JogScale, TeleopDevice
from vitalskills.teleop.goal import GoalFile, Made, Tolerance, goal_from_poses
from vitalskills.teleop.motion import Pacer, Target, jog_until_marked

#: A goal is passed through (a swipe) when, over the last `LOOKBACK` frames before the
#: success, the end effector typically travelled at least `THROUGH_MIN_M` square to the
#: back-out axis, and more than `THROUGH_RATIO` times as far as along it.
LOOKBACK = 3
THROUGH_MIN_M = 0.003
THROUGH_RATIO = 2.0
EE_POSE_KEY = "observation.ee_pose"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# ---------------------------------------------------------------------- from demonstrations
@dataclass(frozen=True)
class DataGoal:
    """A goal made from a dataset, with what was read to make it."""

    goal: GoalFile
    successes: int
    failures: int
    approach_points: int  # distinct approach points among the successes


def recorded_target(extra: dict[str, Any]) -> Target | None:
    """The approach point `collect --robot` recorded in an episode's `extra.start`."""
    start = extra.get("start")
    if not isinstance(start, dict) or start.get("target") is None:
        return None
    position = tuple(float(v) for v in start["target"])
    yaw = start.get("target_yaw")
    return Target(position, None if yaw is None else float(yaw))  # type: ignore[arg-type]


def goal_from_data(
    data: Path,
    *,
    target: Target | None = None,
    tolerance: Tolerance | None = None,
    command: str = "",
) -> DataGoal:
    """The median success pose of the demonstrations in `data`, relative to the approach.

    Args:
        data: a dataset folder (`collect --robot` writes the approach point and the goal
            pose of every success).
        target: the approach point to take every success relative to, for a dataset
            that does not record one (default: each episode's own).
        tolerance: stored instead of the one derived from the spread of the poses.

    Raises:
        UsageError: no successful episode, or one without an approach point and no
            `target` was given.
        DatasetError: `data` is not a dataset.
    """
    dataset = DemoDataset(Path(data))
    poses: list[tuple[Target, np.ndarray, np.ndarray]] = []
    travels: list[np.ndarray] = []  # approach frame
    failures = 0
    reads_poses = EE_POSE_KEY in dataset.info.features
    for position, meta in enumerate(dataset.metas()):
        source = goal_source(meta)
        if source is None:
            failures += 1
            continue
        needs_frames = reads_poses or source not in GOAL_KEYS
        episode = dataset.episode(position) if needs_frames else Episode(meta, {})
        goal = episode_goal(episode)
        assert goal is not None
        at = target or recorded_target(meta.extra)
        if at is None:
            raise UsageError(
                f"{data}: episode {meta.index} records no approach point (`extra.start.target`)",
                hint="a dataset from `collect --robot` records it; for another, give the "
                "approach point with --target X,Y,Z,YAW",
            )
        if at.yaw is None:
            at = Target(at.position, heading(goal.matrix[:3, :3]))
        poses.append((at, goal.matrix[:3, 3], goal.matrix[:3, :3]))
        if reads_poses:
            before = np.asarray(episode.frames[EE_POSE_KEY][-LOOKBACK:][0][:3], np.float64)
            travels.append(yaw_matrix(-float(at.yaw)) @ (goal.matrix[:3, 3] - before))
    if not poses:
        raise UsageError(
            f"{data} holds no successful episode ({failures} failed): no success pose to "
            "take a goal from",
            hint="collect successful demonstrations first, or jog to the goal with --robot",
        )
    # Anchor the file at the approach point most successes were made at.
    counts = Counter((at.position, at.yaw) for at, _, _ in poses)
    (anchor_position, anchor_yaw), _ = counts.most_common(1)[0]
    made = Made(command=command, source=f"data:{data}", episodes=len(poses), recorded_at=_now())
    goal = goal_from_poses(
        dataset.info.task, Target(anchor_position, anchor_yaw), poses, made, tolerance
    )
    through = passed_through(goal, travels)
    if through is not None:
        goal = goal_from_poses(
            dataset.info.task, Target(anchor_position, anchor_yaw), poses, made, tolerance,
            through=through,
        )  # fmt: skip
    return DataGoal(goal, len(poses), failures, len(counts))


def passed_through(goal: GoalFile, travels: list[np.ndarray]) -> np.ndarray | None:
    """The direction the demonstrations passed through the goal along (approach frame),
    or None when they arrived at it (an insertion ends moving along its axis).

    `travels` are the end effector's moves over the last frames before each success.
    """
    if not travels:
        return None
    travel = np.median(np.asarray(travels), axis=0)
    axis = yaw_matrix(-goal.approach.yaw) @ goal.backout_axis()
    along = float(travel @ axis)
    square = travel - along * axis
    size = float(np.linalg.norm(square))
    if size < THROUGH_MIN_M or size <= THROUGH_RATIO * abs(along):
        return None
    return square / size


# ---------------------------------------------------------------------- on the robot
def record_goal_by_jogging(
    robot: Robot,
    device: TeleopDevice,
    *,
    task: str,
    target: Target | None = None,
    tolerance: Tolerance | None = None,
    pace: bool = True,
    reset: bool = True,
    command: str = "",
    on_phase: Callable[[str], None] | None = None,
) -> GoalFile | None:
    """Let the operator jog the arm to the approach point and then to the finished pose.

    Nothing is recorded but the two poses. The device is opened and closed here, and the
    robot is stopped on every way out (an accepted pose, quitting, an error, Ctrl-C).

    Args:
        robot: any `Robot`; in practice the bridge client of `--robot ADDR`.
        device: the operator's device (built, not opened).
        task: the task's name, stored in the file.
        target: the approach point; None: the operator jogs there first and accepts it
            with the success key. Without a heading, the arm's heading there is used.
        reset: call `robot.reset()` first, as a collection does: it clears a latched
            stop, re-zeroes the tactile skin (and on the simulator served as hardware its
            success latch), and may take the arm home by the robot's own controller.
        on_phase: told what the operator is asked to do, when it changes.

    Returns:
        The goal, or None when the operator quit.
    """
    pacer = Pacer(robot.capabilities().control_hz, pace)

    def tell(message: str) -> None:
        if on_phase is not None:
            on_phase(message)

    try:
        device.open()
        observation = robot.reset() if reset else robot.observe()
        suggest = getattr(device, "suggest_target", None)
        suggested = suggest() if target is None and callable(suggest) else None
        if suggested is not None:  # a stand-in operator that sees the scene
            target = Target(tuple(float(v) for v in suggested[0]), suggested[1])
        if target is None:
            tell("jog the arm to the approach point, then mark success (Enter) to accept")
            accepted, observation = jog_until_marked(robot, device, observation, pacer=pacer)
            if accepted is None:
                return None
            position, rotation = ee_pose(accepted)
            target = Target(tuple(float(v) for v in position), heading(rotation))
        if target.yaw is None:
            target = Target(target.position, heading(ee_pose(observation)[1]))
        device.reset()
        tell("jog the arm to the finished pose, then mark success (Enter) to accept")
        accepted, observation = jog_until_marked(robot, device, observation, pacer=pacer)
        if accepted is None:
            return None
        position, rotation = ee_pose(accepted)
    except BaseException:
        with contextlib.suppress(RobotError):  # the first error is the one to report
            robot.stop()
        raise
    finally:
        device.close()
    made = Made(command=command, source=f"jog:{device.name}", episodes=1, recorded_at=_now())
    return goal_from_poses(task, target, [(target, position, rotation)], made, tolerance)


def record_goal_from_robot(
    address: str,
    device_spec: str,
    *,
    task: str,
    target: Target | None = None,
    tolerance: Tolerance | None = None,
    operator_view: str | None = None,
    device_options: dict[str, Any] | None = None,
    scale: JogScale | None = None,
    pace: bool = True,
    command: str = "",
    connect_timeout_s: float = 5.0,
    curve_secret: Path | None = None,
    curve_server: Path | None = None,
    on_phase: Callable[[str], None] | None = None,
) -> GoalFile | None:
    """Connect to the robot at `address`, build the device, record; what the CLI calls."""
    from vitalskills.app.teleop_collect import resolve_device
    from vitalskills.bridge import connect

    device = resolve_device(
        device_spec, operator_view=operator_view, options=device_options, scale=scale
    )
    robot = connect(
        address,
        connect_timeout_s=connect_timeout_s,
        curve_secret=curve_secret,
        curve_server=curve_server,
    )
    try:
        return record_goal_by_jogging(
            robot, device, task=task, target=target, tolerance=tolerance, pace=pace,
            command=command, on_phase=on_phase,
        )  # fmt: skip
    finally:
        robot.close()
