"""Write files and whole folders so that a crash leaves the old version or the new one.

Checkpoints (BC and residual) are folders written beside their destination and swapped
in; manifests are single files replaced in one rename. Neither is ever seen half written.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def write_text_atomic(path: Path, text: str) -> None:
    """Write `text` to a hidden sibling of `path`, fsync it, then rename it over `path`."""
    tmp = path.with_name(f".tmp-{path.name}")
    with tmp.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def replace_folder(tmp: Path, folder: Path) -> None:
    """Make the fully written folder `tmp` become `folder`.

    Files are fsynced first, so a crash at any point leaves the previous checkpoint or
    the new one, never a torn mix.
    """
    for path in tmp.iterdir():
        with path.open("rb") as handle:
            os.fsync(handle.fileno())
    old = folder.with_name(f".old-{folder.name}")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.rename(old)
    tmp.rename(folder)
    shutil.rmtree(old, ignore_errors=True)
