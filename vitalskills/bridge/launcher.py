"""Start a bridge server as a child process, and always stop it again.

`vitalskills run` without `--robot` serves the simulator this way, so the default run
goes through the same sockets, protocol, watchdog and limits as a real robot. The child
gets its own process group (a Ctrl-C in the terminal reaches only the parent, which
then stops the robot before it stops the server) and is terminated, then killed, on
every way out of the `with` block.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

from vitalskills.bridge.server import ServeError

#: How long the child may take to import, build the simulator and bind.
START_TIMEOUT_S = 120.0
#: How long it gets to stop the driver and exit after SIGTERM, before SIGKILL.
STOP_TIMEOUT_S = 5.0


class ChildServer:
    """A `vitalskills bridge serve` child process on an ipc address in a private temp dir.

    Args:
        driver: the driver spec, e.g. `sim:plug_in_socket`.
        args: extra `bridge serve` options (`--condition scene`, `--seed 3`, ...).
        log: file for the child's output (default: `server.log` in the temp dir, removed
            with it).
    """

    def __init__(self, driver: str, args: list[str] | None = None, log: Path | None = None) -> None:
        self.driver = driver
        self.args = list(args or [])
        self._tmp = tempfile.TemporaryDirectory(prefix="vitalskills-")
        self.address = f"ipc://{self._tmp.name}/bridge.sock"
        self.log_path = log or Path(self._tmp.name) / "server.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.startup_s = 0.0
        self._started = 0.0

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self) -> ChildServer:
        """Spawn the server and wait until it is bound; see `spawn` and `wait_ready`."""
        return self.spawn().wait_ready()

    def spawn(self) -> ChildServer:
        """Spawn the server without waiting, so the caller can work while it boots."""
        self._started = time.perf_counter()
        command = [sys.executable, "-m", "vitalskills", "bridge", "serve"]
        command += ["--driver", self.driver, "--bind", self.address, *self.args]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def wait_ready(self) -> ChildServer:
        """Wait until the spawned server is bound (it prints `serving ...`).

        Raises:
            ServeError: the child exited or did not bind within `START_TIMEOUT_S`.
        """
        assert self.process is not None, "spawn() first"
        socket_path = Path(self.address.removeprefix("ipc://"))
        deadline = time.monotonic() + START_TIMEOUT_S
        while not (socket_path.exists() and b"serving " in self._log_bytes()):
            if self.process.poll() is not None:
                output = self._log_bytes().decode(errors="replace").strip()
                self.stop()
                raise ServeError(
                    f"the simulator bridge server exited with code {self.process.returncode} "
                    f"while starting:\n{output[-2000:]}",
                    hint="run the same `vitalskills bridge serve` command by hand to see why",
                )
            if time.monotonic() > deadline:
                self.stop()
                raise ServeError(
                    f"the simulator bridge server did not start within {START_TIMEOUT_S:g} s"
                )
            time.sleep(0.02)
        self.startup_s = time.perf_counter() - self._started
        return self

    def _log_bytes(self) -> bytes:
        try:
            return self.log_path.read_bytes()
        except OSError:
            return b""

    def stop(self) -> None:
        """SIGTERM the child's process group, SIGKILL it if it lingers; safe to call twice."""
        process = self.process
        if process is not None and process.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                process.wait()
        self._tmp.cleanup()

    def _signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)

    def __enter__(self) -> ChildServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
