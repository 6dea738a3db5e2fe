"""The operator's view: what a person standing next to the robot sees, on its own socket.

A simulator served as hardware (`bridge serve --driver sim:TASK --hardware
--operator-view ADDR`) answers `state` requests on a second socket with its
`operator_state()`: the true poses and whether the task succeeded. A stand-in
operator (the scripted expert) looks there to decide what to do, as a person looks
at the scene. It is not part of the robot protocol: a robot client never sees it, and
nothing from it is recorded.

The bridge server polls this socket from its own loop, so the driver (and MuJoCo,
which is not thread-safe) is only ever called from one thread. Messages use the
bridge's framing (one msgpack header frame, no arrays):

    request: {"type": "state", "id": int}
    reply:   {"v": 2, "type": "state", "id": int, "ok": true, "state": {...}}
    error:   {"v": 2, "type": ..., "id": ..., "ok": false, "error": {"code", "message"}}
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from types import TracebackType
from typing import Any

import zmq

from vitalskills.bridge.protocol import (
    MAX_HEADER_BYTES,
    PROTOCOL_VERSION,
    ErrorCode,
    ProtocolError,
    decode,
    encode,
    error_header,
)
from vitalskills.errors import UsageError
from vitalskills.robot import RobotError, RobotUnreachable

log = logging.getLogger("vitalskills.bridge")

#: Requests answered per poll at most, so that a flood never delays the robot's socket.
MAX_PER_POLL = 8
TRANSPORTS = ("tcp://", "ipc://", "inproc://")


class OperatorViewServer:
    """Answer `state` requests on `bind` with `state()`; call `answer` from the server loop.

    Raises:
        zmq.ZMQError: the endpoint cannot be bound.
    """

    def __init__(
        self, state: Callable[[], dict[str, Any]], bind: str, context: zmq.Context
    ) -> None:
        self._state = state
        self.socket = context.socket(zmq.ROUTER)
        self.socket.linger = 0
        self.socket.setsockopt(zmq.MAXMSGSIZE, MAX_HEADER_BYTES)
        try:
            self.socket.bind(bind)
        except zmq.ZMQError:
            self.socket.close()
            raise
        self.address: str = self.socket.getsockopt_string(zmq.LAST_ENDPOINT)

    def answer(self) -> None:
        """Answer the requests waiting now (at most `MAX_PER_POLL`); never blocks."""
        for _ in range(MAX_PER_POLL):
            try:
                frames = self.socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            self.socket.send_multipart(self._reply(frames))

    def _reply(self, frames: list[bytes]) -> list:
        envelope, body = [frames[0]], frames[1:]
        if body and len(body[0]) == 0:  # a REQ client's empty delimiter
            envelope.append(b"")
            body = body[1:]
        request_id, request_type = None, "error"
        try:
            header = decode(body, MAX_HEADER_BYTES).header
            request_id = header.get("id") if type(header.get("id")) is int else None
            request_type = str(header.get("type", "error"))[:64]
            if request_type != "state":
                raise ProtocolError(
                    ErrorCode.UNKNOWN_TYPE,
                    f"the operator's view answers only `state`, not {request_type!r}",
                )
            reply = {"v": PROTOCOL_VERSION, "type": "state", "id": request_id, "ok": True}
            reply["state"] = self._state()
            return envelope + encode(reply)
        except ProtocolError as error:
            code, text = error.wire_code, error.message
        except Exception as error:
            log.error("operator_state() failed:\n%s", traceback.format_exc())
            code, text = ErrorCode.DRIVER_ERROR, f"{type(error).__name__}: {error}"
        return envelope + encode(error_header(request_id, request_type, code, text))

    def close(self) -> None:
        """Close the socket."""
        if not self.socket.closed:
            self.socket.close()


class OperatorView:
    """A client of the operator's view: `state()` is what a person next to the robot sees.

    Args:
        address: the `--operator-view` endpoint, e.g. `ipc:///tmp/eyes.sock`.
        timeout_s: how long `state` waits for its reply.
    """

    def __init__(
        self, address: str, timeout_s: float = 2.0, context: zmq.Context | None = None
    ) -> None:
        if not address.startswith(TRANSPORTS):
            raise UsageError(
                f"operator view address `{address}` has no zmq transport",
                hint="write it like ipc:///tmp/eyes.sock or tcp://HOST:PORT",
            )
        self.address = address
        self.timeout_s = timeout_s
        self._context = context or zmq.Context.instance()
        self._socket: zmq.Socket | None = None
        self._next_id = 1

    def state(self) -> dict[str, Any]:
        """Ask for the driver's `operator_state()`.

        Raises:
            RobotUnreachable: no reply within `timeout_s` (the next call reconnects).
            RobotError: the server answered with an error.
        """
        if self._socket is None:
            self._socket = self._context.socket(zmq.DEALER)
            self._socket.linger = 0
            self._socket.connect(self.address)
        request_id = self._next_id
        self._next_id += 1
        self._socket.send_multipart(encode({"type": "state", "id": request_id}))
        deadline = time.monotonic() + self.timeout_s
        while (wait := deadline - time.monotonic()) > 0:
            if not self._socket.poll(max(1, int(wait * 1000)), zmq.POLLIN):
                break
            try:
                header = decode(self._socket.recv_multipart(), MAX_HEADER_BYTES).header
            except ProtocolError as error:
                log.warning("dropped an unreadable reply from %s: %s", self.address, error)
                continue
            if header.get("id") != request_id:
                continue  # a late reply to a request that timed out
            if not header.get("ok"):
                error = header.get("error") or {}
                raise RobotError(
                    f"the operator's view at {self.address} refused `state` "
                    f"({error.get('code')}): {error.get('message')}"
                )
            return dict(header["state"])
        self.close()
        raise RobotUnreachable(
            f"no reply from the operator's view at {self.address} within {self.timeout_s:g} s",
            hint="check that `vitalskills bridge serve ... --operator-view ADDR` runs with "
            "this address; the next call reconnects",
        )

    def close(self) -> None:
        """Close the connection; safe to call twice."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def __enter__(self) -> OperatorView:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
