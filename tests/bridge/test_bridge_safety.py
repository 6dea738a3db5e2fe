"""Robot-side safety: limits, protective stop, e-stop and the watchdog (in-process server)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from conftest import served
from fake_arm import FakeArm

from vitalskills.bridge import ErrorCode, SafetyLimits, connect
from vitalskills.bridge.limits import clip_action
from vitalskills.robot import RobotError, SafetyStop

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
        assert server.events == []
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
