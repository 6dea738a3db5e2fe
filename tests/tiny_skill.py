"""A tiny real BC skill for tests: two simulator demos at 32 px and a few training steps.

It goes through the same commands a user runs (`collect`, `train bc`), so every test
that needs a trained skill also exercises the real pipeline.
"""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from vitalskills.cli import app


def train_tiny_skill(
    root: Path, out: Path, *, steps: int = 3, batch_size: int = 4, checkpoint_every: int = 2
) -> Path:
    """Collect two `plug_in_socket` demos into `root/demos`, train `plug_insert` into `out`.

    Training uses the simulator's privileged masks and target pose (`--privileged`), as
    the shipped skills were trained.
    """
    runner = CliRunner()
    collected = runner.invoke(
        app,
        ["collect", "--task", "plug_in_socket", "--episodes", "2", "--seed", "3",
         "--image-size", "32", "--out", str(root / "demos")],
    )  # fmt: skip
    assert collected.exit_code == 0, collected.output
    assert "wrote 2 episodes" in collected.output
    trained = runner.invoke(
        app,
        ["train", "bc", "--data", str(root / "demos"), "--out", str(out),
         "--name", "plug_insert", "--steps", str(steps), "--batch-size", str(batch_size),
         "--image-size", "32", "--width", "32", "--layers", "1",
         "--checkpoint-every", str(checkpoint_every), "--privileged"],
    )  # fmt: skip
    assert trained.exit_code == 0, trained.output
    return out
