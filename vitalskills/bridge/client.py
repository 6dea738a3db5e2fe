"""The bridge client: a `Robot` whose every call is one request to a bridge server.

A DEALER socket sends requests tagged with increasing ids and waits, with a
timeout, for the reply with the same id (stale replies are dropped). A timeout
closes the socket; the next call opens a fresh one and says hello again, which is
how a client reconnects to a restarted server. A background thread sends
heartbeats on its own socket so that the server's watchdog knows this process is
alive between actions.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import zmq

from vitalskills.bridge.auth import CurveKeyPair, load_key_pair, load_public_key, make_curve_client
from vitalskills.bridge.protocol import (
    DEFAULT_MAX_MESSAGE_BYTES,
    PROTOCOL_VERSION,
    SUPPORTED_VERSIONS,
    ErrorCode,
    Message,
    ProtocolError,
    decode,
    encode,
    scene_from_wire,
)
from vitalskills.errors import UsageError
from vitalskills.robot import (
    Observation,
    RobotCapabilities,
    RobotError,
    RobotUnreachable,
    SafetyStop,
    SceneFrame,
)

log = logging.getLogger("vitalskills.bridge")

TRANSPORTS = ("tcp://", "ipc://", "inproc://")


class BridgeClient:
    """A robot behind a bridge server; implements `vitalskills.robot.Robot`.

    Args:
        address: the server's zmq endpoint, e.g. `tcp://10.0.0.7:5555`.
        timeout_s: how long any request waits for its reply.
        reset_timeout_s: the same for `reset`, which may move the arm home.
        connect_timeout_s: how long `hello` waits (default `timeout_s`); no reply in
            that time raises `RobotUnreachable`.
        curve: this client's key pair, for a CurveZMQ server.
        server_key: the server's public key (Z85), with `curve`.
        heartbeat: send heartbeats between calls (turn off only to test the watchdog).
    """

    def __init__(
        self,
        address: str,
        *,
        timeout_s: float = 2.0,
        reset_timeout_s: float = 10.0,
        connect_timeout_s: float | None = None,
        curve: CurveKeyPair | None = None,
        server_key: bytes | None = None,
        heartbeat: bool = True,
        context: zmq.Context | None = None,
    ) -> None:
        if not address.startswith(TRANSPORTS):
            raise UsageError(
                f"robot address `{address}` has no zmq transport",
                hint="write it like tcp://HOST:PORT or ipc:///path/to/socket",
            )
        if (curve is None) != (server_key is None):
            raise UsageError(
                "CurveZMQ needs both the client's key pair and the server's public key",
                hint="pass --curve-secret CLIENT.key_secret and --curve-server SERVER.key",
            )
        self.address = address
        self.timeout_s = timeout_s
        self.reset_timeout_s = reset_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.session = uuid.uuid4().hex[:16]
        self.hello: dict[str, Any] = {}
        self._curve = (curve, server_key) if curve is not None else None
        self._context = context or zmq.Context.instance()
        self._socket: zmq.Socket | None = None
        self._rcvtimeo_ms = -1  # the main socket's RCVTIMEO (zmq's default: wait forever)
        self._next_id = 1
        self._instance = ""  # the server's `instance` from hello; motion requests carry it
        self._capabilities: RobotCapabilities | None = None
        self._heartbeat_enabled = heartbeat
        self._heartbeat_stop = threading.Event()
        self._heartbeat_thread: threading.Thread | None = None

    # ------------------------------------------------------------------ connection
    def connect(self) -> BridgeClient:
        """Open the socket and say hello (negotiates the version, caches capabilities)."""
        self._ensure_socket()
        if self._heartbeat_enabled and self._heartbeat_thread is None:
            self._heartbeat_stop.clear()
            self._heartbeat_thread = threading.Thread(
                target=self._heartbeat_loop, name="bridge-heartbeat", daemon=True
            )
            self._heartbeat_thread.start()
        return self

    def _new_socket(self, heartbeats: bool = False) -> zmq.Socket:
        socket = self._context.socket(zmq.DEALER)
        socket.linger = 0
        # A DEALER with no usable peer (a CurveZMQ handshake the server refused, a pipe
        # being rebuilt) blocks in send; never for longer than a request may take.
        socket.sndtimeo = max(1, int(self.timeout_s * 1000))
        if heartbeats:  # only worth sending now: never queue them for a dead server
            socket.sndhwm = 2
            socket.immediate = True
        socket.setsockopt(zmq.MAXMSGSIZE, DEFAULT_MAX_MESSAGE_BYTES)
        if self._curve is not None:
            make_curve_client(socket, *self._curve)
        try:
            socket.connect(self.address)
        except zmq.ZMQError as error:
            socket.close()
            raise UsageError(
                f"cannot connect to `{self.address}`: {error}",
                hint="write it like tcp://HOST:PORT or ipc:///path/to/socket",
            ) from None
        return socket

    def _ensure_socket(self) -> zmq.Socket:
        if self._socket is None:
            self._socket = self._new_socket()
            wait = self.timeout_s if self.connect_timeout_s is None else self.connect_timeout_s
            reply = self._request("hello", {"versions": list(SUPPORTED_VERSIONS)}, timeout_s=wait)
            if reply.header.get("version") not in SUPPORTED_VERSIONS:
                self._drop_socket()
                raise RobotError(
                    f"bridge server at {self.address} chose protocol version "
                    f"{reply.header.get('version')!r}; this client speaks "
                    f"{list(SUPPORTED_VERSIONS)}",
                    hint="upgrade the client or the server so that they share a version",
                )
            self.hello = reply.header
            self._instance = str(reply.header.get("instance", ""))
            self._capabilities = RobotCapabilities.model_validate(reply.header["capabilities"])
        return self._socket

    def _drop_socket(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
            self._rcvtimeo_ms = -1

    def _no_reply(self, request_type: str, timeout: float, why: str = "") -> RobotUnreachable:
        """Drop the socket (the next call reconnects) and say what did not answer."""
        self._drop_socket()
        return RobotUnreachable(
            f"no reply from the bridge server at {self.address} to `{request_type}` "
            f"within {timeout:g} s{why}",
            hint="check that `vitalskills bridge serve` runs there and that the address, "
            "port and CurveZMQ keys are right; the next call reconnects",
        )

    def _request(
        self,
        request_type: str,
        fields: dict[str, Any] | None = None,
        arrays: dict[str, np.ndarray] | None = None,
        timeout_s: float | None = None,
    ) -> Message:
        socket = self._socket if request_type == "hello" else self._ensure_socket()
        assert socket is not None
        request_id = self._next_id
        self._next_id += 1
        header = {"v": PROTOCOL_VERSION, "type": request_type, "id": request_id}
        header["session"] = self.session
        if fields:
            header.update(fields)
        timeout = self.timeout_s if timeout_s is None else timeout_s
        try:
            socket.send_multipart(encode(header, arrays))
        except zmq.Again:
            raise self._no_reply(
                request_type, timeout, " (the request could not be sent)"
            ) from None
        deadline = time.monotonic() + timeout
        wait_ms = int(timeout * 1000)
        while True:
            # RCVTIMEO rather than poll: one call per reply; set only when it changes.
            if wait_ms <= 0:
                raise self._no_reply(request_type, timeout)
            if wait_ms != self._rcvtimeo_ms:
                socket.setsockopt(zmq.RCVTIMEO, wait_ms)
                self._rcvtimeo_ms = wait_ms
            try:
                frames = socket.recv_multipart()
            except zmq.Again:
                wait_ms = 0
                continue
            try:
                reply = decode(frames, DEFAULT_MAX_MESSAGE_BYTES)
            except ProtocolError as error:
                log.warning("dropped an unreadable reply from %s: %s", self.address, error)
            else:
                if reply.header.get("id") == request_id:
                    break
                log.debug("dropped a stale reply %r", reply.header.get("id"))
            wait_ms = int((deadline - time.monotonic()) * 1000)
        if not reply.header.get("ok", False):
            error = reply.header.get("error") or {}
            if error.get("code") == ErrorCode.STALE:
                self._drop_socket()  # the server restarted: the next call says hello again
            raise self._error(request_type, error)
        return reply

    def _error(self, request_type: str, error: dict[str, Any]) -> RobotError:
        code = str(error.get("code", "unknown"))
        text = f"bridge server at {self.address} refused `{request_type}` ({code}): "
        text += str(error.get("message", "no message"))
        hint = error.get("hint")
        if code in ErrorCode.SAFETY:
            return SafetyStop(text, hint=hint)
        return RobotError(text, hint=hint)

    def _heartbeat_loop(self) -> None:
        socket = self._new_socket(heartbeats=True)
        beat = 0
        try:
            while not self._heartbeat_stop.is_set():
                period = float(self.hello.get("heartbeat_ms", 50.0)) / 1000
                beat += 1
                header = {"v": PROTOCOL_VERSION, "type": "heartbeat", "id": beat}
                header["session"] = self.session
                with contextlib.suppress(zmq.Again):
                    socket.send_multipart(encode(header), zmq.NOBLOCK)
                while socket.poll(0, zmq.POLLIN):
                    socket.recv_multipart()
                self._heartbeat_stop.wait(period)
        finally:
            socket.close()

    def close(self) -> None:
        """Stop the robot (best effort) and close the connection; safe to call twice."""
        self._heartbeat_stop.set()
        if self._heartbeat_thread is not None:
            self._heartbeat_thread.join()
            self._heartbeat_thread = None
        if self._socket is not None:
            try:
                self._request("stop", timeout_s=min(self.timeout_s, 1.0))
            except RobotError as error:
                log.warning("could not stop the robot while closing: %s", error)
            self._drop_socket()

    def __enter__(self) -> BridgeClient:
        return self.connect()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ Robot
    def capabilities(self) -> RobotCapabilities:
        """The robot's capabilities (cached from the last hello, so known offline)."""
        if self._capabilities is None:
            self._ensure_socket()
        assert self._capabilities is not None
        return self._capabilities

    def reset(self, seed: int | None = None) -> Observation:
        """Start an episode; clears a latched protective stop or e-stop."""
        self._ensure_socket()
        fields = {"seed": seed, "instance": self._instance}
        reply = self._request("reset", fields, timeout_s=self.reset_timeout_s)
        return _writable(reply.arrays)

    def observe(self) -> Observation:
        """Read the robot's sensors."""
        return _writable(self._request("observe").arrays)

    def act(self, action: np.ndarray) -> np.ndarray:
        """Send one 7-D action; return the action the robot applied after its limits."""
        array = np.asarray(action, dtype=np.float32).reshape(-1)
        self._ensure_socket()
        fields = {"instance": self._instance}
        return self._request("act", fields, {"action": array}).arrays["applied"].copy()

    def operator(self, request: str) -> dict[str, int]:
        """Ask the person at the robot to `reseat` the object or `move_target`; return the
        server's counts of operator requests carried out (request -> count)."""
        self._ensure_socket()
        fields = {"request": request, "instance": self._instance}
        reply = self._request("operator", fields, timeout_s=self.reset_timeout_s)
        return {str(k): int(v) for k, v in reply.header["operator_counts"].items()}

    def operator_counts(self) -> dict[str, int]:
        """The server's counts of operator requests carried out so far this session."""
        counts = self._request("heartbeat").header.get("operator_counts") or {}
        return {str(k): int(v) for k, v in counts.items()}

    def stop(self) -> None:
        """Stop motion now (the robot holds its pose)."""
        self._request("stop")

    def estop(self) -> None:
        """Emergency stop: the robot stops and refuses actions until `reset`."""
        self._request("estop")

    def scene(self) -> SceneFrame:
        """One RGB-D frame of the scene camera with its camera model."""
        reply = self._request("scene")
        return scene_from_wire(reply.header, _writable(reply.arrays))

    def ping(self) -> float:
        """Round-trip time of one heartbeat request, in seconds."""
        start = time.perf_counter()
        self._request("heartbeat")
        return time.perf_counter() - start


def _writable(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {name: array.copy() for name, array in arrays.items()}


def connect(
    address: str,
    *,
    timeout_s: float = 2.0,
    connect_timeout_s: float | None = None,
    curve_secret: Path | None = None,
    curve_server: Path | None = None,
    heartbeat: bool = True,
) -> BridgeClient:
    """Connect to the bridge server at `address` and say hello; what `--robot` uses.

    Args:
        address: e.g. `tcp://10.0.0.7:5555`.
        timeout_s: per-request timeout.
        connect_timeout_s: how long to wait for the server's `hello` (default `timeout_s`).
        curve_secret: this client's `.key_secret` file, for a CurveZMQ server.
        curve_server: the server's public `.key` file, with `curve_secret`.

    Raises:
        RobotUnreachable: no server answered `hello` within `connect_timeout_s`.
        RobotError: the server refused the handshake.
        UsageError: a malformed address or half of the CurveZMQ options.
    """
    curve = load_key_pair(curve_secret) if curve_secret is not None else None
    server_key = load_public_key(curve_server) if curve_server is not None else None
    client = BridgeClient(
        address,
        timeout_s=timeout_s,
        connect_timeout_s=connect_timeout_s,
        curve=curve,
        server_key=server_key,
        heartbeat=heartbeat,
    )
    return client.connect()
