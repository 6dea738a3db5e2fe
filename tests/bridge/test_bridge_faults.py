"""Every class of bad message gets an error reply or is dropped; the server keeps serving."""

from __future__ import annotations

import itertools
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


@pytest.fixture(scope="module")
def server() -> Iterator[BridgeServer]:
    with served(max_message_bytes=MAX_BYTES) as running:
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
    return {
        "v": PROTOCOL_VERSION,
        "type": request_type,
        "id": next(_ids),
        "session": "faults",
        **fields,
    }


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
    "truncated header": ([pack(**valid(), versions=[1])[:-2]], ErrorCode.TRUNCATED),
    "trailing bytes": ([pack(**valid()) + b"\x00"], ErrorCode.MALFORMED),
    "extension type": (
        [msgpack.packb({"v": 1, "type": "hello", "id": 1, "x": msgpack.ExtType(5, b"xx")})],
        ErrorCode.MALFORMED,
    ),
    "no id": ([pack(v=1, type="observe")], ErrorCode.MALFORMED),
    "string id": ([pack(v=1, type="observe", id="7")], ErrorCode.MALFORMED),
    "no type": ([pack(v=1, id=3)], ErrorCode.MALFORMED),
    "wrong version": ([pack(**{**valid("observe"), "v": 99})], ErrorCode.VERSION),
    "no version": ([pack(type="observe", id=4)], ErrorCode.VERSION),
    "hello without common version": ([pack(**valid(), versions=[7, 8])], ErrorCode.VERSION),
    "unknown type": ([pack(**valid("dance"))], ErrorCode.UNKNOWN_TYPE),
    "missing array frame": ([arrays_header()], ErrorCode.TRUNCATED),
    "extra frame": ([arrays_header(), ACTION, b"junk"], ErrorCode.MALFORMED),
    "short array frame": ([arrays_header(), ACTION[:-1]], ErrorCode.TRUNCATED),
    "long array frame": ([arrays_header(), ACTION + b"\x00"], ErrorCode.MALFORMED),
    "unknown dtype": ([arrays_header("object"), ACTION], ErrorCode.MALFORMED),
    "negative shape": ([arrays_header("uint8", [-1]), b""], ErrorCode.MALFORMED),
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
    "act without session": (
        [pack(**{**valid("act"), "session": ""})],
        ErrorCode.MALFORMED,
    ),
    "session not a string": ([pack(**{**valid("observe"), "session": 5})], ErrorCode.MALFORMED),
    "seed not an integer": ([pack(**valid("reset"), seed="zero")], ErrorCode.BAD_REQUEST),
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
