"""The simulator oracle on synthetic frames: label matching, privileged output, absences."""

from __future__ import annotations

import numpy as np

from vitalskills.perception.config import make_grounder
from vitalskills.perception.sim_grounder import matching_objects, normalise
from vitalskills.runtime.robot import SceneFrame


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
