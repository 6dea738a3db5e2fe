"""`run skill`: approach at the manifest's offset, roll the policy out, retries, timeouts.

The robot is the dry-run kinematic robot extended with a simulator-like success judge
(end effector within 5 mm of a goal); the policy is a real closed-loop controller.
"""

from __future__ import annotations

import numpy as np
import pytest

from vitalskills.robot import PolicyFailure, SafetyStop

GOAL = (0.5, 0.0, 0.02)


def locate_and_run(rt, **run):
    return rt.task(
        rt.ir.Locate(query=rt.ir.Text(value="power strip"), name="strip"),
        rt.ir.RunSkill(skill="plug_insert", at=rt.ref("strip"), **run),
    )


def test_skill_reaches_the_approach_offset_then_the_policy_succeeds(rt):
    policies = rt.GoalPolicies(GOAL)
    out = rt.run(locate_and_run(rt), robot=rt.GoalRobot(GOAL), policies=policies)
    node = out.node("run skill plug_insert at strip")
    assert out.result.status == "success"
    assert node.values["verified"] is True
    # placeholder point (0.5, 0, 0.05) + approach offset (0, 0, 0.05)
    np.testing.assert_allclose(node.values["approach"], [0.5, 0.0, 0.10])
    assert node.values["steps"] == 8  # 10 cm -> 2 cm at 1 cm per policy step
    assert node.reason == "`plug_insert` succeeded after 8 policy steps"
    assert policies.policies["plug_insert"].attempts == 1
    assert np.linalg.norm(out.robot.position - np.asarray(GOAL)) < 0.005


def test_skill_retries_after_a_failed_attempt_and_counts_them(rt):
    policies = rt.GoalPolicies(GOAL, misses=2)
    manifests = {"plug_insert": rt.Manifest("plug_insert", max_steps=10)}
    out = rt.run(
        locate_and_run(rt, retries=2),
        robot=rt.GoalRobot(GOAL),
        policies=policies,
        manifests=manifests,
    )
    node = out.node("run skill plug_insert at strip retries 2")
    assert out.result.status == "success"
    assert node.values["attempts"] == 3
    assert policies.policies["plug_insert"].attempts == 3
    assert node.reason == "`plug_insert` succeeded after 8 policy steps (attempt 3 of 3)"
    progress = [e.reason for e in out.events if e.event == "node_progress"]
    assert progress[0] == "policy step 5 of at most 10 (attempt 1 of 3)"
    assert [reason for reason in progress if not reason.startswith("policy step")] == [
        "attempt 1 of 3 failed (no success within 10 policy steps); retrying",
        "attempt 2 of 3 failed (no success within 10 policy steps); retrying",
    ]
    assert node.values["total_steps"] == 10 + 10 + 8


def test_skill_fails_when_retries_run_out(rt):
    out = rt.run(
        locate_and_run(rt, retries=1),
        robot=rt.GoalRobot(GOAL),
        policies=rt.GoalPolicies(GOAL, misses=5),
        manifests={"plug_insert": rt.Manifest("plug_insert", max_steps=4)},
    )
    assert out.result.status == "failure"
    assert out.node("run skill plug_insert at strip retries 1").values["attempts"] == 2
    assert out.result.reason.endswith(
        "`plug_insert` failed all 2 attempts; last: no success within 4 policy steps"
    )
    assert not out.robot.moving


def test_skill_timeout_applies_per_attempt(rt):
    # 2 s per attempt at 10 Hz: about 10 approach steps + the policy, never succeeding.
    out = rt.run(
        locate_and_run(rt, retries=1, timeout=rt.q(2, "s")),
        robot=rt.GoalRobot(GOAL),
        policies=rt.GoalPolicies(GOAL, misses=5),
        manifests={"plug_insert": rt.Manifest("plug_insert", max_steps=1000)},
    )
    node = out.node("run skill plug_insert at strip retries 1 timeout 2 s")
    assert node.status.value == "failure"
    assert node.reason == "`plug_insert` failed all 2 attempts; last: timed out after 2 s"
    assert node.elapsed(0) == 4.0


def test_skill_without_a_success_signal_is_unverified(rt):
    class Blind:
        def reset(self):
            pass

        def act(self, observation):
            return np.zeros(7, dtype=np.float32)

    class Provider:
        def load(self, manifest):
            return Blind()

    out = rt.run(
        locate_and_run(rt),
        policies=Provider(),
        manifests={"plug_insert": rt.Manifest("plug_insert", max_steps=6)},
    )
    node = out.node("run skill plug_insert at strip")
    assert node.status.value == "success"
    assert node.values["verified"] is False
    assert "not verified" in node.reason


def test_skill_defaults_to_the_latest_located_target(rt):
    from vitalskills.app.dryrun import DryRunGrounder

    grounder = DryRunGrounder(points={"cup": (0.3, 0.1, 0.0), "plate": (0.6, -0.1, 0.0)})
    t = rt.task(
        rt.ir.Locate(query=rt.ir.Text(value="cup"), name="cup"),
        rt.ir.Locate(query=rt.ir.Text(value="plate"), name="plate"),
        rt.ir.RunSkill(skill="place"),
    )
    out = rt.run(t, grounder=grounder)
    np.testing.assert_allclose(out.node("run skill place").values["target"], [0.6, -0.1, 0.0])


def test_skill_on_a_target_not_found_fails_without_moving(rt):
    from vitalskills.app.dryrun import DryRunGrounder

    out = rt.run(locate_and_run(rt, retries=3), grounder=DryRunGrounder(missing=["power strip"]))
    assert out.result.reason.endswith("cannot run `plug_insert`: `strip` was not found")
    assert out.robot.actions == 0


def test_safety_stop_fails_the_skill_at_once_without_retries(rt):
    robot = rt.GoalRobot(GOAL, workspace=((0.0, -0.5, 0.04), (1.0, 0.5, 1.0)))
    out = rt.run(locate_and_run(rt, retries=3), robot=robot, policies=rt.GoalPolicies(GOAL))
    node = out.node("run skill plug_insert at strip retries 3")
    assert node.status.value == "failure"
    assert node.values["attempts"] == 1
    assert node.reason.startswith("safety stop during attempt 1: the end effector would leave")
    assert not robot.moving


def test_skill_halt_stops_the_robot_and_ends_the_attempts(rt):
    t = rt.task(
        rt.ir.Locate(query=rt.ir.Text(value="power strip"), name="strip"),
        rt.ir.Try(
            body=[
                rt.ir.Timeout(
                    duration=rt.q(1, "s"),
                    body=[rt.ir.RunSkill(skill="plug_insert", retries=4)],
                )
            ],
            orelse=[rt.ir.Wait(duration=rt.q(100, "ms"))],
        ),
    )
    out = rt.run(t, robot=rt.GoalRobot(GOAL), policies=rt.GoalPolicies(GOAL, misses=9))
    node = out.node("run skill plug_insert retries 4")
    assert node.status.value == "halted"
    assert node.values["attempts"] == 1
    assert ("node_started", "wait 100 ms", False) in out.moving


def test_policies_are_loaded_before_the_robot_moves(rt):
    from vitalskills.errors import VitalskillsError

    class Missing:
        def load(self, manifest):
            raise VitalskillsError(f"no weights for `{manifest.name}`")

    t = rt.task(rt.ir.Move(delta=rt.vec([0, 0, 50])), rt.ir.RunSkill(skill="plug_insert"))
    out = rt.run(t, policies=Missing(), expect=VitalskillsError)
    assert str(out.error) == "no weights for `plug_insert`"
    assert out.robot.actions == 0


def test_safety_stop_in_a_plain_motion_fails_it(rt):
    robot = rt.GoalRobot(GOAL, workspace=((0.0, -0.5, 0.2), (1.0, 0.5, 1.0)))
    out = rt.run(rt.task(rt.ir.Move(delta=rt.vec([0, 0, -200]))), robot=robot)
    assert out.result.status == "failure"
    assert "safety stop" in out.result.reason
    assert isinstance(SafetyStop("x"), Exception)


def test_skill_at_a_point_param(rt):
    home = rt.ir.Param(name="slot", default=rt.vec([0.3, 0.2, 0.0], "m"))
    t = rt.task(rt.ir.RunSkill(skill="place", at=rt.ref("slot")), params=[home])
    out = rt.run(t)
    assert out.result.ok
    np.testing.assert_allclose(out.node("run skill place at slot").values["target"], [0.3, 0.2, 0])
    np.testing.assert_allclose(out.robot.position, [0.3, 0.2, 0.05], atol=0.002)


class TurnedTargetGrounder:
    """Stands in for perception: the target at a known point, turned by a known heading."""

    name = "dry-run"

    def __init__(self, point: tuple[float, float, float], yaw: float) -> None:
        self.point, self.yaw = np.asarray(point), yaw

    def locate(self, frame, query):
        from vitalskills.perception.grounder import LocateResult

        return LocateResult(
            query=query, grounder=self.name, found=True, score=1.0, point=self.point.copy(),
            yaw=self.yaw, yaw_period=np.pi,
        )  # fmt: skip


@pytest.mark.parametrize("yaw", [0.5, 0.5 + np.pi, -0.3, np.pi - 0.3])
def test_approach_faces_a_turned_target_and_turns_its_offset(rt, yaw: float) -> None:
    from vitalskills.robot.geometry import ee_pose, heading

    point = (0.5, 0.1, 0.03)
    manifests = {"plug_insert": rt.Manifest("plug_insert", approach_offset=(-0.045, 0.0, 0.06))}
    robot = rt.GoalRobot((9.0, 9.0, 9.0))  # never succeeds: the run stops after the policy
    out = rt.run(
        locate_and_run(rt), robot=robot, grounder=TurnedTargetGrounder(point, yaw),
        policies=ConstantPolicies(STILL), manifests=manifests,
    )  # fmt: skip
    node = out.node("run skill plug_insert at strip")
    facing = (yaw + np.pi / 2) % np.pi - np.pi / 2  # the equivalent nearest the base x axis
    expected = np.add(point, [-0.045 * np.cos(facing), -0.045 * np.sin(facing), 0.06])
    np.testing.assert_allclose(node.values["approach"], expected, atol=1e-9)
    assert node.values["heading_deg"] == pytest.approx(np.degrees(facing), abs=0.1)
    position, rotation = ee_pose(robot.observe())
    np.testing.assert_allclose(position, expected, atol=0.002)
    assert abs(heading(rotation) - facing) < 0.01


class ConstantPolicies:
    """Policies that send one fixed action every step."""

    def __init__(self, action: np.ndarray) -> None:
        self.action = action

    def load(self, manifest):
        action = self.action

        class Constant:
            def reset(self) -> None:
                pass

            def act(self, observation) -> np.ndarray:
                return action.copy()

        return Constant()


#: Hold still, so the pose after the run is the approach pose.
STILL = np.array([0, 0, 0, 0, 0, 0, 1.0], dtype=np.float32)
#: Spin the gripper about its axis (about 115 degrees in a 20-step attempt).
TURN = np.array([0, 0, 0, 0, 0, 0.1, 1.0], dtype=np.float32)


def test_a_retry_faces_the_target_the_same_way_however_the_gripper_turned(rt) -> None:
    """After a failed attempt the gripper may point anywhere; the retry must not flip."""

    point, yaw = (0.5, 0.1, 0.03), 0.4
    manifests = {"plug_insert": rt.Manifest("plug_insert", max_steps=20)}
    robot = rt.GoalRobot((9.0, 9.0, 9.0))
    out = rt.run(
        locate_and_run(rt, retries=1), robot=robot, grounder=TurnedTargetGrounder(point, yaw),
        policies=ConstantPolicies(TURN), manifests=manifests,
    )  # fmt: skip
    node = out.node("run skill plug_insert at strip retries 1")
    assert node.values["attempts"] == 2
    assert node.values["heading_deg"] == pytest.approx(np.degrees(yaw), abs=0.1)


class _FailingPolicy:
    """A policy whose process dies after `after` actions (as `RemotePolicy` reports it)."""

    def __init__(self, after: int, on_reset: bool = False) -> None:
        self.after = after
        self.on_reset = on_reset
        self.acted = 0

    def reset(self) -> None:
        if self.on_reset:
            raise PolicyFailure("no reply to `reset` within 2 s")

    def act(self, observation) -> np.ndarray:
        self.acted += 1
        if self.acted > self.after:
            raise PolicyFailure("its process exited with code 3")
        return np.array([0.0, 0.0, -0.005, 0.0, 0.0, 0.0, 0.0], np.float32)


class _Provider:
    def __init__(self, policy) -> None:
        self.policy = policy

    def load(self, manifest):
        return self.policy


@pytest.mark.parametrize("on_reset", [False, True])
def test_a_policy_that_dies_fails_its_skill_cleanly_and_the_fallback_runs(rt, on_reset):
    body = locate_and_run(rt, retries=2)
    task = rt.task(
        body.body[0],
        rt.ir.Try(body=[body.body[1]], orelse=[rt.ir.Gripper(action="open")]),
    )
    robot = rt.GoalRobot(GOAL)
    out = rt.run(task, robot=robot, policies=_Provider(_FailingPolicy(3, on_reset)))
    node = out.node("run skill plug_insert at strip retries 2")
    assert node.status == "failure"
    cause = "no reply to `reset` within 2 s" if on_reset else "its process exited with code 3"
    assert node.reason == f"the policy of `plug_insert` failed: {cause}"
    assert node.values["attempts"] == 1  # a dead policy is not retried
    assert out.result.status == "success" and out.status("gripper open") == "success"
    assert robot.stops >= 1 and not robot.moving
