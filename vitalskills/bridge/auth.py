"""CurveZMQ keys for the bridge: generate, load, and apply them to sockets.

The server holds a secret key and a directory of the public keys it accepts; a
client holds its own secret key and the server's public key. zmq's authenticator
refuses every client whose key is not in that directory, and every plain client.
"""

from __future__ import annotations

import datetime
import os
import stat
import tempfile
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


def generate_keys(directory: Path, name: str, *, force: bool = False) -> tuple[Path, Path]:
    """Write `NAME.key` (public, share it) and `NAME.key_secret` (keep it) into `directory`.

    The files are in zmq's certificate format (`zmq.auth.load_certificate` and czmq
    read them). The secret one is created with mode 0600, so it is never readable by
    other users, not even for the moment between creating it and a chmod.

    Raises:
        AuthError: a key file exists already and `force` is not set.
    """
    if not name or name.startswith(".") or Path(name).name != name:
        raise AuthError(
            f"key name `{name}` is not a plain file name",
            hint="pass a name such as `robot`; the directory is the separate DIR argument",
        )
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise AuthError(
            f"cannot create {directory}: {error.strerror}", hint="pick a directory you can write to"
        ) from None
    public_path, secret_path = directory / f"{name}.key", directory / f"{name}.key_secret"
    if not force:
        for path in (secret_path, public_path):
            if path.exists():
                raise AuthError(
                    f"{path} already exists",
                    hint="pass --force to replace both key files, or pick another --name",
                )
    public, secret = zmq.curve_keypair()
    now = datetime.datetime.now()
    _write(secret_path, _certificate(_SECRET_BANNER, now, public, secret), 0o600, force)
    _write(public_path, _certificate(_PUBLIC_BANNER, now, public), 0o644, force)
    return public_path, secret_path


_SECRET_BANNER = """#   ****  Generated on {0} by vitalskills  ****
#   ZeroMQ CURVE **Secret** Certificate
#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.

"""
_PUBLIC_BANNER = """#   ****  Generated on {0} by vitalskills  ****
#   ZeroMQ CURVE Public Certificate
#   Exchange securely, or use a secure mechanism to verify the contents
#   of this file after exchange. Store public certificates in your home
#   directory, in the .curve subdirectory.

"""


def _certificate(
    banner: str, now: datetime.datetime, public: bytes, secret: bytes | None = None
) -> str:
    """Return a certificate laid out line for line as `zmq.auth.create_certificates` does."""
    text = f'{banner.format(now)}metadata\ncurve\n    public-key = "{public.decode()}"\n'
    if secret is not None:
        text += f'    secret-key = "{secret.decode()}"\n'
    return text


def _write(path: Path, text: str, mode: int, replace: bool) -> None:
    """Write `path` created with `mode`: exclusively, or (`replace`) through a renamed temp file.

    Either way no other user can open a secret file in between, and a reader never
    sees half a key file.
    """
    try:
        if replace:
            descriptor, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        else:
            temp = str(path)
            descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise AuthError(f"{path} already exists", hint="pass --force to replace it") from None
    except OSError as error:
        raise AuthError(
            f"cannot write {path}: {error.strerror}", hint="pick a directory you can write to"
        ) from None
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            os.fchmod(file.fileno(), mode)  # the umask may have taken bits from a public key
            file.write(text)
        if replace:
            os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def load_key_pair(path: Path, *, allow_readable: bool = False) -> CurveKeyPair:
    """Load a `.key_secret` file made by `vitalskills bridge keygen`.

    Refuses a file that group or others may access: whoever can read it can pose as
    this server or client. `allow_readable` accepts it anyway (file systems that
    cannot hold modes).
    """
    public, secret = _load(path)
    if secret is None:
        raise AuthError(
            f"{path} holds only a public key",
            hint="pass the `.key_secret` file made by `vitalskills bridge keygen`",
        )
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077 and not allow_readable and os.name == "posix":
        raise AuthError(
            f"secret key file {path} is open to other users (mode {mode:04o})",
            hint=f"run `chmod 600 {path}`, or pass `--allow-readable-secret` to accept it",
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
