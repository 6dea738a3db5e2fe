"""Ctrl-C mid-skill: the plan is halted, the robot stopped, and no child process is left."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import process_gone

pytestmark = pytest.mark.slow

TASK = """\
task long "A skill that runs for a minute"
locate "power strip" as strip
run skill plug_insert at strip timeout 60 s
"""


def events(trace: Path) -> list[dict]:
    if not trace.exists():
        return []
    return [json.loads(line) for line in trace.read_text().splitlines() if line.endswith("}")]


def test_sigint_mid_skill_halts_stops_and_leaves_no_child(tiny_library: Path, tmp_path: Path):
    task = tmp_path / "long.vtl"
    task.write_text(TASK)
    trace = tmp_path / "trace.jsonl"
    command = [sys.executable, "-m", "vitalskills", "run", str(task), "--skills",
               str(tiny_library), "--realtime", "--trace", str(trace), "--record",
               str(tmp_path / "rec")]  # fmt: skip
    # A suite started in the background by a non-interactive shell ignores SIGINT, and
    # a child inherits that: give the command Ctrl-C's default, as a terminal would.
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not any(
            e.get("kind") == "run_skill" and "policy step" in e.get("reason", "")
            for e in events(trace)
        ):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the skill never started"
            time.sleep(0.1)
        process.send_signal(signal.SIGINT)
        _out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, err.decode()
    assert b"interrupted: the plan was halted" in err
    log = events(trace)
    server_pid = log[0]["values"]["server_pid"]
    assert process_gone(server_pid)
    skill = [e for e in log if e.get("kind") == "run_skill" and e["event"] == "node_finished"]
    assert skill[-1]["status"] == "halted" and "Ctrl-C" in skill[-1]["reason"]
    assert log[-1]["event"] == "task_finished" and log[-1]["status"] == "halted"
    # The server stopped on request, not because its watchdog noticed a dead client.
    server_log = (tmp_path / "rec" / "server.log").read_text()
    assert "serving sim:plug_in_socket" in server_log
    assert "watchdog" not in server_log.split("(watchdog")[-1]
    summary = json.loads((tmp_path / "rec" / "summary.json").read_text())
    assert summary["status"] == "halted"
