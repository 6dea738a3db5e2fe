"""Teleoperated collection through a real bridge server on the loopback.

The robot is the bridge tests' kinematic `FakeArm` served by a real `BridgeServer` in a
thread and reached through the real bridge client; the dataset is written by the real
`DatasetWriter` and read back with `DemoDataset`. No person can sit at these tests, so
the operator is a `ScriptDevice` (tests/teleop/scripted_devices.py): a real
`TeleopDevice` that pushes the arm for a set number of steps and then gives a set
verdict. The scripted-operator tests run the real simulator: in process (its state read
straight from the environment, as the operator's view would send it) and served as
hardware with its operator's view.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.bridge.fake_arm import FakeArm
from tests.teleop.scripted_devices import ScriptDevice
from vitalskills.app.teleop_collect import TeleopReport, collect_teleop
from vitalskills.bridge import BridgeServer, connect
from vitalskills.cli import app
from vitalskills.learning.dataset import DatasetInfo, DatasetWriter, DemoDataset
from vitalskills.learning.errors import DatasetError
from vitalskills.robot.geometry import quat_to_matrix
from vitalskills.teleop import Mark
from vitalskills.teleop.motion import StartBox, Target

ROOT = Path(__file__).parents[2]
TARGET = Target((0.45, 0.0, 0.15), 0.0)
DEVICE = "tests.teleop.scripted_devices:ScriptDevice"


@contextmanager
def served(arm: FakeArm) -> Iterator[BridgeServer]:
    """Serve `arm` on a free loopback port in a thread; stop and join on exit."""
    server = BridgeServer(arm, "tcp://127.0.0.1:*")
    stop = threading.Event()
    thread = threading.Thread(target=server.serve, args=(stop,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stop.set()
        thread.join(timeout=10)


@pytest.fixture
def arm() -> FakeArm:
    """An arm that clips each translation component to 1 mm and says so."""
    return FakeArm(axis_step=0.001)


def collect(arm: FakeArm, device: Any, out: Path, episodes: int, **options: Any) -> TeleopReport:
    with served(arm) as server, connect(server.address) as robot:
        options.setdefault("target", TARGET)
        return collect_teleop(
            robot, device, out=out, episodes=episodes, task="plug_in_socket", pace=False,
            **options,
        )  # fmt: skip


def test_a_success_is_written_with_what_the_robot_applied_and_the_goal_pose(
    arm: FakeArm, tmp_path: Path
) -> None:
    device = ScriptDevice("4:success")
    report = collect(arm, device, tmp_path / "demos", episodes=1)
    assert device.opened and device.closed
    assert [m.success for m in report.written] == [True]
    data = DemoDataset(tmp_path / "demos")
    assert data.info.source == "teleop:script"
    assert data.info.robot["name"] == "fake-arm"
    assert data.info.control_hz == 10.0
    (episode,) = list(data)
    assert episode.meta.seed == 0 and len(episode) == 4
    # The device asked for 2 mm along x; the arm applied 1 mm: the dataset has 1 mm.
    np.testing.assert_allclose(episode.frames["action"][:, 0], 0.001)
    assert set(episode.frames) == {
        "action",
        "observation.wrist_rgb",
        "observation.tactile",
        "observation.ee_pose",
        "observation.gripper",
    }
    # The goal pose is where the arm was when success was marked: after the 4th action.
    last = episode.frames["observation.ee_pose"][-1].astype(float)
    applied = episode.frames["action"][-1].astype(float)
    expected = last[:3] + quat_to_matrix(last[3:]) @ applied[:3]
    goal = np.array(episode.meta.extra["goal_ee_pose"])
    assert goal.shape == (7,)
    np.testing.assert_allclose(goal[:3], expected, atol=1e-6)
    operator = episode.meta.extra["operator"]
    assert operator["device"] == "script" and operator["marks"] == ["success"]
    assert operator["ended_by"] == "operator" and operator["duration_s"] >= 0
    start = episode.meta.extra["start"]
    offset = np.array(start["position"]) - np.array(TARGET.position)
    assert np.all(np.abs(offset) <= [0.015, 0.015, 0.010])
    assert start["error_m"] <= 0.002
    np.testing.assert_allclose(device.starts[0][:3], start["position"], atol=0.002)
    # The bridge server reports its operator counts; each episode and the report keep them.
    assert episode.meta.extra["operator_counts"] == report.operator_counts
    assert report.operator_counts is not None
    # The collection ended backed out and stopped.
    assert arm.position[2] > goal[2] + 0.02
    assert not arm.moving


def test_discards_are_not_written_redo_repeats_the_start_failures_need_keep(
    arm: FakeArm, tmp_path: Path
) -> None:
    script = "3:success,2:discard,2:redo,3:success,2:failure,4:success"
    device = ScriptDevice(script)
    report = collect(arm, device, tmp_path / "plain", episodes=3)
    metas = DemoDataset(tmp_path / "plain").metas()
    assert [(m.seed, m.length, m.success) for m in metas] == [
        (0, 3, True),
        (2, 3, True),
        (4, 4, True),
    ]
    assert metas[1].extra["operator"]["marks"] == ["redo", "success"]
    assert dict(report.outcomes) == {"success": 3, "discard": 1, "redo": 1, "failure": 1}
    assert not report.quit
    # The redo started again where its attempt had (seed 2); the discarded one elsewhere.
    redo, again = device.starts[2][:3], device.starts[3][:3]
    assert np.linalg.norm(redo - again) <= 0.004
    assert np.linalg.norm(device.starts[1][:3] - redo) > 0.004

    kept = collect(arm, ScriptDevice(script), tmp_path / "kept", episodes=3, keep_failures=True)
    metas = DemoDataset(tmp_path / "kept").metas()
    assert [(m.seed, m.success) for m in metas] == [(0, True), (2, True), (3, False)]
    assert "goal_ee_pose" not in metas[2].extra
    assert metas[2].extra["operator"]["marks"] == ["failure"]
    assert len(kept.written) == 3


def test_the_step_limit_is_a_failure(arm: FakeArm, tmp_path: Path) -> None:
    never = [(-1, Mark.SUCCESS)]
    report = collect(arm, ScriptDevice(never), tmp_path / "a", 1, max_steps=5, max_attempts=1)
    assert report.written == [] and dict(report.outcomes) == {"step_limit": 1}
    report = collect(
        arm, ScriptDevice(never), tmp_path / "b", 1, max_steps=5, max_attempts=1,
        keep_failures=True,
    )  # fmt: skip
    (meta,) = DemoDataset(tmp_path / "b").metas()
    assert (meta.length, meta.success) == (5, False)
    assert meta.extra["operator"]["ended_by"] == "step_limit"


def test_quit_ends_the_collection_without_writing_the_episode_in_progress(
    arm: FakeArm, tmp_path: Path
) -> None:
    device = ScriptDevice("2:success,5:quit")
    report = collect(arm, device, tmp_path / "demos", episodes=5)
    assert report.quit and len(report.written) == 1
    assert len(DemoDataset(tmp_path / "demos")) == 1
    assert device.closed and not arm.moving
    assert "stopped by the operator" in report.summary()


class QuitWhileMoving(ScriptDevice):
    """Marks success after two steps, then presses quit while the arm backs out."""

    polls = 0

    def mark(self) -> Mark | None:
        if self.episode == 0 and self.steps >= 2:
            self.polls += 1
            return {1: Mark.SUCCESS, 5: Mark.QUIT}.get(self.polls)
        return super().mark()


def test_quit_while_the_arm_moves_stops_it_there(arm: FakeArm, tmp_path: Path) -> None:
    device = QuitWhileMoving("2:success,2:success")
    report = collect(arm, device, tmp_path / "demos", episodes=2)
    assert report.quit and len(report.written) == 1
    assert device.episode == 0  # no second episode began
    goal_z = report.written[0].extra["goal_ee_pose"][2]
    assert 0.0 < arm.position[2] - goal_z < 0.01  # a few 1 mm steps of the 30 mm back-out
    assert not arm.moving and device.closed


def test_without_a_target_the_operator_jogs_there_first(arm: FakeArm, tmp_path: Path) -> None:
    device = ScriptDevice("2:success", push=(0.002, 0, 0, 0, 0, 0, 1), jog_steps=10)
    box = StartBox(half_x=0.005, half_y=0.005, half_z=0.005, yaw=0.05)
    with served(arm) as server, connect(server.address) as robot:
        home = robot.reset()["ee_pose"][:3].astype(float)
        report = collect_teleop(
            robot, device, out=tmp_path / "demos", episodes=1, task="plug_in_socket",
            target=None, start_box=box, pace=False, reset_each=False,
        )  # fmt: skip
    # Ten pushes of 1 mm (as applied) along the gripper's x, which points along base x.
    assert report.target is not None
    np.testing.assert_allclose(
        report.target.position, home + np.array([0.010, 0.0, 0.0]), atol=1e-5
    )
    assert report.target.yaw == pytest.approx(0.0, abs=1e-6)
    (meta,) = DemoDataset(tmp_path / "demos").metas()
    offset = np.array(meta.extra["start"]["position"]) - np.array(report.target.position)
    assert np.all(np.abs(offset) <= 0.005)


class Exploding(ScriptDevice):
    """A device whose third command fails (a bug in someone's device)."""

    def command(self, observation):
        if self.steps == 2:
            raise RuntimeError("device bug")
        return super().command(observation)


def test_an_error_mid_episode_stops_the_robot_and_keeps_the_finished_episodes(
    arm: FakeArm, tmp_path: Path
) -> None:
    device = Exploding("1:success,9:success")
    with pytest.raises(RuntimeError, match="device bug"):
        collect(arm, device, tmp_path / "demos", episodes=2)
    assert device.closed
    assert not arm.moving
    assert [m.length for m in DemoDataset(tmp_path / "demos").metas()] == [1]


def test_a_dataset_of_another_task_is_refused_before_anything_moves(
    arm: FakeArm, tmp_path: Path
) -> None:
    info = DatasetInfo(task="usb_insert", condition="canonical", control_hz=10.0, source="x")
    DatasetWriter(tmp_path / "demos", info).close()
    device = ScriptDevice("1:success")
    with pytest.raises(DatasetError, match="task `usb_insert`"):
        collect(arm, device, tmp_path / "demos", episodes=1)
    assert device.closed and not arm.moving
    assert arm.stops >= 1


# ---------------------------------------------------------------------- the command line
def cli(*args: str):
    return CliRunner().invoke(app, ["collect", "--task", "plug_in_socket", *args])


def test_the_cli_collects_from_a_robot_and_prints_a_summary(arm: FakeArm, tmp_path: Path) -> None:
    out = tmp_path / "demos"
    with served(arm) as server:
        result = cli(
            "--robot", server.address, "--teleop", DEVICE, "--device-option", "script=2:success",
            "--target", "0.45,0,0.15,0", "--episodes", "1", "--out", str(out), "--no-pace",
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"wrote 1 of 1 episodes (2 steps) to {out}; attempts: 1 success" in result.stdout
    assert "approach point (0.4500, 0.0000, 0.1500) m, yaw 0.0 deg, base frame" in result.stdout
    assert len(DemoDataset(out)) == 1


def test_ctrl_c_stops_the_robot_and_keeps_the_finished_episodes(
    arm: FakeArm, tmp_path: Path
) -> None:
    out = tmp_path / "demos"
    with served(arm) as server:
        result = cli(
            "--robot", server.address, "--teleop", DEVICE, "--no-pace",
            "--device-option", "script=2:success,5:success", "--device-option", "interrupt=1:3",
            "--target", "0.45,0,0.15,0", "--episodes", "2", "--out", str(out),
        )  # fmt: skip
        assert not arm.moving
    assert result.exit_code == 130, result.output
    assert (
        f"interrupted: the robot was stopped; {out} holds 1 complete episodes "
        "(the one in progress was not written)"
    ) in result.stderr
    assert len(DemoDataset(out)) == 1


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--teleop", "keyboard"], 2, "error: --teleop needs --robot"),
        (["--target", "1,2,3", "--operator-view", "ipc:///x"], 2,
         "error: --target, --operator-view need --robot"),
        (["--robot", "tcp://127.0.0.1:9", "--image-size", "64"], 2,
         "--image-size, --wrist-jitter, --workers and --ray apply to the simulator"),
        (["--robot", "tcp://127.0.0.1:9", "--teleop", "joystick"], 2,
         "error: unknown teleop device `joystick`"),
        (["--robot", "tcp://127.0.0.1:9", "--teleop", "keyboard", "--operator-view", "ipc:///x"],
         2, "--operator-view is for `--teleop expert`"),
        (["--robot", "tcp://127.0.0.1:9", "--target", "1,2"], 2, "error: --target `1,2` is not"),
        (["--robot", "tcp://127.0.0.1:9", "--device-option", "zone"], 2,
         "--device-option `zone` is not KEY=VALUE"),
    ],
)  # fmt: skip
def test_cli_usage_errors(tmp_path: Path, args: list[str], code: int, message: str) -> None:
    result = cli("--out", str(tmp_path / "demos"), *args)
    assert result.exit_code == code, result.output
    assert message in result.stderr
    assert not (tmp_path / "demos").exists()


def test_cli_says_when_no_robot_answers(tmp_path: Path) -> None:
    import socket

    with socket.socket() as held:  # bound, never listening: every connection is refused
        held.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{held.getsockname()[1]}"
        result = cli(
            "--robot", address, "--teleop", DEVICE, "--target", "0.45,0,0.15",
            "--out", str(tmp_path / "demos"), "--connect-timeout", "0.3",
        )  # fmt: skip
    assert result.exit_code == 3, result.output
    assert "no reply from the bridge server" in result.stderr


# ---------------------------------------------------------------------- a killed collection
def test_a_killed_collection_loses_at_most_the_episode_in_progress(tmp_path: Path) -> None:
    arm = FakeArm(axis_step=0.001)
    out, progress = tmp_path / "demos", tmp_path / "progress.log"
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    )
    with served(arm) as server:
        command = [
            sys.executable, "-m", "vitalskills", "collect", "--task", "plug_in_socket",
            "--robot", server.address, "--teleop", DEVICE,
            "--device-option", "script=3:success,4:success,-1:success",
            "--device-option", f"reset_log={progress}", "--device-option", "sleep_s=0.005",
            "--target", "0.45,0,0.15,0", "--episodes", "5", "--out", str(out), "--no-pace",
        ]  # fmt: skip
        proc = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 120
            # Wait until the third episode (the one that never ends) has run a while.
            while "reset 2" not in (progress.read_text() if progress.exists() else ""):
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "the third episode never started"
                time.sleep(0.05)
            time.sleep(0.5)
            assert arm.moving
            os.killpg(proc.pid, signal.SIGKILL)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate(timeout=30)
        # The bridge's watchdog stops the arm its dead client was moving.
        deadline = time.monotonic() + 5
        while arm.moving and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not arm.moving
    data = DemoDataset(out)
    assert [(e.meta.length, e.meta.success) for e in data] == [(3, True), (4, True)]
    assert not [p.name for p in (out / "data").iterdir() if p.name.startswith(".")]
    episodes_jsonl = (out / "meta" / "episodes.jsonl").read_text().splitlines()
    assert len(episodes_jsonl) == 2
    # The killed writer's lock died with it: the next collection appends.
    info = data.info.model_copy()
    with DatasetWriter(out, info) as writer:
        assert len(writer.episodes) == 2


# ---------------------------------------------------------------------- the scripted operator
class EnvState:
    """The operator's view of an in-process simulator, built straight from its `VitalEnv`.

    The same keys `HardwareSim.operator_state()` sends through `--operator-view`.
    """

    def __init__(self, env: Any) -> None:
        self.env = env
        self.looks = 0

    def state(self) -> dict[str, Any]:
        self.looks += 1
        env = self.env
        return {
            "task": env.task.name,
            "steps": int(env.steps),
            "success": bool(env.succeeded),
            "target": env.target_matrix().tolist(),
            "held": env.held_matrix().tolist(),
            "ee": env.ee_pose_matrix().tolist(),
            "insertion_depth": float(env.insertion().depth),
        }


def test_the_scripted_operator_drives_a_simulator_to_success(tmp_path: Path) -> None:
    from vitalskills.app.scripted_operator import ScriptedOperator
    from vitalskills.sim import SimRobot

    with SimRobot("plug_in_socket", seed=0, image_size=32, start="approach") as robot:
        view = EnvState(robot.env)
        report = collect_teleop(
            robot, ScriptedOperator(view, seed=0), out=tmp_path / "demos", episodes=1,
            task="plug_in_socket", target=None, pace=False, max_attempts=3,
        )  # fmt: skip
        assert len(report.written) == 1 and report.written[0].success
        assert view.looks > report.steps  # it looked before every command it gave
        # The approach point it chose is where a `reach` step would leave the gripper.
        task, target = robot.env.task, robot.env.target_matrix()
        approach = target[:3, :3] @ (task.approach_offset() + task.target_point()) + target[:3, 3]
        np.testing.assert_allclose(report.target.position, approach, atol=1e-9)
        (episode,) = list(DemoDataset(tmp_path / "demos"))
        assert episode.meta.extra["operator"]["device"] == "expert"
        assert len(episode.meta.extra["goal_ee_pose"]) == 7

        # A budget it cannot finish in: a failure, written only with keep_failures.
        report = collect_teleop(
            robot, ScriptedOperator(view, budget=2), out=tmp_path / "short", episodes=1,
            task="plug_in_socket", target=report.target, pace=False, max_attempts=1,
            keep_failures=True,
        )  # fmt: skip
        (meta,) = DemoDataset(tmp_path / "short").metas()
        assert (meta.length, meta.success) == (2, False)


def test_the_scripted_operator_needs_an_operator_view() -> None:
    from vitalskills.app.scripted_operator import ScriptedOperator
    from vitalskills.errors import UsageError

    with pytest.raises(UsageError) as raised:
        ScriptedOperator().open()
    assert "--operator-view" in (raised.value.hint or "")


def test_expert_collects_from_the_simulator_served_as_hardware(tmp_path: Path) -> None:
    """The exact command of docs/teleop.md, against `bridge serve --hardware --operator-view`.

    The driver is built, served and closed on the server's own thread: a renderer's GL
    context belongs to the thread that made it.
    """
    from vitalskills.sim import HardwareSim

    out = tmp_path / "demos"
    ready: queue.Queue = queue.Queue()
    stop = threading.Event()

    def serve() -> None:
        with HardwareSim("plug_in_socket", seed=0, image_size=32) as driver:
            server = BridgeServer(driver, "tcp://127.0.0.1:*", operator_view="tcp://127.0.0.1:*")
            ready.put(server)
            server.serve(stop)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    server = ready.get(timeout=60)
    try:
        result = cli(
            "--robot", server.address, "--teleop", "expert",
            "--operator-view", server.operator_view_address, "--episodes", "2",
            "--out", str(out),
        )  # fmt: skip
    finally:
        stop.set()
        thread.join(timeout=10)
    assert result.exit_code == 0, result.output
    assert "wrote 2 of 2 episodes" in result.stdout
    data = DemoDataset(out)
    assert data.info.source == "teleop:expert"
    # Only what a real arm reports: no success flag, nothing privileged.
    assert set(data.info.features) == {
        "action",
        "observation.wrist_rgb",
        "observation.tactile",
        "observation.ee_pose",
        "observation.gripper",
    }
    assert all(meta.success for meta in data.metas())
    assert "operator_counts" in data.metas()[0].extra
