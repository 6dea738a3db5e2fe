"""The simulator served as hardware: over real sockets, nothing a real arm could not send.

Also the `operator` request (a person's hands in the lab, counted and logged) and the
operator's view (what a person next to the robot sees, on a socket of its own).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zmq
from conftest import cli_command, process, read_address, served
from fake_arm import FakeArm
from typer.testing import CliRunner

from vitalskills.bridge import BridgeServer, DriverError, ServeError, connect, load_driver
from vitalskills.bridge.operator_view import OperatorView
from vitalskills.bridge.protocol import (
    OPERATOR_REQUESTS,
    PROTOCOL_VERSION,
    REQUEST_TYPES,
    decode,
    encode,
)
from vitalskills.cli import app
from vitalskills.robot import RobotError
from vitalskills.sim import HardwareSim, SimRobot
from vitalskills.sim import hardware as sim_hardware
from vitalskills.sim.hardware import HOMING_STEP

SMALL = {"image_size": 24, "scene_size": (24, 32)}
NO_COUNTS = dict.fromkeys(OPERATOR_REQUESTS, 0)


class Recorder:
    """A DEALER speaking the protocol by hand that keeps every reply it gets."""

    def __init__(self, address: str, session: str = "recorder") -> None:
        self.socket = zmq.Context.instance().socket(zmq.DEALER)
        self.socket.linger = 0
        self.socket.connect(address)
        self.session = session
        self.ids = iter(range(1, 10**6))
        self.replies: list[tuple[dict[str, Any], dict[str, np.ndarray]]] = []
        self.hello = self.request("hello", versions=[PROTOCOL_VERSION])
        self.instance = self.hello["instance"]

    def request(self, kind: str, arrays: dict | None = None, **fields: Any) -> dict[str, Any]:
        header = {"v": PROTOCOL_VERSION, "type": kind, "id": next(self.ids)}
        self.socket.send_multipart(encode({**header, "session": self.session, **fields}, arrays))
        assert self.socket.poll(10_000, zmq.POLLIN), f"no reply to {kind}"
        message = decode(self.socket.recv_multipart(), 1 << 26)
        self.replies.append((message.header, message.arrays))
        return {**message.header, **message.arrays}

    def act(self, action: list[float]) -> dict[str, Any]:
        array = np.asarray(action, np.float32)
        return self.request("act", {"action": array}, instance=self.instance)

    def close(self) -> None:
        self.socket.close()


@pytest.fixture
def eyes(short_dir: Path) -> str:
    return f"ipc://{short_dir}/eyes.sock"


def hardware() -> HardwareSim:
    return HardwareSim("plug_in_socket", "spatial", seed=3, **SMALL)


@contextmanager
def serving(make: Callable[[], Any], **options: Any) -> Iterator[tuple[BridgeServer, Any]]:
    """Build a driver, serve it and close it on one thread of its own (a renderer's GL
    context belongs to the thread that made it); yield the server and the driver.

    Read the driver from the test only while no request is in flight.
    """
    ready: queue.Queue = queue.Queue()
    stop = threading.Event()

    def run() -> None:
        driver = make()
        close = getattr(driver, "close", lambda: None)
        try:
            server = BridgeServer(driver, "tcp://127.0.0.1:*", **options)
        except BaseException as error:  # raised in the test
            close()
            ready.put(error)
            return
        ready.put((server, driver))
        try:
            server.serve(stop)
        finally:
            close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    started = ready.get(timeout=60)
    if isinstance(started, BaseException):
        thread.join(timeout=10)
        raise started
    try:
        yield started
    finally:
        stop.set()
        thread.join(timeout=10)
        assert not thread.is_alive(), "the server thread did not stop"


def _keys(value: Any) -> Iterator[str]:
    """Every map key in a reply header, at any depth."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from _keys(item)


def _ground_truth(replies: list[tuple[dict, dict]]) -> list[str]:
    """What in `replies` a real arm could not have sent."""
    found = []
    for header, arrays in replies:
        # The one `privileged` key allowed: the capability that says there is none.
        capabilities = dict(header.get("capabilities", {}))
        if capabilities.pop("privileged", False):
            found.append(f"{header['type']}: privileged capabilities")
        names = [*_keys({**header, "capabilities": capabilities}), *arrays]
        found += [
            f"{header['type']}: {name}"
            for name in names
            if name.startswith(("privileged", "segmentation/", "objects/")) or name == "success"
        ]
        if header.get("labels"):
            found.append(f"{header['type']}: labels {header['labels']}")
    return found


def _episode(raw: Recorder) -> None:
    """Every request type once or more, as a session of demonstrations would send."""
    raw.request("capabilities")
    raw.request("reset", seed=5, instance=raw.instance)
    for step in range(6):
        assert raw.act([0.004, 0.0, 0.006, 0.0, 0.0, 0.02, 1.0 if step < 4 else -1.0])["ok"]
        raw.request("observe")
        raw.request("heartbeat")
    raw.request("scene")
    raw.request("stop")
    raw.request("operator", request="reseat", instance=raw.instance)
    raw.request("operator", request="move_target", instance=raw.instance)
    raw.request("estop")
    raw.request("reset", seed=None, instance=raw.instance)
    raw.request("observe")


def test_nothing_a_real_arm_could_not_send_crosses_the_bridge() -> None:
    with serving(hardware, watchdog_s=5.0) as (server, _):
        raw = Recorder(server.address)
        _episode(raw)
        raw.close()
    assert {header["type"] for header, _ in raw.replies} == set(REQUEST_TYPES)
    assert all(header["ok"] for header, _ in raw.replies), [
        h["error"] for h, _ in raw.replies if not h["ok"]
    ]
    assert _ground_truth(raw.replies) == []
    observations = [a for h, a in raw.replies if h["type"] in ("reset", "observe")]
    assert all(sorted(obs) == sorted(sim_hardware.OBSERVED) for obs in observations)
    scene = next(a for h, a in raw.replies if h["type"] == "scene")
    assert sorted(scene) == ["depth", "extrinsics", "intrinsics", "rgb"]
    # The same episode with the simulator as a simulator does carry the ground truth.
    sim = lambda: SimRobot("plug_in_socket", "spatial", seed=3, **SMALL)  # noqa: E731
    with serving(sim, watchdog_s=5.0) as (server, _):
        raw = Recorder(server.address)
        _episode(raw)
        raw.close()
    found = " ".join(_ground_truth(raw.replies))
    for name in ("privileged/target_pose", "success", "segmentation/", "objects/", "labels"):
        assert name in found


def test_a_client_runs_the_served_hardware_like_any_robot(eyes: str) -> None:
    with (
        serving(hardware, operator_view=eyes) as (server, arm),
        connect(server.address) as robot,
        OperatorView(eyes) as view,
    ):
        assert not robot.capabilities().privileged
        assert robot.hello["operator_counts"] == NO_COUNTS
        target = view.state()["target"]
        obs = robot.reset(seed=1)
        for _ in range(5):
            robot.act(np.array([0.01, 0.0, 0.01, 0, 0, 0, 1.0], np.float32))
        away = robot.observe()["ee_pose"]
        assert np.linalg.norm(away[:3] - obs["ee_pose"][:3]) > 0.05
        back = robot.reset(seed=2)
        state = view.state()
        frame = robot.scene()
    # Reset drove the arm back one bounded step per control period; the scene stayed.
    path = np.asarray(arm.last_homing)
    assert len(path) > 5
    assert np.linalg.norm(np.diff(path[:, :3], axis=0), axis=1).max() <= HOMING_STEP + 0.002
    np.testing.assert_allclose(back["ee_pose"][:3], arm.home[:3], atol=1e-3)
    assert state["target"] == target and state["holding"] and state["steps"] == 0
    assert frame.segmentation == {} and frame.objects == {} and frame.labels == {}


def test_operator_requests_are_done_counted_and_logged(
    eyes: str, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        serving(hardware, watchdog_s=5.0, operator_view=eyes) as (server, arm),
        OperatorView(eyes) as view,
        caplog.at_level(logging.WARNING, logger="vitalskills.bridge"),
    ):
        raw = Recorder(server.address)
        for _ in range(4):
            raw.act([0, 0, 0, 0, 0, 0, -1.0])  # the object drops
        assert not view.state()["holding"]
        target = view.state()["target"]
        reply = raw.request("operator", request="reseat", instance=raw.instance)
        assert reply["ok"] and reply["operator_counts"] == {"reseat": 1, "move_target": 0}
        assert view.state()["holding"]
        assert view.state()["target"] == target  # the scene moves only on move_target
        raw.request("reset", instance=raw.instance)
        assert view.state()["target"] == target
        reply = raw.request("operator", request="move_target", instance=raw.instance)
        assert reply["operator_counts"] == {"reseat": 1, "move_target": 1}
        assert view.state()["target"] != target
        assert raw.request("heartbeat")["operator_counts"] == reply["operator_counts"]
        assert (
            Recorder(server.address, "another").hello["operator_counts"] == reply["operator_counts"]
        )
        # Refused: not counted, nothing done.
        bad = raw.request("operator", request="sweep_the_floor", instance=raw.instance)
        assert bad["error"]["code"] == "bad_request"
        assert raw.request("operator", instance=raw.instance)["error"]["code"] == "bad_request"
        assert raw.request("operator", request="reseat")["error"]["code"] == "malformed"
        stale = raw.request("operator", request="reseat", instance="an-earlier-server")
        assert stale["error"]["code"] == "stale"
        assert server.operator_counts == arm.operator_counts == {"reseat": 1, "move_target": 1}
        raw.close()
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("operator")]
    assert lines == ["operator request 1: reseat", "operator request 2: move_target"]


def test_a_request_a_person_cannot_do_is_a_driver_error() -> None:
    with serving(hardware, watchdog_s=5.0) as (server, _):
        raw = Recorder(server.address)
        for _ in range(3):
            raw.act([0, 0, 0, 0, 0, 0, -1.0])
        for _ in range(24):  # down to the table: the object cannot be seated there
            raw.act([0, 0, 0.01, 0, 0, 0, -1.0])
        reply = raw.request("operator", request="reseat", instance=raw.instance)
        assert reply["error"]["code"] == "driver_error"
        assert "cannot be seated" in reply["error"]["message"]
        assert raw.request("heartbeat")["operator_counts"] == NO_COUNTS
        raw.close()


def test_a_driver_without_operator_requests_refuses_them() -> None:
    with served(FakeArm()) as server:
        raw = Recorder(server.address)
        assert raw.hello["operator_counts"] == NO_COUNTS
        reply = raw.request("operator", request="reseat", instance=raw.instance)
        assert reply["error"]["code"] == "unsupported"
        raw.close()


def test_the_operator_view_answers_state_only(eyes: str) -> None:
    with serving(hardware, operator_view=eyes) as (server, arm):
        assert server.operator_view_address == eyes
        with OperatorView(eyes) as view:
            state = view.state()
        assert state == arm.operator_state()
        socket = zmq.Context.instance().socket(zmq.REQ)  # a REQ client works too
        socket.linger = 0
        socket.connect(eyes)
        socket.send_multipart(encode({"type": "act", "id": 4}))
        assert socket.poll(5000)
        reply = decode(socket.recv_multipart(), 1 << 16).header
        socket.close()
    assert reply["id"] == 4 and not reply["ok"] and reply["error"]["code"] == "unknown_type"
    with pytest.raises(RobotError, match="no reply from the operator's view"):
        OperatorView(eyes, timeout_s=0.05).state()


def test_the_operator_view_needs_a_driver_that_has_one(eyes: str) -> None:
    with (
        pytest.raises(ServeError, match="no `operator_state"),
        serving(FakeArm, operator_view=eyes),
    ):
        pass
    nowhere = "ipc:///no/such/dir/eyes.sock"
    with (
        pytest.raises(ServeError, match="cannot bind the operator's view"),
        serving(hardware, operator_view=nowhere),
    ):
        pass


def test_hardware_options_apply_to_the_simulator_only() -> None:
    with pytest.raises(DriverError, match="apply only to `sim:` drivers"):
        load_driver("fake_arm:FakeArm", hardware=True)
    with pytest.raises(DriverError, match="--green-screen needs --hardware"):
        load_driver("sim:usb_insert", green_screen=True)
    driver = load_driver("sim:usb_insert", hardware=True, green_screen=True, seed=1)
    assert isinstance(driver, HardwareSim) and driver.green_screen
    driver.close()
    runner = CliRunner()
    result = runner.invoke(app, ["bridge", "serve", "--driver", "fake_arm:FakeArm", "--hardware"])
    assert result.exit_code == 1, result.output
    assert "--hardware and --green-screen apply only to `sim:` drivers" in result.output
    result = runner.invoke(
        app,
        ["bridge", "serve", "--driver", "sim:usb_insert", "--operator-view", "ipc:///tmp/x"],
    )
    assert result.exit_code == 1, result.output
    assert "has no `operator_state()`" in result.output
    assert "--hardware" in result.output


def test_operator_requests_are_the_simulators() -> None:
    assert OPERATOR_REQUESTS == sim_hardware.OPERATOR_REQUESTS


@pytest.mark.slow
def test_served_from_the_command_line(eyes: str) -> None:
    command = cli_command(
        "bridge", "serve", "--driver", "sim:usb_insert", "--hardware", "--green-screen",
        "--condition", "spatial", "--seed", "3", "--operator-view", eyes,
        "--bind", "tcp://127.0.0.1:*",
    )  # fmt: skip
    with process(command) as proc:
        address = read_address(proc)
        with connect(address, timeout_s=30) as robot, OperatorView(eyes, timeout_s=30) as view:
            assert not robot.capabilities().privileged
            obs = robot.reset()
            assert sorted(obs) == sorted(sim_hardware.OBSERVED)
            state = view.state()
            assert state["task"] == "usb_insert" and state["holding"]
            rgb = robot.scene().rgb.reshape(-1, 3).astype(int)
    assert np.mean(rgb[:, 1] > rgb[:, 0] + 60) > 0.5  # mostly green screen
