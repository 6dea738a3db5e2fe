"""Write files and whole folders so that a crash leaves the old version or the new one.

Checkpoints (BC and residual) are folders written beside their destination and swapped
in; manifests are single files replaced in one rename; new folders (exported and
imported datasets) appear whole or not at all. None is ever seen half written.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
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


@contextmanager
def new_folder(out: Path) -> Iterator[Path]:
    """Yield a hidden sibling of `out` to write into; it becomes `out` when the block ends.

    If the block fails (or is interrupted), the sibling is removed and `out` never
    appears.
    """
    tmp = out.with_name(f".tmp-{out.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        yield tmp
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
