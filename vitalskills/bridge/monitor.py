"""Notice refused CurveZMQ handshakes on a server socket, and say why they were refused.

zmq refuses unknown and plain clients silently: the server's code never sees them.
Its socket monitor does, so the operator can tell "my laptop's key is not in
`--curve-clients`" from "nobody tried". Facts this module relies on (libzmq 4.3,
measured on loopback):

- an unknown client key: `EVENT_HANDSHAKE_FAILED_AUTH` with the ZAP status (400);
- a client without keys: `EVENT_HANDSHAKE_FAILED_PROTOCOL` (mechanism mismatch) or,
  when the client hangs up first, `EVENT_HANDSHAKE_FAILED_NO_DETAIL` with an errno;
- a client trusting another server key: `EVENT_HANDSHAKE_FAILED_PROTOCOL`
  (cryptographic error), again every reconnect interval (100 ms by default);
- the event's endpoint on a bound socket is the bound address, not the peer's;
- a peer that sends no ZMTP greeting at all (an HTTP probe) raises no handshake event.

An unread monitor socket is dangerous: once its queue is full (about 2,000 events
with zmq's default high-water marks) libzmq's I/O thread blocks on it and the server
stops serving even its allowed clients. So this class raises the queue's limit to
`max_pending` and the server must call `poll` from its loop.
"""

from __future__ import annotations

import itertools
import logging
import os

import zmq
from zmq.utils.monitor import recv_monitor_message

from vitalskills.bridge.ratelog import RateLimitedLog

HANDSHAKE_EVENTS = (
    zmq.EVENT_HANDSHAKE_FAILED_AUTH
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    | zmq.EVENT_HANDSHAKE_SUCCEEDED
)

_PROTOCOL_ERRORS = {
    int(getattr(zmq, name)): name.removeprefix("PROTOCOL_ERROR_").lower()
    for name in dir(zmq)
    if name.startswith("PROTOCOL_ERROR_")
}
_ZAP_STATUS = {
    300: "the authenticator failed temporarily",
    400: "its public key is not among the allowed clients",
    500: "the authenticator failed",
}
_DRAIN_LIMIT = 10_000  # events per poll: a flood must not starve the serving loop
_addresses = itertools.count()


class HandshakeMonitor:
    """Count and log the CurveZMQ handshakes a server socket refuses.

    Build it in the thread that will call `poll` (it owns a zmq socket), before the
    server accepts connections, and call `poll` every turn of the serving loop.

    Args:
        socket: the bound CurveZMQ server socket to watch.
        log: a `RateLimitedLog` shared with the server, or a logger (then this
            monitor rate-limits its own lines and summarises them at each `poll`).
        max_pending: events queued between two polls before libzmq's I/O thread
            blocks (each is a few hundred bytes).

    Attributes:
        refused: handshakes refused so far.
        accepted: handshakes that succeeded so far.
    """

    def __init__(
        self,
        socket: zmq.Socket,
        log: RateLimitedLog | logging.Logger,
        *,
        max_pending: int = 100_000,
    ) -> None:
        self._own_log = isinstance(log, logging.Logger)
        self.log: RateLimitedLog = (
            RateLimitedLog(log, what="CurveZMQ handshakes")
            if isinstance(log, logging.Logger)
            else log
        )
        self.refused = 0
        self.accepted = 0
        self._socket = socket
        # pyzmq's get_monitor_socket cannot set the receiving side's high-water mark
        # before it connects, and the default one stalls the server under a flood.
        address = f"inproc://vitalskills-handshakes-{os.getpid()}-{next(_addresses)}"
        socket.monitor(address, HANDSHAKE_EVENTS)
        self._events: zmq.Socket | None = socket.context.socket(zmq.PAIR)
        self._events.rcvhwm = max_pending
        self._events.linger = 0
        self._events.connect(address)

    def poll(self) -> int:
        """Read the pending handshake events without blocking; return how many were refusals."""
        events = self._events
        if events is None:
            return 0
        refused = 0
        for _ in range(_DRAIN_LIMIT):
            if not events.poll(0):
                break
            event = recv_monitor_message(events)
            kind = int(event["event"])
            if kind == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                self.accepted += 1
                continue
            refused += 1
            reason_kind, reason = describe(kind, int(event["value"]))
            self.log.note(
                reason_kind,
                "refused a CurveZMQ handshake on %s: %s",
                event["endpoint"].decode(errors="replace"),
                reason,
            )
        self.refused += refused
        if self._own_log:
            self.log.flush()
        return refused

    def close(self) -> None:
        """Count what is still queued, stop monitoring and close the event socket."""
        if self._events is None:
            return
        self.poll()
        if not self._socket.closed:
            self._socket.disable_monitor()
        self._events.close(linger=0)
        self._events = None
        if self._own_log:
            self.log.close()

    def __enter__(self) -> HandshakeMonitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def describe(event: int, value: int) -> tuple[str, str]:
    """Return a short kind (for counting) and a reason (for people) for a refused handshake.

    `value` is what libzmq attaches to the event: a ZAP status code, a protocol error
    code, or an errno.
    """
    if event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
        reason = _ZAP_STATUS.get(value, "the authenticator refused it")
        return ("unknown-key" if value == 400 else "auth"), f"{reason} (ZAP status {value})"
    if event == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL:
        if value == zmq.PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH:
            return "not-curve", "the client does not use CurveZMQ (mechanism mismatch)"
        if value == zmq.PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC:
            return (
                "crypto",
                "its hello did not decrypt: the client probably trusts another server key",
            )
        name = _PROTOCOL_ERRORS.get(value, f"{value:#x}")
        return "protocol", f"protocol error `{name}`"
    reason = os.strerror(value) if value else "no detail"
    return "broken-off", f"the peer broke off the handshake ({reason}): often a client without keys"
