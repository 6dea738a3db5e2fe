"""Serve one policy over the vitalskills policy protocol (docs/policy-protocol.md).

This file is a program of its own: it runs in the policy's Python environment (for a
LeRobot checkpoint, LeRobot's, whose torch differs from vitalskills'), so it imports
nothing from vitalskills, only pyzmq, msgpack and numpy (and torch and lerobot for
`--lerobot`). vitalskills starts it for `kind: lerobot` and `kind: process` skills;
run it yourself on a GPU box for `kind: remote`:

    python policy_server.py --lerobot CHECKPOINT --bind tcp://0.0.0.0:5600 --device cuda
    python policy_server.py --policy my_module:make_policy --bind ipc:///tmp/policy.sock

A `--policy module:factory` is called with no arguments and returns an object with
`reset()` and `select_action(batch) -> action`, where `batch` maps each input feature to
one numpy array (no batch dimension) and the action is a 1-D array.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Any

import msgpack
import numpy as np
import zmq

PROTOCOL = 1
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
DTYPES = {
    name: np.dtype(name).newbyteorder("<")
    for name in ("bool", "uint8", "int32", "int64", "float16", "float32", "float64")
}


def decode(frames: list[bytes]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """A message's header and arrays; `ValueError` when it breaks the framing rules."""
    if not frames or sum(map(len, frames)) > MAX_MESSAGE_BYTES:
        raise ValueError("empty or oversized message")
    header = msgpack.unpackb(frames[0], raw=False, strict_map_key=True, ext_hook=_no_ext)
    if not isinstance(header, dict):
        raise ValueError("the header must be a msgpack map")
    specs = header.pop("arrays", [])
    if not isinstance(specs, list) or len(specs) != len(frames) - 1:
        raise ValueError("the array table does not match the frames")
    arrays = {}
    for spec, frame in zip(specs, frames[1:], strict=True):
        dtype = DTYPES.get(spec.get("dtype")) if isinstance(spec, dict) else None
        shape = spec.get("shape") if dtype is not None else None
        if not isinstance(shape, list) or not all(isinstance(n, int) and n >= 0 for n in shape):
            raise ValueError(f"bad array entry {spec!r}")
        if len(frame) != int(np.prod(shape)) * dtype.itemsize:
            raise ValueError(f"array `{spec.get('name')}` has the wrong number of bytes")
        arrays[str(spec["name"])] = np.frombuffer(frame, dtype=dtype).reshape(shape)
    return header, arrays


def _no_ext(code: int, data: bytes) -> Any:
    raise ValueError(f"msgpack extension type {code} is not allowed")


def encode(header: dict[str, Any], arrays: dict[str, np.ndarray] | None = None) -> list[bytes]:
    """The frames of one message: the msgpack header, then each array's raw bytes."""
    specs, frames = [], []
    for name, value in (arrays or {}).items():
        array = np.ascontiguousarray(value, dtype=np.asarray(value).dtype.newbyteorder("<"))
        specs.append({"name": name, "dtype": array.dtype.name, "shape": list(array.shape)})
        frames.append(array.tobytes())
    return [msgpack.packb({**header, "arrays": specs}, use_bin_type=True), *frames]


class LeRobotPolicy:
    """A LeRobot `PreTrainedPolicy` with its saved pre- and post-processors."""

    def __init__(self, checkpoint: str, device: str) -> None:
        import torch
        from lerobot.configs.policies import PreTrainedConfig
        from lerobot.policies.factory import get_policy_class, make_pre_post_processors

        config = PreTrainedConfig.from_pretrained(checkpoint)
        config.device = device
        self.torch = torch
        self.device = device
        self.policy = get_policy_class(config.type).from_pretrained(checkpoint, config=config)
        self.policy.to(device).eval()
        self.pre, self.post = make_pre_post_processors(config, pretrained_path=checkpoint)
        self.description = f"lerobot {config.type} from {checkpoint}"

    def reset(self) -> None:
        self.policy.reset()

    def select_action(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        torch = self.torch
        tensors = {key: torch.from_numpy(np.array(value))[None] for key, value in batch.items()}
        with torch.inference_mode():
            action = self.post(self.policy.select_action(self.pre(tensors)))
        return action.squeeze(0).to("cpu", torch.float32).numpy()


def load_factory(target: str) -> Any:
    """Call `module:factory` and return the policy it makes."""
    module, _, name = target.partition(":")
    if not name:
        raise SystemExit(f"--policy needs module:factory, got {target!r}")
    return getattr(importlib.import_module(module), name)()


def serve(policy: Any, address: str, description: str) -> None:
    """Answer requests until a `bye`; every failure is an error reply, never a crash."""
    context = zmq.Context()
    socket = context.socket(zmq.REP)
    socket.setsockopt(zmq.LINGER, 0)
    socket.bind(address)
    print(f"policy server: {description} on {address}", flush=True)
    try:
        while True:
            frames = socket.recv_multipart()
            reply, done = answer(policy, frames, description)
            socket.send_multipart(reply)
            if done:
                return
    finally:
        socket.close()
        context.term()


def answer(policy: Any, frames: list[bytes], description: str) -> tuple[list[bytes], bool]:
    """The reply to one request, and whether the server should stop after sending it."""
    try:
        header, arrays = decode(frames)
        kind = header.get("type")
        if kind == "hello":
            return encode({"type": "hello", "protocol": PROTOCOL, "policy": description}), False
        if kind == "reset":
            policy.reset()
            return encode({"type": "ok"}), False
        if kind == "act":
            action = np.asarray(policy.select_action(arrays), dtype=np.float32).reshape(-1)
            return encode({"type": "action"}, {"action": action}), False
        if kind == "bye":
            return encode({"type": "ok"}), True
        return encode({"type": "error", "message": f"unknown request type {kind!r}"}), False
    except Exception as error:  # a bad request or a policy error: tell the client
        return encode({"type": "error", "message": f"{type(error).__name__}: {error}"}), False


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--lerobot", metavar="CHECKPOINT", help="a LeRobot checkpoint folder")
    source.add_argument("--policy", metavar="MODULE:FACTORY", help="a factory to call")
    parser.add_argument("--bind", required=True, help="the ZeroMQ address to serve on")
    parser.add_argument("--device", default="cpu", help="torch device for --lerobot")
    args = parser.parse_args(argv)
    if args.lerobot:
        policy = LeRobotPolicy(args.lerobot, args.device)
        description = policy.description
    else:
        policy = load_factory(args.policy)
        description = getattr(policy, "description", args.policy)
    serve(policy, args.bind, description)


if __name__ == "__main__":
    sys.exit(main())
