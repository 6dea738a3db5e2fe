"""The simulator oracle on synthetic frames: label matching, privileged output, absences."""

from __future__ import annotations

import numpy as np
import pytest

from vitalskills.perception.factory import make_grounder
from vitalskills.perception.sim_grounder import SimGrounder, matching_objects, normalise
from vitalskills.robot import SceneFrame


def test_finds_labelled_object_at_its_true_point(scene: tuple[SceneFrame, np.ndarray]) -> None:
    frame, truth = scene
    result = make_grounder("sim").locate(frame, "The Grey  Box")
    assert result.found and result.privileged and result.frame == "base"
    assert np.linalg.norm(result.point - truth) < 1e-3
    assert result.box == (60.0, 40.0, 100.0, 80.0)
    assert result.mask is not None and result.mask.sum() == 41 * 41
    assert "geometry" in result.timings


def test_absent_object_is_not_found_and_says_what_is_there(
    scene: tuple[SceneFrame, np.ndarray],
) -> None:
    frame, _ = scene
    result = make_grounder("sim").locate(frame, "power strip")
    assert not result.found and result.privileged and result.point is None
    assert "no object in the scene is called `power strip`" in result.detail
    assert "grey box" in result.detail


def test_object_out_of_view_is_not_found(scene: tuple[SceneFrame, np.ndarray]) -> None:
    frame, _ = scene
    frame.segmentation["grey_box"] = np.zeros_like(frame.segmentation["grey_box"])
    result = make_grounder("sim").locate(frame, "box")
    assert not result.found and "not visible" in result.detail


def test_label_matching_is_exact_after_normalising(scene: tuple[SceneFrame, np.ndarray]) -> None:
    frame, _ = scene
    assert normalise("  A   Power_Strip ") == "power strip"
    assert matching_objects(frame, "grey_box") == ["grey_box"]
    assert matching_objects(frame, "grey") == []


TASK_NAMES = ["plug_in_socket", "usb_insert", "card_swipe", "key_in_lock"]


def test_real_simulator_scenes_within_5mm_over_10_seeds() -> None:
    """The fast version of the 100-seed figure in docs/perception.md."""
    from vitalskills.app.locate import evaluate_sim

    report = evaluate_sim(TASK_NAMES, range(10), condition="scene")
    assert len(report.errors_m) == 10 and report.distractors_seen > 0
    assert report.within(0.005) >= 0.9, report.errors_m
    assert report.absent_not_found == 10


def test_cli_sim_mode_carries_the_true_point(tmp_path) -> None:
    import json

    from typer.testing import CliRunner

    from vitalskills.cli import app

    out = tmp_path / "sim.png"
    args = ["locate", "--task", "plug_in_socket", "--condition", "scene", "--seed", "3",
            "--query", "power strip", "--json", "--out", str(out)]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["found"] and data["privileged"] and data["frame"] == "base"
    assert data["error_m"] < 0.005 and len(data["true_point"]) == 3
    assert out.stat().st_size > 0
    result = CliRunner().invoke(app, [*args[:-5], "--query", "screwdriver"])
    assert result.exit_code == 0 and "not found: screwdriver" in result.stdout
    result = CliRunner().invoke(app, ["locate", "--task", "nope", "--query", "x"])
    assert result.exit_code != 0 and "Traceback" not in result.output
    # The old name is still read, with a note.
    old = CliRunner().invoke(app, ["locate", "--sim", "nope", "--query", "x"])
    assert old.exit_code != 0 and "note: --sim is now --task" in old.stderr


@pytest.mark.parametrize("task", TASK_NAMES)
def test_real_simulator_heading_matches_the_target_yaw(task: str) -> None:
    from vitalskills.sim import TASKS, SimRobot

    grounder = SimGrounder()
    robot = SimRobot(task, "scene", seed=0)
    try:
        for seed in range(3):
            robot.reset(seed=seed)
            result = grounder.locate(robot.scene(), TASKS[task].target_labels[0])
            assert result.found and result.yaw is not None, result.detail
            true = robot.env.layout.target_yaw
            period = result.yaw_period
            error = (result.yaw - true + period / 2) % period - period / 2
            assert abs(error) < np.deg2rad(1.0), (seed, result.yaw, true)
    finally:
        robot.close()
