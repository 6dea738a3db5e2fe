"""sha256 of weights files, remembered by path, size and modification time.

`check` and `run` verify every used skill's weights before anything runs. Hashing a
large checkpoint on every call would make `check` slow, so a digest is kept in a small
JSON file in the user's cache directory (`$VITALSKILLS_HOME/cache`, else
`$XDG_CACHE_HOME/vitalskills`, else `~/.cache/vitalskills`) and reused while the file's
size and modification time (ns) are unchanged; anything else hashes the file again. An
unreadable or unwritable cache only costs the hashing, never a wrong answer about a file
that changed.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

CACHE_FILE = "sha256.json"


def sha256_of(path: Path) -> str:
    """Return the hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cache_path() -> Path:
    """Where the digests are kept (the file may not exist)."""
    home = os.environ.get("VITALSKILLS_HOME")
    if home:
        return Path(home).expanduser() / "cache" / CACHE_FILE
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "vitalskills" / CACHE_FILE


def _read(path: Path) -> dict[str, dict[str, object]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(path: Path, data: dict[str, dict[str, object]]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        partial.write_text(json.dumps(data), encoding="utf-8")
        partial.replace(path)
    except OSError:
        return  # a read-only home: hash again next time


def cached_sha256(path: Path) -> str:
    """The sha256 of `path`, from the cache when its size and mtime are unchanged."""
    path = Path(path).resolve()
    stat = path.stat()
    key, stamp = str(path), {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    store = cache_path()
    cache = _read(store)
    entry = cache.get(key)
    if isinstance(entry, dict) and all(entry.get(k) == v for k, v in stamp.items()):
        digest = entry.get("sha256")
        if isinstance(digest, str):
            return digest
    digest = sha256_of(path)
    cache[key] = {**stamp, "sha256": digest}
    _write(store, cache)
    return digest
