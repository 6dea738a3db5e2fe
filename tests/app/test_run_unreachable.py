"""`vitalskills run --robot` at an address where no bridge server answers: exit 3, fast.

The address is a real TCP port on the loopback that is bound but never listens, so
every connection to it is refused for as long as the test holds it. The task is a
shipped one without skills: it checks without trained weights and without a robot.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vitalskills.app.run import RobotNotConnected
from vitalskills.cli import app
from vitalskills.cli.app import ExitCode, exit_code_of
from vitalskills.cli.runtime import _run_exit_codes
from vitalskills.lang import CheckFailed
from vitalskills.robot import RobotError, RobotUnreachable

TASK = Path(__file__).parents[2] / "tasks" / "common" / "home.vtl"


@pytest.fixture
def nobody() -> Iterator[str]:
    """A `tcp://` address on the loopback where nobody listens (refused, not dropped)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))
        yield f"tcp://127.0.0.1:{held.getsockname()[1]}"


def run(*args: str):
    return CliRunner().invoke(app, ["run", str(TASK), *args])


def test_no_bridge_server_exits_3_saying_what_and_what_to_do(nobody: str) -> None:
    result = run("--robot", nobody, "--connect-timeout", "0.5")
    assert result.exit_code == ExitCode.UNREACHABLE == 3, result.output
    assert result.stderr.splitlines() == [
        f"error: no bridge server answered at {nobody} within 0.5 s",
        "help: start `vitalskills bridge serve` on the robot's computer, check the address "
        "and port (`run` has no CurveZMQ keys: a server started with --curve-secret does "
        "not answer it), or raise --connect-timeout",
    ]
    assert result.stdout == ""


def test_timeout_bounds_the_wait_for_the_hello(nobody: str) -> None:
    result = run("--robot", nobody, "--connect-timeout", "30", "--timeout", "0.3")
    assert result.exit_code == 3, result.output
    assert f"error: no bridge server answered at {nobody} within 0.3 s" in result.stderr
    assert "or raise --timeout, which bounds --connect-timeout" in result.stderr


def test_a_larger_timeout_leaves_the_connect_timeout(nobody: str) -> None:
    result = run("--robot", nobody, "--connect-timeout", "0.2", "--timeout", "60")
    assert result.exit_code == 3, result.output
    assert f"error: no bridge server answered at {nobody} within 0.2 s" in result.stderr
    assert result.stderr.rstrip().endswith("or raise --connect-timeout")


def test_json_prints_no_summary_when_nothing_ran(nobody: str) -> None:
    result = run("--robot", nobody, "--connect-timeout", "0.2", "--json")
    assert result.exit_code == 3, result.output
    assert result.stdout == ""  # stdout stays parseable: no partial summary, no display
    assert "no bridge server answered" in result.stderr


def test_an_address_without_a_transport_is_still_a_usage_error() -> None:
    result = run("--robot", "127.0.0.1:5555", "--connect-timeout", "0.2")
    assert result.exit_code == 2, result.output
    assert "error: robot address `127.0.0.1:5555` has no zmq transport" in result.stderr


def test_only_a_robot_that_never_answered_exits_3() -> None:
    codes = _run_exit_codes()
    assert exit_code_of(RobotNotConnected("x"), codes, ExitCode.FAILED) == 3
    # A robot lost during the run (a later request timed out) ran the task: exit 1.
    assert exit_code_of(RobotUnreachable("x"), codes, ExitCode.FAILED) == 1
    assert exit_code_of(RobotError("x"), codes, ExitCode.FAILED) == 1
    assert exit_code_of(CheckFailed([]), codes, ExitCode.FAILED) == 2


def test_help_lists_the_exit_codes() -> None:
    result = CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0
    for code in ("0:", "1:", "2:", "3:", "130:"):
        assert f"\n {code} " in result.stdout, code
    assert "--connect-timeout" in result.stdout
