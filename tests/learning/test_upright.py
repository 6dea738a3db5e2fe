"""An upright task's demonstrations and trained skills never tilt the tool."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vitalskills.app.collect import collect_sim
from vitalskills.app.train import skill_template
from vitalskills.learning.dataset import DemoDataset


def test_upright_demos_and_skill_limits_hold_roll_and_pitch(tmp_path: Path) -> None:
    collect_sim("usb_insert", tmp_path / "usb", episodes=1, seed=5, image_size=32)
    dataset = DemoDataset(tmp_path / "usb")
    actions = dataset.episode(0).frames["action"]
    assert np.all(actions[:, 3:5] == 0.0) and np.any(actions[:, 5] != 0.0)
    # A skill name the library does not declare: limits come from the data, then the task.
    template = skill_template("my_usb", dataset, None)
    assert template["action"]["low"][3:5] == [0.0, 0.0]
    assert template["action"]["high"][3:5] == [0.0, 0.0]
    assert template["action"]["high"][5] > 0.0 and template["action"]["high"][0] > 0.0
