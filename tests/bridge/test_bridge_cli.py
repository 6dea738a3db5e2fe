"""`vitalskills bridge ...` in process with typer's CliRunner."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from conftest import served
from typer.testing import CliRunner

from vitalskills.bridge import generate_keys
from vitalskills.cli import app

runner = CliRunner()


def test_keygen_writes_a_key_pair(tmp_path: Path) -> None:
    result = runner.invoke(app, ["bridge", "keygen", str(tmp_path), "--name", "arm"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "arm.key").is_file() and (tmp_path / "arm.key_secret").is_file()
    assert f"public key  {tmp_path / 'arm.key'}" in result.output
    again = runner.invoke(app, ["bridge", "keygen", str(tmp_path), "--name", "arm"])
    assert again.exit_code == 1
    assert f"error: {tmp_path / 'arm.key_secret'} already exists" in again.output
    assert "help: pass --force to replace both key files" in again.output


def test_keygen_force_replaces_the_key_pair(tmp_path: Path) -> None:
    runner.invoke(app, ["bridge", "keygen", str(tmp_path), "--name", "arm"])
    before = (tmp_path / "arm.key_secret").read_text()
    result = runner.invoke(app, ["bridge", "keygen", str(tmp_path), "--name", "arm", "--force"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "arm.key_secret").read_text() != before
    assert stat.S_IMODE((tmp_path / "arm.key_secret").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "arm.key").stat().st_mode) == 0o644


def _readable_secret(tmp_path: Path) -> list[str]:
    """Serve options with a server secret key that others may read."""
    generate_keys(tmp_path / "server", "server")
    generate_keys(tmp_path / "clients", "alice")
    secret = tmp_path / "server" / "server.key_secret"
    secret.chmod(0o644)
    return [
        "--driver",
        "fake_arm:FakeArm",
        "--curve-secret",
        str(secret),
        "--curve-clients",
        str(tmp_path / "clients"),
        "--bind",
        "tcp://nowhere",  # fails after the keys are loaded: nothing is served
    ]


def test_serve_refuses_a_readable_secret_key(tmp_path: Path) -> None:
    result = runner.invoke(app, ["bridge", "serve", *_readable_secret(tmp_path)])
    assert result.exit_code == 1, result.output
    secret = tmp_path / "server" / "server.key_secret"
    assert f"error: secret key file {secret} is open to other users (mode 0644)" in result.output
    assert f"help: run `chmod 600 {secret}`" in result.output


def test_serve_accepts_a_readable_secret_key_when_told(tmp_path: Path) -> None:
    args = [*_readable_secret(tmp_path), "--allow-readable-secret"]
    result = runner.invoke(app, ["bridge", "serve", *args])
    assert result.exit_code == 1, result.output
    assert "cannot bind" in result.output  # got past the key check


def test_ping_prints_versions_capabilities_and_rtt() -> None:
    with served(watchdog_s=0.3) as server:
        result = runner.invoke(app, ["bridge", "ping", server.address, "--count", "5"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "server    vitalskills 0.1.0 (protocol v2)"
    assert lines[1] == "driver    driver (fake-arm)"
    assert lines[2] == "sensors   wrist_rgb, tactile, ee_pose, gripper, scene_rgbd"
    assert lines[3] == "cameras   wrist 32x32"
    assert lines[4] == "action    7-D at 10 Hz"
    assert lines[5] == "watchdog  300 ms"
    assert lines[6].startswith("rtt       min ") and lines[6].endswith(" ms over 5")


def test_ping_of_a_dead_server_is_a_clear_error() -> None:
    with served() as server:
        address = server.address
    result = runner.invoke(app, ["bridge", "ping", address, "--timeout", "0.3"])
    assert result.exit_code == 1
    assert f"error: no reply from the bridge server at {address}" in result.output
    assert "help: check that `vitalskills bridge serve` runs there" in result.output


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--driver", "nocolon"], 1, "driver `nocolon` is not `sim:TASK`"),
        (["--driver", "no_such_module_xyz:Arm"], 1, "cannot import driver module"),
        (["--driver", "fake_arm:Missing"], 1, "module `fake_arm` has no class `Missing`"),
        (["--driver", "fake_arm:FakeArm", "--option", "bogus=1"], 1, "rejected its options"),
        (["--driver", "fake_arm:FakeArm", "--option", "=1"], 2, "is not KEY=VALUE"),
        (["--driver", "fake_arm:FakeArm", "--seed", "3"], 1, "apply only to `sim:` drivers"),
        (["--driver", "fake_arm:FakeArm", "--workspace", "1,2"], 2, "is not six numbers"),
        (["--driver", "fake_arm:FakeArm", "--workspace", "0,0,0,1,1,-1"], 2, "bad safety limits"),
        (["--driver", "fake_arm:FakeArm", "--bind", "tcp://nowhere"], 1, "cannot bind"),
        (["--driver", "sim:no_such_task"], 1, "no_such_task"),
    ],
)
def test_serve_rejects_bad_options(args: list[str], code: int, message: str) -> None:
    result = runner.invoke(app, ["bridge", "serve", *args])
    assert result.exit_code == code, result.output
    assert message in result.output


def test_every_bridge_command_has_help() -> None:
    for command in ("serve", "ping", "keygen"):
        result = runner.invoke(app, ["bridge", command, "--help"])
        assert result.exit_code == 0
        assert "Usage:" in result.output and len(result.output.splitlines()) > 5
