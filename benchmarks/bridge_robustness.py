"""Robustness of the bridge server, re-measured against real `vitalskills bridge serve` processes.

Two properties, each against the installed `vitalskills` console script serving the
kinematic test arm (`--driver fake_arm:FakeArm`, from tests/bridge) on real sockets:

- `watchdog`: a client process keeps the arm moving (an action every 0.35 s, longer
  than the watchdog, so only the reference client's heartbeats keep it alive) and is
  SIGKILLed; the time from the kill to the server's `stop()` (the arm's stop log,
  stamped with `time.monotonic()` in the server process) must stay within the watchdog
  plus a margin, in every trial. A stop while the client is alive also fails.
- `fuzz`: random and malformed messages on a raw DEALER (random bytes, a valid `act`
  truncated, flipped, with extra or missing frames, maps with wrong field types, huge
  shapes, pickled payloads that would create a marker file if anything unpickled them),
  in batches; after each batch the reference client must be served (`reset`, `act`,
  `observe`, `stop`) and NaN/inf actions with a valid header must get `bad_request`.
  The server must not crash or hang, its RSS and log must stay small (refusals are
  logged rate-limited), the marker file must never appear. Then a CurveZMQ server must
  give no reply to a client without keys, one with an unknown key and one trusting the
  wrong server key, and serve the allowed client.

    uv run --frozen python benchmarks/bridge_robustness.py watchdog [--trials 20]
    uv run --frozen python benchmarks/bridge_robustness.py fuzz [--messages 44000] [--batch 1000]
    uv run --frozen python benchmarks/bridge_robustness.py all [--transport ipc|tcp] [--seed 0]

Prints each figure, then one `PASS`/`FAIL` line per property (`watchdog`, `fuzz`,
`curve`); exits 1 if any failed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pickle
import random
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import zmq

from vitalskills.bridge import BridgeClient, connect
from vitalskills.robot import RobotError, RobotUnreachable

ROOT = Path(__file__).resolve().parents[1]
#: Where `fake_arm.py` lives; on the server's PYTHONPATH so `fake_arm:FakeArm` loads.
FAKE_ARM_DIR = ROOT / "tests" / "bridge"
VITALSKILLS = Path(sys.executable).with_name("vitalskills")
START_TIMEOUT_S = 60.0
#: A valid request not answered within this long is a hang.
HANG_S = 5.0
#: A watchdog stop not seen within this long after the kill is missing.
STOP_WAIT_S = 5.0
MAX_LOG_BYTES = 100_000
#: Fuzz messages in flight on the raw DEALER (the server answers one at a time).
WINDOW = 64
FUZZ_SESSION = "f022f022f022f022"
NAN_SESSION = "0a0a0a0a0a0a0a0a"
MAX_MESSAGE_BYTES = 16 * 1024 * 1024  # the server's default `max_message_bytes`

#: The watchdog trial's client: like tests/bridge/moving_client.py, run with `-c`.
MOVING_CLIENT = """
import sys, time
import numpy as np
from vitalskills.bridge import connect
client = connect(sys.argv[1], timeout_s=5.0)
client.reset(seed=0)
step = np.array([0.001, 0, 0, 0, 0, 0, 0], dtype=np.float32)
client.act(step)
print("moving", flush=True)
while True:
    time.sleep(0.35)
    client.act(step)
"""


# ---------------------------------------------------------------------- processes
@contextlib.contextmanager
def child(
    command: list[str], *, stdout: Any, stderr: Any, env: dict[str, str] | None = None,
    graceful_s: float = 0.0,
) -> Iterator[subprocess.Popen]:  # fmt: skip
    """Run `command` in a session of its own; on the way out (however) kill its group.

    With `graceful_s`, SIGTERM first and give it that long to exit (a server then logs
    its last summary and stops the arm), then SIGKILL the group whatever is left.
    """
    proc = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, env=env,
        start_new_session=True,
    )  # fmt: skip
    try:
        yield proc
    finally:
        if graceful_s > 0 and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(graceful_s)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def server_env() -> dict[str, str]:
    """This environment with tests/bridge on PYTHONPATH (as conftest's `subprocess_env`)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(FAKE_ARM_DIR), env.get("PYTHONPATH", "")])
    env.setdefault("MUJOCO_GL", "egl")
    return env


class Server:
    """A `vitalskills bridge serve --driver fake_arm:FakeArm` child; stdout and stderr to files.

    Use as a context manager: it waits for `serving ... on ADDRESS` and SIGTERMs (then
    SIGKILLs) the process group on exit.
    """

    def __init__(self, workdir: Path, name: str, bind: str, args: list[str]) -> None:
        self.out_path = workdir / f"{name}.out"
        self.log_path = workdir / f"{name}.log"
        self.command = [
            str(VITALSKILLS), "bridge", "serve", "--driver", "fake_arm:FakeArm",
            "--bind", bind, *args,
        ]  # fmt: skip
        self.address = ""
        self.proc: subprocess.Popen | None = None
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> Server:
        with contextlib.ExitStack() as stack:
            out = stack.enter_context(self.out_path.open("wb"))
            err = stack.enter_context(self.log_path.open("wb"))
            self.proc = self._stack.enter_context(
                child(self.command, stdout=out, stderr=err, env=server_env(), graceful_s=10.0)
            )
        try:
            self._wait_ready()
        except BaseException:
            self._stack.close()
            raise
        return self

    def _wait_ready(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            for line in self.out_path.read_text(errors="replace").splitlines():
                if line.startswith("serving ") and " on " in line:
                    self.address = line.split(" on ", 1)[1].strip()
                    return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(
            f"the server did not start (exit code {self.proc.poll()}):\n{self.log_text()[-2000:]}"
        )

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def stop(self) -> None:
        """SIGTERM the server and wait for it (its log is then complete)."""
        self._stack.close()

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def rss_kib(self) -> int:
        """The server's resident set size (VmRSS), in KiB."""
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS in /proc/PID/status")

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


def bind_address(transport: str, workdir: Path, name: str) -> str:
    """An ipc socket in the short work directory, or a free loopback tcp port."""
    if transport == "ipc":
        return f"ipc://{workdir}/{name}.sock"
    return "tcp://127.0.0.1:*"  # the server binds a free port and prints it


def cli(*args: str) -> str:
    """Run the installed `vitalskills` with `args`; return its output, raise if it fails."""
    done = subprocess.run(
        [str(VITALSKILLS), *args], capture_output=True, text=True, timeout=60, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"vitalskills {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


# ---------------------------------------------------------------------- watchdog
def stop_times(path: Path) -> list[float]:
    """The `time.monotonic()` of each `stop()` the arm logged."""
    if not path.exists():
        return []
    return [float(line.split()[1]) for line in path.read_text().splitlines() if line.strip()]


def read_line(proc: subprocess.Popen, timeout_s: float) -> str:
    """One line of the child's stdout, or "" if none comes within `timeout_s`."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout_s)
    return proc.stdout.readline().decode(errors="replace").strip() if ready else ""


def watchdog(args: argparse.Namespace, workdir: Path) -> list[str]:
    """SIGKILL a moving client `trials` times; time the server's stop. Return the failures."""
    stop_log = workdir / "stops.log"
    limit_s = (args.watchdog_ms + args.margin_ms) / 1000
    print(
        f"watchdog: {args.trials} trials over {args.transport}, a moving client SIGKILLed "
        f"after {args.live_s:g} to {args.live_s + 0.35:g} s alive, "
        f"--watchdog-ms {args.watchdog_ms:g}, limit {limit_s * 1e3:.0f} ms"
    )
    server_args = ["--watchdog-ms", f"{args.watchdog_ms:g}", "--option", f"stop_log={stop_log}"]
    latencies: list[float] = []
    missing = live_stops = 0
    jitter = random.Random(args.seed)
    bind = bind_address(args.transport, workdir, "wd")
    with Server(workdir, "watchdog", bind, server_args) as server:
        for trial in range(1, args.trials + 1):
            command = [sys.executable, "-c", MOVING_CLIENT, server.address]
            with child(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as client:
                if read_line(client, START_TIMEOUT_S) != "moving":
                    raise RuntimeError(f"trial {trial}: the client never moved the arm")
                # Stops logged before `moving` belong to earlier trials.
                before = len(stop_times(stop_log))
                # Several action gaps longer than the watchdog, then a kill at a random
                # phase of the client's 50 ms heartbeats and 0.35 s actions.
                time.sleep(args.live_s + jitter.uniform(0.0, 0.35))
                baseline = len(stop_times(stop_log))
                killed = time.monotonic()
                os.kill(client.pid, signal.SIGKILL)
                deadline = killed + STOP_WAIT_S
                while len(stops := stop_times(stop_log)) <= baseline:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.002)
            new_live = baseline - before
            live_stops += new_live
            note = f"  ({new_live} stop(s) while the client was alive)" if new_live else ""
            if len(stops) <= baseline:
                missing += 1
                print(f"trial {trial:3d}: no stop within {STOP_WAIT_S:g} s{note}")
                continue
            latency = stops[baseline] - killed
            latencies.append(latency)
            print(f"trial {trial:3d}: stop {latency * 1e3:6.1f} ms after SIGKILL{note}")
        alive = server.alive
        server.stop()
        logged = server.log_text().count("the watchdog stopped the robot")
    late = [t for t in latencies if not 0 < t <= limit_s]  # or before the kill
    if latencies:
        print(
            f"latency ms: min {min(latencies) * 1e3:.1f}  "
            f"median {statistics.median(latencies) * 1e3:.1f}  max {max(latencies) * 1e3:.1f}"
        )
    print(
        f"stopped {len(latencies) - len(late)}/{args.trials} within {limit_s * 1e3:.0f} ms "
        f"(late {len(late)}, missing {missing}); stops while a client was alive: {live_stops}; "
        f"watchdog stops in the server log: {logged}"
    )
    failures = []
    if late or missing:
        failures.append(f"{len(late)} late and {missing} missing stops of {args.trials}")
    if live_stops:
        failures.append(f"{live_stops} stops while the client was alive")
    if not alive:
        failures.append("the server exited during the trials")
    return failures


# ---------------------------------------------------------------------- fuzz messages
class Marker:
    """Unpickling this creates `path` (open(path, "w")): proof that something unpickled."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[str, str]]:
        return open, (self.path, "w")


class Fuzzer:
    """Random and malformed bridge messages (lists of frames), drawn from named kinds."""

    def __init__(self, seed: int, instance: str, marker: Path) -> None:
        self.rng = random.Random(seed)
        self.instance = instance
        self.pickles = [pickle.dumps(Marker(marker), protocol=p) for p in (0, 2, 4, 5)]
        self.pickles.append(pickle.dumps({"action": Marker(marker)}))
        self.pickles.append(pickle.dumps(np.array([Marker(marker)], dtype=object)))
        self.big = b"\0" * (MAX_MESSAGE_BYTES // 2 + 1)  # two of them exceed the limit
        self.next_id = 1
        self.kinds: dict[str, Callable[[], list[bytes]]] = {
            "random_bytes": self.random_bytes,
            "truncated_header": self.truncated_header,
            "flipped_header": self.flipped_header,
            "flipped_action": self.flipped_action,
            "extra_frames": self.extra_frames,
            "missing_frames": self.missing_frames,
            "delimiters": self.delimiters,
            "trailing_bytes": self.trailing_bytes,
            "wrong_types": self.wrong_types,
            "huge_shape": self.huge_shape,
            "bad_array_table": self.bad_array_table,
            "pickle": self.pickled,
            "not_a_map": self.not_a_map,
            "declared_lengths": self.declared_lengths,
            "deep_nesting": self.deep_nesting,
            "too_many_frames": self.too_many_frames,
            "big_header": self.big_header,
            "other_requests": self.other_requests,
            "extreme_values": self.extreme_values,
        }
        self.names = list(self.kinds)

    def message(self) -> tuple[str, list[bytes]]:
        """One message: its kind and its frames (a rare kind exceeds the size limit)."""
        if self.rng.random() < 1 / 2000:
            return "oversized_total", [self.act_header(), self.big, self.big]
        kind = self.rng.choice(self.names)
        return kind, self.kinds[kind]()

    # -- helpers
    def bytes_(self, low: int = 0, high: int = 300) -> bytes:
        return self.rng.randbytes(self.rng.randint(low, high))

    def ident(self) -> int:
        self.next_id += 1
        return self.next_id

    def act_header(self, **changes: Any) -> bytes:
        header = {
            "v": 2, "type": "act", "id": self.ident(), "session": FUZZ_SESSION,
            "instance": self.instance,
            "arrays": [{"name": "action", "dtype": "float32", "shape": [7]}],
        }  # fmt: skip
        header.update(changes)
        return msgpack.packb(header)

    def action(self) -> bytes:
        return np.array(
            [self.rng.uniform(-0.002, 0.002) for _ in range(6)] + [0.0], dtype=np.float32
        ).tobytes()

    def flip(self, data: bytes, count: int) -> bytes:
        if not data:
            return data
        buffer = bytearray(data)
        for _ in range(count):
            buffer[self.rng.randrange(len(buffer))] ^= 1 << self.rng.randrange(8)
        return bytes(buffer)

    def value(self, depth: int = 0) -> Any:
        """A random msgpack-packable value."""
        rng = self.rng
        kinds = 9 if depth < 3 else 6
        match rng.randrange(kinds):
            case 0:
                return None
            case 1:
                return rng.random() < 0.5
            case 2:
                return rng.choice([0, -1, 1, 2, 7, 2**31, 2**63 - 1, 2**64 - 1, -(2**63)])
            case 3:
                return rng.choice([0.0, 2.0, -1.5, float("nan"), float("inf"), 1e308])
            case 4:
                alphabet = "act hello\x00\n\u00e9\u4e2d\U0001f600"
                return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80)))
            case 5:
                return self.bytes_(0, 40)
            case 6:
                return [self.value(depth + 1) for _ in range(rng.randint(0, 4))]
            case 7:
                return {f"k{i}": self.value(depth + 1) for i in range(rng.randint(0, 4))}
            case _:
                return msgpack.ExtType(rng.randint(0, 127), self.bytes_(0, 20))

    # -- kinds
    def random_bytes(self) -> list[bytes]:
        return [self.bytes_(1, 300) for _ in range(self.rng.randint(1, 4))]

    def truncated_header(self) -> list[bytes]:
        header = self.act_header()
        return [header[: self.rng.randrange(1, len(header))], self.action()]

    def flipped_header(self) -> list[bytes]:
        return [self.flip(self.act_header(), self.rng.randint(1, 8)), self.action()]

    def flipped_action(self) -> list[bytes]:
        return [self.act_header(), self.flip(self.action(), self.rng.randint(1, 6))]

    def extra_frames(self) -> list[bytes]:
        extra = [self.bytes_(0, 64) for _ in range(self.rng.randint(1, 3))]
        return [self.act_header(), self.action(), *extra]

    def missing_frames(self) -> list[bytes]:
        two = [{"name": "action", "dtype": "float32", "shape": [7]}, {"name": "b",
               "dtype": "uint8", "shape": [3]}]  # fmt: skip
        return self.rng.choice([[self.act_header()], [self.act_header(arrays=two), self.action()]])

    def delimiters(self) -> list[bytes]:
        body = self.rng.choice([[self.act_header(), self.action()], self.random_bytes(), []])
        return [b""] * self.rng.randint(1, 3) + body

    def trailing_bytes(self) -> list[bytes]:
        return [self.act_header() + self.bytes_(1, 16), self.action()]

    def wrong_types(self) -> list[bytes]:
        rng = self.rng
        valid: dict[str, Any] = {
            "v": 2, "type": rng.choice(["act", "reset", "hello", "observe", "heartbeat"]),
            "id": self.ident(), "session": FUZZ_SESSION, "instance": self.instance,
            "seed": 0, "versions": [2],
            "arrays": [{"name": "action", "dtype": "float32", "shape": [7]}],
        }  # fmt: skip
        header: dict[Any, Any] = {}
        for key, good in valid.items():
            roll = rng.random()
            if roll < 0.4:
                header[key] = good
            elif roll < 0.9:
                header[key] = self.value()
        if rng.random() < 0.1:
            header[rng.choice([1, -1, 2.5, None, b"\xff"])] = self.value()
        frames = [msgpack.packb(header, use_bin_type=True)]
        return frames + [self.action() for _ in range(rng.randint(0, 2))]

    def huge_shape(self) -> list[bytes]:
        shape = self.rng.choice(
            [
                [2**31 - 1] * 8, [2**31], [2**40], [2**63 - 1], [2**64 - 1], [-1], [-(2**63)],
                [7.0], [True], ["7"], [None], [7, 7, 7, 7, 7, 7, 7, 7, 7], [[7]], 7, {"0": 7},
                [0, 2**31 - 1], [65536, 65536], [3, 2**30],
            ]
        )  # fmt: skip
        dtype = self.rng.choice(["float32", "float64", "uint8", "bool"])
        spec = {"name": "action", "dtype": dtype, "shape": shape}
        return [self.act_header(arrays=[spec]), self.rng.choice([self.action(), b"", b"\0"])]

    def bad_array_table(self) -> list[bytes]:
        specs = self.rng.choice(
            [
                [{"name": "action", "dtype": d, "shape": [7]}]
                for d in ("object", "O", "|O", "float128", "<f4", ">f4", "complex64", "V28",
                          "S4", "U7", "float", 4, None, "")
            ]
            + [
                "action", [7], [None], [{"name": "", "dtype": "float32", "shape": [7]}],
                [{"name": 7, "dtype": "float32", "shape": [7]}],
                [{"name": "action", "dtype": "float32", "shape": [7]}] * 2,
                [{"dtype": "float32", "shape": [7]}],
            ]
        )  # fmt: skip
        count = len(specs) if isinstance(specs, list) else 1
        return [self.act_header(arrays=specs)] + [self.action() for _ in range(count)]

    def pickled(self) -> list[bytes]:
        payload = self.rng.choice(self.pickles)
        spec = {"name": "action", "dtype": self.rng.choice(["object", "O", "float32"]),
                "shape": [1]}  # fmt: skip
        return self.rng.choice(
            [
                [payload],  # the header itself
                [payload, self.action()],
                [self.act_header(arrays=[spec]), payload],  # an "object" array
                [self.act_header(), payload],
                [self.act_header(action=payload, arrays=[])],  # a bin field
                [self.act_header(action=msgpack.ExtType(self.rng.randint(0, 127), payload))],
                [msgpack.packb(msgpack.ExtType(1, payload))],
                [b"", payload],
            ]
        )

    def not_a_map(self) -> list[bytes]:
        value = self.rng.choice([[2, "act", 1], 7, "act", None, True, 1.5, b"act"])
        return [msgpack.packb(value), self.action()]

    def declared_lengths(self) -> list[bytes]:
        # map32, array32, str32, bin32 headers declaring ~4 G items or bytes, then little.
        prefix = self.rng.choice([b"\xdf", b"\xdd", b"\xdb", b"\xc6", b"\xc9"])
        return [prefix + b"\xff\xff\xff\xff" + self.bytes_(0, 32)]

    def deep_nesting(self) -> list[bytes]:
        depth = self.rng.choice([100, 1000, 5000, 20000])
        opener = self.rng.choice([b"\x91", b"\x81\xa1k"])
        return [b"\x81\xa1v" + opener * depth + b"\xc0"]

    def too_many_frames(self) -> list[bytes]:
        count = self.rng.choice([65, 100, 300])
        specs = [{"name": f"a{i}", "dtype": "uint8", "shape": [1]} for i in range(count)]
        return [self.act_header(arrays=specs)] + [b"\0"] * count

    def big_header(self) -> list[bytes]:
        return [self.act_header(pad="x" * self.rng.choice([65536, 70000, 200000])), self.action()]

    def extreme_values(self) -> list[bytes]:
        """A valid `act` with finite but extreme components: the server must clip them."""
        dtype = np.dtype(self.rng.choice(["<f2", "<f4", "<f8"]))
        info = np.finfo(dtype)
        pool = [info.max, -info.max, info.tiny, info.smallest_subnormal, -0.0, 1.0, -1.0, 1e4]
        action = np.array([self.rng.choice(pool) for _ in range(7)], dtype=dtype)
        spec = {"name": "action", "dtype": dtype.name, "shape": [7]}
        return [self.act_header(arrays=[spec]), action.tobytes()]

    def other_requests(self) -> list[bytes]:
        header = {
            "v": self.rng.choice([2, 1, 3, 0, -1, 2**40]), "id": self.ident(),
            "type": self.rng.choice(["observe", "heartbeat", "capabilities", "hello", "scene",
                                     "stop", "shutdown", "", "ACT"]),
            "session": self.rng.choice([FUZZ_SESSION, "", "s" * 65, "s" * 64]),
            "versions": self.rng.choice([[2], [], [1], [2.0], "2", [True]]),
        }  # fmt: skip
        return [msgpack.packb(header)]


# ---------------------------------------------------------------------- fuzz run
def reply_code(frames: list[bytes]) -> str:
    """`ok`, or the error code of a reply (skipping an empty delimiter frame)."""
    return reply_header(frames)[0]


def reply_header(frames: list[bytes]) -> tuple[str, dict[str, Any], list[bytes]]:
    """A reply's code (`ok` or the error code), header and array frames."""
    if len(frames) > 1 and not frames[0]:  # behind a delimiter, like the request
        frames = frames[1:]
    try:
        header = msgpack.unpackb(frames[0], raw=False)
    except Exception:
        return "unreadable reply", {}, []
    if not isinstance(header, dict):
        return "unreadable reply", {}, []
    code = "ok" if header.get("ok") else str((header.get("error") or {}).get("code", "?"))
    return code, header, frames[1:]


class Tally:
    """Reply codes; every action the server applied is checked against its limits."""

    def __init__(self, limits: dict[str, Any]) -> None:
        self.step = float(limits["step_limit"]) * (1 + 1e-5)
        self.turn = float(limits["max_rotation_step"]) * (1 + 1e-5)
        self.codes: Counter[str] = Counter()
        self.applied = 0
        self.violations: list[str] = []

    def add(self, frames: list[bytes]) -> None:
        code, header, arrays = reply_header(frames)
        self.codes[code] += 1
        if code != "ok" or header.get("type") != "act":
            return
        self.applied += 1
        action = np.frombuffer(arrays[0], dtype="<f4") if arrays else np.zeros(0)
        if not (
            action.shape == (7,)
            and np.all(np.isfinite(action))
            and np.linalg.norm(action[:3]) <= self.step
            and np.linalg.norm(action[3:6]) <= self.turn
            and abs(action[6]) <= 1.0
        ):
            self.violations.append(repr(action.tolist()))


def dealer(address: str) -> zmq.Socket:
    socket = zmq.Context.instance().socket(zmq.DEALER)
    socket.linger = 0
    socket.connect(address)
    return socket


def raw_request(socket: zmq.Socket, frames: list[bytes], timeout_s: float = HANG_S) -> Any:
    """Send one message and return its reply's frames, or None without one in time."""
    socket.send_multipart(frames)
    if not socket.poll(int(timeout_s * 1000)):
        return None
    return socket.recv_multipart()


def nan_checks(socket: zmq.Socket, instance: str) -> tuple[int, int, list[str]]:
    """Send NaN, +inf and -inf actions in each float dtype; return (sent, refused, failures)."""
    sent = refused = 0
    failures = []
    for dtype in ("float16", "float32", "float64"):
        for bad in (float("nan"), float("inf"), float("-inf")):
            action = np.zeros(7, dtype=dtype)
            action[sent % 7] = bad
            header = {
                "v": 2, "type": "act", "id": 900_000 + sent, "session": NAN_SESSION,
                "instance": instance,
                "arrays": [{"name": "action", "dtype": dtype, "shape": [7]}],
            }  # fmt: skip
            reply = raw_request(socket, [msgpack.packb(header), action.tobytes()])
            sent += 1
            code = "no reply" if reply is None else reply_code(reply)
            if code == "bad_request":
                refused += 1
            else:
                failures.append(f"{dtype} {bad}: {code}")
    return sent, refused, failures


def valid_requests(client: BridgeClient) -> str:
    """`reset`, `act`, `observe`, `stop` through the reference client: "" or what failed."""
    try:
        client.reset(seed=0)
        applied = client.act(np.array([0.001, 0, 0, 0, 0, 0, 0], dtype=np.float32))
        if not np.all(np.isfinite(applied)) or client.observe()["ee_pose"].shape != (7,):
            return "a bad reply"
        client.stop()
    except RobotUnreachable as error:
        return f"hang: {error.message}"
    except RobotError as error:
        return f"refused: {error.message}"
    return ""


def fuzz(args: argparse.Namespace, workdir: Path) -> list[str]:
    """Flood a server with bad messages in batches, checking it after each. Return failures."""
    marker = workdir / "UNPICKLED-MARKER"
    probe = workdir / "probe-marker"
    pickle.loads(pickle.dumps(Marker(probe))).close()  # the payload is live ...
    live = probe.exists()
    probe.unlink(missing_ok=True)  # ... when something does unpickle it
    batches = max(1, -(-args.messages // args.batch))
    print(
        f"fuzz: {args.messages} messages in {batches} batches of {args.batch} over "
        f"{args.transport} on a raw DEALER ({WINDOW} in flight), seed {args.seed}"
    )
    sent = received = crashes = hangs = worked = nan_sent = nan_refused = 0
    kinds: Counter[str] = Counter()
    failures: list[str] = []
    bind = bind_address(args.transport, workdir, "fz")
    started = time.perf_counter()
    with Server(workdir, "fuzz", bind, []) as server:
        socket = dealer(server.address)
        hello = {"v": 2, "type": "hello", "id": 0, "session": FUZZ_SESSION, "versions": [2]}
        reply = raw_request(socket, [msgpack.packb(hello)])
        if reply is None:
            raise RuntimeError("the fuzz server did not answer hello")
        greeting = msgpack.unpackb(reply[0])
        instance = greeting["instance"]
        tally = Tally(greeting["limits"])
        fuzzer = Fuzzer(args.seed, instance, marker)
        checker = dealer(server.address)
        client = connect(server.address, timeout_s=HANG_S)
        rss_start = server.rss_kib()
        rss: list[int] = []  # after each batch
        try:
            for batch in range(batches):
                count = min(args.batch, args.messages - sent)
                outstanding = 0
                for index in range(count):
                    kind, frames = fuzzer.message()
                    kinds[kind] += 1
                    socket.send_multipart(frames)
                    sent += 1
                    outstanding += 1
                    # Keep WINDOW in flight; at the batch's end wait for every reply.
                    while outstanding >= (WINDOW if index < count - 1 else 1):
                        if not socket.poll(int(HANG_S * 1000)):
                            break
                        tally.add(socket.recv_multipart())
                        received += 1
                        outstanding -= 1
                    if outstanding >= WINDOW:  # no reply for HANG_S
                        break
                if not server.alive:
                    crashes += 1
                    failures.append(f"the server exited during batch {batch + 1}")
                    break
                if outstanding:
                    hangs += 1
                    failures.append(f"{outstanding} replies missing after batch {batch + 1}")
                problem = valid_requests(client)
                if problem:
                    hangs += problem.startswith("hang")
                    failures.append(f"valid requests after batch {batch + 1}: {problem}")
                else:
                    worked += 1
                n, refused, bad = nan_checks(checker, instance)
                nan_sent += n
                nan_refused += refused
                failures += [f"NaN/inf action accepted or lost ({b})" for b in bad]
                if marker.exists():
                    failures.append(f"the marker file appeared in batch {batch + 1}")
                rss.append(server.rss_kib())
            # One frame over max_message_bytes: ZeroMQ drops it and the connection.
            big = dealer(server.address)
            oversized_reply = raw_request(big, [b"\0" * (MAX_MESSAGE_BYTES + 1)], 1.0)
            big.close()
            after_big = valid_requests(client)
            if after_big:
                failures.append(f"valid requests after a frame over the limit: {after_big}")
            rss_end = server.rss_kib() if server.alive else 0
        finally:
            client.close()
            socket.close()
            checker.close()
        alive = server.alive
        server.stop()
        log_text = server.log_text()
    elapsed = time.perf_counter() - started
    if not alive and not crashes:
        crashes += 1
        failures.append("the server exited")
    log_bytes = server.log_path.stat().st_size
    log_lines = log_text.count("\n")
    print(f"messages sent          {sent} in {elapsed:.1f} s ({sent / elapsed:.0f}/s)")
    print(f"replies received       {received} (one per message: {received == sent})")
    codes = tally.codes
    print("reply codes            " + ", ".join(f"{k} {n}" for k, n in codes.most_common()))
    print(
        f"applied actions        {tally.applied - len(tally.violations)}/{tally.applied} "
        f"fuzzed `act`s that moved the arm stayed within step {tally.step:.4g} m, "
        f"rotation {tally.turn:.4g} rad, gripper 1"
    )
    print(f"server crashes         {crashes}")
    print(f"server hangs           {hangs} (a reply or valid request not answered in {HANG_S:g} s)")
    print(
        f"valid requests worked  {worked}/{batches} batches (reset, act, observe, stop by "
        "the reference client)"
    )
    print(f"NaN/inf actions        {nan_refused}/{nan_sent} refused with bad_request")
    over = "none (connection dropped)" if oversized_reply is None else reply_code(oversized_reply)
    print(f"frame over max_message_bytes: reply {over}; served after it: {not after_big}")
    print(
        f"server RSS             start {rss_start / 1024:.1f} MiB, end {rss_end / 1024:.1f} MiB "
        f"({(rss_end - rss_start) / 1024:+.1f} MiB)"
    )
    if rss:
        half = rss[len(rss) // 2]
        print(
            f"server RSS by batch    first {rss[0] / 1024:.1f}, middle {half / 1024:.1f}, "
            f"last {rss[-1] / 1024:.1f}, peak {max(rss) / 1024:.1f} MiB"
        )
    print(f"server log             {log_bytes} bytes, {log_lines} lines (limit {MAX_LOG_BYTES} B)")
    print(
        f"pickle marker          {'CREATED' if marker.exists() else 'never created'} "
        f"(the payload creates its file when unpickled: {live})"
    )
    print("kinds sent             " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
    tracebacks = log_text.count("Traceback")
    if tracebacks:
        print(f"server tracebacks      {tracebacks} (server bugs):")
        print(log_text[-3000:])
    if log_lines <= 40:
        print("server log:")
        for line in log_text.splitlines():
            print(f"  {line}")
    if received != sent and not any("replies missing" in f for f in failures):
        failures.append(f"{sent - received} messages got no reply")
    if tally.violations:
        failures.append(f"applied actions over the limits: {tally.violations[:3]}")
    if log_bytes > MAX_LOG_BYTES:
        failures.append(f"server log {log_bytes} bytes > {MAX_LOG_BYTES}")
    if marker.exists():
        failures.append("the pickle marker file was created")
    if "driver_error" in codes or tracebacks:
        failures.append(f"the server failed internally ({tracebacks} tracebacks)")
    return failures


# ---------------------------------------------------------------------- CurveZMQ
def curve(args: argparse.Namespace, workdir: Path) -> list[str]:
    """Only the allowed client's key gets replies from a CurveZMQ server. Return failures."""
    keys = workdir / "keys"
    for name in ("server", "client", "other"):
        cli("bridge", "keygen", str(keys / name), "--name", name)
    allowed = keys / "allowed"
    allowed.mkdir()
    shutil.copy(keys / "client" / "client.key", allowed)
    server_args = [
        "--curve-secret", str(keys / "server" / "server.key_secret"),
        "--curve-clients", str(allowed),
    ]  # fmt: skip
    server_key = keys / "server" / "server.key"
    client_secret = keys / "client" / "client.key_secret"
    wrong: dict[str, dict[str, Path]] = {
        "no keys": {},
        "unknown key": {
            "curve_secret": keys / "other" / "other.key_secret",
            "curve_server": server_key,
        },
        "wrong server key": {
            "curve_secret": client_secret,
            "curve_server": keys / "other" / "other.key",
        },
    }
    print(f"CurveZMQ: server with 1 allowed client key over {args.transport}")
    failures = []
    bind = bind_address(args.transport, workdir, "cz")
    with Server(workdir, "curve", bind, server_args) as server:
        for name, options in wrong.items():
            started = time.monotonic()
            try:
                client = connect(server.address, timeout_s=args.curve_timeout_s, **options)
            except RobotUnreachable:
                outcome = f"no reply within {time.monotonic() - started:.2f} s"
            except RobotError as error:  # a reply, even an error, means it got through
                outcome = f"ANSWERED: {error.message}"
                failures.append(f"a client with {name} got a reply")
            else:
                client.close()
                outcome = "ANSWERED hello"
                failures.append(f"a client with {name} was served")
            print(f"client with {name:17} {outcome}")
        try:
            with connect(
                server.address, timeout_s=HANG_S, curve_secret=client_secret,
                curve_server=server_key,
            ) as client:  # fmt: skip
                problem = valid_requests(client)
        except RobotError as error:
            problem = error.message
        served = "served (reset, act, observe, stop)"
        print(f"allowed client         {problem or served}")
        if problem:
            failures.append(f"the allowed client was not served: {problem}")
        server.stop()
        log_lines = server.log_text().splitlines()
    print("server log lines mentioning CurveZMQ:")
    for line in log_lines:
        if "CurveZMQ" in line:
            print(f"  {line}")
    print("and its rate-limit summaries (refused handshakes counted after the first of each kind):")
    for line in log_lines:
        if " more " in line and "refused" in line:
            print(f"  {line}")
    return failures


# ---------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--seed", type=int, default=0, help="of the kill times and the fuzz")
    common.add_argument("--transport", choices=["ipc", "tcp"], default="ipc")
    watch = argparse.ArgumentParser(add_help=False)
    watch.add_argument("--trials", type=int, default=20)
    watch.add_argument("--watchdog-ms", type=float, default=200.0)
    watch.add_argument("--margin-ms", type=float, default=250.0, help="allowed lateness")
    watch.add_argument("--live-s", type=float, default=1.0, help="client alive before the kill")
    flood = argparse.ArgumentParser(add_help=False)
    flood.add_argument("--messages", type=int, default=44_000)
    flood.add_argument("--batch", type=int, default=1000, help="messages between checks")
    flood.add_argument("--curve-timeout-s", type=float, default=1.0)
    commands.add_parser(
        "watchdog", parents=[common, watch], help="SIGKILLed client -> watchdog stop"
    )
    commands.add_parser("fuzz", parents=[common, flood], help="malformed messages, NaN, CurveZMQ")
    commands.add_parser("all", parents=[common, watch, flood], help="both")
    args = parser.parse_args()
    # Ctrl-C (even where the shell ignores SIGINT for background jobs) and SIGTERM unwind
    # the stack, so every child's process group is killed on the way out.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.perf_counter()
    failures: dict[str, list[str]] = {}
    workdir = Path(tempfile.mkdtemp(prefix="vbr", dir="/tmp"))  # short: ipc paths
    try:
        if args.command in ("watchdog", "all"):
            failures["watchdog"] = watchdog(args, workdir)
        if args.command == "all":
            print()
        if args.command in ("fuzz", "all"):
            failures["fuzz"] = fuzz(args, workdir)
            failures["curve"] = curve(args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(f"wall time {time.perf_counter() - started:.1f} s")
    for name, found in failures.items():
        print(f"PASS {name}" if not found else f"FAIL {name}: " + "; ".join(found))
    if any(failures.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
