"""End-to-end fixtures: a tiny plug_insert skill trained here, through the real pipeline.

The shipped skills may be untrained in a fresh checkout, so the machinery is tested with
a skill trained in a few seconds (collect two expert demos, three BC steps). It does not
insert the plug; the tests check the run's machinery, not the skill's quality.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from vitalskills.cli import app
from vitalskills.learning.train import load_torch_compiler

torch.set_num_threads(1)
load_torch_compiler()


@pytest.fixture(scope="session")
def tiny_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tiny_skill")
    runner = CliRunner()
    collected = runner.invoke(
        app,
        ["collect", "--task", "plug_in_socket", "--episodes", "2", "--seed", "3",
         "--image-size", "32", "--out", str(root / "demos")],
    )  # fmt: skip
    assert collected.exit_code == 0, collected.output
    trained = runner.invoke(
        app,
        ["train", "bc", "--data", str(root / "demos"), "--out", str(root / "lib" / "plug_insert"),
         "--name", "plug_insert", "--steps", "3", "--batch-size", "4", "--image-size", "32",
         "--width", "32", "--layers", "1", "--checkpoint-every", "2"],
    )  # fmt: skip
    assert trained.exit_code == 0, trained.output
    return root / "lib"


def process_gone(pid: int) -> bool:
    """True when `pid` no longer runs (absent, or a zombie waiting to be reaped)."""
    status = Path(f"/proc/{pid}/status")
    if not status.exists():
        return True
    return "State:\tZ" in status.read_text()
