"""The robot-side bridge server: one ROUTER socket in front of one driver.

One thread owns the socket and the driver, so driver calls never overlap. Between
messages it checks the watchdog: while the robot is moving, if the session that
moved it sends neither a command nor a heartbeat for `watchdog_s`, the server
calls `driver.stop()` and tells that session on its next request. Safety limits
are applied here, on the robot side, whatever the client sends.
"""

from __future__ import annotations

import logging
import math
import secrets
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import zmq

from vitalskills.bridge.auth import (
    CurveKeyPair,
    make_curve_server,
    start_authenticator,
)
from vitalskills.bridge.drivers import Driver
from vitalskills.bridge.limits import (
    SafetyLimits,
    clip_action,
    commanded_violation,
    motion_violation,
    tripped_limit,
)
from vitalskills.bridge.monitor import HandshakeMonitor
from vitalskills.bridge.operator_view import OperatorViewServer
from vitalskills.bridge.protocol import (
    DEFAULT_MAX_MESSAGE_BYTES,
    MAX_HEADER_BYTES,
    OPERATOR_REQUESTS,
    PROTOCOL_VERSION,
    REQUEST_TYPES,
    SUPPORTED_VERSIONS,
    ErrorCode,
    Message,
    ProtocolError,
    decode,
    encode,
    error_header,
    scene_to_wire,
)
from vitalskills.bridge.ratelog import RateLimitedLog
from vitalskills.errors import VitalskillsError

log = logging.getLogger("vitalskills.bridge")

DEFAULT_WATCHDOG_S = 0.2
#: Most messages answered in a row before the watchdog is checked again.
MAX_BACKLOG = 32
#: Safety events kept in memory (the log has them all).
MAX_EVENTS = 1000
#: Longest `session` string accepted.
MAX_SESSION_CHARS = 64
#: Seeds are integers in [0, MAX_SEED].
MAX_SEED = 2**63 - 1
#: Dtypes an `action` array may have.
FLOAT_DTYPES = frozenset({"float16", "float32", "float64"})


@dataclass(frozen=True)
class SafetyEvent:
    """A stop the server made on its own: kind is `watchdog`, `protective_stop`, `estop`."""

    kind: str
    message: str
    time: float  # time.monotonic() when the driver's stop returned


class ServeError(VitalskillsError):
    """The server cannot start: the endpoint cannot be bound or the keys are incomplete."""

    code = "R040"


class _Refusal(Exception):
    """A request the server answers with an error reply."""

    def __init__(self, wire_code: str, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.wire_code, self.message, self.hint = wire_code, message, hint


class BridgeServer:
    """Serve `driver` on `bind` until `serve`'s stop event is set.

    Args:
        driver: the robot (see `vitalskills.bridge.drivers`).
        bind: a zmq endpoint, e.g. `tcp://0.0.0.0:5555` or `ipc:///tmp/arm.sock`;
            `tcp://127.0.0.1:*` picks a free port (see `address`).
        name: how `hello` names the driver.
        watchdog_s: stop the robot after this long without a command or heartbeat.
        limits: the safety limits.
        max_message_bytes: larger messages are refused (zmq drops single frames
            larger than this before they reach the server).
        curve: the server's key pair; with it only clients whose public keys are
            in `curve_clients` are accepted.
        operator_view: a second endpoint that answers `state` requests with the
            driver's `operator_state()` (what a person next to the robot sees; see
            `vitalskills.bridge.operator_view`); the driver must have that method.
    """

    def __init__(
        self,
        driver: Driver,
        bind: str,
        *,
        name: str = "driver",
        watchdog_s: float = DEFAULT_WATCHDOG_S,
        limits: SafetyLimits | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        curve: CurveKeyPair | None = None,
        curve_clients: Path | None = None,
        context: zmq.Context | None = None,
        operator_view: str | None = None,
    ) -> None:
        self.driver = driver
        self.name = name
        self.watchdog_s = watchdog_s
        self.limits = limits or SafetyLimits()
        self.max_message_bytes = max_message_bytes
        #: The latest stops the server made (bounded: a client can ask for many e-stops).
        self.events: deque[SafetyEvent] = deque(maxlen=MAX_EVENTS)
        # zmq's authenticator (ZAP) is one per context: a secure server gets a context of
        # its own, so two of them, or one starting as another stops, never collide.
        self._own_context = context is None and curve is not None
        self._context = context or (zmq.Context() if self._own_context else zmq.Context.instance())
        self._authenticator = None
        self._handshakes: HandshakeMonitor | None = None
        self._view: OperatorViewServer | None = None
        #: Refused messages are logged rate-limited: whoever can connect cannot fill the disk.
        self._refusals = RateLimitedLog(log)
        if curve is not None:
            if curve_clients is None:
                raise ServeError(
                    "a CurveZMQ server needs the directory of allowed client keys",
                    hint="pass --curve-clients DIR holding each client's `NAME.key`",
                )
            self._authenticator = start_authenticator(self._context, curve_clients)
            self._client_keys = len(list(curve_clients.glob("*.key")))
        self._socket = self._context.socket(zmq.ROUTER)
        self._socket.linger = 0
        self._socket.setsockopt(zmq.MAXMSGSIZE, max_message_bytes)
        if curve is not None:
            make_curve_server(self._socket, curve)
            self._handshakes = HandshakeMonitor(self._socket, log)
        try:
            self._socket.bind(bind)
        except zmq.ZMQError as error:
            self.close()
            raise ServeError(
                f"cannot bind the bridge server to {bind}: {error}",
                hint="use tcp://HOST:PORT with a free port, or ipc:///path/in/a/writable/dir",
            ) from None
        self.address: str = self._socket.getsockopt_string(zmq.LAST_ENDPOINT)
        #: A new random id every start: requests addressed to an earlier server are refused.
        self.instance = secrets.token_hex(8)
        self._capabilities = driver.capabilities()
        self._commanded_pose: Callable[[], np.ndarray] | None = getattr(
            driver, "commanded_pose", None
        )
        self._action_limits = self._capabilities.action_limits
        if self._action_limits is not None and (
            len(self._action_limits) != self._capabilities.action_dim
            or not all(math.isfinite(b) and b > 0 for b in self._action_limits)
        ):
            self.close()
            raise ServeError(
                f"driver {name} declares action_limits {self._action_limits}: need "
                f"{self._capabilities.action_dim} positive finite bounds",
                hint="fix `action_limits` in the driver's capabilities(), or leave it None",
            )
        self._moving = False
        self._owner = ""
        self._last_seen = time.monotonic()
        self._latched: tuple[str, str] | None = None
        self._watchdog_report: tuple[str, str] | None = None
        self._ee_pose: np.ndarray | None = None
        #: Operator requests carried out since the server started, by request.
        self.operator_counts: dict[str, int] = dict.fromkeys(OPERATOR_REQUESTS, 0)
        self._operator: Callable[[str], Any] | None = getattr(driver, "operator", None)
        if operator_view is not None:
            self._open_view(driver, operator_view)
        self._handlers: dict[str, Callable[[Message, str], tuple[dict, dict]]] = {
            request_type: getattr(self, f"_on_{request_type}") for request_type in REQUEST_TYPES
        }

    def _open_view(self, driver: Driver, bind: str) -> None:
        state = getattr(driver, "operator_state", None)
        if not callable(state):
            self.close()
            raise ServeError(
                f"driver {self.name} has no `operator_state()`, so it has no operator's view",
                hint="serve the simulator as hardware (`--driver sim:TASK --hardware`), "
                "or leave out --operator-view",
            )
        try:
            self._view = OperatorViewServer(state, bind, self._context)
        except zmq.ZMQError as error:
            self.close()
            raise ServeError(
                f"cannot bind the operator's view to {bind}: {error}",
                hint="use ipc:///path/in/a/writable/dir or tcp://127.0.0.1:PORT with a free port",
            ) from None

    @property
    def operator_view_address(self) -> str | None:
        """Where the operator's view listens (None without one)."""
        return self._view.address if self._view is not None else None

    # ------------------------------------------------------------------ serving loop
    def serve(self, stop: threading.Event | None = None) -> None:
        """Answer requests until `stop` is set; stop the robot and close on the way out."""
        stop = stop or threading.Event()
        socket = self._socket
        # A blocking receive that gives up after one tick: one call per message on the
        # hot path, and the watchdog and `stop` are still looked at every tick.
        socket.rcvtimeo = max(1, int(min(self.watchdog_s / 10, 0.02) * 1000))
        log.info("serving %s on %s (watchdog %g s)", self.name, self.address, self.watchdog_s)
        if self._view is not None:
            log.info("the operator's view answers on %s (not for clients)", self._view.address)
            poller = zmq.Poller()
            poller.register(socket, zmq.POLLIN)
            poller.register(self._view.socket, zmq.POLLIN)
        if self._handshakes is not None:
            log.info("CurveZMQ is on: accepting %d client key(s)", self._client_keys)
        else:
            log.info("CurveZMQ is off: any client that can connect may command the robot")
        try:
            deferred = 0
            while not stop.is_set():
                if self._handshakes is not None:
                    self._handshakes.poll()
                self._refusals.flush()
                if self._view is None:
                    try:
                        frames = socket.recv_multipart()
                    except zmq.Again:
                        pass
                    else:
                        self._handle(frames)
                else:  # one wait on both sockets; the view never blocks the robot's
                    ready = dict(poller.poll(socket.rcvtimeo))
                    if self._view.socket in ready:
                        self._view.answer()
                    if socket in ready:
                        self._handle(socket.recv_multipart())
                if not self._watchdog_due():
                    deferred = 0
                    continue
                # Answer what queued up meanwhile (heartbeats sent during a slow driver
                # call) before stopping the robot, but never let a flood of messages
                # postpone the watchdog for long.
                if deferred < MAX_BACKLOG and socket.getsockopt(zmq.EVENTS) & zmq.POLLIN:
                    deferred += 1
                    continue
                deferred = 0
                self._trip_watchdog()
        finally:
            self._safe_stop()
            self.close()

    def close(self) -> None:
        """Close the socket and the authenticator (the driver stays the caller's)."""
        if self._handshakes is not None:
            self._handshakes.close()
            self._handshakes = None
        if self._view is not None:
            self._view.close()
            self._view = None
        self._refusals.close()
        if not self._socket.closed:
            self._socket.close()
        if self._authenticator is not None:
            self._authenticator.stop()
            self._authenticator = None
        if self._own_context and not self._context.closed:
            self._context.term()

    def _watchdog_due(self) -> bool:
        return self._moving and time.monotonic() - self._last_seen > self.watchdog_s

    def _trip_watchdog(self) -> None:
        idle = time.monotonic() - self._last_seen
        message = (
            f"the watchdog stopped the robot: no command or heartbeat for {idle * 1e3:.0f} ms "
            f"(limit {self.watchdog_s * 1e3:.0f} ms)"
        )
        self._safe_stop()
        self._moving = False
        self._watchdog_report = (self._owner, message)
        self._record(ErrorCode.WATCHDOG, message)

    def _record(self, kind: str, message: str) -> None:
        self.events.append(SafetyEvent(kind, message, time.monotonic()))
        log.warning("%s: %s", kind, message)

    def _safe_stop(self) -> None:
        try:
            self.driver.stop()
        except Exception:
            log.error("driver.stop() raised:\n%s", traceback.format_exc())

    # ------------------------------------------------------------------ one message
    def _handle(self, frames: list[bytes]) -> None:
        identity, body = frames[0], frames[1:]
        envelope: list[Any] = [identity]
        if body and len(body[0]) == 0:  # a REQ client's empty delimiter
            envelope.append(b"")
            body = body[1:]
        request_id, request_type = None, "error"
        try:
            message = decode(body, self.max_message_bytes)
            request_id, request_type, session = self._validate(message)
            fields, arrays = self._dispatch(message, request_type, session)
            header = {"v": PROTOCOL_VERSION, "type": request_type, "id": request_id, "ok": True}
            if fields:
                header.update(fields)
            reply = encode(header, arrays)
        except (ProtocolError, _Refusal) as error:
            if request_id is None:
                request_id, request_type = _salvage(body)
            wire = error.wire_code
            hint = error.hint
            self._refusals.note(
                wire, "refused %r from %s: %s", request_type, bytes(identity).hex(), error
            )
            reply = encode(error_header(request_id, request_type, wire, str(error), hint))
        except Exception as error:  # a bug, or a driver answer that cannot be sent
            log.error("failed on %s:\n%s", request_type, traceback.format_exc())
            if request_id is None:
                request_id, request_type = _salvage(body)
            self._after_driver_failure(request_type)
            text = f"the server failed on `{request_type}`: {type(error).__name__}: {error}"
            reply = encode(error_header(request_id, request_type, ErrorCode.DRIVER_ERROR, text))
        self._socket.send_multipart(envelope + reply)

    def _validate(self, message: Message) -> tuple[int, str, str]:
        """Check the header fields every request carries; return id, type and session."""
        header = message.header
        request_id = header.get("id")
        if not isinstance(request_id, int) or isinstance(request_id, bool):
            raise ProtocolError(ErrorCode.MALFORMED, "header field `id` must be an integer")
        request_type = header.get("type")
        if not isinstance(request_type, str):
            raise ProtocolError(ErrorCode.MALFORMED, "header field `type` must be a string")
        version = header.get("v")
        if type(version) is not int or version not in SUPPORTED_VERSIONS:
            raise ProtocolError(
                ErrorCode.VERSION,
                f"protocol version {header.get('v')!r} is not supported; "
                f"this server speaks {list(SUPPORTED_VERSIONS)}",
                hint="upgrade the client or the server so that they share a version",
            )
        if request_type not in self._handlers:
            raise ProtocolError(
                ErrorCode.UNKNOWN_TYPE,
                f"unknown message type {request_type!r}; known: {', '.join(REQUEST_TYPES)}",
            )
        session = header.get("session")
        if type(session) is not str or not 0 < len(session) <= MAX_SESSION_CHARS:
            raise ProtocolError(
                ErrorCode.MALFORMED,
                f"header field `session` must be a string of 1 to {MAX_SESSION_CHARS} characters",
                hint="send the same random session id with every request, heartbeats included",
            )
        return request_id, request_type, session

    def _dispatch(
        self, message: Message, request_type: str, session: str
    ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        if session == self._owner:
            self._last_seen = time.monotonic()
        try:
            return self._handlers[request_type](message, session)
        except (_Refusal, ProtocolError):
            raise
        except VitalskillsError as error:
            self._after_driver_failure(request_type)
            raise _Refusal(ErrorCode.DRIVER_ERROR, error.message, error.hint) from None
        except Exception as error:
            self._after_driver_failure(request_type)
            log.error("driver failed on %s:\n%s", request_type, traceback.format_exc())
            raise _Refusal(
                ErrorCode.DRIVER_ERROR,
                f"the driver raised {type(error).__name__} on `{request_type}`: {error}",
                "see the server's log; the robot was stopped",
            ) from None
        finally:
            if session == self._owner:
                self._last_seen = time.monotonic()

    def _after_driver_failure(self, request_type: str) -> None:
        if request_type in ("act", "reset"):
            self._safe_stop()
            self._moving = False

    # ------------------------------------------------------------------ handlers
    def _on_hello(self, message: Message, session: str) -> tuple[dict, dict]:
        offered = message.header.get("versions")
        if type(offered) is not list or not all(type(v) is int for v in offered):
            raise _Refusal(
                ErrorCode.MALFORMED,
                f"`hello` needs `versions`, a list of integers, not {offered!r}",
                "send the protocol versions the client speaks, e.g. [2]",
            )
        common = [v for v in SUPPORTED_VERSIONS if v in offered]
        if not common:
            raise _Refusal(
                ErrorCode.VERSION,
                f"no common protocol version: client offers {offered!r}, "
                f"server speaks {list(SUPPORTED_VERSIONS)}",
                "upgrade the client or the server so that they share a version",
            )
        return {
            "version": max(common),
            "server": f"vitalskills {package_version('vitalskills')}",
            "driver": self.name,
            "capabilities": self._capabilities.model_dump(mode="json"),
            "watchdog_ms": self.watchdog_s * 1e3,
            "heartbeat_ms": self.watchdog_s * 1e3 / 4,
            "max_message_bytes": self.max_message_bytes,
            "limits": {
                **self.limits.model_dump(mode="json"),
                "step_limit": self.limits.step_limit(self._capabilities.control_hz),
                "action_limits": self._action_limits,
            },
            "instance": self.instance,
            "operator_counts": dict(self.operator_counts),
        }, {}

    def _on_capabilities(self, message: Message, session: str) -> tuple[dict, dict]:
        return {"capabilities": self._capabilities.model_dump(mode="json")}, {}

    def _on_heartbeat(self, message: Message, session: str) -> tuple[dict, dict]:
        latched = self._latched[0] if self._latched else None
        return {
            "moving": self._moving,
            "latched": latched,
            "operator_counts": dict(self.operator_counts),
        }, {}

    def _check_instance(self, message: Message) -> None:
        """Refuse a motion request addressed to an earlier server (one queued while down)."""
        instance = message.header.get("instance")
        if instance == self.instance:
            return
        if type(instance) is not str:
            raise _Refusal(
                ErrorCode.MALFORMED,
                f"`{message.type}` needs `instance`, the string from this server's `hello`",
                "say `hello` and send its `instance` with every `act` and `reset`",
            )
        raise _Refusal(
            ErrorCode.STALE,
            f"`{message.type}` was addressed to server instance {instance[:32]!r}, but this "
            f"server is {self.instance!r} (it restarted since the client's `hello`, or the "
            "client sent a wrong `instance`); nothing was done",
            "say `hello` again, check the robot's state, then send new commands",
        )

    def _on_reset(self, message: Message, session: str) -> tuple[dict, dict]:
        self._check_instance(message)
        seed = message.header.get("seed")
        if seed is not None and (type(seed) is not int or not 0 <= seed <= MAX_SEED):
            raise _Refusal(
                ErrorCode.BAD_REQUEST,
                f"`seed` must be nil or an integer in [0, 2**63 - 1], not {seed!r}",
            )
        self._moving = False
        self._owner = session
        self._latched = None
        self._watchdog_report = None
        observation = self.driver.reset(seed=seed)
        self._ee_pose = observation.get("ee_pose")
        return {}, dict(observation)

    def _on_observe(self, message: Message, session: str) -> tuple[dict, dict]:
        observation = self.driver.observe()
        self._ee_pose = observation.get("ee_pose")
        return {}, dict(observation)

    def _on_act(self, message: Message, session: str) -> tuple[dict, dict]:
        if self._latched is not None:
            code, why = self._latched
            raise _Refusal(code, f"the robot is stopped ({why})", "send `reset` to clear the stop")
        if self._watchdog_report is not None and self._watchdog_report[0] == session:
            why = self._watchdog_report[1]
            self._watchdog_report = None
            raise _Refusal(ErrorCode.WATCHDOG, why, "send a new command to resume")
        self._check_instance(message)
        action = message.arrays.get("action")
        dim = self._capabilities.action_dim
        if (
            action is None
            or action.dtype.name not in FLOAT_DTYPES
            or action.shape != (dim,)
            or not all(map(math.isfinite, action.tolist()))  # 4x faster than numpy for 7
        ):
            got = "nothing" if action is None else f"{action.dtype.name} of shape {action.shape}"
            raise _Refusal(
                ErrorCode.BAD_REQUEST,
                f"`act` needs a finite float array `action` of shape ({dim},), got {got}",
            )
        if self._ee_pose is None:  # the box is checked from where the arm is
            self._ee_pose = self.driver.observe().get("ee_pose")
        before = self._ee_pose
        # A relative action starts from the controller's commanded pose, which runs
        # ahead of the measured one while the arm moves: check the box from there.
        start = before if self._commanded_pose is None else self._commanded_pose()
        control_hz = self._capabilities.control_hz
        step = self.limits.step_limit(control_hz)
        clipped = clip_action(action, start, self.limits, control_hz, self._action_limits)
        self._owner = session
        self._moving = True
        applied = self.driver.act(clipped)
        applied = clipped if applied is None else np.asarray(applied, dtype=np.float32)
        observation = self.driver.observe()
        self._ee_pose = observation.get("ee_pose")
        tripped = (
            tripped_limit(observation, self.limits)
            or commanded_violation(applied, clipped, start, self.limits)
            or motion_violation(before, self._ee_pose, self.limits, step)
        )
        if tripped is not None:
            self._safe_stop()
            self._moving = False
            message_text = f"protective stop: {tripped}"
            self._latched = (ErrorCode.PROTECTIVE_STOP, message_text)
            self._record(ErrorCode.PROTECTIVE_STOP, message_text)
            raise _Refusal(ErrorCode.PROTECTIVE_STOP, message_text, "send `reset` to clear it")
        return {}, {"applied": applied}

    def _on_stop(self, message: Message, session: str) -> tuple[dict, dict]:
        self.driver.stop()
        self._moving = False
        return {}, {}

    def _on_estop(self, message: Message, session: str) -> tuple[dict, dict]:
        self._safe_stop()
        self._moving = False
        if self._latched is None or self._latched[0] != ErrorCode.ESTOP:  # logged once
            self._latched = (ErrorCode.ESTOP, "e-stop requested by a client")
            self._record(ErrorCode.ESTOP, "e-stop requested by a client")
        return {}, {}

    def _on_scene(self, message: Message, session: str) -> tuple[dict, dict]:
        scene = getattr(self.driver, "scene", None)
        if scene is None:
            raise _Refusal(ErrorCode.UNSUPPORTED, f"driver {self.name} has no scene camera")
        return scene_to_wire(scene())

    def _on_operator(self, message: Message, session: str) -> tuple[dict, dict]:
        self._check_instance(message)
        request = message.header.get("request")
        if type(request) is not str or request not in OPERATOR_REQUESTS:
            raise _Refusal(
                ErrorCode.BAD_REQUEST,
                f"`operator` needs `request`, one of {', '.join(OPERATOR_REQUESTS)}; "
                f"got {request!r}",
            )
        if self._operator is None:
            raise _Refusal(
                ErrorCode.UNSUPPORTED,
                f"driver {self.name} takes no operator requests",
                "ask the person at the robot directly",
            )
        # A person reaches into the cell: the arm holds still first.
        self._safe_stop()
        self._moving = False
        self._operator(request)
        self.operator_counts[request] += 1
        log.warning("operator request %d: %s", sum(self.operator_counts.values()), request)
        return {"operator_counts": dict(self.operator_counts)}, {}


def _salvage(body: list[bytes]) -> tuple[Any, str]:
    """Recover `id` and `type` from a rejected message, so the client can match the reply."""
    if not body or len(body[0]) > MAX_HEADER_BYTES:
        return None, "error"
    try:
        header = msgpack.unpackb(bytes(body[0]), raw=False)
    except Exception:
        return None, "error"
    if not isinstance(header, dict):
        return None, "error"
    request_id = header.get("id")
    request_type = header.get("type")
    return (
        request_id if isinstance(request_id, int) and not isinstance(request_id, bool) else None,
        request_type if isinstance(request_type, str) and len(request_type) < 64 else "error",
    )


def run_server(
    driver_spec: str,
    bind: str,
    *,
    condition: str = "canonical",
    seed: int | None = None,
    distractors: int | None = None,
    options: dict[str, str] | None = None,
    watchdog_s: float = DEFAULT_WATCHDOG_S,
    limits: SafetyLimits | None = None,
    curve_secret: Path | None = None,
    curve_clients: Path | None = None,
    allow_readable_secret: bool = False,
    stop: threading.Event | None = None,
    announce: Callable[[BridgeServer], None] | None = None,
    hardware: bool = False,
    green_screen: bool = False,
    operator_view: str | None = None,
) -> None:
    """Build the driver named `driver_spec`, serve it on `bind` until `stop`, then close it.

    `announce` is called once the socket is bound (the CLI prints the address there).
    A secret key file that others may read is refused unless `allow_readable_secret`.
    `hardware` and `green_screen` go to `load_driver`; `operator_view` to the server.
    """
    from vitalskills.bridge.auth import load_key_pair
    from vitalskills.bridge.drivers import load_driver

    curve = (
        load_key_pair(curve_secret, allow_readable=allow_readable_secret)
        if curve_secret is not None
        else None
    )
    driver = load_driver(
        driver_spec,
        condition=condition,
        seed=seed,
        distractors=distractors,
        options=options,
        hardware=hardware,
        green_screen=green_screen,
    )
    try:
        server = BridgeServer(
            driver,
            bind,
            name=driver_spec,
            watchdog_s=watchdog_s,
            limits=limits,
            curve=curve,
            curve_clients=curve_clients,
            operator_view=operator_view,
        )
        if announce is not None:
            announce(server)
        server.serve(stop)
    finally:
        close = getattr(driver, "close", None)
        if callable(close):
            close()
