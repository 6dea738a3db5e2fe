"""Policies that run elsewhere: a process vitalskills starts, or a server at an address.

They speak the policy protocol (docs/policy-protocol.md): the bridge's framing (a msgpack
header, then raw arrays; no pickle) over a ZeroMQ REQ socket, one request at a time,
each with a deadline. `RemotePolicy` is a `robot.Policy`: it turns each observation into
the policy's input features (images as float CHW in [0, 1], vectors concatenated), asks
for one action, and raises `PolicyFailure` when the server is gone, mute or wrong.
"""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import zmq

from vitalskills.bridge.protocol import ProtocolError, decode, encode
from vitalskills.robot import Observation, PolicyFailure

#: The policy protocol's version (independent of the bridge's).
POLICY_PROTOCOL = 1
#: The standalone server program, run with the policy environment's Python.
SERVER_SCRIPT = Path(__file__).with_name("policy_server.py")
_MAX_REPLY_BYTES = 1024 * 1024


def resize_nearest(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """`image` (H, W, C) at (height, width), each pixel taken from the nearest source one."""
    rows = (np.arange(height) * image.shape[0] / height).astype(np.intp)
    cols = (np.arange(width) * image.shape[1] / width).astype(np.intp)
    return image[rows[:, None], cols[None, :]]


def policy_inputs(
    observation: Observation,
    inputs: Mapping[str, Sequence[str]],
    image_sizes: Mapping[str, tuple[int, int]] | None = None,
) -> dict[str, np.ndarray]:
    """Each input feature from its observation keys, in LeRobot's layout.

    One image key (H, W, 3 uint8) becomes float32 (3, H, W) in [0, 1], resized to its
    `image_sizes` (height, width) when given; anything else is the float32 concatenation
    of its keys, flattened (`[ee_pose, gripper]` -> 8 values).

    Raises:
        PolicyFailure: the observation lacks a key a feature needs.
    """
    batch = {}
    for feature, keys in inputs.items():
        missing = [key for key in keys if key not in observation]
        if missing:
            raise PolicyFailure(
                f"input `{feature}` needs observation `{missing[0]}`, which the robot did not send"
            )
        values = [np.asarray(observation[key]) for key in keys]
        if len(values) == 1 and values[0].ndim == 3 and values[0].dtype == np.uint8:
            image = values[0]
            size = (image_sizes or {}).get(keys[0])
            if size is not None and image.shape[:2] != size:
                image = resize_nearest(image, *size)
            batch[feature] = np.ascontiguousarray(image.transpose(2, 0, 1), np.float32) / 255
        else:
            batch[feature] = np.concatenate([v.reshape(-1) for v in values]).astype(np.float32)
    return batch


class RemotePolicy:
    """A policy behind the policy protocol; owns the server process when it started one.

    Args:
        name: the skill, for messages.
        address: where the server listens (`ipc://...`, `tcp://host:port`).
        inputs: input feature -> observation keys (the manifest's `policy.inputs`).
        action_low, action_high: the manifest's action limits; actions are clipped to them.
        image_sizes: camera key -> (height, width) the policy takes.
        timeout_s: longest wait for a reply.
        process: the server process, when vitalskills started it (stopped by `close`).
        log: the server process's output, quoted when it dies.
    """

    def __init__(
        self,
        name: str,
        address: str,
        inputs: Mapping[str, Sequence[str]],
        action_low: Sequence[float],
        action_high: Sequence[float],
        image_sizes: Mapping[str, tuple[int, int]],
        timeout_s: float,
        process: subprocess.Popen | None = None,
        log: Path | None = None,
    ) -> None:
        self.name = name
        self.address = address
        self.inputs = dict(inputs)
        self.low = np.asarray(action_low, np.float32)
        self.high = np.asarray(action_high, np.float32)
        self.action_dim = len(self.low)
        self.image_sizes = dict(image_sizes)
        self.timeout_s = timeout_s
        self.process = process
        self.log = log
        self.description = ""
        self.broken = ""
        self._context = zmq.Context.instance()
        self._socket: zmq.Socket | None = None

    def _request(
        self, kind: str, timeout_s: float, arrays: dict[str, np.ndarray] | None = None
    ) -> tuple[dict, dict[str, np.ndarray]]:
        if self.broken:
            raise PolicyFailure(self.broken)
        if self._socket is None:
            self._socket = self._context.socket(zmq.REQ)
            self._socket.setsockopt(zmq.LINGER, 0)
            self._socket.connect(self.address)
        self._socket.send_multipart(encode({"type": kind}, arrays))
        if not self._wait(timeout_s):
            # A REQ socket that got no reply cannot send again: this policy is done.
            self._fail(f"no reply to `{kind}` within {timeout_s:g} s from {self.address}")
        try:
            message = decode(self._socket.recv_multipart(copy=True), _MAX_REPLY_BYTES)
        except ProtocolError as error:
            self._fail(f"a malformed reply to `{kind}`: {error.message}")
        if message.type == "error":
            raise PolicyFailure(
                f"the policy server answered `{kind}` with an error: "
                f"{message.header.get('message', '')}"
            )
        return message.header, message.arrays

    def _wait(self, timeout_s: float) -> bool:
        """Wait for a reply; give up early when the server process has exited."""
        assert self._socket is not None
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            if self._socket.poll(int(min(left, 0.1) * 1000) or 1):
                return True
            if self.process is not None and self.process.poll() is not None:
                return False
        return False

    def _fail(self, why: str) -> NoReturn:
        code = self.process.poll() if self.process is not None else None
        if code is not None:
            why = f"its process exited with code {code}{self._log_tail()}"
        self.broken = why
        self._close_socket()
        raise PolicyFailure(why)

    def _log_tail(self) -> str:
        if self.log is None or not self.log.is_file():
            return ""
        lines = self.log.read_text(errors="replace").strip().splitlines()[-3:]
        return f"; its last output: {' / '.join(lines)}" if lines else ""

    def hello(self, timeout_s: float) -> str:
        """Wait for the server (up to `timeout_s`) and check it speaks this protocol."""
        header, _ = self._request("hello", timeout_s)
        if header.get("protocol") != POLICY_PROTOCOL:
            self._fail(
                f"the server speaks policy protocol {header.get('protocol')!r}, "
                f"this vitalskills speaks {POLICY_PROTOCOL}"
            )
        self.description = str(header.get("policy", ""))
        return self.description

    def reset(self) -> None:
        self._request("reset", self.timeout_s)

    def act(self, observation: Observation) -> np.ndarray:
        batch = policy_inputs(observation, self.inputs, self.image_sizes)
        _, arrays = self._request("act", self.timeout_s, batch)
        action = arrays.get("action")
        if action is None or action.size != self.action_dim or not np.isfinite(action).all():
            shape = None if action is None else list(action.shape)
            raise PolicyFailure(
                f"the policy of `{self.name}` sent action {shape}, not {self.action_dim} "
                "finite numbers"
            )
        return np.clip(action.reshape(self.action_dim), self.low, self.high).astype(np.float32)

    def _close_socket(self) -> None:
        if self._socket is not None:
            self._socket.close(linger=0)
            self._socket = None

    def close(self) -> None:
        """Say goodbye to a started server and make sure its process ends."""
        if self.process is not None and self.process.poll() is None and not self.broken:
            with contextlib.suppress(PolicyFailure):  # it is being stopped either way
                self._request("bye", 1.0)
        self._close_socket()
        if self.process is not None:
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_policy(name: str, command: Sequence[str], startup_s: float, **spec: Any) -> RemotePolicy:
    """Start a policy server process (`{address}` in `command` becomes its address) and
    wait until it answers `hello`. `spec` holds `RemotePolicy`'s other arguments.

    Raises:
        PolicyFailure: it did not start, or did not answer within `startup_s`.
    """
    folder = Path(tempfile.mkdtemp(prefix="vitalskills-policy-"))
    address = f"ipc://{folder / 'policy.sock'}"
    log = folder / "server.log"
    argv = [part.replace("{address}", address) for part in command]
    try:
        with log.open("wb") as out:
            process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    except OSError as error:
        raise PolicyFailure(
            f"cannot start the policy server of `{name}`: {error}",
            hint="check `policy.python` (or `policy.command`) in its skill.yaml",
        ) from None
    policy = RemotePolicy(name, address, process=process, log=log, **spec)
    try:
        policy.hello(startup_s)
    except PolicyFailure:
        policy.close()
        raise
    return policy


def connect_policy(name: str, address: str, startup_s: float, **spec: Any) -> RemotePolicy:
    """Connect to a policy server already running at `address` and greet it."""
    policy = RemotePolicy(name, address, **spec)
    policy.hello(startup_s)
    return policy
