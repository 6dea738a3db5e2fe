"""Bench episodes and `eval --robot`, through a real bridge server.

Two robots stand in for an arm on a bench, both behind a real `BridgeServer` reached by
the real bridge client: the simulator served as hardware (`HardwareSim`, which sends
nothing privileged) and the bridge tests' kinematic `FakeArm`, whose every move a test
can check. The code under test never reads simulator state; only the tests do, as the
referee (`operator_state()`: did the simulator see the object in?).

The policies are a tiny trained skill (through the real loader, from the CLI) and
`GoalSeeker`, a scripted test policy that servoes to the goal file's pose: it knows
nothing but the goal and the end-effector pose, as a policy on a robot could.
"""

from __future__ import annotations

import json
import logging
import math
import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.bridge.fake_arm import FakeArm
from tests.tiny_skill import train_tiny_skill
from vitalskills.app.bench import BenchEpisodes, BenchSettings
from vitalskills.app.goal import record_goal_from_robot
from vitalskills.app.robot_eval import evaluate_on_robot
from vitalskills.bridge import BridgeServer, connect
from vitalskills.bridge.limits import SafetyLimits
from vitalskills.cli import app
from vitalskills.robot import Observation
from vitalskills.robot.geometry import ee_pose, heading, quat_to_matrix
from vitalskills.teleop.goal import GoalFile, Made, Tolerance, goal_from_poses, write_goal
from vitalskills.teleop.motion import StartBox, Target

TASK = "plug_in_socket"
runner = CliRunner()


# ---------------------------------------------------------------------- robots on a bench
@dataclass
class Served:
    address: str
    operator_view: str | None
    driver: Any


@contextmanager
def serve_sim(green_screen: bool = False, **server: Any) -> Iterator[Served]:
    """The simulator served as hardware in a thread (built there: GL belongs to a thread)."""
    from vitalskills.sim import HardwareSim

    ready: queue.Queue = queue.Queue()
    stop = threading.Event()

    def run() -> None:
        with HardwareSim(TASK, seed=0, image_size=32, green_screen=green_screen) as driver:
            bridge = BridgeServer(
                driver, "tcp://127.0.0.1:*", operator_view="tcp://127.0.0.1:*", **server
            )
            ready.put((bridge, driver))
            bridge.serve(stop)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    bridge, driver = ready.get(timeout=60)
    try:
        yield Served(bridge.address, bridge.operator_view_address, driver)
    finally:
        stop.set()
        thread.join(timeout=10)


@contextmanager
def serve_arm(arm: FakeArm, limits: SafetyLimits | None = None, **server: Any) -> Iterator[Served]:
    bridge = BridgeServer(arm, "tcp://127.0.0.1:*", limits=limits, **server)
    stop = threading.Event()
    thread = threading.Thread(target=bridge.serve, args=(stop,), daemon=True)
    thread.start()
    try:
        yield Served(bridge.address, None, arm)
    finally:
        stop.set()
        thread.join(timeout=10)


class GoalSeeker:
    """A test policy: level with the goal first, then down its axis, 5 mm a step.

    It sees only the end-effector pose (what every robot reports) and the goal file.
    """

    def __init__(self, goal: GoalFile, fail_at: int | None = None, short: float = 0.0) -> None:
        self.goal = goal
        self.fail_at = fail_at
        self.short = short  # stop this far (m) before the goal, back along its axis
        self.resets = self.calls = 0

    def reset(self) -> None:
        self.resets += 1

    def act(self, observation: Observation) -> np.ndarray:
        self.calls += 1
        if self.fail_at is not None and self.calls == self.fail_at:
            raise RuntimeError("policy bug")
        assert "success" not in observation and not any(
            k.startswith("privileged") for k in observation
        )
        now, rotation = ee_pose(observation)
        position, goal_rotation = self.goal.pose()
        position = position + self.short * self.goal.backout_axis()
        above = now[2] - position[2]
        off = np.linalg.norm(position[:2] - now[:2])
        way = (
            position
            if off < 0.0005
            else np.array([*position[:2], now[2] if above > 0.01 else position[2] + 0.02])
        )
        delta = way - now
        delta *= min(1.0, 0.005 / max(np.linalg.norm(delta), 1e-9))
        turn = (heading(goal_rotation) - heading(rotation) + math.pi) % (2 * math.pi) - math.pi
        action = np.zeros(7, dtype=np.float32)
        action[:3] = rotation.T @ delta
        action[3:6] = rotation.T @ np.array([0.0, 0.0, float(np.clip(turn, -0.05, 0.05))])
        action[6] = 1.0
        return action


# ---------------------------------------------------------------------- the simulator served
@pytest.fixture(scope="module")
def sim() -> Iterator[Served]:
    with serve_sim() as served:
        yield served


@pytest.fixture(scope="module")
def expert_goal(sim: Served, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The goal the scripted operator shows by driving the plug in (Python API)."""
    goal = record_goal_from_robot(
        sim.address, "expert", task=TASK, operator_view=sim.operator_view, pace=False
    )
    assert goal is not None
    assert sim.driver.operator_state()["success"]  # referee: it was a success pose
    return write_goal(goal, tmp_path_factory.mktemp("goal") / "goal.yaml")


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tiny")
    return train_tiny_skill(root, root / "lib" / "plug_insert").parent


def test_goal_record_cli_with_the_scripted_operator_on_the_simulator(
    sim: Served, tmp_path: Path
) -> None:
    out = tmp_path / "goal.yaml"
    result = runner.invoke(
        app,
        ["goal", "record", "--robot", sim.address, "--teleop", "expert", "--operator-view",
         str(sim.operator_view), "--task", TASK, "--out", str(out), "--no-pace"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"wrote {out}: goal (" in result.stdout
    assert "from 1 success pose (spread 0 mm, 0 deg" in result.stdout
    state = sim.driver.operator_state()
    assert state["success"]  # the referee saw the plug in when the pose was taken
    goal = GoalFile.model_validate(__import__("yaml").safe_load(out.read_text()))
    assert goal.task == TASK and goal.made.source == "jog:expert"
    # The goal is where the end effector is, and the approach point the expert proposed
    # is where a `reach` step leaves the gripper: above the goal, along its axis.
    np.testing.assert_allclose(goal.pose()[0], np.array(state["ee"])[:3, 3], atol=1e-5)
    rise = np.asarray(goal.approach.position) - goal.pose()[0]
    assert rise[2] > 0.03 and np.linalg.norm(rise[:2]) < 0.005
    assert goal.tolerance == Tolerance(position_mm=1.0, angle_deg=3.0, depth_mm=0.5)


def test_bench_episodes_reach_the_goal_and_the_referee_agrees(
    sim: Served, expert_goal: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from vitalskills.teleop.goal import load_goal

    goal = load_goal(expert_goal)
    verdicts: list[tuple[bool, bool]] = []
    with connect(sim.address) as robot:
        asked = {"done": False}

        def reseat_once(observation: Observation) -> bool:
            # An operator request during the second episode: an intervention, counted.
            if seeker.resets == 2 and not asked["done"]:
                asked["done"] = True
                robot.operator("reseat")
            return True

        def referee(record: Any) -> None:
            verdicts.append((record.success, bool(sim.driver.operator_state()["success"])))

        seeker = GoalSeeker(goal)
        result = evaluate_on_robot(
            robot, seeker, goal, episodes=3, seed=5, detector=reseat_once,
            settings=BenchSettings(pace=False, max_steps=60), on_episode=referee,
        )  # fmt: skip
    assert result.episodes == 3 and result.seeds == [5, 6, 7]
    # Success judged from the pose is the simulator's, episode by episode.
    assert [judged for judged, _ in verdicts] == [seen for _, seen in verdicts]
    assert result.successes >= 2, result.to_dict(records=True)
    for record in result.records:
        assert record.success == (record.position_mm <= 1.0 and record.angle_deg <= 3.0)
    assert all(r.start["error_m"] <= 0.004 for r in result.records)
    assert [r.interventions for r in result.records] == [{}, {"reseat": 1}, {}]
    assert result.interventions == {"reseat": 1}
    assert result.robot_time_s == pytest.approx(sum(r.steps for r in result.records) / 10)
    assert result.skipped == [] and not result.gave_up
    # Ended backed out: the plug is out of the socket, the arm above the approach height.
    assert sim.driver.operator_state()["insertion_depth"] <= 0.0

    # A policy that stops 5 mm short: no success, and the simulator agrees.
    verdicts.clear()
    with connect(sim.address) as robot:
        result = evaluate_on_robot(
            robot, GoalSeeker(goal, short=0.005), goal, episodes=1, seed=8,
            settings=BenchSettings(pace=False, max_steps=20), on_episode=referee,
        )  # fmt: skip
    assert verdicts == [(False, False)]
    assert result.records[0].ended_by == "step_limit"
    assert 4.0 < result.records[0].position_mm < 6.0


def test_eval_robot_runs_a_trained_skill_end_to_end_and_saves(
    sim: Served, expert_goal: Path, library: Path, tmp_path: Path
) -> None:
    out = tmp_path / "eval"
    result = runner.invoke(
        app,
        ["eval", "--robot", sim.address, "--skill", "plug_insert", "--skills", str(library),
         "--goal", str(expert_goal), "--episodes", "2", "--seed", "3", "--max-steps", "8",
         "--no-pace", "--out", str(out), "--json", "--save"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["task"] == TASK and report["requested"] == 2 and report["episodes"] == 2
    assert report["seeds"] == [3, 4]
    assert report["policy"].startswith("skill:plug_insert@")
    assert report["tolerance"] == {"position_mm": 1.0, "angle_deg": 3.0, "depth_mm": 0.5}
    assert report["successes"] + len(report["failed_seeds"]) == 2
    assert report["mean_steps"] <= 8
    assert report["robot_time_s"] == pytest.approx(report["mean_steps"] * 2 / 10)
    assert report["interventions"] == {}
    lines = (out / "episodes.jsonl").read_text().splitlines()
    assert [json.loads(line)["seed"] for line in lines] == [3, 4]
    assert json.loads((out / "summary.json").read_text())["episodes"] == 2
    assert (out / "contact_sheet.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # --save recorded it in the skill's provenance, next to the simulator's evaluations.
    manifest = __import__("yaml").safe_load((library / "plug_insert" / "skill.yaml").read_text())
    cell = manifest["provenance"]["evaluation"]["bc"]["robot"]
    assert cell["episodes"] == 2 and cell["seeds"] == "3..4"
    assert "--robot" in cell["command"]

    table = runner.invoke(
        app,
        ["eval", "--robot", sim.address, "--skill", "plug_insert", "--skills", str(library),
         "--goal", str(expert_goal), "--episodes", "1", "--max-steps", "3", "--no-pace",
         "--tolerance-mm", "0.5", "--tolerance-deg", "1"],
    )  # fmt: skip
    assert table.exit_code == 0, table.output
    assert "0/1 successes (0.0%)" in table.stdout
    assert "mean 3 steps, robot time 0.3 s; interventions 0" in table.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--robot", "tcp://127.0.0.1:9", "--skill", "x", "--goal", "g.yaml",
          "--condition", "scene"], "--condition applies to the simulator, not to --robot"),
        (["--robot", "tcp://127.0.0.1:9", "--skill", "x", "--goal", "g.yaml", "--policy",
          "random", "--video", "v"], "--policy, --video apply to the simulator"),
        (["--robot", "tcp://127.0.0.1:9", "--skill", "x"], "--robot needs --goal"),
        (["--robot", "tcp://127.0.0.1:9", "--goal", "g.yaml"], "--robot needs --skill"),
        (["--task", TASK, "--goal", "g.yaml", "--tolerance-mm", "3"],
         "--goal, --tolerance-mm need --robot"),
        (["--episodes", "1"], "`--task` is needed to evaluate in the simulator"),
        (["--robot", "tcp://127.0.0.1:9", "--skill", "x", "--goal", "missing.yaml"],
         "cannot read goal file `missing.yaml`: no such file"),
    ],
)  # fmt: skip
def test_eval_refuses_contradictory_options(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["eval", *args])
    assert result.exit_code == 2, result.output
    assert message in result.stderr


# ---------------------------------------------------------------------- a kinematic arm
APPROACH = Target((0.45, 0.0, 0.15), 0.0)
DOWN = quat_to_matrix([0.0, 1.0, 0.0, 0.0])


def arm_goal() -> GoalFile:
    """A goal 30 mm below the approach point, gripper pointing down."""
    at = np.asarray(APPROACH.position) + np.array([0.0, 0.0, -0.03])
    return goal_from_poses(TASK, APPROACH, [(APPROACH, at, DOWN)], Made(source="t", episodes=1))


class TrackedArm(FakeArm):
    """A `FakeArm` that remembers the lowest point it reached, and can stop on a floor
    the bridge does not know about (a fixture on the bench)."""

    def __init__(self, floor: float = -math.inf) -> None:
        super().__init__(axis_step=0.01)
        self.floor = floor
        self.lowest = math.inf

    def act(self, action: np.ndarray) -> np.ndarray:
        applied = super().act(action)
        self.position[2] = max(self.position[2], self.floor)
        self.lowest = min(self.lowest, float(self.position[2]))
        return applied


def test_success_is_the_goal_within_tolerance_and_a_detector_adds_to_it() -> None:
    arm, goal = TrackedArm(), arm_goal()
    with serve_arm(arm) as served, connect(served.address) as robot:
        result = evaluate_on_robot(
            robot, GoalSeeker(goal), goal, episodes=2, settings=BenchSettings(pace=False)
        )
        assert result.successes == 2 and result.failed_seeds == []
        assert all(0 < r.steps < 20 for r in result.records)
        # A detector that never confirms (no force signature): no success, the step limit.
        vetoed = evaluate_on_robot(
            robot, GoalSeeker(goal), goal, episodes=1, detector=lambda observation: False,
            settings=BenchSettings(pace=False, max_steps=25),
        )  # fmt: skip
    assert vetoed.successes == 0 and vetoed.records[0].ended_by == "step_limit"
    assert vetoed.records[0].steps == 25 and vetoed.records[0].position_mm <= 1.0
    assert not arm.moving


def test_a_start_outside_the_workspace_box_is_skipped_never_forced(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The box's floor is 4 mm below the approach point; starts are drawn +-10 mm in z.
    arm, goal = TrackedArm(), arm_goal()
    box = StartBox()
    limits = SafetyLimits(workspace_min=(-1.0, -1.0, 0.146), workspace_max=(1.0, 1.0, 1.5))
    outside = [s for s in range(8) if box.draw(s, APPROACH)[0][2] < 0.146]
    assert 0 < len(outside) < 6
    caplog.set_level(logging.WARNING, logger="vitalskills.bench")
    with serve_arm(arm, limits) as served, connect(served.address) as robot:
        result = evaluate_on_robot(
            robot, GoalSeeker(goal), goal, episodes=8 - len(outside), settings=BenchSettings(
                pace=False, max_steps=3)
        )  # fmt: skip
    assert [entry["seed"] for entry in result.skipped] == outside
    assert result.seeds == [s for s in range(8) if s not in outside]
    for entry in result.skipped:
        assert "mm outside the bridge's workspace box" in entry["reason"]
        assert f"skipping the start of seed {entry['seed']}" in caplog.text
    assert arm.lowest >= 0.146 - 1e-6  # the arm never went there
    assert "unreachable starts skipped" in result.summary()


def test_a_start_the_arm_cannot_reach_is_skipped_with_the_reason() -> None:
    # A fixture on the bench stops the arm 5 mm below the approach point; nothing tells the
    # bridge. The starts below it cannot be reached, and the procedure says so.
    arm, goal = TrackedArm(floor=0.145), arm_goal()
    box = StartBox()
    blocked = [s for s in range(6) if box.draw(s, APPROACH)[0][2] < 0.145 - 0.004]
    assert blocked
    settings = BenchSettings(pace=False, max_steps=2, max_skips=3)
    with serve_arm(arm) as served, connect(served.address) as robot:
        bench = BenchEpisodes(robot, goal, settings)
        for seed in range(6):
            start = bench.begin(seed)
            if seed in blocked:
                assert start.skipped is not None and start.observation is None
                assert "short of the start" in start.skipped and "cannot get there" in start.skipped
            else:
                assert start.skipped is None, start.skipped
                assert start.observation is not None
            bench.end()
        bench.close()
    assert not arm.moving


def test_the_arm_is_stopped_after_ctrl_c_from_a_hook(tmp_path: Path) -> None:
    arm, goal = TrackedArm(), arm_goal()
    calls = {"n": 0}

    def ctrl_c_in_episode_two(observation: Observation) -> bool:
        calls["n"] += 1
        if calls["n"] == 30:
            raise KeyboardInterrupt
        return False

    out = tmp_path / "eval"
    with serve_arm(arm) as served, connect(served.address) as robot:
        stops = arm.stops
        with pytest.raises(KeyboardInterrupt):
            evaluate_on_robot(
                robot, GoalSeeker(goal), goal, episodes=3, detector=ctrl_c_in_episode_two,
                settings=BenchSettings(pace=False, max_steps=20), out=out,
            )  # fmt: skip
        assert not arm.moving and arm.stops > stops
    # The finished episode was kept; the one in progress was not written.
    assert len((out / "episodes.jsonl").read_text().splitlines()) == 1
    assert json.loads((out / "summary.json").read_text())["episodes"] == 1


def test_the_arm_is_stopped_after_an_error() -> None:
    arm, goal = TrackedArm(), arm_goal()
    with serve_arm(arm) as served, connect(served.address) as robot:
        with pytest.raises(RuntimeError, match="policy bug"):
            evaluate_on_robot(
                robot, GoalSeeker(goal, fail_at=3), goal, episodes=2,
                settings=BenchSettings(pace=False),
            )  # fmt: skip
        assert not arm.moving


def test_the_goal_file_can_be_re_anchored_for_eval(tmp_path: Path) -> None:
    arm, goal = TrackedArm(), arm_goal()
    moved = goal.anchored(Target((0.40, 0.05, 0.16), math.pi / 2))
    with serve_arm(arm) as served, connect(served.address) as robot:
        result = evaluate_on_robot(
            robot, GoalSeeker(moved), moved, episodes=1, settings=BenchSettings(pace=False)
        )
        final = robot.observe()
    assert result.successes == 1
    np.testing.assert_allclose(ee_pose(final)[0][:2], (0.40, 0.05), atol=0.003)
    assert write_goal(moved, tmp_path / "moved.yaml").exists()
