"""Bridge round-trip latency for a typical control step, beside bare pyzmq of the same bytes.

A step is what the executor does each control period: `observe` (reply: a 128x128x3
uint8 wrist image, 15 tactile floats, a 7-D pose and the gripper) and then `act`
(request: a 7-D action; reply: the applied action). The reference is like for like:
the same socket types (a DEALER client, a ROUTER server), the same frames byte for
byte (the bridge's own encoded requests and replies, captured once and replayed), the
same receive pattern (a blocking receive with a timeout), the same copy of each
received array into a writable one, and the same process layout (each server in its
own process, the client in this one). What it leaves out is exactly the bridge's work:
encoding and checking headers and array tables, matching reply ids, the server's
watchdog bookkeeping, limit checks and driver calls, and the client's heartbeat thread.
The two are timed in alternating blocks so that a change of machine load hits both alike.

    uv run python benchmarks/bridge.py [--steps 2000] [--transport tcp|ipc]

Each row also gives the CPU time per step of the client and of the server process (all
threads, ZeroMQ's included), and `ratio_cpu` compares their sums: on a busy machine the
latency follows CPU time. The last line is `ratio_p50=<bridge p50 / bare p50>` (target:
at most 1.5).
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import resource
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import zmq

from vitalskills.bridge import BridgeClient
from vitalskills.robot import CameraSpec, Observation, RobotCapabilities

IMAGE = np.random.default_rng(0).integers(0, 256, (128, 128, 3), dtype=np.uint8)
TACTILE = np.linspace(-1.0, 1.0, 15, dtype=np.float32)
POSE = np.array([0.4, 0.0, 0.3, 0.0, 1.0, 0.0, 0.0], dtype=np.float32)
GRIPPER = np.array([0.5], dtype=np.float32)
ACTION = np.array([0.001, 0.0, -0.002, 0.0, 0.0, 0.01, 1.0], dtype=np.float32)
#: Generous, so that a client starved by a loaded machine neither trips the watchdog nor
#: times out; the per-message watchdog work is the same whatever the period.
WATCHDOG_S = 2.0
TIMEOUT_S = 10.0


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


def stop_on(done: mp.Event) -> threading.Event:
    """An in-process flag set when `done` is; both servers check one per message."""
    stop = threading.Event()
    threading.Thread(target=lambda: (done.wait(), stop.set()), daemon=True).start()
    return stop


def cpu_seconds() -> float:
    """CPU time of this process, all threads (ZeroMQ's I/O thread included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def serve_bridge(address: str, ready: mp.Event, done: mp.Event, cpu: Any) -> None:
    from vitalskills.bridge import BridgeServer

    server = BridgeServer(BenchArm(), address, name="bench", watchdog_s=WATCHDOG_S)
    stop = stop_on(done)
    start = cpu_seconds()
    ready.set()
    server.serve(stop)
    cpu.value = cpu_seconds() - start


def wire_frames() -> dict[str, list[bytes]]:
    """The bridge's own frames for one step: requests and replies, as bytes."""
    from vitalskills.bridge.protocol import PROTOCOL_VERSION, encode

    def frames(header: dict[str, Any], arrays: dict[str, np.ndarray] | None = None) -> list:
        return [bytes(f) for f in encode({"v": PROTOCOL_VERSION, **header}, arrays)]

    session = {"id": 1_000_000, "session": "0123456789abcdef"}
    ok = {"id": 1_000_000, "ok": True}
    return {
        "observe": frames({"type": "observe", **session}),
        "act": frames(
            {"type": "act", "instance": "0123456789abcdef", **session}, {"action": ACTION}
        ),
        "observe_reply": frames({"type": "observe", **ok}, BenchArm().observe()),
        "act_reply": frames({"type": "act", **ok}, {"applied": ACTION}),
    }


def serve_bare(address: str, ready: mp.Event, done: mp.Event, cpu: Any) -> None:
    socket = zmq.Context.instance().socket(zmq.ROUTER)
    socket.linger = 0
    socket.rcvtimeo = 20
    socket.bind(address)
    wire = wire_frames()
    stop = stop_on(done)
    start = cpu_seconds()
    ready.set()
    while not stop.is_set():
        try:
            identity, *request = socket.recv_multipart()
        except zmq.Again:
            continue
        reply = wire["act_reply"] if len(request) == 2 else wire["observe_reply"]
        socket.send_multipart([identity, *reply])
    cpu.value = cpu_seconds() - start
    socket.close()


def bridge_step(robot: BridgeClient) -> None:
    robot.observe()
    robot.act(ACTION)


class BareClient:
    """A DEALER that sends the bridge's request frames and copies out the reply arrays."""

    def __init__(self, address: str) -> None:
        self.wire = wire_frames()
        self.socket = zmq.Context.instance().socket(zmq.DEALER)
        self.socket.linger = 0
        self.socket.rcvtimeo = int(TIMEOUT_S * 1000)
        self.socket.connect(address)

    def request(self, frames: list[bytes]) -> list[np.ndarray]:
        self.socket.send_multipart(frames)
        reply = self.socket.recv_multipart()
        return [np.frombuffer(frame, np.uint8).copy() for frame in reply[1:]]

    def close(self) -> None:
        self.socket.close()


def bare_step(client: BareClient) -> None:
    client.request(client.wire["observe"])
    client.request(client.wire["act"])


def timed(step: Callable[[Any], None], target: Any, count: int) -> list[float]:
    times = []
    for _ in range(count):
        start = time.perf_counter()
        step(target)
        times.append(time.perf_counter() - start)
    return times


def measure(
    addresses: dict[str, str], steps: int, warmup: int, block: int
) -> tuple[dict[str, np.ndarray], dict[str, tuple[float, float]]]:
    """Serve bare and bridge in their own processes and time them in alternating blocks.

    Alternating blocks of `block` steps keeps the comparison fair when the machine's
    load changes during the run. Also returns CPU seconds per step (client process,
    server process): on a busy machine wall-clock latency follows CPU time, which the
    load does not inflate as much.
    """
    from vitalskills.bridge import connect

    context = mp.get_context("spawn")
    done = context.Event()
    servers = []
    server_cpu = {kind: context.Value("d", math.nan) for kind in ("bare", "bridge")}
    for kind, target in (("bare", serve_bare), ("bridge", serve_bridge)):
        ready = context.Event()
        args = (addresses[kind], ready, done, server_cpu[kind])
        server = context.Process(target=target, args=args, daemon=True)
        server.start()
        servers.append(server)
        if not ready.wait(60):
            raise RuntimeError(f"the {kind} server did not start")
    bare = BareClient(addresses["bare"])
    times: dict[str, list[float]] = {"bare": [], "bridge": []}
    client_cpu = {"bare": 0.0, "bridge": 0.0}
    try:
        with connect(addresses["bridge"], timeout_s=TIMEOUT_S) as robot:
            robot.reset(seed=0)
            timed(bridge_step, robot, warmup)
            timed(bare_step, bare, warmup)
            kinds = (("bridge", bridge_step, robot), ("bare", bare_step, bare))
            for _ in range(max(1, steps // block)):
                for kind, step, target in kinds:
                    start = cpu_seconds()
                    times[kind] += timed(step, target, block)
                    client_cpu[kind] += cpu_seconds() - start
    finally:
        bare.close()
        done.set()
        for server in servers:
            server.join(10)
            if server.is_alive():
                server.kill()
    served = len(times["bare"]) + warmup  # each server also answered the warm-up steps
    cpu = {
        kind: (client_cpu[kind] / len(times[kind]), server_cpu[kind].value / served)
        for kind in times
    }
    return {kind: np.array(values) for kind, values in times.items()}, cpu


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
        results, cpu = measure(addresses, args.steps, args.warmup, args.block)
    payload = IMAGE.nbytes + TACTILE.nbytes + POSE.nbytes + GRIPPER.nbytes + ACTION.nbytes
    print(
        f"typical step over {args.transport}: observe ({payload - ACTION.nbytes} B) + act, "
        "both on DEALER/ROUTER with the same frames"
    )
    print(f"{'':8}{'p50 ms':>10}{'p99 ms':>10}{'steps/s':>10}{'msgs/s':>10}{'cpu us/step':>24}")
    for kind, times in results.items():
        p50, p99 = np.percentile(times, [50, 99]) * 1e3
        rate = len(times) / times.sum()
        client, server = (value * 1e6 for value in cpu[kind])
        usage = f"{client:.0f} client + {server:.0f} server"
        print(f"{kind:8}{p50:10.3f}{p99:10.3f}{rate:10.0f}{2 * rate:10.0f}{usage:>24}")
    ratio_cpu = sum(cpu["bridge"]) / sum(cpu["bare"])
    print(f"ratio_cpu={ratio_cpu:.3f}  (CPU per step, both processes, bridge / bare)")
    ratio = np.median(results["bridge"]) / np.median(results["bare"])
    print(f"ratio_p50={ratio:.3f}")


if __name__ == "__main__":
    main()
