"""The wire format round-trips every kind of array, and the fast workspace check is exact."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pytest
import zmq
from hypothesis import given, settings
from hypothesis import strategies as st

from vitalskills.bridge import SafetyLimits
from vitalskills.bridge.limits import clip_action
from vitalskills.bridge.protocol import ProtocolError, decode, encode
from vitalskills.robot.geometry import quat_to_matrix

ARRAYS = {
    "image": np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3),
    "scalar": np.float64(3.5),
    "empty": np.zeros((0, 3), np.float32),
    "strided": np.arange(12.0).reshape(3, 4)[:, ::2],
    "fortran": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
    "big_endian": np.arange(4, dtype=">i4"),
    "big_endian_scalar": np.array(7, dtype=">i2"),
    "list": [1.5, 2.5],
    "bool": np.array([True, False]),
}


@pytest.fixture
def pair() -> Iterator[tuple[zmq.Socket, zmq.Socket]]:
    context = zmq.Context.instance()
    server, client = context.socket(zmq.ROUTER), context.socket(zmq.DEALER)
    server.linger = client.linger = 0
    port = server.bind_to_random_port("tcp://127.0.0.1")
    client.connect(f"tcp://127.0.0.1:{port}")
    yield server, client
    server.close()
    client.close()


def test_arrays_round_trip_over_a_socket_with_shape_dtype_and_values(
    pair: tuple[zmq.Socket, zmq.Socket],
) -> None:
    server, client = pair
    for _ in range(2):  # the second time the array table comes from the encoder's cache
        client.send_multipart(encode({"v": 1, "type": "t", "id": 1}, ARRAYS))
        assert server.poll(2000)
        message = decode(server.recv_multipart()[1:], 1 << 20)
        assert message.header == {"v": 1, "type": "t", "id": 1}
        for name, value in ARRAYS.items():
            expected = np.asarray(value)
            got = message.arrays[name]
            assert got.shape == expected.shape, name
            assert got.dtype == expected.dtype.newbyteorder("<"), name
            np.testing.assert_array_equal(got, expected)


def test_an_array_the_wire_cannot_carry_is_refused() -> None:
    with pytest.raises(ProtocolError, match="cannot carry"):
        encode({"v": 1}, {"objects": np.array([object()])})


def reference_clip(move: list[float], pose: list[float], limits: SafetyLimits) -> list[float]:
    """The workspace check without the fast path: the target in the base frame, clipped."""
    position, r = pose[:3], quat_to_matrix(pose[3:7])
    dx, dy, dz = move
    target = [position[i] + r[i][0] * dx + r[i][1] * dy + r[i][2] * dz for i in range(3)]
    low, high = limits.workspace_min, limits.workspace_max
    clipped = [
        min(max(target[i], min(low[i], position[i])), max(high[i], position[i])) for i in range(3)
    ]
    if clipped == target:
        return move
    offset = [clipped[i] - position[i] for i in range(3)]
    return [sum(r[j][i] * offset[j] for j in range(3)) for i in range(3)]


LIMITS = SafetyLimits(workspace_min=(0.3, -0.2, 0.1), workspace_max=(0.6, 0.2, 0.5), max_speed=10.0)
coordinate = st.floats(-0.1, 0.1, allow_nan=False)


@settings(max_examples=400, deadline=None)
@given(
    position=st.tuples(st.floats(0.25, 0.65), st.floats(-0.25, 0.25), st.floats(0.05, 0.55)),
    quaternion=st.tuples(*[st.floats(-1, 1)] * 4).filter(lambda q: math.hypot(*q) > 0.1),
    move=st.tuples(coordinate, coordinate, coordinate),
)
def test_workspace_clip_equals_the_reference_computation(
    position: tuple[float, ...], quaternion: tuple[float, ...], move: tuple[float, ...]
) -> None:
    pose = np.array([*position, *quaternion], np.float32)
    action = np.array([*move, 0, 0, 0, 0], np.float32)
    step = min(LIMITS.max_step, LIMITS.max_speed / 10.0)
    values = action[:3].tolist()
    norm = math.hypot(*values)
    values = [v * (step / norm) for v in values] if norm > step else values
    expected = reference_clip(values, pose.tolist(), LIMITS)
    got = clip_action(action, pose, LIMITS, 10.0)
    np.testing.assert_array_equal(got[:3], np.array(expected, np.float32))
