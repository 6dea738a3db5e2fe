"""The goal file: the median of success poses, re-anchoring, and the loader's errors.

No robot here: poses are built from numbers, so every figure the tests assert can be
worked out by hand.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from vitalskills.robot.geometry import (
    axis_angle_to_matrix,
    matrix_to_axis_angle,
    matrix_to_quat,
    quat_to_matrix,
    yaw_matrix,
)
from vitalskills.teleop.goal import (
    GoalError,
    GoalFile,
    GoalFileError,
    Made,
    Tolerance,
    goal_from_poses,
    load_goal,
    write_goal,
)
from vitalskills.teleop.motion import Target

DOWN = quat_to_matrix([0.0, 1.0, 0.0, 0.0])  # a gripper pointing down, heading 0
APPROACH = Target((0.5, 0.0, 0.094), 0.0)
MADE = Made(source="test", episodes=1)


def down(yaw: float) -> np.ndarray:
    """A gripper pointing down, turned to heading `yaw`."""
    return yaw_matrix(yaw) @ DOWN


def test_the_goal_is_the_median_of_the_success_poses_relative_to_the_approach() -> None:
    # Five successes 64 mm below the approach point, a millimetre or a degree apart, and
    # one outlier 20 mm off: the median ignores it, the mean would not.
    offsets_mm = [(0, 0, -64), (1, 0, -64), (-1, 0, -64), (0, 1, -65), (0, -1, -63), (20, 0, -64)]
    yaws_deg = [0.0, 1.0, -1.0, 0.5, -0.5, 0.0]
    poses = [
        (APPROACH, np.asarray(APPROACH.position) + np.array(o) / 1000, down(math.radians(y)))
        for o, y in zip(offsets_mm, yaws_deg, strict=True)
    ]
    goal = goal_from_poses("plug_in_socket", APPROACH, poses, MADE)
    np.testing.assert_allclose(goal.goal.position, (0.0, 0.0, -0.064), atol=1e-9)
    assert goal.goal.yaw == pytest.approx(0.0, abs=1e-6)
    position, rotation = goal.pose()
    np.testing.assert_allclose(position, (0.5, 0.0, 0.030), atol=1e-9)
    np.testing.assert_allclose(rotation, DOWN, atol=1e-6)
    # Distances from the median: 0, 1, 1, sqrt(2), sqrt(2), 20 mm; angles 0, 1, 1, .5, .5, 0.
    assert goal.spread.position_mm == pytest.approx(math.sqrt(2) / 2 + 0.5, abs=1e-3)
    assert goal.spread.position_mm_max == pytest.approx(20.0, abs=1e-3)
    assert goal.spread.angle_deg == pytest.approx(0.5, abs=1e-3)
    assert goal.spread.angle_deg_max == pytest.approx(1.0, abs=1e-3)
    # The shallowest success (63 mm down) is 1 mm short of the goal along its axis.
    assert goal.spread.depth_mm_max == pytest.approx(1.0, abs=1e-3)
    # The default tolerance: twice the spread, at least 1 mm and 3 degrees; in depth twice
    # the shallowest success, at least 0.5 mm.
    assert goal.tolerance == Tolerance(position_mm=2.41, angle_deg=3.0, depth_mm=2.0)
    # Poses made at different approach points count relative to their own.
    moved = Target((0.6, 0.1, 0.094), math.pi / 2)
    elsewhere = [
        (moved, np.asarray(moved.position) + yaw_matrix(moved.yaw) @ np.array(o) / 1000,
         yaw_matrix(moved.yaw) @ down(math.radians(y)))
        for o, y in zip(offsets_mm, yaws_deg, strict=True)
    ]  # fmt: skip
    mixed = goal_from_poses("plug_in_socket", APPROACH, poses[:3] + elsewhere[3:], MADE)
    assert mixed.goal == goal.goal
    assert mixed.spread == goal.spread


def test_a_goal_moves_with_its_approach_point() -> None:
    tilt = axis_angle_to_matrix(np.array([0.05, 0.0, 0.0]))  # a goal tilted 2.9 deg
    at = np.array([0.51, 0.004, 0.03])
    goal = goal_from_poses("plug_in_socket", APPROACH, [(APPROACH, at, down(0.2) @ tilt)], MADE)
    old_position, old_rotation = goal.pose()
    np.testing.assert_allclose(old_position, at, atol=1e-6)
    # The target was moved 10 cm along y and turned 90 degrees: so is the goal.
    turned = Target((0.5, 0.1, 0.094), math.pi / 2)
    moved = goal.anchored(turned)
    assert moved.goal == goal.goal and moved.tolerance == goal.tolerance
    position, rotation = moved.pose()
    np.testing.assert_allclose(position, (0.5 - 0.004, 0.1 + 0.01, 0.03), atol=1e-6)
    np.testing.assert_allclose(rotation, yaw_matrix(math.pi / 2) @ old_rotation, atol=1e-6)
    # The goal is where it was seen from the approach point: same offset in its frame.
    for g, t in ((goal, APPROACH), (moved, turned)):
        local = yaw_matrix(-t.yaw) @ (g.pose()[0] - np.asarray(t.position))
        np.testing.assert_allclose(local, (0.01, 0.004, -0.064), atol=1e-6)
    # Without a heading, the recorded one is kept.
    assert goal.anchored(Target((0.4, 0.0, 0.1))).approach.yaw == 0.0
    # The back-out axis is minus the tool's z: straight up for a gripper pointing down.
    straight = goal_from_poses("plug_in_socket", APPROACH, [(APPROACH, at, down(0.2))], MADE)
    np.testing.assert_allclose(straight.anchored(turned).backout_axis(), (0, 0, 1), atol=1e-9)


def test_the_error_is_the_distance_and_angle_to_the_goal() -> None:
    goal = goal_from_poses("t", APPROACH, [(APPROACH, np.array([0.5, 0, 0.03]), DOWN)], MADE)
    turned = DOWN @ axis_angle_to_matrix(np.array([0.0, 0.0, math.radians(4)]))
    observation = {"ee_pose": np.array([0.503, 0.004, 0.03, *matrix_to_quat(turned)])}
    error = goal.error(observation)
    assert error.distance == pytest.approx(0.005, abs=1e-9)
    assert math.degrees(error.angle) == pytest.approx(4.0, abs=1e-6)
    # Short of the goal along its axis counts; further in (pushed home) does not.
    short = {"ee_pose": np.array([0.5, 0.0, 0.033, 0.0, 1.0, 0.0, 0.0])}
    further = {"ee_pose": np.array([0.5, 0.0, 0.027, 0.0, 1.0, 0.0, 0.0])}
    assert goal.error(short).distance == pytest.approx(0.003, abs=1e-9)
    assert goal.error(further).distance == pytest.approx(0.0, abs=1e-9)
    aside = {"ee_pose": np.array([0.5, 0.004, 0.027, 0.0, 1.0, 0.0, 0.0])}
    assert goal.error(aside).distance == pytest.approx(0.004, abs=1e-9)


def test_a_depth_tolerance_judges_depth_apart_from_the_offset_across() -> None:
    at = np.array([0.5, 0.0, 0.03])
    goal = goal_from_poses("key_in_lock", APPROACH, [(APPROACH, at, DOWN)], MADE)
    assert goal.tolerance == Tolerance(position_mm=1.0, angle_deg=3.0, depth_mm=0.5)
    assert goal.tolerance.describe() == "1 mm across, 0.5 mm deep, 3 deg"

    def error(dx: float, dz: float) -> GoalError:
        return goal.error({"ee_pose": np.array([0.5 + dx, 0.0, 0.03 + dz, 0.0, 1.0, 0.0, 0.0])})

    # 0.8 mm aside at full depth is in; 0.8 mm short of the depth is not (a key not turned).
    assert goal.tolerance.admits(error(0.0008, 0.0))
    assert not goal.tolerance.admits(error(0.0, 0.0008))
    assert goal.tolerance.admits(error(0.0008, 0.0004))
    # Without a depth tolerance (a file from before), the two combine as one distance.
    combined = Tolerance(position_mm=1.0, angle_deg=3.0)
    assert combined.admits(error(0.0, 0.0008)) and not combined.admits(error(0.0008, 0.0008))
    assert combined.describe() == "1 mm, 3 deg"


def test_a_goal_file_round_trips(tmp_path: Path) -> None:
    goal = goal_from_poses("key_in_lock", APPROACH, [(APPROACH, np.array([0.5, 0, 0.03]),
                           down(0.3))], MADE)  # fmt: skip
    path = write_goal(goal, tmp_path / "nested" / "goal.yaml")
    text = path.read_text()
    assert text.startswith("# vitalskills goal pose")
    assert load_goal(path) == goal
    assert not list(path.parent.glob(".*partial"))


def _bad(tmp_path: Path, old: str, new: str) -> GoalFileError:
    goal = goal_from_poses("plug_in_socket", APPROACH, [(APPROACH, np.array([0.5, 0, 0.03]),
                           DOWN)], MADE)  # fmt: skip
    path = write_goal(goal, tmp_path / "goal.yaml")
    text = path.read_text()
    assert old in text, text
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(GoalFileError) as raised:
        load_goal(path)
    return raised.value


@pytest.mark.parametrize(
    ("old", "new", "field", "line"),
    [
        ("position_mm: 1.0", "position_mm: -1", "`tolerance.position_mm`", 13),
        ("angle_deg: 3.0", "angle_deg: many", "`tolerance.angle_deg`", 13),
        ("  yaw: 0.0\ngoal:", "  yaw: .nan\ngoal:", "`approach.yaw`", 8),
        ("orientation: [0.0, 1.0", "orientation: [0.0, 2.0", "`goal.orientation`", 12),
        ("task: plug_in_socket\n", "", "`task`: missing", None),
        ("task: plug_in_socket\n", "task: plug_in_socket\ncolour: red\n",
         "`colour`: unknown key", 6),
        ("  yaw: 0.0\n  orientation", "  yaw: 0.5\n  orientation",
         "`goal`: `yaw` (0.5000 rad)", 10),
        ("goal_version: 1", "goal_version: 2", "`goal_version`", 4),
    ],
)  # fmt: skip
def test_a_bad_goal_file_names_the_file_the_field_and_the_line(
    tmp_path: Path, old: str, new: str, field: str, line: int | None
) -> None:
    error = _bad(tmp_path, old, new)
    assert f"goal file `{tmp_path / 'goal.yaml'}`: " in error.message
    assert field in error.message
    assert "vitalskills goal record" in (error.hint or "")
    if line is not None:
        assert error.location is not None and error.location.line == line
        assert error.render().startswith(f"{tmp_path / 'goal.yaml'}:{line}:")


def test_a_missing_or_broken_goal_file_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(GoalFileError) as raised:
        load_goal(tmp_path / "nowhere.yaml")
    assert (
        raised.value.message == f"cannot read goal file `{tmp_path / 'nowhere.yaml'}`: no such file"
    )
    assert "vitalskills goal record" in (raised.value.hint or "")
    (tmp_path / "broken.yaml").write_text("task: [unclosed\n")
    with pytest.raises(GoalFileError, match="invalid YAML") as raised:
        load_goal(tmp_path / "broken.yaml")
    assert raised.value.location is not None
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(GoalFileError, match="is not a mapping"):
        load_goal(tmp_path / "list.yaml")


def test_relative_orientation_survives_a_turned_approach() -> None:
    turned = Target((0.3, -0.2, 0.1), -2.5)
    rotation = yaw_matrix(-2.4) @ DOWN @ axis_angle_to_matrix(np.array([0.0, 0.03, 0.0]))
    goal = goal_from_poses("t", turned, [(turned, np.array([0.31, -0.2, 0.05]), rotation)], MADE)
    assert goal.goal.yaw == pytest.approx(0.1, abs=1e-5)
    back = goal.pose()[1]
    assert np.linalg.norm(matrix_to_axis_angle(back.T @ rotation)) < 1e-5
    assert isinstance(GoalFile.model_validate(goal.model_dump()), GoalFile)


def test_a_goal_passed_through_counts_past_it_along_the_travel_as_arrived() -> None:
    at = np.array([0.5, 0.0, 0.03])
    swipe = goal_from_poses("card_swipe", APPROACH, [(APPROACH, at, DOWN)], MADE, through=(1, 0, 0))
    stop = goal_from_poses("card_swipe", APPROACH, [(APPROACH, at, DOWN)], MADE)

    def at_offset(dx: float, dy: float, dz: float) -> dict:
        return {"ee_pose": np.array([0.5 + dx, dy, 0.03 + dz, 0.0, 1.0, 0.0, 0.0])}

    # 5 mm past the goal along the swipe: arrived; for a goal to stop at, 5 mm off.
    assert swipe.error(at_offset(0.005, 0, 0)).distance == pytest.approx(0.0, abs=1e-9)
    assert stop.error(at_offset(0.005, 0, 0)).distance == pytest.approx(0.005, abs=1e-9)
    # Short of it along the swipe, or beside or above its line, still counts.
    assert swipe.error(at_offset(-0.003, 0, 0)).distance == pytest.approx(0.003, abs=1e-9)
    assert swipe.error(at_offset(0.01, 0.004, 0)).distance == pytest.approx(0.004, abs=1e-9)
    assert swipe.error(at_offset(0.01, 0, 0.002)).distance == pytest.approx(0.002, abs=1e-9)
    # The direction is in the approach frame: it turns with the target.
    turned = swipe.anchored(Target(APPROACH.position, math.pi / 2))
    np.testing.assert_allclose(turned.through_axis(), (0, 1, 0), atol=1e-9)
    assert "passed through" in swipe.describe() and "passed through" not in stop.describe()
