"""The goal pose of a skill on a bench: where the end effector is when the task is done.

A real robot reports no success flag, so evaluating (or training) a skill on a bench needs
the finished pose: recorded once, by jogging the arm there or as the median of the
demonstrations' success poses (`vitalskills goal record`). It is kept in the frame of the
approach point (origin at the approach point, turned by its heading about base z), not
the base frame, so that it moves with the target: `anchored(target)` puts the same goal
at a new approach point, as `locate` + the skill's approach offset would give one.

`goal.yaml` holds the approach point it was recorded at, the goal relative to it
(position offset, heading about vertical and the full orientation), the tolerance that
counts as arrived, how far apart the recorded success poses were, and how it was made.
`load_goal` validates it and says which field of which file is wrong. Units are SI
(metres, radians) except the tolerance and spread, which a person reads in mm and degrees.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FiniteFloat,
    ValidationError,
    field_validator,
    model_validator,
)

from vitalskills.errors import Location, UsageError
from vitalskills.lang.errors import LangError
from vitalskills.lang.yamlnodes import compose, to_plain
from vitalskills.robot import Observation
from vitalskills.robot.geometry import (
    ee_pose,
    heading,
    matrix_to_axis_angle,
    matrix_to_quat,
    median_rotation,
    quat_to_matrix,
    wrap_angle,
    yaw_matrix,
)
from vitalskills.teleop.motion import Target

GOAL_VERSION = 1
#: The smallest default tolerance: what a goal recorded from one pose (spread 0) gets.
#: An insertion's success depth can be within a millimetre of the depth where success was
#: marked (the simulator's plug: 8 mm needed, marked at 8.7 mm), so the floor is 1 mm.
MIN_TOLERANCE_MM = 1.0
MIN_TOLERANCE_DEG = 3.0
#: Depth is judged on its own (`Tolerance.depth_mm`): how far short of the goal along its
#: axis still counts as in. Demonstrations mark success within a tenth of a millimetre of
#: one depth (the simulator's key: 0.1 mm, USB 0.3 mm), while a key 1 mm short is not
#: turned: the floor is half a millimetre.
MIN_DEPTH_MM = 0.5
#: The default tolerance is this many times the recorded spread (median distance of the
#: success poses from their median), and at least the minimum above.
SPREAD_FACTOR = 2.0
#: `goal.yaw` may differ this much from the heading of `goal.orientation` (rad).
YAW_AGREEMENT = math.radians(0.5)
HINT = "record it again with `vitalskills goal record`, or fix it (docs/robot-eval.md)"


class GoalFileError(UsageError):
    """A `goal.yaml` that cannot be read or does not match the schema (`T010`)."""

    code = "T010"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Point = tuple[FiniteFloat, FiniteFloat, FiniteFloat]


class Approach(_Strict):
    """The approach point the goal was recorded at (base frame)."""

    position: Point = Field(description="m, base frame")
    yaw: FiniteFloat = Field(description="heading about base z, rad")

    def target(self) -> Target:
        """As the motion code's `Target`."""
        return Target(self.position, self.yaw)


class RelativePose(_Strict):
    """The goal in the approach frame: offset, heading about vertical, full orientation."""

    position: Point = Field(description="m, approach frame")
    yaw: FiniteFloat = Field(description="heading relative to the approach's, rad")
    orientation: tuple[FiniteFloat, FiniteFloat, FiniteFloat, FiniteFloat] = Field(
        description="wxyz, approach frame"
    )
    through: Point | None = Field(
        None,
        description="unit direction (approach frame) the end effector travels through the "
        "goal, as in a swipe: being past the goal along it counts as arrived (null: none)",
    )

    @field_validator("through")
    @classmethod
    def _unit_direction(cls, value: tuple[float, ...] | None) -> tuple[float, ...] | None:
        if value is None:
            return None
        norm = math.sqrt(sum(v * v for v in value))
        if abs(norm - 1.0) > 1e-3:
            raise ValueError(f"must be a unit vector (x, y, z), its norm is {norm:.4f}")
        return tuple(v / norm for v in value)

    @field_validator("orientation")
    @classmethod
    def _unit_length(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        norm = math.sqrt(sum(v * v for v in value))
        if abs(norm - 1.0) > 1e-3:
            raise ValueError(f"must be a unit quaternion (w, x, y, z), its norm is {norm:.4f}")
        return tuple(v / norm for v in value)

    @model_validator(mode="after")
    def _yaw_agrees(self) -> RelativePose:
        own = heading(quat_to_matrix(self.orientation))
        if abs(wrap_angle(self.yaw - own)) > YAW_AGREEMENT:
            raise ValueError(
                f"`yaw` ({self.yaw:.4f} rad) disagrees with the heading of `orientation` "
                f"({own:.4f} rad): edit both together"
            )
        return self

    def rotation(self) -> np.ndarray:
        return quat_to_matrix(self.orientation)


class Tolerance(_Strict):
    """How close to the goal counts as done: position (mm) and orientation angle (deg).

    With `depth_mm`, the offset square to the goal's axis must be within `position_mm`
    and the depth short of the goal within `depth_mm`; without, the two combined must be
    within `position_mm`.
    """

    position_mm: float = Field(gt=0, allow_inf_nan=False)
    angle_deg: float = Field(gt=0, allow_inf_nan=False)
    depth_mm: float | None = Field(
        None, gt=0, allow_inf_nan=False, description="how far short of the goal's depth counts"
    )

    def admits(self, error: GoalError) -> bool:
        """Whether `error` counts as at the goal."""
        if math.degrees(error.angle) > self.angle_deg:
            return False
        if self.depth_mm is None:
            return 1000 * error.distance <= self.position_mm
        return 1000 * error.sideways <= self.position_mm and 1000 * error.short <= self.depth_mm

    def describe(self) -> str:
        """`1 mm, 3 deg` or `1 mm across, 0.5 mm deep, 3 deg`."""
        if self.depth_mm is None:
            return f"{self.position_mm:g} mm, {self.angle_deg:g} deg"
        return f"{self.position_mm:g} mm across, {self.depth_mm:g} mm deep, {self.angle_deg:g} deg"


@dataclass(frozen=True)
class GoalError:
    """How far an end-effector pose is from the goal (metres, radians).

    `short` is how far short of the goal it is along the goal's axis (and, for a goal
    passed through, along the travel); being further in or further along is not away.
    `sideways` is the offset square to those directions.
    """

    sideways: float
    short: float
    angle: float

    @property
    def distance(self) -> float:
        """Sideways and short combined."""
        return math.hypot(self.sideways, self.short)


class Spread(_Strict):
    """How far the recorded success poses lay from the goal (0 for a goal jogged once)."""

    position_mm: float = Field(ge=0, description="median distance from the goal")
    position_mm_max: float = Field(ge=0)
    angle_deg: float = Field(ge=0, description="median angle from the goal's orientation")
    angle_deg_max: float = Field(ge=0)
    depth_mm_max: float | None = Field(
        None, ge=0, description="how far short of the goal's depth the shallowest success was"
    )

    def tolerance(self) -> Tolerance:
        """The default tolerance: `SPREAD_FACTOR` x the spread, at least the minimum."""
        depth = self.depth_mm_max
        return Tolerance(
            position_mm=round(max(MIN_TOLERANCE_MM, SPREAD_FACTOR * self.position_mm), 2),
            angle_deg=round(max(MIN_TOLERANCE_DEG, SPREAD_FACTOR * self.angle_deg), 2),
            depth_mm=None if depth is None else round(max(MIN_DEPTH_MM, SPREAD_FACTOR * depth), 2),
        )


class Made(_Strict):
    """How the goal was made."""

    command: str = ""
    source: str = Field(description="`data:DIR` or `jog:DEVICE`")
    episodes: int = Field(ge=1, description="success poses it is the median of")
    recorded_at: str = ""


class GoalFile(_Strict):
    """A skill's goal pose on a bench, relative to the approach point (see the module)."""

    goal_version: Literal[1] = GOAL_VERSION
    task: str = Field(min_length=1)
    approach: Approach
    goal: RelativePose
    tolerance: Tolerance
    spread: Spread
    made: Made

    # ------------------------------------------------------------------ where it is
    def anchored(self, target: Target) -> GoalFile:
        """The same goal at another approach point (the target was moved or located again).

        A target without a heading keeps the recorded one.
        """
        yaw = self.approach.yaw if target.yaw is None else float(target.yaw)
        moved = Approach(position=tuple(float(v) for v in target.position), yaw=yaw)
        return self.model_copy(update={"approach": moved})

    def pose(self) -> tuple[np.ndarray, np.ndarray]:
        """The goal in the base frame: position (m) and rotation matrix."""
        turn = yaw_matrix(self.approach.yaw)
        position = np.asarray(self.approach.position) + turn @ np.asarray(self.goal.position)
        return position, turn @ self.goal.rotation()

    def pose_vector(self) -> list[float]:
        """The goal in the base frame as 7 numbers (xyz, wxyz), as `ee_pose` reports."""
        position, rotation = self.pose()
        return [float(v) for v in (*position, *matrix_to_quat(rotation))]

    def backout_axis(self) -> np.ndarray:
        """The unit direction (base frame) a held object leaves its opening along.

        The tool's z axis points into the opening at the goal (down, for a gripper that
        points down), so backing out is along minus it: straight up for an insertion from
        above.
        """
        return -self.pose()[1][:, 2]

    def through_axis(self) -> np.ndarray | None:
        """The unit direction (base frame) the end effector passes through the goal along
        (a swipe), square to the back-out axis; None for a goal that is a place to stop."""
        if self.goal.through is None:
            return None
        direction = yaw_matrix(self.approach.yaw) @ np.asarray(self.goal.through)
        axis = self.backout_axis()
        direction = direction - float(direction @ axis) * axis
        norm = float(np.linalg.norm(direction))
        return None if norm < 1e-6 else direction / norm

    def error(self, observation: Observation) -> GoalError:
        """How far the end effector is from the goal (see `GoalError`).

        Further in than the goal along its axis does not count as away from it: an
        object pushed further home than where success was marked is still in. Nor, for a
        goal passed through (`through`, a swipe), does being further along the travel.
        """
        position, rotation = ee_pose(observation)
        goal_position, goal_rotation = self.pose()
        offset = position - goal_position
        axis = self.backout_axis()
        along = float(offset @ axis)  # > 0: short of the goal (out of the opening)
        sideways = offset - along * axis
        short = [max(along, 0.0)]
        travel = self.through_axis()
        if travel is not None:
            passed = float(sideways @ travel)  # > 0: past the goal along the travel
            sideways = sideways - passed * travel
            short.append(max(-passed, 0.0))
        turn = matrix_to_axis_angle(goal_rotation.T @ rotation)
        return GoalError(
            float(np.linalg.norm(sideways)), math.hypot(*short), float(np.linalg.norm(turn))
        )

    def describe(self) -> str:
        """One line a person reads: where the goal is, base frame, and its tolerance."""
        (x, y, z), rotation = self.pose()
        return (
            f"goal ({x:.4f}, {y:.4f}, {z:.4f}) m, heading {math.degrees(heading(rotation)):.1f} "
            f"deg, base frame; tolerance {self.tolerance.describe()}"
            + ("; passed through" if self.goal.through is not None else "")
        )


# ---------------------------------------------------------------------- making one
#: Decimals kept in a goal file: micrometres and microradians, far below any tolerance.
DIGITS = 6


def _rounded(values: Sequence[float] | np.ndarray) -> Any:
    return tuple(round(float(v), DIGITS) for v in values)


def relative_pose(target: Target, position: np.ndarray, rotation: np.ndarray) -> RelativePose:
    """A base-frame pose in the frame of the approach point `target` (with a heading)."""
    assert target.yaw is not None
    untwist = yaw_matrix(-target.yaw)
    offset = untwist @ (np.asarray(position, dtype=np.float64) - np.asarray(target.position))
    local = untwist @ rotation
    return RelativePose(
        position=tuple(float(v) for v in offset),
        yaw=heading(local),
        orientation=tuple(float(v) for v in matrix_to_quat(local)),
    )


def goal_from_poses(
    task: str,
    target: Target,
    poses: Sequence[tuple[Target, np.ndarray, np.ndarray]],
    made: Made,
    tolerance: Tolerance | None = None,
    through: Sequence[float] | None = None,
) -> GoalFile:
    """The median goal of success poses, each relative to the approach point it was made at.

    Args:
        task: the task's name (a dataset's, or the one given).
        target: the approach point the goal file is anchored at.
        poses: one (approach point, position, rotation) per success, base frame.
        made: how it was made.
        tolerance: the tolerance to store (default: from the spread, `Spread.tolerance`).
        through: the direction the goal is passed through along (approach frame), if any.
    """
    if not poses:
        raise GoalFileError("no success pose to make a goal from", hint=HINT)
    relative = [relative_pose(at, position, rotation) for at, position, rotation in poses]
    offsets = np.array([r.position for r in relative])
    rotations = [r.rotation() for r in relative]
    middle, turn = np.median(offsets, axis=0), median_rotation(rotations)
    distances = np.linalg.norm(offsets - middle, axis=1) * 1000
    angles = np.degrees([np.linalg.norm(matrix_to_axis_angle(turn.T @ r)) for r in rotations])
    short = (offsets - middle) @ -turn[:, 2]  # > 0: short of the goal along its axis
    spread = Spread(
        position_mm=round(float(np.median(distances)), 3),
        position_mm_max=round(float(np.max(distances)), 3),
        angle_deg=round(float(np.median(angles)), 3),
        angle_deg_max=round(float(np.max(angles)), 3),
        depth_mm_max=round(1000 * max(float(np.max(short)), 0.0), 3),
    )
    assert target.yaw is not None
    quat = matrix_to_quat(turn).round(DIGITS)
    return GoalFile(
        task=task,
        approach=Approach(position=_rounded(target.position), yaw=round(float(target.yaw), DIGITS)),
        goal=RelativePose(
            position=_rounded(middle),
            yaw=round(heading(quat_to_matrix(quat)), DIGITS),
            orientation=_rounded(quat),
            through=None if through is None else _rounded(through),
        ),
        tolerance=tolerance or spread.tolerance(),
        spread=spread,
        made=made,
    )


# ---------------------------------------------------------------------- the file
HEADER = """\
# vitalskills goal pose (docs/robot-eval.md). Metres and radians; `approach` is in the
# robot's base frame, `goal` in the approach frame (origin at the approach point, turned
# by its yaw about base z), so that the goal moves with the target.
"""


def write_goal(goal: GoalFile, path: Path) -> Path:
    """Write `goal` as YAML at `path` (replaced whole, never half written)."""
    path = Path(path)
    data = goal.model_dump(mode="json")
    # Optional fields left unset (a goal to stop at; a file from before depth was judged
    # on its own) are left out, not written as null.
    for part, key in (("goal", "through"), ("tolerance", "depth_mm"), ("spread", "depth_mm_max")):
        if data[part][key] is None:
            del data[part][key]
    text = HEADER + yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=100)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)
    return path


def load_goal(path: Path) -> GoalFile:
    """Read and validate a `goal.yaml`; a bad file is an error naming the file and field.

    Raises:
        GoalFileError: the file is missing, not YAML, or not a goal (located at the node).
    """
    path = Path(path)
    file = str(path)
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = "no such file" if isinstance(error, FileNotFoundError) else str(error)
        raise GoalFileError(
            f"cannot read goal file `{path}`: {reason}",
            hint="record one with `vitalskills goal record --robot ADDR --out goal.yaml` "
            "or `--from-data DIR`",
        ) from None
    try:
        node = compose(source, file)
        data, spans = to_plain(file, node) if node is not None else (None, {})
    except LangError as error:
        raise GoalFileError(
            f"goal file `{path}`: {error.message}", location=error.location, hint=HINT
        ) from None
    if not isinstance(data, dict):
        raise GoalFileError(f"goal file `{path}` is not a mapping of goal fields", hint=HINT)
    try:
        return GoalFile.model_validate(data)
    except ValidationError as problem:
        raise _located(problem, path, spans) from None


def _located(problem: ValidationError, path: Path, spans: dict[tuple[Any, ...], Any]) -> Exception:
    """The first validation problem as a `GoalFileError` at its YAML node."""
    first = problem.errors()[0]
    loc = tuple(first["loc"])
    field = ".".join(str(part) for part in loc) or "goal"
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "missing":
        message = "missing"
    elif first["type"] == "extra_forbidden":
        message = "unknown key"
    elif not isinstance(first["input"], dict):  # a field's value, not a model-wide check
        message = f"{message} (got `{first['input']}`)"
    where = spans.get((*loc, "<key>")) if first["type"] == "extra_forbidden" else None
    while where is None and loc:
        where = spans.get(loc)
        loc = loc[:-1]
    where = where or spans.get(())
    location: Location | None = where.location() if where is not None else None
    return GoalFileError(f"goal file `{path}`: `{field}`: {message}", location=location, hint=HINT)
