"""The off-centre grasp stress test: the object held off its grasp, then a normal episode."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from vitalskills.cli import app
from vitalskills.sim import make_env
from vitalskills.sim.tasks import TASKS

runner = CliRunner()
STILL = np.array([0, 0, 0, 0, 0, 0, 1.0], np.float32)


def grip_in_hand(env) -> np.ndarray:
    """The held object's grip point in the end-effector frame (read off the simulator)."""
    held, ee = env.held_matrix(), env.ee_pose_matrix()
    grip = held[:3, 3] + held[:3, :3] @ np.array([0.0, 0.0, env.task.grip_height])
    return ee[:3, :3].T @ (grip - ee[:3, 3])


def test_the_object_stays_where_it_was_put_in_the_hand_until_the_next_reset() -> None:
    env = make_env("card_swipe", "canonical", image_size=32, render_wrist=False)
    env.reset(seed=0)
    assert np.linalg.norm(grip_in_hand(env)) < 1e-4  # the nominal grasp
    env.hold_off_centre(0.012, -0.006)  # 12 mm along the pads, the object 6 mm higher
    for _ in range(5):
        env.step(STILL)
    # The fingers see the object's grip point where the offset put it (z points down).
    np.testing.assert_allclose(grip_in_hand(env), [0.012, 0.0, -0.006], atol=1e-3)
    env.reset(seed=1)
    for _ in range(5):
        env.step(STILL)
    assert np.linalg.norm(grip_in_hand(env)) < 1e-3  # nominal again
    env.close()


def test_eval_with_a_grasp_offset_records_it_and_is_not_saved() -> None:
    args = ["eval", "--task", "plug_in_socket", "--episodes", "2", "--grasp-offset", "5"]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    counts = json.loads(result.stdout.strip().splitlines()[-1])
    assert counts["grasp_offset"] == pytest.approx(0.005) and counts["episodes"] == 2
    saved = runner.invoke(app, [*args, "--skill", "plug_insert", "--save"])
    assert saved.exit_code != 0
    assert "is not saved" in saved.output


def test_the_card_tip_hangs_lower_when_held_higher() -> None:
    env = make_env("card_swipe", "canonical", image_size=32, render_wrist=False)
    env.reset(seed=0)
    tip = env.held_matrix()[2, 3]
    env.hold_off_centre(0.0, 0.008)  # grasped 8 mm higher on the card: it hangs 8 mm lower
    assert env.held_matrix()[2, 3] == pytest.approx(tip - 0.008, abs=1e-4)
    assert TASKS["card_swipe"].grip_height > 0.008
    env.close()
