"""CurveZMQ keys for the bridge: generate, load, and apply them to sockets.

The server holds a secret key and a directory of the public keys it accepts; a
client holds its own secret key and the server's public key. zmq's authenticator
refuses every client whose key is not in that directory, and every plain client.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from vitalskills.errors import VitalskillsError


class AuthError(VitalskillsError):
    """A CurveZMQ key file is missing, unreadable or of the wrong kind."""

    code = "R030"


@dataclass(frozen=True)
class CurveKeyPair:
    """A Z85-encoded CurveZMQ key pair."""

    public: bytes
    secret: bytes


def generate_keys(directory: Path, name: str) -> tuple[Path, Path]:
    """Write `NAME.key` (public, share it) and `NAME.key_secret` (keep it) into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    for suffix in (".key", ".key_secret"):
        if (directory / f"{name}{suffix}").exists():
            raise AuthError(
                f"{directory / (name + suffix)} already exists",
                hint="pick another --name or directory; existing keys are never overwritten",
            )
    public, secret = zmq.auth.create_certificates(str(directory), name)
    return Path(public), Path(secret)


def load_key_pair(path: Path) -> CurveKeyPair:
    """Load a `.key_secret` file made by `vitalskills bridge keygen`."""
    public, secret = _load(path)
    if secret is None:
        raise AuthError(
            f"{path} holds only a public key",
            hint="pass the `.key_secret` file made by `vitalskills bridge keygen`",
        )
    return CurveKeyPair(public, secret)


def load_public_key(path: Path) -> bytes:
    """Load the public key from a `.key` (or `.key_secret`) file."""
    return _load(path)[0]


def _load(path: Path) -> tuple[bytes, bytes | None]:
    if not path.is_file():
        raise AuthError(
            f"key file {path} does not exist",
            hint="create keys with `vitalskills bridge keygen DIR --name NAME`",
        )
    try:
        return zmq.auth.load_certificate(str(path))
    except (ValueError, OSError) as error:
        raise AuthError(
            f"{path} is not a CurveZMQ key file: {error}",
            hint="create keys with `vitalskills bridge keygen DIR --name NAME`",
        ) from None


def start_authenticator(context: zmq.Context, clients_dir: Path) -> ThreadAuthenticator:
    """Start zmq's authenticator accepting only the public keys in `clients_dir`."""
    if not clients_dir.is_dir() or not any(clients_dir.glob("*.key")):
        raise AuthError(
            f"{clients_dir} holds no client public keys (`*.key`)",
            hint="copy each allowed client's `NAME.key` into that directory",
        )
    authenticator = ThreadAuthenticator(context)
    authenticator.start()
    authenticator.configure_curve(domain="*", location=str(clients_dir))
    return authenticator


def make_curve_server(socket: zmq.Socket, keys: CurveKeyPair) -> None:
    """Turn `socket` into a CurveZMQ server with `keys`."""
    socket.curve_secretkey = keys.secret
    socket.curve_publickey = keys.public
    socket.curve_server = True


def make_curve_client(socket: zmq.Socket, keys: CurveKeyPair, server_public: bytes) -> None:
    """Turn `socket` into a CurveZMQ client of the server whose public key is given."""
    socket.curve_secretkey = keys.secret
    socket.curve_publickey = keys.public
    socket.curve_serverkey = server_public
