"""End-to-end fixtures: a tiny plug_insert skill trained here, through the real pipeline.

The shipped skills may be untrained in a fresh checkout, so the machinery is tested with
a skill trained in a few seconds (collect two expert demos, three BC steps). It does not
insert the plug; the tests check the run's machinery, not the skill's quality.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.tiny_skill import train_tiny_skill

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tiny_skill")
    return train_tiny_skill(root, root / "lib" / "plug_insert").parent


def process_gone(pid: int) -> bool:
    """True when `pid` no longer runs (absent, or a zombie waiting to be reaped)."""
    status = Path(f"/proc/{pid}/status")
    if not status.exists():
        return True
    return "State:\tZ" in status.read_text()
