"""Every class of bad message gets an error reply or is dropped; the server keeps serving."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator, Sequence

import msgpack
import numpy as np
import pytest
import zmq
from conftest import served
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vitalskills.bridge import BridgeServer, ErrorCode
from vitalskills.bridge.protocol import MAX_HEADER_BYTES, PROTOCOL_VERSION, decode, encode

MAX_BYTES = 1 << 20
_ids = itertools.count(1000)
#: The instance of this module's server (the cases below carry it).
INSTANCE = "faults-instance"


@pytest.fixture(scope="module")
def server() -> Iterator[BridgeServer]:
    with served(max_message_bytes=MAX_BYTES) as running:
        running.instance = INSTANCE  # before any request: the cases are built at import
        yield running


@pytest.fixture(scope="module")
def raw(server: BridgeServer) -> Iterator[zmq.Socket]:
    socket = zmq.Context.instance().socket(zmq.DEALER)
    socket.linger = 0
    socket.connect(server.address)
    yield socket
    socket.close()


def pack(**header: object) -> bytes:
    return msgpack.packb(header, use_bin_type=True)


def valid(request_type: str = "hello", **fields: object) -> dict:
    """A valid header; `act` and `reset` carry the fixture server's instance."""
    header = {"v": PROTOCOL_VERSION, "type": request_type, "id": next(_ids), "session": "faults"}
    if request_type in ("act", "reset"):
        header["instance"] = INSTANCE
    return {**header, **fields}


def read_reply(frames: list[bytes]) -> dict:
    """Decode a reply; a request that began with an empty frame (a REQ-style delimiter)
    gets its reply behind one too."""
    if frames and frames[0] == b"":
        frames = frames[1:]
    return decode(frames, MAX_BYTES).header


def reply_to(socket: zmq.Socket, frames: list[bytes], timeout_ms: int = 2000) -> dict | None:
    """Send raw `frames`; return the first reply's header (None when nothing comes)."""
    socket.send_multipart(frames)
    if not socket.poll(timeout_ms, zmq.POLLIN):
        return None
    return read_reply(socket.recv_multipart())


def still_serving(socket: zmq.Socket) -> None:
    """A valid hello gets its own reply (replies to junk sent earlier are skipped)."""
    header = valid("hello", versions=[PROTOCOL_VERSION])
    socket.send_multipart(encode(header))
    while socket.poll(3000, zmq.POLLIN):
        reply = read_reply(socket.recv_multipart())
        if reply.get("id") == header["id"]:
            assert reply["ok"] is True
            return
    raise AssertionError("the server stopped answering")


def arrays_header(dtype: object = "float32", shape: Sequence[object] = (7,)) -> bytes:
    """An `act` header announcing one array `action`."""
    spec = {"name": "action", "dtype": dtype, "shape": list(shape)}
    return pack(**valid("act"), arrays=[spec])


ACTION = np.zeros(7, np.float32).tobytes()

CASES = {
    "not msgpack": ([b"\xc1\x00"], ErrorCode.MALFORMED),
    "empty frame": ([b""], ErrorCode.MALFORMED),
    "not a map": ([msgpack.packb([1, 2, 3])], ErrorCode.MALFORMED),
    "truncated header": ([pack(**valid(), versions=[2])[:-2]], ErrorCode.TRUNCATED),
    "truncated map header": ([pack(**valid(), versions=[2])[:5]], ErrorCode.TRUNCATED),
    "string past the end": (
        [pack(**valid(), versions=[2], pad="x" * 40)[:-20]],
        ErrorCode.TRUNCATED,
    ),
    "trailing bytes": ([pack(**valid()) + b"\x00"], ErrorCode.MALFORMED),
    "extension type": (
        [msgpack.packb({**valid(), "x": msgpack.ExtType(5, b"xx")})],
        ErrorCode.MALFORMED,
    ),
    "no id": ([pack(v=2, type="observe", session="s")], ErrorCode.MALFORMED),
    "string id": ([pack(v=2, type="observe", id="7", session="s")], ErrorCode.MALFORMED),
    "bool id": ([pack(v=2, type="observe", id=True, session="s")], ErrorCode.MALFORMED),
    "no type": ([pack(v=2, id=3, session="s")], ErrorCode.MALFORMED),
    "wrong version": ([pack(**{**valid("observe"), "v": 99})], ErrorCode.VERSION),
    "version 1": ([pack(**{**valid("observe"), "v": 1})], ErrorCode.VERSION),
    "no version": ([pack(type="observe", id=4, session="s")], ErrorCode.VERSION),
    "bool version": ([pack(**{**valid("observe"), "v": True})], ErrorCode.VERSION),
    "float version": ([pack(**{**valid("observe"), "v": 2.0})], ErrorCode.VERSION),
    "hello without common version": ([pack(**valid(), versions=[7, 8])], ErrorCode.VERSION),
    "hello offering version 1 only": ([pack(**valid(), versions=[1])], ErrorCode.VERSION),
    "hello without versions": ([pack(**valid())], ErrorCode.MALFORMED),
    "hello with bool versions": ([pack(**valid(), versions=[True])], ErrorCode.MALFORMED),
    "hello with float versions": ([pack(**valid(), versions=[2.0])], ErrorCode.MALFORMED),
    "unknown type": ([pack(**valid("dance"))], ErrorCode.UNKNOWN_TYPE),
    "missing array frame": ([arrays_header()], ErrorCode.TRUNCATED),
    "extra frame": ([arrays_header(), ACTION, b"junk"], ErrorCode.MALFORMED),
    "short array frame": ([arrays_header(), ACTION[:-1]], ErrorCode.TRUNCATED),
    "long array frame": ([arrays_header(), ACTION + b"\x00"], ErrorCode.MALFORMED),
    "unknown dtype": ([arrays_header("object"), ACTION], ErrorCode.MALFORMED),
    "negative shape": ([arrays_header("uint8", [-1]), b""], ErrorCode.MALFORMED),
    "huge zero-size shape": ([arrays_header("float32", [0, 2**63]), b""], ErrorCode.MALFORMED),
    "dimension of 2**31": ([arrays_header("uint8", [0, 2**31]), b""], ErrorCode.MALFORMED),
    "two arrays named action": (
        [
            pack(
                **valid("act"),
                arrays=[{"name": "action", "dtype": "float32", "shape": [7]}] * 2,
            ),
            ACTION,
            ACTION,
        ],
        ErrorCode.MALFORMED,
    ),
    "bool in shape": ([arrays_header("float32", [True, 7]), ACTION], ErrorCode.MALFORMED),
    "float in shape": ([arrays_header("float32", [7.0]), ACTION], ErrorCode.MALFORMED),
    "dtype not a string": ([arrays_header(["float32"]), ACTION], ErrorCode.MALFORMED),
    "arrays not a list": ([pack(**valid("act"), arrays=5)], ErrorCode.MALFORMED),
    "oversized header": (
        [pack(**valid(), pad="x" * (MAX_HEADER_BYTES + 10))],
        ErrorCode.OVERSIZED,
    ),
    "oversized message": (
        [pack(**valid("observe")), b"\x00" * (MAX_BYTES // 2), b"\x00" * (MAX_BYTES // 2)],
        ErrorCode.OVERSIZED,
    ),
    "too many frames": ([pack(**valid("observe"))] + [b""] * 70, ErrorCode.OVERSIZED),
    "action of wrong shape": (
        [arrays_header("float64", [3]), np.zeros(3).tobytes()],
        ErrorCode.BAD_REQUEST,
    ),
    **{
        f"{dtype} action": (
            [arrays_header(dtype), np.zeros(7, dtype).tobytes()],
            ErrorCode.BAD_REQUEST,
        )
        for dtype in ("int32", "int64", "uint8", "bool")
    },
    "act without an action": ([pack(**valid("act"))], ErrorCode.BAD_REQUEST),
    "act without session": (
        [pack(**{**valid("act"), "session": ""})],
        ErrorCode.MALFORMED,
    ),
    **{
        f"{kind} without session": (
            [pack(**{k: v for k, v in valid(kind, versions=[2]).items() if k != "session"})],
            ErrorCode.MALFORMED,
        )
        for kind in ("hello", "heartbeat", "observe", "stop")
    },
    "session too long": ([pack(**{**valid("observe"), "session": "s" * 65})], ErrorCode.MALFORMED),
    "session not a string": ([pack(**{**valid("observe"), "session": 5})], ErrorCode.MALFORMED),
    "act without instance": (
        [pack(**{k: v for k, v in valid("act").items() if k != "instance"})],
        ErrorCode.MALFORMED,
    ),
    "reset without instance": (
        [pack(**{k: v for k, v in valid("reset").items() if k != "instance"})],
        ErrorCode.MALFORMED,
    ),
    "act for another server": (
        [pack(**valid("act", instance="0123456789abcdef"))],
        ErrorCode.STALE,
    ),
    "seed not an integer": ([pack(**valid("reset"), seed="zero")], ErrorCode.BAD_REQUEST),
    "negative seed": ([pack(**valid("reset"), seed=-1)], ErrorCode.BAD_REQUEST),
    "seed of 2**63": ([pack(**valid("reset"), seed=2**63)], ErrorCode.BAD_REQUEST),
    "bool seed": ([pack(**valid("reset"), seed=True)], ErrorCode.BAD_REQUEST),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_message_gets_an_error_reply(raw: zmq.Socket, case: str) -> None:
    frames, code = CASES[case]
    reply = reply_to(raw, frames)
    assert reply is not None, f"{case}: no reply"
    assert reply["ok"] is False
    assert reply["error"]["code"] == code, reply["error"]
    assert reply["error"]["message"]
    still_serving(raw)


def test_error_reply_carries_the_request_id_when_it_can_be_read(raw: zmq.Socket) -> None:
    header = valid("dance")
    reply = reply_to(raw, [pack(**header)])
    assert reply is not None and reply["id"] == header["id"] and reply["type"] == "dance"
    huge = {**valid("act"), "arrays": [{"name": "action", "dtype": "float32", "shape": [0, 2**63]}]}
    reply = reply_to(raw, [pack(**huge), b""])
    assert reply is not None and reply["id"] == huge["id"] and reply["type"] == "act"
    assert reply["error"]["code"] == ErrorCode.MALFORMED


def test_a_dealer_that_sends_an_empty_delimiter_is_answered_behind_one(raw: zmq.Socket) -> None:
    """As documented: the server cannot tell it from REQ, so the reply mirrors it."""
    header = valid("observe")
    raw.send_multipart([b"", *encode(header)])
    assert raw.poll(2000, zmq.POLLIN)
    frames = raw.recv_multipart()
    assert frames[0] == b""
    reply = decode(frames[1:], MAX_BYTES)
    assert reply.header["ok"] and reply.header["id"] == header["id"]


def test_frame_over_the_transport_limit_is_dropped_and_the_server_keeps_serving(
    server: BridgeServer,
) -> None:
    context = zmq.Context.instance()
    big = context.socket(zmq.DEALER)
    big.linger = 0
    big.connect(server.address)
    try:
        assert reply_to(big, [pack(**valid()), b"\x00" * (MAX_BYTES + 1)], 500) is None
    finally:
        big.close()
    fresh = context.socket(zmq.DEALER)
    fresh.linger = 0
    fresh.connect(server.address)
    try:
        still_serving(fresh)
    finally:
        fresh.close()


def test_a_req_socket_client_is_served(server: BridgeServer) -> None:
    socket = zmq.Context.instance().socket(zmq.REQ)
    socket.linger = 0
    socket.connect(server.address)
    try:
        header = valid("observe")
        socket.send_multipart(encode(header))
        assert socket.poll(2000, zmq.POLLIN)
        reply = decode(socket.recv_multipart(), MAX_BYTES)
        assert reply.header["ok"] and reply.header["id"] == header["id"]
        assert reply.arrays["wrist_rgb"].dtype == np.uint8
    finally:
        socket.close()


VALID = encode(valid("act"), {"action": np.zeros(7, np.float32)})


def test_refused_messages_are_logged_rate_limited(caplog: pytest.LogCaptureFixture) -> None:
    """2,000 bad messages of two kinds: each kind once in full, then one count line."""
    caplog.set_level(logging.INFO, logger="vitalskills.bridge")
    with served() as server:
        socket = zmq.Context.instance().socket(zmq.DEALER)
        socket.linger = 0
        socket.connect(server.address)
        try:
            for _ in range(1000):
                socket.send_multipart([b"\xc1"])
                socket.send_multipart([pack(**valid("dance"))])
            still_serving(socket)
        finally:
            socket.close()
    refused = [r.getMessage() for r in caplog.records if r.getMessage().startswith("refused ")]
    assert len(refused) == 3, refused
    assert refused[-1].startswith("refused 1998 more messages in the last")
    assert "malformed 999" in refused[-1] and "unknown_type 999" in refused[-1]


frames_strategy = st.one_of(
    st.lists(st.binary(max_size=300), min_size=1, max_size=5),
    st.lists(
        st.one_of(
            st.builds(lambda n: bytes(VALID[0])[:n], st.integers(0, len(bytes(VALID[0])))),
            st.builds(
                lambda i, b: bytes(VALID[0])[:i] + bytes([b]) + bytes(VALID[0])[i + 1 :],
                st.integers(0, len(bytes(VALID[0])) - 1),
                st.integers(0, 255),
            ),
            st.binary(max_size=40),
        ),
        min_size=1,
        max_size=3,
    ),
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(frames=frames_strategy)
def test_random_frames_never_stop_the_server(raw: zmq.Socket, frames: list[bytes]) -> None:
    raw.send_multipart(frames)
    still_serving(raw)
