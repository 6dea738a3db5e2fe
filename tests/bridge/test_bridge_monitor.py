"""HandshakeMonitor on real loopback sockets: refused handshakes are counted and logged."""

from __future__ import annotations

import logging
import socket as net
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import zmq

from vitalskills.bridge.auth import (
    CurveKeyPair,
    generate_keys,
    load_key_pair,
    load_public_key,
    make_curve_client,
    make_curve_server,
    start_authenticator,
)
from vitalskills.bridge.monitor import HandshakeMonitor, describe
from vitalskills.bridge.ratelog import RateLimitedLog

LOGGER = "vitalskills.test.monitor"


@dataclass
class Curve:
    """A CurveZMQ ROUTER server on loopback, watched by a monitor, and its keys."""

    context: zmq.Context
    server: zmq.Socket
    monitor: HandshakeMonitor
    address: str
    server_public: bytes
    alice: CurveKeyPair
    mallory: CurveKeyPair
    clients: list[zmq.Socket] = field(default_factory=list)  # alive until the test ends


@pytest.fixture
def curve(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> Iterator[Curve]:
    caplog.set_level(logging.INFO, logger=LOGGER)
    generate_keys(tmp_path / "server", "server")
    generate_keys(tmp_path / "clients", "alice")
    generate_keys(tmp_path / "others", "mallory")
    context = zmq.Context()  # the authenticator is one per context: never share it
    authenticator = start_authenticator(context, tmp_path / "clients")
    server = context.socket(zmq.ROUTER)
    server.linger = 0
    make_curve_server(server, load_key_pair(tmp_path / "server" / "server.key_secret"))
    port = server.bind_to_random_port("tcp://127.0.0.1")
    monitor = HandshakeMonitor(server, logging.getLogger(LOGGER))
    clients = zmq.Context()
    try:
        yield Curve(
            clients,
            server,
            monitor,
            f"tcp://127.0.0.1:{port}",
            load_public_key(tmp_path / "server" / "server.key"),
            load_key_pair(tmp_path / "clients" / "alice.key_secret"),
            load_key_pair(tmp_path / "others" / "mallory.key_secret"),
        )
    finally:
        monitor.close()
        server.close()
        authenticator.stop()
        context.term()
        clients.destroy(linger=0)


def dealer(curve: Curve, keys: CurveKeyPair | None, server_public: bytes | None = None) -> None:
    """Connect a client (with `keys`, or plain) and send one message."""
    client = curve.context.socket(zmq.DEALER)
    client.linger = 0
    if keys is not None:
        make_curve_client(client, keys, server_public or curve.server_public)
    client.connect(curve.address)
    client.send(b"hello")
    curve.clients.append(client)


def wait_for(curve: Curve, condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "the monitor saw nothing in time"
        curve.monitor.poll()
        time.sleep(0.005)


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records]


def test_an_unknown_key_is_refused_and_logged(
    curve: Curve, caplog: pytest.LogCaptureFixture
) -> None:
    dealer(curve, curve.mallory)
    wait_for(curve, lambda: curve.monitor.refused >= 1)
    assert curve.monitor.accepted == 0
    assert messages(caplog) == [
        f"refused a CurveZMQ handshake on {curve.address}: its public key is not among "
        "the allowed clients (ZAP status 400)"
    ]


def test_a_client_without_keys_is_refused(curve: Curve, caplog: pytest.LogCaptureFixture) -> None:
    dealer(curve, None)
    wait_for(curve, lambda: curve.monitor.refused >= 1)
    # who notices the mismatch first is a race: the server, or the client hanging up
    assert messages(caplog)[0] in (
        f"refused a CurveZMQ handshake on {curve.address}: the client does not use "
        "CurveZMQ (mechanism mismatch)",
        f"refused a CurveZMQ handshake on {curve.address}: the peer broke off the "
        "handshake (Broken pipe): often a client without keys",
    )


def test_a_client_trusting_another_server_key_is_logged_once(
    curve: Curve, caplog: pytest.LogCaptureFixture
) -> None:
    dealer(curve, curve.alice, server_public=curve.mallory.public)
    wait_for(curve, lambda: curve.monitor.refused >= 3)  # it retries every 100 ms or so
    assert messages(caplog) == [
        f"refused a CurveZMQ handshake on {curve.address}: its hello did not decrypt: "
        "the client probably trusts another server key"
    ]


def test_an_allowed_client_is_not_refused(curve: Curve) -> None:
    dealer(curve, curve.alice)
    assert curve.server.poll(5000), "the allowed client's message never came"
    assert curve.server.recv_multipart()[-1] == b"hello"
    wait_for(curve, lambda: curve.monitor.accepted >= 1)
    assert curve.monitor.refused == 0


def test_poll_with_nothing_to_read_returns_at_once(curve: Curve) -> None:
    start = time.perf_counter()
    assert sum(curve.monitor.poll() for _ in range(1000)) == 0
    assert time.perf_counter() - start < 1.0  # ~5 us each; generous for a loaded CI box


def test_a_flood_of_refusals_does_not_stall_the_server(
    curve: Curve, caplog: pytest.LogCaptureFixture
) -> None:
    # zmq's default monitor queue (~2,000 events) would block the I/O thread here
    host, port = curve.address.removeprefix("tcp://").split(":")
    for _ in range(3000):
        net.create_connection((host, int(port)), timeout=2).close()
    dealer(curve, curve.alice)
    assert curve.server.poll(5000), "the server stalled behind its unread monitor"
    wait_for(curve, lambda: curve.monitor.refused >= 2900)
    assert len(caplog.records) <= 3


def test_a_shared_log_counts_handshakes_with_the_rest(
    curve: Curve, caplog: pytest.LogCaptureFixture
) -> None:
    shared = RateLimitedLog(logging.getLogger(LOGGER))
    monitor = HandshakeMonitor(curve.server, shared)  # replaces the fixture's monitor
    try:
        dealer(curve, curve.mallory)
        dealer(curve, curve.mallory)
        deadline = time.monotonic() + 5
        while monitor.refused < 2 and time.monotonic() < deadline:
            monitor.poll()
            time.sleep(0.005)
        assert monitor.refused == 2 and shared.pending == 1
    finally:
        monitor.close()
    shared.close()
    assert messages(caplog)[-1].startswith("refused 1 more messages in the last ")
    assert messages(caplog)[-1].endswith(" s: unknown-key 1")


def test_close_twice_and_after_the_socket_is_gone(curve: Curve) -> None:
    curve.server.close()
    curve.monitor.close()
    curve.monitor.close()
    assert curve.monitor.poll() == 0


@pytest.mark.parametrize(
    ("event", "value", "kind"),
    [
        (zmq.EVENT_HANDSHAKE_FAILED_AUTH, 400, "unknown-key"),
        (zmq.EVENT_HANDSHAKE_FAILED_AUTH, 500, "auth"),
        (
            zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL,
            zmq.PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH,
            "not-curve",
        ),
        (zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL, zmq.PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC, "crypto"),
        (
            zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL,
            zmq.PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_HELLO,
            "protocol",
        ),
        (zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL, 104, "broken-off"),
    ],
)
def test_every_refusal_has_a_kind_and_a_reason(event: int, value: int, kind: str) -> None:
    got_kind, reason = describe(event, value)
    assert got_kind == kind and reason and reason[0].islower()


def test_reasons_name_unusual_codes() -> None:
    assert (
        describe(zmq.EVENT_HANDSHAKE_FAILED_AUTH, 500)[1]
        == "the authenticator failed (ZAP status 500)"
    )
    assert describe(zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL, 0x10000013)[1] == (
        "protocol error `zmtp_malformed_command_hello`"
    )
    assert describe(zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL, 104)[1] == (
        "the peer broke off the handshake (Connection reset by peer): often a client without keys"
    )
