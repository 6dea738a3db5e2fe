"""The executor's guarantees: the robot ends stopped on every exit path, the run-level
timeout, Ctrl-C, errors; motions; the trace and the display as event subscribers."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from rich.console import Console

from vitalskills.app.dryrun import DryRunGrounder, DryRunPolicyProvider, DryRunRobot
from vitalskills.errors import VitalskillsError
from vitalskills.robot import Robot, RobotError
from vitalskills.runtime import (
    Executor,
    ManualClock,
    MotionLimits,
    TraceWriter,
    read_trace,
)
from vitalskills.runtime.display import LiveDisplay
from vitalskills.runtime.plan import PlanError
from vitalskills.runtime.trace import TraceError


def far(rt):
    return rt.ir.Move(delta=rt.vec([0, 0, -250]))


class InterruptingClock(ManualClock):
    """Ctrl-C arrives while the executor sleeps between ticks, after `at` seconds."""

    def __init__(self, at: float) -> None:
        super().__init__()
        self.at = at

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        if self.now() >= self.at:
            raise KeyboardInterrupt


class DroppingRobot(DryRunRobot):
    """The connection drops on the `n`th action."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    def act(self, action):
        if self.actions + 1 == self.n:
            raise RobotError("connection to the robot lost")
        return super().act(action)


def test_dry_run_robot_implements_the_protocol():
    assert isinstance(DryRunRobot(), Robot)


@pytest.mark.parametrize("last", ["ok", "fail"])
def test_robot_is_stopped_after_success_and_failure(rt, last):
    end = rt.ir.Fail(message="x") if last == "fail" else rt.ir.Wait(duration=rt.q(1, "ms"))
    out = rt.run(rt.task(far(rt), end))
    assert out.robot.actions > 0
    assert not out.robot.moving
    assert out.events[-1].event == "task_finished"
    assert out.events[-1].status == ("success" if last == "ok" else "failure")


def test_ctrl_c_halts_the_running_motion_and_stops_the_robot(rt):
    out = rt.run(rt.task(far(rt)), clock=InterruptingClock(at=0.5), expect=KeyboardInterrupt)
    node = out.node("move [0, 0, -250] mm in base")
    assert node.status.value == "halted"
    assert node.reason == "halted: interrupted (Ctrl-C)"
    assert out.robot.actions == 5
    assert not out.robot.moving
    # The halt's own stop came before the executor's final one.
    assert out.robot.stops >= 2
    last = out.events[-1]
    assert (last.event, last.status, last.reason) == (
        "task_finished",
        "halted",
        "interrupted (Ctrl-C)",
    )


def test_an_error_halts_the_plan_and_stops_the_robot(rt):
    out = rt.run(rt.task(far(rt)), robot=DroppingRobot(3), expect=RobotError)
    assert out.node("move [0, 0, -250] mm in base").status.value == "halted"
    assert not out.robot.moving
    assert out.events[-1].reason == "stopped by an error: connection to the robot lost"


def test_run_level_timeout_halts_and_fails(rt):
    out = rt.run(rt.task(far(rt)), timeout=1.0)
    assert out.result.status == "failure"
    assert out.result.reason == "the run exceeded its 1 s limit"
    assert out.node("move [0, 0, -250] mm in base").status.value == "halted"
    assert not out.robot.moving


def test_ticks_follow_the_robot_control_rate(rt):
    out = rt.run(rt.task(rt.ir.Wait(duration=rt.q(2, "s"))), robot=DryRunRobot(control_hz=20))
    assert out.result.ticks == 41
    assert out.result.elapsed == 2.0


def test_reach_with_offset_in_the_base_frame_while_the_gripper_points_down(rt):
    t = rt.task(
        rt.ir.Locate(query=rt.ir.Text(value="cup"), name="cup"),
        rt.ir.Reach(target=rt.ref("cup"), offset=rt.vec([0, 0, 40])),
    )
    out = rt.run(t, grounder=DryRunGrounder(points={"cup": (0.3, 0.2, 0.01)}))
    assert out.result.ok
    np.testing.assert_allclose(out.robot.position, [0.3, 0.2, 0.05], atol=0.002)


def test_move_in_the_ee_frame_follows_the_gripper_orientation(rt):
    # The home pose is rotated 180 degrees about x: ee +z points down, ee +y points to -y.
    out = rt.run(rt.task(rt.ir.Move(delta=rt.vec([0, 50, 100]), frame="ee")))
    np.testing.assert_allclose(out.robot.position, [0.4, -0.05, 0.2], atol=0.002)


def test_reach_param_point_and_step_limit(rt):
    home = rt.ir.Param(name="home", default=rt.vec([0.6, 0, 0.4], "m"))
    t = rt.task(rt.ir.Reach(target=rt.ref("home")), params=[home])
    out = rt.run(t)
    assert out.result.ok
    np.testing.assert_allclose(out.robot.position, [0.6, 0.0, 0.4], atol=0.002)
    # A robot that clips every step to 1 mm cannot make it within the step limit.
    slow = DryRunRobot(max_translation=0.001)
    out = rt.run(t, robot=slow)
    assert out.result.status == "failure"
    assert "after 73 steps" in out.result.reason
    assert not slow.moving


def test_a_text_param_query_shows_its_value_in_the_label(rt):
    param = rt.ir.Param(name="target", default=rt.ir.Text(value="power strip"))
    t = rt.task(rt.ir.Locate(query=rt.ref("target"), name="strip"), params=[param])
    plan = rt.plan_of(t)
    assert plan.nodes[1].label == 'locate "power strip" as strip'
    number = rt.ir.Param(name="target", default=rt.ir.Number(value=3))
    with pytest.raises(PlanError, match=r"param `target` is not a text"):
        rt.plan_of(rt.task(rt.ir.Locate(query=rt.ref("target")), params=[number]))


def test_includes_are_inlined_and_ids_are_preorder(rt):
    inc = rt.ir.Include(path="common/home.vtl", body=[rt.ir.Gripper(action="open")])
    plan = rt.plan_of(rt.task(inc, rt.ir.Wait(duration=rt.q(1, "s"))))
    assert [(n.id, n.label) for n in plan.nodes] == [
        (0, "task t"),
        (1, 'include "common/home.vtl"'),
        (2, "gripper open"),
        (3, "wait 1 s"),
    ]
    assert plan.describe()[2] == {
        "id": 2,
        "parent": 1,
        "kind": "gripper",
        "label": "gripper open",
        "line": None,
        "file": None,
    }


def test_unknown_grounder_is_a_clear_error(rt):
    t = rt.task(rt.ir.Locate(query=rt.ir.Text(value="cup"), grounder="owlv2"))
    out = rt.run(t, expect=VitalskillsError)
    assert str(out.error) == "grounder `owlv2` is not available in this run (available: dry-run)"
    assert not out.robot.moving


def full_task(rt):
    return rt.task(
        rt.ir.Locate(query=rt.ir.Text(value="power strip"), name="strip"),
        rt.ir.IfFound(
            name="strip",
            then=[rt.ir.RunSkill(skill="plug_insert", at=rt.ref("strip"), retries=1)],
            orelse=[rt.ir.Fail(message="no strip")],
        ),
        rt.ir.Repeat(times=2, body=[rt.ir.Gripper(action="close"), rt.ir.Gripper(action="open")]),
    )


def test_trace_is_written_and_parseable(rt, tmp_path):
    path = tmp_path / "runs" / "trace.jsonl"
    plan = rt.plan_of(full_task(rt))
    executor = Executor(
        DryRunRobot(),
        {"dry-run": DryRunGrounder()},
        DryRunPolicyProvider(),
        clock=ManualClock(),
        subscribers=[TraceWriter(path)],
    )
    assert executor.run(plan).ok
    events = read_trace(path)
    assert events[0]["event"] == "task_started"
    assert events[0]["values"]["task"] == "t"
    assert len(events[0]["values"]["nodes"]) == len(plan.nodes)
    assert events[-1]["event"] == "task_finished"
    assert events[-1]["status"] == "success"
    assert all(e["v"] == 1 for e in events)
    ts = [e["t"] for e in events]
    assert ts == sorted(ts)
    located = next(e for e in events if e["event"] == "node_finished" and e["kind"] == "locate")
    assert located["values"]["placeholder"] is True
    assert located["values"]["point"] == [0.5, 0.0, 0.05]
    skill = next(e for e in events if e["event"] == "node_finished" and e["kind"] == "run_skill")
    assert skill["values"]["steps"] == 3
    assert skill["values"]["attempts"] == 1
    started = {e["node"] for e in events if e["event"] == "node_started"}
    finished = {e["node"] for e in events if e["event"] == "node_finished"}
    assert started == finished
    assert 4 not in started  # the else branch's fail never ran


def test_trace_errors_are_clear(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(TraceError, match="cannot write the trace"):
        TraceWriter(blocker / "trace.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"event": "task_started"}\nnot json\n')
    with pytest.raises(TraceError, match="line 2 is not JSON"):
        read_trace(bad)


def test_trace_to_a_stream(rt):
    stream = io.StringIO()
    executor = Executor(
        DryRunRobot(),
        {"dry-run": DryRunGrounder()},
        DryRunPolicyProvider(),
        clock=ManualClock(),
        subscribers=[TraceWriter(stream)],
    )
    executor.run(rt.plan_of(rt.task(rt.ir.Gripper(action="close"))))
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [e["event"] for e in lines] == [
        "task_started",
        "node_started",
        "node_started",
        "node_finished",
        "node_finished",
        "task_finished",
    ]


@pytest.mark.parametrize("live", [False, True])
def test_display_shows_log_lines_tree_and_summary(rt, live):
    console = Console(file=io.StringIO(), width=200, color_system=None)
    display = LiveDisplay(console, live=live)
    executor = Executor(
        DryRunRobot(),
        {"dry-run": DryRunGrounder()},
        DryRunPolicyProvider(),
        clock=ManualClock(),
        subscribers=[display],
        limits=MotionLimits(max_step=0.02),
    )
    executor.run(rt.plan_of(full_task(rt)))
    text = console.file.getvalue()
    assert "✓ if found strip" in text
    assert "`strip` was found; the then branch succeeded" in text
    assert "(dry-run placeholder, not perception)" in text
    assert "✓ task t: SUCCESS in" in text
    assert display.live is None  # the live view is stopped when the task finishes
    tree = Console(file=io.StringIO(), width=200, color_system=None)
    tree.print(display.tree())
    lines = tree.file.getvalue().splitlines()
    assert lines[0].startswith("✓ task t")
    assert any('· fail "no strip"' in line for line in lines)


def test_every_node_that_ran_says_why_and_policies_load_once(rt):
    from vitalskills.app.dryrun import DryRunPolicyProvider

    provider = DryRunPolicyProvider()
    t = full_task(rt)
    t.body.append(rt.ir.RunSkill(skill="plug_insert"))
    out = rt.run(t, policies=provider)
    assert out.result.ok
    for node in out.plan.nodes:
        if node.label == 'fail "no strip"':
            assert node.status.value == "idle"
            continue
        assert node.status.value == "success", node
        assert node.reason and node.reason != "started", node
    assert provider.loaded == ["plug_insert"]


def test_real_clock_run_sleeps_between_ticks(rt):
    from vitalskills.runtime import MonotonicClock

    plan = rt.plan_of(rt.task(rt.ir.Wait(duration=rt.q(200, "ms"))))
    robot = DryRunRobot(control_hz=50)
    result = Executor(
        robot, {"dry-run": DryRunGrounder()}, DryRunPolicyProvider(), clock=MonotonicClock()
    ).run(plan)
    assert result.ok
    # The wait ran on real time, and ticks were paced at 50 Hz, not spun: a loaded machine
    # may tick less often, never more.
    assert result.elapsed >= 0.2
    assert 2 <= result.ticks <= result.elapsed * 50 + 2
