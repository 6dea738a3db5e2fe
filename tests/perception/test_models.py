"""owlv2-sam with tiny random-weight models saved and loaded exactly like real checkpoints."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from vitalskills.perception.config import (
    OwlSamOptions,
    PerceptionConfig,
    load_config,
)
from vitalskills.perception.detector import ZeroShotDetector
from vitalskills.perception.errors import (
    BadConfig,
    PerceptionError,
    UnknownGrounder,
    WeightsNotFound,
)
from vitalskills.perception.factory import make_grounder
from vitalskills.perception.sam import SamMasker, load_sam
from vitalskills.robot import SceneFrame


def owl_sam_config(detector: Path, sam: Path, **extra: object) -> PerceptionConfig:
    options = OwlSamOptions(detector=str(detector), sam_checkpoint=sam, **extra)
    return PerceptionConfig(grounders={"test-owl": options})


@pytest.mark.parametrize(
    "kind", ["owlv2_dir", "owlvit_dir", "grounding_dino_dir", "omdet_turbo_dir"]
)
def test_detector_loads_from_directory_and_boxes_lie_in_the_image(
    kind: str, request: pytest.FixtureRequest, scene: tuple[SceneFrame, np.ndarray]
) -> None:
    detector = ZeroShotDetector(str(request.getfixturevalue(kind)))
    assert detector.model_type == kind.removesuffix("_dir").replace("_", "-")
    frame, _ = scene
    detection = detector.detect(frame.rgb, "grey box")
    assert detection is not None
    x0, y0, x1, y1 = detection.box
    assert 0 <= x0 < x1 <= 159 + 1 and 0 <= y0 < y1 <= 119 + 1
    assert 0.0 <= detection.score <= 1.0


def test_full_pipeline_returns_a_well_formed_result(
    owlv2_dir: Path, sam_checkpoint: Path, scene: tuple[SceneFrame, np.ndarray]
) -> None:
    frame, _ = scene
    grounder = make_grounder("test-owl", owl_sam_config(owlv2_dir, sam_checkpoint, threshold=0.0))
    result = grounder.locate(frame, "grey box")
    assert result.grounder == "test-owl" and not result.privileged and result.frame == "base"
    assert set(result.timings) == {"detector", "sam", "geometry"}
    assert result.mask is not None and result.mask.shape == frame.depth.shape
    # Random weights: the mask may cover anything, but never outside the box margin.
    x0, y0, x1, y1 = result.box
    rows, cols = np.nonzero(result.mask)
    if rows.size:
        assert cols.min() >= x0 - 5 and cols.max() <= x1 + 5
        assert rows.min() >= y0 - 5 and rows.max() <= y1 + 5
    if result.found:
        assert result.point.shape == (3,) and np.all(np.isfinite(result.point))
        # Whatever it found lies on the table or the box top: z in [0, 5 cm].
        assert -1e-6 <= result.point[2] <= 0.05 + 1e-6
    else:
        assert "depth" in result.detail
    assert make_grounder("test-owl", owl_sam_config(owlv2_dir, sam_checkpoint, threshold=0.0)) is (
        grounder
    )


def test_threshold_rejects_low_scores_but_reports_the_box(
    owlvit_dir: Path, sam_checkpoint: Path, scene: tuple[SceneFrame, np.ndarray]
) -> None:
    frame, _ = scene
    config = owl_sam_config(owlvit_dir, sam_checkpoint, threshold=1.0)
    result = make_grounder("test-owl", config).locate(frame, "grey box")
    assert not result.found and result.box is not None and "below threshold 1.0" in result.detail
    assert "sam" not in result.timings


def test_sam_predicts_a_mask_for_a_box(
    sam_checkpoint: Path, scene: tuple[SceneFrame, np.ndarray]
) -> None:
    frame, _ = scene
    mask, score = SamMasker(load_sam(sam_checkpoint)).mask(frame.rgb, (60, 40, 100, 80))
    assert mask.shape == (120, 160) and mask.dtype == bool and np.isfinite(score)


def test_missing_files_name_the_file_and_how_to_get_it(tmp_path: Path, owlv2_dir: Path) -> None:
    with pytest.raises(WeightsNotFound, match="does not exist") as error:
        load_sam(tmp_path / "sam_vit_b_01ec64.pth")
    assert "segment-anything" in error.value.hint
    with pytest.raises(WeightsNotFound, match=r"detector directory `.*nowhere` does not exist"):
        ZeroShotDetector(str(tmp_path / "nowhere"))
    with pytest.raises(
        WeightsNotFound, match="cannot load detector `google/owlv2-base-patch16-ensemble` from disk"
    ) as error:
        ZeroShotDetector("google/owlv2-base-patch16-ensemble")
    assert "hf download google/owlv2-base-patch16-ensemble" in error.value.hint
    config = PerceptionConfig(grounders={"o": OwlSamOptions(detector=str(owlv2_dir))})
    with pytest.raises(PerceptionError, match="needs a masker and none is configured"):
        make_grounder("o", config)


def test_sam_checkpoints_load_safely_and_must_match_their_type(
    tmp_path: Path, sam_checkpoint: Path
) -> None:
    with pytest.raises(PerceptionError, match="does not load as model type `vit_b`"):
        load_sam(sam_checkpoint, "vit_b")
    with pytest.raises(PerceptionError, match="cannot tell the SAM model type"):
        load_sam(shutil.copy(sam_checkpoint, tmp_path / "weights.pth"))
    # A checkpoint that would run code when unpickled is refused, not executed.
    evil = tmp_path / "sam_vit_tiny_evil.pth"
    torch.save({"model": Path("/etc/passwd")}, evil)
    with pytest.raises(PerceptionError, match="does not load"):
        load_sam(evil)


def test_unknown_grounder_lists_known_ones() -> None:
    config = PerceptionConfig(grounders={"mine": OwlSamOptions()})
    with pytest.raises(UnknownGrounder, match="unknown grounder `nope`") as error:
        make_grounder("nope", config)
    assert "fast, mine, noisy-oracle, owlv2-sam, sam3, sim, vlm-point" in error.value.hint


def test_task_files_name_dashed_grounders() -> None:
    """`locate ... using "owlv2-sam"` reaches the grounder of that exact name."""
    from vitalskills.lang import parse_source
    from vitalskills.perception.config import grounder_options

    task = parse_source('locate "plug" using "table-cam"\n', "t.vtl", "vtl")
    config = PerceptionConfig(grounders={"table-cam": OwlSamOptions(threshold=0.3)})
    assert grounder_options(task.body[0].grounder, config).threshold == 0.3
    assert grounder_options("vlm-point", config).backend == "vlm-point"


def test_config_file_names_backends_and_bad_fields(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "robot: tcp://10.0.0.7:5555\n"
        "default_grounder: table-cam\n"
        "grounders:\n"
        "  table-cam:\n"
        "    backend: owlv2-sam\n"
        "    detector: ~/models/owlv2\n"
        "    sam_checkpoint: ~/models/sam_vit_b_01ec64.pth\n"
        "    threshold: 0.2\n"
        "  pointer:\n"
        "    backend: vlm-point\n"
        "    prompt: 'Point to the {query}.'\n"
    )
    monkeypatch.setenv("VITALSKILLS_CONFIG", str(path))
    config = load_config()
    assert config.default_grounder == "table-cam"
    assert config.grounders["table-cam"].threshold == 0.2
    assert config.grounders["pointer"].prompt == "Point to the {query}."
    path.write_text("grounders:\n  x:\n    backend: owlv2-sam\n    threshold: 3\n")
    with pytest.raises(BadConfig, match=r"`grounders.x.owlv2-sam.threshold`.*got `3`"):
        load_config()
    path.write_text("grounders:\n  x:\n    backend: yolo\n")
    with pytest.raises(BadConfig, match="yolo"):
        load_config()


def test_full_pipeline_on_a_simulator_frame(owlv2_dir: Path, sam_checkpoint: Path) -> None:
    from vitalskills.app.locate import sim_frame

    frame = sim_frame("plug_in_socket", "scene", seed=1)
    config = owl_sam_config(owlv2_dir, sam_checkpoint, threshold=0.0)
    result = make_grounder("test-owl", config).locate(frame, "power strip")
    h, w = frame.depth.shape
    x0, y0, x1, y1 = result.box
    assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h and 0.0 <= result.score <= 1.0
    assert result.mask is not None and result.mask.shape == (h, w)
    assert not result.privileged and result.frame == "base"
    assert set(result.timings) == {"detector", "sam", "geometry"}
    if result.found:
        # Random weights point anywhere, but always at a real surface in front of the camera.
        assert np.all(np.isfinite(result.point))
        cam = frame.extrinsics[:3, :3].T @ (result.point - frame.extrinsics[:3, 3])
        assert cam[2] > 0
    else:
        assert result.detail


@pytest.mark.parametrize("kind", ["owlv2_dir", "owlvit_dir"])
def test_owl_encodes_the_image_once_and_matches_the_model_forward(
    kind: str, request: pytest.FixtureRequest, scene: tuple[SceneFrame, np.ndarray]
) -> None:
    from PIL import Image

    detector = ZeroShotDetector(str(request.getfixturevalue(kind)))
    rgb = scene[0].rgb
    calls = []
    embed = detector.model.image_embedder
    detector.model.image_embedder = lambda *a, **k: calls.append(1) or embed(*a, **k)  # a spy
    for query in ("grey box", "table", "grey box"):
        cached = detector._owl_outputs(rgb, query)
        inputs = detector.processor(
            images=Image.fromarray(rgb), text=[[query]], return_tensors="pt"
        )
        with torch.no_grad():
            full = detector.model(**inputs)
        assert torch.allclose(cached.logits, full.logits, atol=1e-5)
        assert torch.allclose(cached.pred_boxes, full.pred_boxes, atol=1e-5)
    assert len(calls) == 1
    detector.detect(rgb[::-1].copy(), "grey box")  # another image is encoded afresh
    assert len(calls) == 2
