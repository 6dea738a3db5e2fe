"""`vitalskills goal record`: from demonstrations (the median) and by jogging a robot.

The dataset is written with the real `DatasetWriter` with success poses chosen by hand,
so the median and the spread can be checked exactly. The jogging test drives the real
keyboard device from synthetic key presses written into a pseudo-terminal, against the
bridge tests' `FakeArm` behind a real bridge server on the loopback.
"""

from __future__ import annotations

import math
import os
import pty
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.app.test_bench import serve_arm
from tests.bridge.fake_arm import FakeArm
from vitalskills.app.goal import goal_from_data, record_goal_by_jogging
from vitalskills.bridge import connect
from vitalskills.cli import app
from vitalskills.errors import UsageError
from vitalskills.learning.dataset import DatasetInfo, DatasetWriter
from vitalskills.robot.geometry import matrix_to_quat, quat_to_matrix, yaw_matrix
from vitalskills.teleop.goal import load_goal
from vitalskills.teleop.keyboard import KeyboardDevice
from vitalskills.teleop.motion import Target

runner = CliRunner()
DOWN = quat_to_matrix([0.0, 1.0, 0.0, 0.0])
APPROACH = Target((0.5, 0.0, 0.094), 0.0)


def pose(offset_mm: tuple[float, float, float], yaw_deg: float, at: Target = APPROACH) -> list:
    """A success pose `offset_mm` from the approach point (its frame), turned `yaw_deg`."""
    turn = yaw_matrix(at.yaw or 0.0)
    position = np.asarray(at.position) + turn @ (np.array(offset_mm) / 1000)
    rotation = turn @ yaw_matrix(math.radians(yaw_deg)) @ DOWN
    return [*position.tolist(), *matrix_to_quat(rotation).tolist()]


def write_dataset(root: Path, episodes: list[tuple[bool, list | None, Target | None]]) -> Path:
    """Episodes of two frames: (success, goal_ee_pose or None, approach point or None).

    A success without `goal_ee_pose` ends at its goal (its last `observation.ee_pose`).
    """
    info = DatasetInfo(task="plug_in_socket", condition="canonical", control_hz=10.0,
                       source="teleop:script")  # fmt: skip
    with DatasetWriter(root, info) as writer:
        for seed, (success, goal, at) in enumerate(episodes):
            last = goal if goal is not None else pose((0, 0, -64), 0)
            frames = {
                "action": np.zeros((2, 7), np.float32),
                "observation.ee_pose": np.array([pose((0, 0, 0), 0), last], np.float32),
            }
            extra: dict = {}
            if at is not None:
                extra["start"] = {"target": list(at.position), "target_yaw": at.yaw}
            if success and goal is not None:
                extra["goal_ee_pose"] = goal
            writer.add_episode(frames, seed=seed, success=success, extra=extra)
    return root


def test_the_goal_from_data_is_the_median_success_pose_and_its_spread(tmp_path: Path) -> None:
    moved = Target((0.6, 0.1, 0.094), math.pi / 2)  # a later session, the target turned
    data = write_dataset(
        tmp_path / "demos",
        [
            (True, pose((0, 0, -64), 0), APPROACH),
            (True, pose((1, 0, -64), 1), APPROACH),
            (False, None, APPROACH),  # a failure: no goal
            (True, pose((-1, 0, -64), -1), APPROACH),
            (True, pose((0, 1, -65), 0.5, moved), moved),
            (True, pose((30, 0, -50), 20), APPROACH),  # one bad mark: the median ignores it
        ],
    )
    made = goal_from_data(data, command="test")
    goal = made.goal
    assert (made.successes, made.failures, made.approach_points) == (5, 1, 2)
    assert goal.task == "plug_in_socket" and goal.approach.target() == APPROACH
    np.testing.assert_allclose(goal.goal.position, (0.0, 0.0, -0.064), atol=1e-6)
    assert math.degrees(goal.goal.yaw) == pytest.approx(0.5, abs=0.01)
    np.testing.assert_allclose(goal.pose()[0], (0.5, 0.0, 0.030), atol=1e-6)
    assert goal.made.source == f"data:{data}" and goal.made.episodes == 5
    # Distances from the median: 0, 1, 1, sqrt(2), and 35.5 mm: median 1 mm.
    assert goal.spread.position_mm == pytest.approx(1.0, abs=1e-3)
    assert goal.spread.position_mm_max == pytest.approx(math.hypot(30, 14), abs=1e-3)
    assert goal.spread.angle_deg == pytest.approx(0.5, abs=0.01)
    assert goal.tolerance.position_mm == pytest.approx(2.0)

    # The command line writes it and says the spread.
    out = tmp_path / "goal.yaml"
    result = runner.invoke(app, ["goal", "record", "--from-data", str(data), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "from 5 success poses (spread 1 mm, 0.5 deg; largest 33.106 mm" in result.stdout
    assert "approach point (0.5000, 0.0000, 0.0940) m, yaw 0.0 deg, base frame" in result.stdout
    assert "the successes were made at 2 approach points" in result.stderr
    assert load_goal(out).goal == goal.goal


def test_a_success_without_a_marked_pose_uses_its_last_frame(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "d", [(True, None, APPROACH), (True, None, APPROACH)])
    goal = goal_from_data(data).goal
    np.testing.assert_allclose(goal.goal.position, (0.0, 0.0, -0.064), atol=1e-6)


def test_goal_from_data_says_what_is_missing(tmp_path: Path) -> None:
    failed = write_dataset(tmp_path / "failed", [(False, None, APPROACH)])
    with pytest.raises(UsageError, match="holds no successful episode"):
        goal_from_data(failed)
    bare = write_dataset(tmp_path / "bare", [(True, pose((0, 0, -60), 0), None)])
    with pytest.raises(UsageError, match="records no approach point") as raised:
        goal_from_data(bare)
    assert "--target" in (raised.value.hint or "")
    given = goal_from_data(bare, target=Target((0.5, 0.0, 0.094))).goal
    np.testing.assert_allclose(given.goal.position, (0.0, 0.0, -0.060), atol=1e-6)
    result = runner.invoke(
        app, ["goal", "record", "--from-data", str(bare), "--out", str(tmp_path / "g.yaml")]
    )
    assert result.exit_code == 2 and "records no approach point" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give one of --robot (jog to the goal) and --from-data"),
        (["--robot", "tcp://127.0.0.1:9", "--from-data", "d"], "give one of --robot"),
        (["--robot", "tcp://127.0.0.1:9"], "--robot needs --task"),
        (["--from-data", "d", "--teleop", "gamepad"], "--teleop is for --robot"),
        (["--from-data", "d", "--tolerance-mm", "2"], "give both --tolerance-mm and"),
    ],
)
def test_goal_record_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["goal", "record", "--out", str(tmp_path / "g.yaml"), *args])
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert not (tmp_path / "g.yaml").exists()


def test_goal_show_checks_a_file_and_names_a_bad_field(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "d", [(True, pose((0, 0, -64), 0), APPROACH)])
    path = tmp_path / "goal.yaml"
    made = runner.invoke(app, ["goal", "record", "--from-data", str(data), "--out", str(path)])
    assert made.exit_code == 0, made.output
    shown = runner.invoke(app, ["goal", "show", str(path), "--target", "0.4,0.1,0.1"])
    assert shown.exit_code == 0, shown.output
    assert "goal (0.4000, 0.1000, 0.0360) m" in shown.stdout
    path.write_text(path.read_text().replace("angle_deg: 3.0", "angle_deg: 0"))
    bad = runner.invoke(app, ["goal", "show", str(path)])
    assert bad.exit_code == 2
    assert f"{path}:" in bad.stderr and "`tolerance.angle_deg`" in bad.stderr


# ---------------------------------------------------------------------- jogging
class Typist:
    """Type keys into a pseudo-terminal as a person would: one key, wait for the arm to
    move, the next; the success key once the collector asks for the next pose."""

    def __init__(self, fd: int, arm: FakeArm) -> None:
        self.fd, self.arm = fd, arm
        self.phases: list[str] = []
        self.error: BaseException | None = None

    def phase(self, text: str) -> None:
        self.phases.append(text)

    def wait(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + 20
        while not condition():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.002)

    def type(self, plan: list[str]) -> None:
        try:
            for number, keys in enumerate(plan, start=1):
                self.wait(lambda n=number: len(self.phases) >= n, f"phase {number}")
                for key in keys:
                    before = self.arm.position.copy()
                    os.write(self.fd, key.encode())
                    if key not in "\nQ":
                        self.wait(lambda b=before: not np.allclose(self.arm.position, b), key)
        except BaseException as error:  # reported by the test
            self.error = error


def test_goal_record_by_jogging_with_the_keyboard(tmp_path: Path) -> None:
    arm = FakeArm()  # applies every command as given: one key is one 5 mm step
    typed, device_side = pty.openpty()
    typist = Typist(typed, arm)
    try:
        with serve_arm(arm) as served, connect(served.address) as robot:
            thread = threading.Thread(target=typist.type, args=(["ww\n", "ff\n"],), daemon=True)
            thread.start()
            goal = record_goal_by_jogging(
                robot, KeyboardDevice(fd=device_side), task="plug_in_socket", pace=False,
                on_phase=typist.phase,
            )  # fmt: skip
            thread.join(timeout=10)
            home = arm.position.copy() + np.array([-0.01, 0.0, 0.01])  # where it was reset
        assert typist.error is None, typist.error
        assert goal is not None and not arm.moving
        assert [p.split(",")[0] for p in typist.phases] == [
            "jog the arm to the approach point",
            "jog the arm to the finished pose",
        ]
        # Two `w` (forward: base x for a gripper pointing down), then two `f` (down).
        np.testing.assert_allclose(goal.approach.position, home + np.array([0.01, 0, 0]), atol=1e-5)
        np.testing.assert_allclose(goal.goal.position, (0.0, 0.0, -0.01), atol=1e-5)
        np.testing.assert_allclose(goal.pose()[0], arm.position, atol=1e-5)
        assert goal.made.source == "jog:keyboard" and goal.made.episodes == 1
        assert goal.spread.position_mm == 0.0

        # With the approach point given, only the finished pose is jogged; Q quits.
        quitter = Typist(typed, arm)
        with serve_arm(arm) as served, connect(served.address) as robot:
            thread = threading.Thread(target=quitter.type, args=(["fQ"],), daemon=True)
            thread.start()
            stops = arm.stops
            none = record_goal_by_jogging(
                robot, KeyboardDevice(fd=device_side), task="plug_in_socket", pace=False,
                target=APPROACH, on_phase=quitter.phase,
            )  # fmt: skip
            thread.join(timeout=10)
        assert quitter.error is None, quitter.error
        assert none is None and len(quitter.phases) == 1
        assert not arm.moving and arm.stops > stops
    finally:
        os.close(typed)
        os.close(device_side)


def test_a_goal_the_demonstrations_swiped_through_is_passed_through(tmp_path: Path) -> None:
    info = DatasetInfo(task="card_swipe", condition="canonical", control_hz=10.0,
                       source="teleop:script")  # fmt: skip
    with DatasetWriter(tmp_path / "swipes", info) as writer:
        for seed, end in enumerate((0.0, 1.0, -1.0)):
            # Lowered into the slot, then swiped 8 mm a frame along x until success.
            path = [pose((-30, 0, -40), 0), pose((-24 + end, 0, -64), 0),
                    pose((-16 + end, 0, -64), 0), pose((-8 + end, 0, -64), 0),
                    pose((end, 0, -64), 0)]  # fmt: skip
            writer.add_episode(
                {"action": np.zeros((5, 7), np.float32),
                 "observation.ee_pose": np.array(path, np.float32)},
                seed=seed, success=True,
                extra={"start": {"target": list(APPROACH.position), "target_yaw": 0.0},
                       "goal_ee_pose": path[-1]},
            )  # fmt: skip
    goal = goal_from_data(tmp_path / "swipes").goal
    np.testing.assert_allclose(goal.goal.through, (1.0, 0.0, 0.0), atol=1e-6)
    # An insertion ends moving along its axis: a goal to stop at.
    inserted = write_dataset(tmp_path / "plugs", [(True, pose((0, 0, -64), 0), APPROACH)] * 2)
    assert goal_from_data(inserted).goal.goal.through is None
