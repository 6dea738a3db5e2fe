"""Faults across real processes and sockets: SIGKILLed clients, dead and restarted servers."""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import zmq
from conftest import HERE, cli_command, process, read_address, served
from fake_arm import FakeArm

from vitalskills.bridge import ErrorCode, connect
from vitalskills.bridge.protocol import PROTOCOL_VERSION, decode, encode
from vitalskills.robot import RobotError

WATCHDOG_S = 0.2
#: Allowance on a busy 2-core machine: poll tick (20 ms), scheduling, the file write.
MARGIN_S = 0.25


def stop_times(log: Path) -> list[float]:
    if not log.exists():
        return []
    return [float(line.split()[1]) for line in log.read_text().splitlines() if line]


def test_sigkilled_client_makes_the_server_stop_the_robot_within_the_watchdog(
    short_dir: Path,
) -> None:
    log = short_dir / "stops.log"
    server_cmd = cli_command(
        "bridge", "serve", "--driver", "fake_arm:FakeArm", "--option", f"stop_log={log}",
        "--bind", f"ipc://{short_dir}/arm.sock", "--watchdog-ms", str(WATCHDOG_S * 1000),
    )  # fmt: skip
    with process(server_cmd) as server:
        address = read_address(server)
        with process([sys.executable, str(HERE / "moving_client.py"), address]) as client:
            assert client.stdout is not None
            assert client.stdout.readline().strip() == "moving", client.stderr.read()
            time.sleep(1.0)  # ~3 action gaps longer than the watchdog, bridged by heartbeats
            assert stop_times(log) == [], "the server stopped a live client's robot"
            killed = time.monotonic()
            os.kill(client.pid, signal.SIGKILL)
            deadline = killed + 5.0
            while not stop_times(log) and time.monotonic() < deadline:
                time.sleep(0.005)
        stops = stop_times(log)
        assert stops, "the server never stopped the robot after the client died"
        latency = stops[0] - killed
        print(f"watchdog stop {latency * 1e3:.1f} ms after SIGKILL (limit {WATCHDOG_S * 1e3:g})")
        assert 0 < latency <= WATCHDOG_S + MARGIN_S
        # The server keeps serving and reports the stop in its log.
        with connect(address) as client:
            client.observe()
        server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=10)
    assert "the watchdog stopped the robot" in err
    assert server.returncode == 0


def test_dead_server_gives_a_clear_error_quickly() -> None:
    with served() as server:
        address = server.address  # a port that was free a moment ago
    started = time.monotonic()
    with pytest.raises(RobotError) as caught:
        connect(address, timeout_s=0.3)
    assert time.monotonic() - started < 3.0
    assert address in caught.value.message and "no reply" in caught.value.message
    assert caught.value.hint and "vitalskills bridge serve" in caught.value.hint


def test_client_reconnects_to_a_restarted_server(endpoint: str) -> None:
    with served(bind=endpoint) as first:
        address = first.address
        client = connect(address, timeout_s=0.5)
        client.reset(seed=1)
        client.act(np.zeros(7))
    try:
        with pytest.raises(RobotError, match="no reply"):
            client.observe()
        restarted = FakeArm()
        with served(restarted, bind=address):
            obs = client.reset(seed=1)
            np.testing.assert_array_equal(obs["ee_pose"], FakeArm().reset(seed=1)["ee_pose"])
            client.act(np.array([0.01, 0, 0, 0, 0, 0, 0]))
            assert restarted.moving
    finally:
        client.close()


def test_a_hung_driver_times_out_and_a_stale_reply_is_never_taken_for_a_new_one() -> None:
    class Slow(FakeArm):
        delay = 0.6

        def observe(self) -> dict[str, np.ndarray]:
            time.sleep(self.delay)
            return super().observe()

    arm = Slow()
    with served(arm) as server:
        client = connect(server.address, timeout_s=0.2)
        try:
            with pytest.raises(RobotError, match=r"within 0\.2 s"):
                client.observe()
            arm.delay = 0.0
            client.timeout_s = 5.0
            applied = client.act(np.array([0.01, 0, 0, 0, 0, 0, 0]))
            np.testing.assert_allclose(applied, [0.01, 0, 0, 0, 0, 0, 0], rtol=1e-6)
        finally:
            client.close()


def free_tcp_address() -> str:
    """A loopback address whose port was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{probe.getsockname()[1]}"


def raw_request(sock: zmq.Socket, header: dict, arrays: dict | None = None) -> None:
    """Send as a client written from the protocol document alone would."""
    sock.send_multipart(
        encode({"v": PROTOCOL_VERSION, "session": "0123456789abcdef", **header}, arrays)
    )


def raw_reply(sock: zmq.Socket, timeout_s: float) -> dict | None:
    if not sock.poll(int(timeout_s * 1000), zmq.POLLIN):
        return None
    return decode(sock.recv_multipart(), 1 << 24).header


@pytest.mark.parametrize("delay_s", [0.0, 0.5, 2.0])
def test_an_act_queued_while_the_server_was_dead_is_refused_by_its_successor(
    short_dir: Path, delay_s: float
) -> None:
    """Kill the server, send `act` (it times out), restart a server on the same address
    after `delay_s`: ZeroMQ delivers the queued `act`, and the new server refuses it."""
    address = free_tcp_address()
    acts = short_dir / "acts.log"

    def serve() -> list[str]:
        return cli_command(
            "bridge", "serve", "--driver", "fake_arm:FakeArm", "--option", f"act_log={acts}",
            "--bind", address, "--watchdog-ms", "5000",
        )  # fmt: skip

    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.linger = 0
    sock.connect(address)
    try:
        with process(serve()) as first:
            read_address(first)
            raw_request(sock, {"type": "hello", "id": 1, "versions": [PROTOCOL_VERSION]})
            hello = raw_reply(sock, 10.0)
            assert hello is not None and hello["ok"], hello
            raw_request(sock, {"type": "reset", "id": 2, "instance": hello["instance"]})
            assert raw_reply(sock, 10.0)["ok"]
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(timeout=10)
        raw_request(
            sock,
            {"type": "act", "id": 3, "instance": hello["instance"]},
            {"action": np.array([0.01, 0, 0, 0, 0, 0, 0], np.float32)},
        )
        assert raw_reply(sock, 0.5) is None  # the documented timeout: nobody is there
        acts.unlink(missing_ok=True)
        time.sleep(delay_s)
        with process(serve()) as second:
            read_address(second)
            late = raw_reply(sock, 10.0)  # the queued act reaches the new server
            assert late is not None and late["id"] == 3, late
            assert late["ok"] is False and late["error"]["code"] == ErrorCode.STALE
            raw_request(sock, {"type": "hello", "id": 4, "versions": [PROTOCOL_VERSION]})
            fresh = raw_reply(sock, 10.0)
            assert fresh["ok"] and fresh["instance"] != hello["instance"]
        assert not acts.exists() or acts.read_text() == "", "a stale act moved the arm"
    finally:
        sock.close()


def test_the_reference_client_says_hello_again_after_a_stale_refusal(endpoint: str) -> None:
    with served(bind=endpoint) as first:
        client = connect(first.address, timeout_s=2.0)
        client.reset(seed=1)
        first.instance = "an-earlier-one"  # as if the server had restarted since hello
        with pytest.raises(RobotError, match="stale"):
            client.act(np.zeros(7))
        client.reset(seed=1)  # a fresh hello: the server's current instance
        client.act(np.zeros(7))
        client.close()
