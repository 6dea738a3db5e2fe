"""CurveZMQ: a client with an allowed key is served; plain and unknown clients are refused."""

from __future__ import annotations

import logging
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import zmq
import zmq.auth
from conftest import served
from fake_arm import FakeArm

from vitalskills.bridge import AuthError, BridgeServer, connect, generate_keys
from vitalskills.bridge.auth import load_key_pair, load_public_key
from vitalskills.robot import RobotError


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    generate_keys(tmp_path / "server", "server")
    generate_keys(tmp_path / "clients", "alice")
    generate_keys(tmp_path / "others", "mallory")
    return tmp_path


@pytest.fixture
def secure(keys: Path) -> Iterator[BridgeServer]:
    with served(
        curve=load_key_pair(keys / "server" / "server.key_secret"),
        curve_clients=keys / "clients",
    ) as server:
        yield server


def test_allowed_client_is_served(secure: BridgeServer, keys: Path) -> None:
    with connect(
        secure.address,
        curve_secret=keys / "clients" / "alice.key_secret",
        curve_server=keys / "server" / "server.key",
    ) as client:
        assert client.observe()["wrist_rgb"].shape == (32, 32, 3)


def test_plain_client_is_refused(secure: BridgeServer) -> None:
    with pytest.raises(RobotError, match="no reply") as caught:
        connect(secure.address, timeout_s=0.5)
    assert "CurveZMQ" in (caught.value.hint or "")


def test_client_with_an_unknown_key_is_refused(secure: BridgeServer, keys: Path) -> None:
    with pytest.raises(RobotError, match="no reply"):
        connect(
            secure.address,
            timeout_s=0.5,
            curve_secret=keys / "others" / "mallory.key_secret",
            curve_server=keys / "server" / "server.key",
        )


def test_client_trusting_the_wrong_server_key_is_refused(secure: BridgeServer, keys: Path) -> None:
    with pytest.raises(RobotError, match="no reply"):
        connect(
            secure.address,
            timeout_s=0.5,
            curve_secret=keys / "clients" / "alice.key_secret",
            curve_server=keys / "others" / "mallory.key",
        )


def test_keygen_never_overwrites(keys: Path) -> None:
    with pytest.raises(AuthError, match="already exists"):
        generate_keys(keys / "clients", "alice")


def test_public_key_is_not_a_key_pair(keys: Path) -> None:
    with pytest.raises(AuthError, match="only a public key"):
        load_key_pair(keys / "server" / "server.key")
    with pytest.raises(AuthError, match="does not exist"):
        load_key_pair(keys / "missing.key_secret")


def test_secure_server_needs_client_keys(keys: Path) -> None:
    (keys / "empty").mkdir()
    with pytest.raises(AuthError, match="no client public keys"):
        BridgeServer(
            FakeArm(),
            "tcp://127.0.0.1:*",
            curve=load_key_pair(keys / "server" / "server.key_secret"),
            curve_clients=keys / "empty",
        )


def test_keygen_creates_the_secret_file_private_from_the_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[tuple[str, int, int]] = []
    real_open = os.open

    def spy(path: str, flags: int, mode: int = 0o777, *args: object, **kwargs: object) -> int:
        opened.append((str(path), flags, mode))
        return real_open(path, flags, mode, *args, **kwargs)

    monkeypatch.setattr(os, "open", spy)
    previous = os.umask(0)  # a careless umask must not widen the secret file
    try:
        public, secret = generate_keys(tmp_path, "arm")
    finally:
        os.umask(previous)
    flags, mode = next((f, m) for p, f, m in opened if p == str(secret))
    assert flags & os.O_CREAT and flags & os.O_EXCL and mode == 0o600
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert stat.S_IMODE(public.stat().st_mode) == 0o644


def test_keygen_modes_do_not_depend_on_a_strict_umask(tmp_path: Path) -> None:
    previous = os.umask(0o077)
    try:
        public, secret = generate_keys(tmp_path, "arm")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert stat.S_IMODE(public.stat().st_mode) == 0o644


def _layout(path: Path) -> list[str]:
    """The file's lines with the date and the keys masked."""
    text = re.sub(r"Generated on .* by \w+", "Generated on DATE by TOOL", path.read_text())
    return re.sub(r'-key = "[^"]{40}"', '-key = "KEY"', text).splitlines()


def test_keygen_writes_zmq_certificates(tmp_path: Path) -> None:
    public, secret = generate_keys(tmp_path / "ours", "arm")
    (tmp_path / "zmq").mkdir()
    zmq.auth.create_certificates(str(tmp_path / "zmq"), "arm")
    assert _layout(public) == _layout(tmp_path / "zmq" / "arm.key")
    assert _layout(secret) == _layout(tmp_path / "zmq" / "arm.key_secret")
    pair = load_key_pair(secret)
    assert zmq.auth.load_certificate(str(secret)) == (pair.public, pair.secret)
    assert zmq.auth.load_certificate(str(public)) == (pair.public, None)
    assert zmq.curve_public(pair.secret) == pair.public


def test_keygen_refusal_names_the_file_and_force(keys: Path) -> None:
    with pytest.raises(AuthError) as caught:
        generate_keys(keys / "clients", "alice")
    assert caught.value.message == f"{keys / 'clients' / 'alice.key_secret'} already exists"
    assert "--force" in (caught.value.hint or "")
    (keys / "clients" / "alice.key_secret").unlink()  # a lone public key is kept too
    with pytest.raises(AuthError, match=r"alice\.key already exists"):
        generate_keys(keys / "clients", "alice")


def test_keygen_force_replaces_both_files_through_private_temp_files(
    keys: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = keys / "clients"
    before = load_key_pair(directory / "alice.key_secret")
    modes: dict[str, int] = {}
    real_replace = os.replace

    def spy(source: str, target: Path) -> None:
        assert Path(source).parent == directory  # same file system: the rename is atomic
        modes[Path(target).name] = stat.S_IMODE(os.stat(source).st_mode)
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", spy)
    public, secret = generate_keys(directory, "alice", force=True)
    assert modes == {"alice.key_secret": 0o600, "alice.key": 0o644}
    after = load_key_pair(secret)
    assert after != before and load_public_key(public) == after.public
    assert sorted(p.name for p in directory.iterdir()) == ["alice.key", "alice.key_secret"]


@pytest.mark.parametrize("name", ["", ".hidden", "sub/arm", "../arm"])
def test_keygen_rejects_names_that_are_not_file_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(AuthError, match="is not a plain file name"):
        generate_keys(tmp_path, name)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620, 0o601])
def test_secret_key_open_to_others_is_refused(keys: Path, mode: int) -> None:
    secret = keys / "server" / "server.key_secret"
    secret.chmod(mode)
    with pytest.raises(AuthError) as caught:
        load_key_pair(secret)
    assert (
        caught.value.message == f"secret key file {secret} is open to other users (mode {mode:04o})"
    )
    assert caught.value.hint == (
        f"run `chmod 600 {secret}`, or pass `--allow-readable-secret` to accept it"
    )
    assert load_key_pair(secret, allow_readable=True).public == load_public_key(secret)


def test_owner_only_secret_keys_load(keys: Path) -> None:
    secret = keys / "server" / "server.key_secret"
    for mode in (0o600, 0o400):
        secret.chmod(mode)
        assert load_key_pair(secret).secret


def test_the_server_logs_curve_at_start_and_each_refused_handshake(
    keys: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="vitalskills.bridge")
    with (
        served(
            curve=load_key_pair(keys / "server" / "server.key_secret"),
            curve_clients=keys / "clients",
        ) as server,
        pytest.raises(RobotError, match="no reply"),
    ):
        connect(
            server.address,
            timeout_s=0.5,
            curve_secret=keys / "others" / "mallory.key_secret",
            curve_server=keys / "server" / "server.key",
        )
    lines = [record.getMessage() for record in caplog.records]
    assert "CurveZMQ is on: accepting 1 client key(s)" in lines
    assert any(
        line.startswith("refused a CurveZMQ handshake") and "not among the allowed" in line
        for line in lines
    ), lines


def test_a_plain_server_logs_that_curve_is_off(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="vitalskills.bridge")
    with served():
        pass
    assert any(r.getMessage().startswith("CurveZMQ is off") for r in caplog.records)
