"""The error-code table of docs/bridge-protocol.md is the one the server uses: every row
is read from the document and provoked on a real server over loopback."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import msgpack
import numpy as np
import pytest
import zmq
from conftest import served
from fake_arm import FakeArm, NoSceneArm

from vitalskills.bridge import ErrorCode, SafetyLimits
from vitalskills.bridge.protocol import PROTOCOL_VERSION, decode, encode

DOC = Path(__file__).parents[2] / "docs" / "bridge-protocol.md"
SESSION = "error-codes"


def documented_codes() -> list[str]:
    errors = DOC.read_text().split("## Errors", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([a-z_]+)` \|", errors, flags=re.M)


def server_codes() -> set[str]:
    return {v for k, v in vars(ErrorCode).items() if k.isupper() and isinstance(v, str)}


class Raw:
    """A DEALER that speaks the protocol by hand, as a client from the document would."""

    def __init__(self, address: str) -> None:
        self.socket = zmq.Context.instance().socket(zmq.DEALER)
        self.socket.linger = 0
        self.socket.connect(address)
        self.ids = iter(range(1, 10**6))
        self.instance = self.request("hello", versions=[PROTOCOL_VERSION])["instance"]

    def send(self, frames: list) -> dict:
        self.socket.send_multipart(frames)
        assert self.socket.poll(5000, zmq.POLLIN), "no reply"
        return decode(self.socket.recv_multipart(), 1 << 24).header

    def request(self, kind: str, arrays: dict | None = None, **fields: object) -> dict:
        header = {"v": PROTOCOL_VERSION, "type": kind, "id": next(self.ids), "session": SESSION}
        return self.send(encode({**header, **fields}, arrays))

    def act(self, action: list[float], **fields: object) -> dict:
        fields.setdefault("instance", self.instance)
        return self.request("act", {"action": np.asarray(action, np.float32)}, **fields)


def code_of(reply: dict) -> str | None:
    return None if reply["ok"] else reply["error"]["code"]


STILL = [0.0] * 7


def malformed(raw: Raw) -> str | None:
    return code_of(raw.send([b"\xc1"]))


def truncated(raw: Raw) -> str | None:
    spec = {"name": "action", "dtype": "float32", "shape": [7]}
    header = {"v": PROTOCOL_VERSION, "type": "act", "id": 1, "session": SESSION}
    return code_of(raw.send([msgpack.packb({**header, "arrays": [spec]})]))


def oversized(raw: Raw) -> str | None:
    header = {"v": PROTOCOL_VERSION, "type": "observe", "id": 1, "session": SESSION}
    return code_of(raw.send([msgpack.packb(header)] + [b""] * 70))


def version(raw: Raw) -> str | None:
    return code_of(raw.send([msgpack.packb({"v": 1, "type": "observe", "id": 1})]))


def unknown_type(raw: Raw) -> str | None:
    return code_of(raw.request("dance"))


def bad_request(raw: Raw) -> str | None:
    return code_of(raw.act([float("nan")] * 7))


def unsupported(raw: Raw) -> str | None:
    return code_of(raw.request("scene"))


def driver_error(raw: Raw) -> str | None:
    return code_of(raw.request("reset", seed=13, instance=raw.instance))


def watchdog(raw: Raw) -> str | None:
    assert raw.act(STILL)["ok"]
    time.sleep(0.6)  # no heartbeat: the watchdog (0.2 s) stops the robot
    return code_of(raw.act(STILL))


def protective_stop(raw: Raw) -> str | None:
    return code_of(raw.act([0, 0, 0.05, 0, 0, 0, 0]))  # down into the "table"


def estop(raw: Raw) -> str | None:
    assert raw.request("estop")["ok"]
    return code_of(raw.act(STILL))


def stale(raw: Raw) -> str | None:
    return code_of(raw.act(STILL, instance="an-earlier-server"))


class Faulty(NoSceneArm):
    """A driver whose hardware fails on one particular reset."""

    def reset(self, seed: int | None = None) -> dict[str, np.ndarray]:
        if seed == 13:
            raise OSError("the arm's controller is not answering")
        return super().reset(seed)


PROVOKE: dict[str, Callable[[Raw], str | None]] = {
    f.__name__: f
    for f in (
        malformed,
        truncated,
        oversized,
        version,
        unknown_type,
        bad_request,
        unsupported,
        driver_error,
        watchdog,
        protective_stop,
        estop,
        stale,
    )
}


def test_the_documented_codes_are_the_server_codes() -> None:
    assert sorted(documented_codes()) == sorted(server_codes())


@pytest.mark.parametrize("code", documented_codes())
def test_every_documented_code_is_what_the_server_answers(code: str) -> None:
    limits = SafetyLimits(max_tactile=5.0, workspace_min=(-1, -1, -1))
    arm = Faulty(contact_z=0.22)  # reset seed 0 starts 3 cm above it; 5 cm down presses
    with served(arm, limits=limits, watchdog_s=0.2) as server:
        raw = Raw(server.address)
        try:
            raw.request("reset", seed=0, instance=raw.instance)
            assert PROVOKE[code](raw) == code
        finally:
            raw.socket.close()


def test_a_fake_arm_without_faults_answers_every_provocation_differently() -> None:
    """The provocations depend on the arm: the same requests on a plain arm with a scene
    camera and loose limits do not produce `unsupported`, `driver_error` or a stop."""
    with served(FakeArm()) as server:
        raw = Raw(server.address)
        try:
            raw.request("reset", seed=0, instance=raw.instance)
            assert unsupported(raw) is None
            assert driver_error(raw) is None
            assert protective_stop(raw) is None
        finally:
            raw.socket.close()
