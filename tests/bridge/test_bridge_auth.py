"""CurveZMQ: a client with an allowed key is served; plain and unknown clients are refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import served
from fake_arm import FakeArm

from vitalskills.bridge import AuthError, BridgeServer, connect, generate_keys
from vitalskills.bridge.auth import load_key_pair
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
