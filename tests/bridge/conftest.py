"""Bridge test helpers: servers in threads or real subprocesses, on tcp or ipc."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from vitalskills.bridge import BridgeServer

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))  # so that `fake_arm:FakeArm` loads as a user driver

from fake_arm import FakeArm  # noqa: E402


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A short temporary directory (ipc socket paths must stay under ~100 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="vb", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(params=["tcp", "ipc"])
def endpoint(request: pytest.FixtureRequest, short_dir: Path) -> str:
    """A bind endpoint on loopback tcp (a free port) or an ipc socket file."""
    if request.param == "tcp":
        return "tcp://127.0.0.1:*"
    return f"ipc://{short_dir}/bridge.sock"


@contextmanager
def served(driver: Any = None, bind: str = "tcp://127.0.0.1:*", **options: Any):
    """Serve `driver` (a fresh FakeArm by default) in a thread; stop and join on exit."""
    server = BridgeServer(driver if driver is not None else FakeArm(), bind, **options)
    stop = threading.Event()
    thread = threading.Thread(target=server.serve, args=(stop,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stop.set()
        thread.join(timeout=10)
        assert not thread.is_alive(), "the server thread did not stop"


def cli_command(*args: str) -> list[str]:
    """The installed `vitalskills` command line with `args`."""
    script = Path(sys.executable).with_name("vitalskills")
    return [str(script), *args]


def subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
    env.setdefault("MUJOCO_GL", "egl")
    return env


@contextmanager
def process(command: list[str]) -> Iterator[subprocess.Popen]:
    """Run `command` in its own process group; kill the group on exit (no orphans)."""
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()


def read_address(proc: subprocess.Popen, timeout_s: float = 60.0) -> str:
    """Wait for a `serving DRIVER on ADDRESS` line from `vitalskills bridge serve`."""
    result: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("serving "):
                result.append(line.split(" on ", 1)[1].strip())
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout_s)
    if not result:
        proc.kill()
        raise AssertionError(f"server did not start: {proc.stderr.read() if proc.stderr else ''}")
    return result[0]
