"""Bridge round-trip latency for a typical control step, beside bare pyzmq REQ/REP.

A step is what the executor does each control period: `observe` (reply: a 128x128x3
uint8 wrist image, 15 tactile floats, a 7-D pose and the gripper) and then `act`
(request: a 7-D action; reply: the applied action). The reference moves the same
payload bytes in the same two round trips with a bare pyzmq REQ/REP pair and no
protocol. Both servers run in their own process on the same transport; the two are
timed in alternating blocks so that a change of machine load hits both alike.

    uv run python benchmarks/bridge.py [--steps 2000] [--transport tcp|ipc]

The last line is `ratio_p50=<bridge p50 / bare p50>` (target: at most 1.5).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import zmq

from vitalskills.bridge import BridgeClient
from vitalskills.runtime.robot import CameraSpec, Observation, RobotCapabilities

IMAGE = np.random.default_rng(0).integers(0, 256, (128, 128, 3), dtype=np.uint8)
TACTILE = np.linspace(-1.0, 1.0, 15, dtype=np.float32)
POSE = np.array([0.4, 0.0, 0.3, 0.0, 1.0, 0.0, 0.0], dtype=np.float32)
GRIPPER = np.array([0.5], dtype=np.float32)
ACTION = np.array([0.001, 0.0, -0.002, 0.0, 0.0, 0.01, 1.0], dtype=np.float32)


class BenchArm:
    """A driver that answers instantly with a fixed typical observation."""

    def capabilities(self) -> RobotCapabilities:
        return RobotCapabilities(
            name="bench",
            sensors=["wrist_rgb", "tactile", "ee_pose", "gripper"],
            cameras=[CameraSpec(name="wrist", width=128, height=128)],
            tactile_dim=15,
        )

    def reset(self, seed: int | None = None) -> Observation:
        return self.observe()

    def observe(self) -> Observation:
        return {"wrist_rgb": IMAGE, "tactile": TACTILE, "ee_pose": POSE, "gripper": GRIPPER}

    def act(self, action: np.ndarray) -> np.ndarray:
        return action

    def stop(self) -> None:
        pass


def serve_bridge(address: str, ready: mp.Event, done: mp.Event) -> None:
    import threading

    from vitalskills.bridge import BridgeServer

    server = BridgeServer(BenchArm(), address, name="bench")
    stop = threading.Event()
    threading.Thread(target=lambda: (done.wait(), stop.set()), daemon=True).start()
    ready.set()
    server.serve(stop)


def serve_bare(address: str, ready: mp.Event, done: mp.Event) -> None:
    socket = zmq.Context.instance().socket(zmq.REP)
    socket.linger = 0
    socket.bind(address)
    observation = [IMAGE.tobytes(), TACTILE.tobytes(), POSE.tobytes(), GRIPPER.tobytes()]
    ready.set()
    while not done.is_set():
        if not socket.poll(100, zmq.POLLIN):
            continue
        request = socket.recv_multipart()
        socket.send_multipart(observation if request[0] == b"observe" else request)
    socket.close()


def bridge_step(robot: BridgeClient) -> None:
    robot.observe()
    robot.act(ACTION)


def bare_step(socket: zmq.Socket) -> None:
    socket.send(b"observe")
    frames = socket.recv_multipart()
    np.frombuffer(frames[0], np.uint8).reshape(128, 128, 3).copy()
    socket.send(ACTION.tobytes())
    np.frombuffer(socket.recv(), np.float32).copy()


def timed(step: Callable[[Any], None], target: Any, count: int) -> list[float]:
    times = []
    for _ in range(count):
        start = time.perf_counter()
        step(target)
        times.append(time.perf_counter() - start)
    return times


def measure(
    addresses: dict[str, str], steps: int, warmup: int, block: int
) -> dict[str, np.ndarray]:
    """Serve bare and bridge in their own processes and time them in alternating blocks.

    Alternating blocks of `block` steps keeps the comparison fair when the machine's
    load changes during the run.
    """
    from vitalskills.bridge import connect

    context = mp.get_context("spawn")
    done = context.Event()
    servers = []
    for kind, target in (("bare", serve_bare), ("bridge", serve_bridge)):
        ready = context.Event()
        server = context.Process(target=target, args=(addresses[kind], ready, done), daemon=True)
        server.start()
        servers.append(server)
        if not ready.wait(60):
            raise RuntimeError(f"the {kind} server did not start")
    bare = zmq.Context.instance().socket(zmq.REQ)
    bare.linger = 0
    bare.connect(addresses["bare"])
    times: dict[str, list[float]] = {"bare": [], "bridge": []}
    try:
        with connect(addresses["bridge"]) as robot:
            robot.reset(seed=0)
            timed(bridge_step, robot, warmup)
            timed(bare_step, bare, warmup)
            for _ in range(max(1, steps // block)):
                times["bridge"] += timed(bridge_step, robot, block)
                times["bare"] += timed(bare_step, bare, block)
    finally:
        bare.close()
        done.set()
        for server in servers:
            server.join(10)
            if server.is_alive():
                server.kill()
    return {kind: np.array(values) for kind, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--block", type=int, default=100, help="steps per alternating block")
    parser.add_argument("--transport", choices=["tcp", "ipc"], default="tcp")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vb") as tmp:
        addresses = {}
        for kind in ("bare", "bridge"):
            if args.transport == "tcp":
                with zmq.Context.instance().socket(zmq.REP) as probe:
                    port = probe.bind_to_random_port("tcp://127.0.0.1")
                addresses[kind] = f"tcp://127.0.0.1:{port}"
            else:
                addresses[kind] = f"ipc://{Path(tmp) / kind}.sock"
        results = measure(addresses, args.steps, args.warmup, args.block)
    payload = IMAGE.nbytes + TACTILE.nbytes + POSE.nbytes + GRIPPER.nbytes + ACTION.nbytes
    print(f"typical step over {args.transport}: observe ({payload - ACTION.nbytes} B) + act")
    print(f"{'':8}{'p50 ms':>10}{'p99 ms':>10}{'steps/s':>10}{'msgs/s':>10}")
    for kind, times in results.items():
        p50, p99 = np.percentile(times, [50, 99]) * 1e3
        rate = len(times) / times.sum()
        print(f"{kind:8}{p50:10.3f}{p99:10.3f}{rate:10.0f}{2 * rate:10.0f}")
    ratio = np.median(results["bridge"]) / np.median(results["bare"])
    print(f"ratio_p50={ratio:.3f}")


if __name__ == "__main__":
    main()
