"""Robot-side safety: limits, protective stop, e-stop and the watchdog (in-process server)."""

from __future__ import annotations

import logging
import time

import numpy as np
import pytest
from conftest import served
from fake_arm import FakeArm

from vitalskills.bridge import BridgeServer, ErrorCode, SafetyLimits, connect
from vitalskills.bridge.limits import clip_action
from vitalskills.bridge.server import ServeError
from vitalskills.robot import RobotCapabilities, RobotError, SafetyStop
from vitalskills.robot.geometry import quat_to_matrix

DOWN = np.array([0.0, 1.0, 0.0, 0.0])  # ee z axis along the base's -z


def pose(xyz: list[float]) -> np.ndarray:
    return np.concatenate([xyz, DOWN]).astype(np.float32)


def test_step_and_rotation_are_clipped_to_their_norms() -> None:
    limits = SafetyLimits(max_step=0.01, max_rotation_step=0.1, max_speed=10.0)
    out = clip_action(np.array([0.03, 0.04, 0, 0.3, 0, 0.4, 3.0]), None, limits, 10.0)
    np.testing.assert_allclose(out, [0.006, 0.008, 0, 0.06, 0, 0.08, 1.0], rtol=1e-6)


def test_speed_limit_applies_per_control_period() -> None:
    limits = SafetyLimits(max_step=0.05, max_speed=0.1)
    out = clip_action(np.array([0.05, 0, 0, 0, 0, 0, 0]), None, limits, 10.0)
    np.testing.assert_allclose(out[:3], [0.01, 0, 0], rtol=1e-6)


def test_workspace_box_is_checked_in_the_base_frame() -> None:
    limits = SafetyLimits(workspace_min=(0, -1, 0.1), workspace_max=(1, 1, 1))
    # ee z points down: +0.04 along ee z lowers the arm from 0.12 to 0.08, below 0.1.
    out = clip_action(np.array([0, 0, 0.04, 0, 0, 0, 0]), pose([0.5, 0, 0.12]), limits, 10.0)
    np.testing.assert_allclose(out[:3], [0, 0, 0.02], atol=1e-7)
    # Moving up is not limited.
    out = clip_action(np.array([0, 0, -0.04, 0, 0, 0, 0]), pose([0.5, 0, 0.12]), limits, 10.0)
    np.testing.assert_allclose(out[:3], [0, 0, -0.04], atol=1e-7)


def test_outside_the_box_only_moves_back_toward_it() -> None:
    limits = SafetyLimits(workspace_min=(0, -1, 0.1), workspace_max=(1, 1, 1))
    start = pose([1.2, 0, 0.5])
    out = clip_action(np.array([0.03, 0, 0, 0, 0, 0, 0]), start, limits, 10.0)
    np.testing.assert_allclose(out[:3], [0, 0, 0], atol=1e-7)  # +x base would go further out
    out = clip_action(np.array([-0.03, 0, 0, 0, 0, 0, 0]), start, limits, 10.0)
    np.testing.assert_allclose(out[:3], [-0.03, 0, 0], atol=1e-7)


def test_bad_box_is_rejected() -> None:
    with pytest.raises(ValueError, match="workspace_min"):
        SafetyLimits(workspace_min=(0, 0, 1), workspace_max=(1, 1, 0.5))


def test_server_clips_and_returns_the_applied_action() -> None:
    arm = FakeArm()
    with served(arm, limits=SafetyLimits(max_step=0.01)) as server, connect(server.address) as c:
        c.reset(seed=0)
        applied = c.act(np.array([0.05, 0, 0, 0, 0, 0, 0.5], dtype=np.float32))
    np.testing.assert_allclose(applied, [0.01, 0, 0, 0, 0, 0, 0.5], rtol=1e-6)


def test_tactile_limit_makes_a_latched_protective_stop() -> None:
    arm = FakeArm(contact_z=0.2)
    limits = SafetyLimits(max_tactile=5.0, workspace_min=(-1, -1, -1))
    with served(arm, limits=limits) as server, connect(server.address) as client:
        client.reset(seed=0)
        with pytest.raises(SafetyStop, match="protective stop: tactile reading") as caught:
            for _ in range(30):
                client.act(np.array([0, 0, 0.01, 0, 0, 0, 0], dtype=np.float32))
        assert caught.value.hint and "reset" in caught.value.hint
        assert not arm.moving and arm.stops >= 1
        # Latched: even a harmless action is refused until reset.
        with pytest.raises(SafetyStop, match=ErrorCode.PROTECTIVE_STOP):
            client.act(np.zeros(7, dtype=np.float32))
        client.reset(seed=0)
        client.act(np.zeros(7, dtype=np.float32))
    assert [e.kind for e in server.events] == [ErrorCode.PROTECTIVE_STOP]


def test_estop_stops_and_latches_until_reset() -> None:
    arm = FakeArm()
    with served(arm) as server, connect(server.address) as client:
        client.reset(seed=0)
        client.act(np.array([0.01, 0, 0, 0, 0, 0, 0], dtype=np.float32))
        assert arm.moving
        client.estop()
        assert not arm.moving
        with pytest.raises(SafetyStop, match="e-stop"):
            client.act(np.zeros(7, dtype=np.float32))
        client.reset(seed=1)
        client.act(np.zeros(7, dtype=np.float32))


def test_watchdog_stops_a_silent_client_and_motion_resumes_on_a_new_command() -> None:
    arm = FakeArm()
    with (
        served(arm, watchdog_s=0.1) as server,
        connect(server.address, heartbeat=False) as client,
    ):
        client.reset(seed=0)
        client.act(np.array([0.01, 0, 0, 0, 0, 0, 0], dtype=np.float32))
        sent = time.monotonic()
        deadline = sent + 5.0
        while not server.events and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [e.kind for e in server.events] == [ErrorCode.WATCHDOG]
        assert server.events[0].time - sent >= 0.1
        assert not arm.moving
        with pytest.raises(SafetyStop, match="watchdog stopped the robot"):
            client.act(np.zeros(7, dtype=np.float32))
        client.act(np.array([0.01, 0, 0, 0, 0, 0, 0], dtype=np.float32))
        assert arm.moving


def test_heartbeats_keep_a_live_client_moving() -> None:
    arm = FakeArm()
    with served(arm, watchdog_s=0.1) as server, connect(server.address) as client:
        client.reset(seed=0)
        client.act(np.array([0.01, 0, 0, 0, 0, 0, 0], dtype=np.float32))
        time.sleep(0.6)  # six watchdog periods without a command
        assert not server.events
        assert arm.moving
        client.act(np.zeros(7, dtype=np.float32))


def test_bad_actions_are_refused_without_moving() -> None:
    arm = FakeArm()
    with served(arm) as server, connect(server.address) as client:
        client.reset(seed=0)
        before = arm.position.copy()
        for action in (np.zeros(6), np.full(7, np.nan), np.zeros((7, 1)) + np.inf):
            with pytest.raises(RobotError, match="bad_request") as caught:
                client.act(action)
            assert not isinstance(caught.value, SafetyStop)
        np.testing.assert_array_equal(arm.position, before)
        client.act(np.zeros(7))


def test_driver_exception_becomes_an_error_reply_and_stops_the_robot() -> None:
    class Broken(FakeArm):
        def act(self, action: np.ndarray) -> np.ndarray:
            raise RuntimeError("encoder fault")

    arm = Broken()
    with served(arm) as server, connect(server.address) as client:
        client.reset(seed=0)
        with pytest.raises(RobotError, match=r"driver_error.*encoder fault"):
            client.act(np.zeros(7))
        assert arm.stops == 1
        client.observe()  # still serving


def test_scene_of_a_driver_without_one_is_unsupported() -> None:
    from fake_arm import NoSceneArm

    with (
        served(NoSceneArm()) as server,
        connect(server.address) as client,
        pytest.raises(RobotError, match="unsupported"),
    ):
        client.scene()


def test_another_sessions_flood_neither_feeds_nor_postpones_the_watchdog() -> None:
    import threading

    import zmq

    from vitalskills.bridge.protocol import PROTOCOL_VERSION, encode

    arm = FakeArm()
    with (
        served(arm, watchdog_s=0.1) as server,
        connect(server.address, heartbeat=False) as client,
    ):
        flood = zmq.Context.instance().socket(zmq.DEALER)
        flood.linger = 0
        flood.connect(server.address)
        stop = threading.Event()

        def spam() -> None:
            n = 0
            while not stop.is_set():
                n += 1
                head = {"v": PROTOCOL_VERSION, "type": "heartbeat", "id": n, "session": "other"}
                flood.send_multipart(encode(head))
                while flood.poll(0):
                    flood.recv_multipart()

        client.reset(seed=0)
        client.act(np.array([0.01, 0, 0, 0, 0, 0, 0], dtype=np.float32))
        acted = time.monotonic()
        spammer = threading.Thread(target=spam)
        spammer.start()
        try:
            deadline = acted + 5.0
            while not server.events and time.monotonic() < deadline:
                time.sleep(0.01)
        finally:
            stop.set()
            spammer.join()
            flood.close()
        assert [e.kind for e in server.events] == [ErrorCode.WATCHDOG]
        assert server.events[0].time - acted < 1.0
        assert not arm.moving


def test_an_observation_that_cannot_be_sent_is_a_driver_error_not_a_crash() -> None:
    class Odd(FakeArm):
        def observe(self) -> dict[str, np.ndarray]:
            return {**super().observe(), "label": np.array(["text"])}

    arm = Odd()
    with served(arm) as server, connect(server.address) as client:
        with pytest.raises(RobotError, match="cannot carry"):
            client.observe()
        client.capabilities()
        assert client.ping() > 0


def test_after_a_watchdog_stop_another_session_may_take_over() -> None:
    """As documented: the robot stands still, so the next session to act owns it; the
    stopped session still learns of the stop before it moves the robot again."""
    arm = FakeArm()
    with (
        served(arm, watchdog_s=0.1) as server,
        connect(server.address, heartbeat=False) as first,
        connect(server.address) as second,
    ):
        first.reset(seed=0)
        first.act(np.array([0.01, 0, 0, 0, 0, 0, 0], dtype=np.float32))
        deadline = time.monotonic() + 5.0
        while not server.events and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [e.kind for e in server.events] == [ErrorCode.WATCHDOG]
        second.act(np.array([0.01, 0, 0, 0, 0, 0, 0], dtype=np.float32))
        assert arm.moving
        with pytest.raises(SafetyStop, match="watchdog"):
            first.act(np.zeros(7, dtype=np.float32))
        first.act(np.zeros(7, dtype=np.float32))


BOX = {"workspace_min": (0.3, -0.2, 0.1), "workspace_max": (0.6, 0.2, 0.5)}


def test_an_arm_that_clips_without_saying_so_is_stopped_before_it_leaves_the_box() -> None:
    arm = FakeArm(axis_step=0.01, declare=False)
    yaw = np.array([0, 0, 0, 0, 0, 0.4, 0], dtype=np.float32)
    with served(arm, limits=SafetyLimits(**BOX)) as server, connect(server.address) as client:
        client.reset(seed=0)
        client.act(yaw)
        client.act(yaw)  # 0.8 rad about the tool axis: per-axis clipping now turns moves
        high_x = BOX["workspace_max"][0]
        with pytest.raises(SafetyStop, match="declare the driver's own clipping"):
            for _ in range(40):
                rotation = quat_to_matrix(arm.quat)
                client.act(np.array([*rotation.T @ [0.05, 0, 0], 0, 0, 0, 0], np.float32))
                client.act(np.array([*rotation.T @ [0, -0.05, 0], 0, 0, 0, 0], np.float32))
        assert arm.position[0] <= high_x + 0.002 + 0.01  # at most one clipped step past
        assert [e.kind for e in server.events] == [ErrorCode.PROTECTIVE_STOP]


class Drifting(FakeArm):
    """An arm whose controller overshoots every move by `gain` (bad tracking)."""

    gain = 1.0

    def act(self, action: np.ndarray) -> np.ndarray:
        applied = super().act(action)
        rotation = quat_to_matrix(self.quat)
        self.position = self.position + (self.gain - 1.0) * rotation @ applied[:3]
        return applied


def test_a_measured_pose_outside_the_box_makes_a_protective_stop() -> None:
    arm = Drifting()
    arm.gain = 1.5
    limits = SafetyLimits(**BOX, tracking_tolerance=0.002)
    with served(arm, limits=limits) as server, connect(server.address) as client:
        client.reset(seed=0)
        with pytest.raises(SafetyStop, match="outside the workspace box"):
            for _ in range(60):
                client.act(np.array([-0.01, 0, 0, 0, 0, 0, 0], np.float32))  # base +x
        assert arm.position[0] <= BOX["workspace_max"][0] + 0.002 + 0.006
        assert not arm.moving
        with pytest.raises(SafetyStop, match="protective stop"):
            client.act(np.zeros(7, np.float32))  # latched until reset
        client.reset(seed=0)
        client.act(np.zeros(7, np.float32))


def test_a_measured_step_faster_than_the_limit_makes_a_protective_stop() -> None:
    arm = Drifting()
    arm.gain = 3.0
    limits = SafetyLimits(max_step=0.01, tracking_tolerance=0.002)
    with served(arm, limits=limits) as server, connect(server.address) as client:
        client.reset(seed=0)
        with pytest.raises(SafetyStop, match=r"moved 30\.0 mm in one step"):
            client.act(np.array([0, 0, -0.01, 0, 0, 0, 0], np.float32))


def test_a_driver_declaring_bad_action_limits_cannot_be_served() -> None:
    class Wrong(FakeArm):
        def capabilities(self) -> RobotCapabilities:
            return super().capabilities().model_copy(update={"action_limits": [0.01] * 3})

    with pytest.raises(ServeError, match="declares action_limits"):
        BridgeServer(Wrong(), "tcp://127.0.0.1:*")


def test_declared_action_limits_are_applied_before_the_driver_sees_the_action() -> None:
    arm = FakeArm(axis_step=0.01)
    with served(arm) as server, connect(server.address) as client:
        client.reset(seed=0)
        assert client.hello["limits"]["action_limits"] == pytest.approx(
            [0.01] * 3 + [0.1] * 3 + [1]
        )
        applied = client.act(np.array([0.05, -0.002, 0, 0.3, 0, 0, 2], np.float32))
    np.testing.assert_allclose(applied, [0.01, -0.002, 0, 0.1, 0, 0, 1], rtol=1e-6)


def test_a_flood_of_estops_latches_and_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="vitalskills.bridge")
    arm = FakeArm()
    with served(arm) as server, connect(server.address) as client:
        client.reset(seed=0)
        for _ in range(500):
            client.estop()
        with pytest.raises(SafetyStop, match="e-stop"):
            client.act(np.zeros(7, np.float32))
        assert [e.kind for e in server.events] == [ErrorCode.ESTOP]
    assert sum(r.getMessage().startswith("estop: ") for r in caplog.records) == 1


def test_operator_requests_through_the_reference_client_are_counted() -> None:
    class Tended(FakeArm):
        def operator(self, request: str) -> None:
            self.tended = request

    arm = Tended()
    with served(arm) as server, connect(server.address) as client:
        client.reset(seed=0)
        assert client.operator_counts() == {"reseat": 0, "move_target": 0}
        assert client.operator("reseat") == {"reseat": 1, "move_target": 0}
        assert client.operator("reseat")["reseat"] == 2
        assert client.operator_counts() == {"reseat": 2, "move_target": 0}
        assert arm.tended == "reseat"
        with pytest.raises(RobotError, match="bad_request"):
            client.operator("polish")
