"""Model precision (`dtype`) for every model family, on tiny random models.

Each model is saved in its real on-disk format and loaded through the factory, the path
real checkpoints take. bfloat16 and float16 both run on the CPU here (slowly); the GPU
speed-up is not measured by these tests. Random weights make outputs meaningless, so the
tests check that the loaded models really hold the asked precision, that results are
finite float32 / bool, and that half precision gives nearly the float32 masks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from tests.perception.conftest import table_scene
from vitalskills.perception.config import (
    OwlSamOptions,
    PerceptionConfig,
    Sam3Options,
    VlmPointOptions,
    load_config,
)
from vitalskills.perception.errors import BadConfig, PerceptionError
from vitalskills.perception.factory import make_grounder
from vitalskills.perception.grounder import LocateResult
from vitalskills.perception.random_maskers import save_random_masker
from vitalskills.perception.random_models import save_random_sam3, save_random_vlm
from vitalskills.perception.random_video_models import save_random_sam2_video
from vitalskills.perception.video_segment import ObjectPrompt, load_video_segmenter

HALF = ["bfloat16", "float16"]


@pytest.fixture(scope="module")
def sam2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_random_masker(tmp_path_factory.mktemp("maskers") / "sam2", "sam2")


@pytest.fixture(scope="module")
def video_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_random_sam2_video(tmp_path_factory.mktemp("video") / "sam2-video", image_size=64)


@pytest.fixture(scope="module")
def sam3_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_random_sam3(tmp_path_factory.mktemp("sam3") / "sam3-tiny")


@pytest.fixture(scope="module")
def vlm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_random_vlm(tmp_path_factory.mktemp("vlm") / "llava-tiny")


def dtypes(model: torch.nn.Module) -> set[torch.dtype]:
    return {p.dtype for p in model.parameters()}


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def _locate(detector: Path, masker: Path, dtype: str) -> tuple[Any, LocateResult]:
    options = OwlSamOptions(detector=str(detector), masker=str(masker), threshold=0.0, dtype=dtype)
    grounder = make_grounder("p", PerceptionConfig(grounders={"p": options}))
    return grounder, grounder.locate(table_scene()[0], "grey box")


@pytest.mark.parametrize("dtype", HALF)
def test_half_precision_holds_the_models_in_it_and_gives_the_same_structure(
    dtype: str, owlvit_dir: Path, sam2_dir: Path
) -> None:
    half, result = _locate(owlvit_dir, sam2_dir, dtype)
    _, reference = _locate(owlvit_dir, sam2_dir, "float32")
    want = getattr(torch, dtype)
    for model in (half.detector.model, half.sam.model):
        assert dtypes(model) == {want}
    assert result.mask is not None and reference.mask is not None
    assert result.mask.shape == reference.mask.shape and result.mask.dtype == bool
    assert isinstance(result.score, float) and np.isfinite(result.score)
    assert set(result.timings) == set(reference.timings)
    if result.found:
        assert result.point.shape == (3,) and np.all(np.isfinite(result.point))


@pytest.mark.parametrize("dtype", HALF)
def test_a_segment_anything_checkpoint_encodes_in_half_and_decodes_in_float32(
    dtype: str, owlvit_dir: Path, sam_checkpoint: Path
) -> None:
    half, result = _locate(owlvit_dir, sam_checkpoint, dtype)
    full, _ = _locate(owlvit_dir, sam_checkpoint, "float32")
    sam = half.sam.predictor.model
    assert half.detector.model.dtype == getattr(torch, dtype)
    assert dtypes(sam.image_encoder) == {getattr(torch, dtype)}
    assert dtypes(sam.prompt_encoder) | dtypes(sam.mask_decoder) == {torch.float32}
    assert result.mask is not None and result.mask.dtype == bool and np.isfinite(result.score)
    # One box for both: the half-precision detector's box moves a little.
    rgb, box = table_scene()[0].rgb, (60.0, 40.0, 100.0, 80.0)
    mask, score = half.sam.mask(rgb, box)
    want, want_score = full.sam.mask(rgb, box)
    assert half.sam.predictor.features.dtype == torch.float32
    assert mask.dtype == bool and iou(mask, want) > 0.95 and abs(score - want_score) < 0.02


@pytest.mark.parametrize("dtype", HALF)
def test_the_track_video_model_follows_in_half_precision(
    dtype: str, owlvit_dir: Path, sam2_dir: Path, video_dir: Path
) -> None:
    frame = table_scene()[0]
    mask = frame.segmentation["grey_box"]
    moved = np.roll(frame.rgb, 4, axis=1)
    followed = {}
    for precision in (dtype, "float32"):
        options = OwlSamOptions(
            detector=str(owlvit_dir), masker=str(sam2_dir), track=str(video_dir), dtype=precision
        )
        tracker = make_grounder("t", PerceptionConfig(grounders={"t": options})).tracker
        assert dtypes(tracker.segmenter.model) == {getattr(torch, precision)}
        tracker.min_score = 0.0  # random weights: keep whatever the model says
        tracker.start("grey box", frame.rgb, mask)
        followed[precision] = tracker.follow("grey box", moved)
        tracker.forget()
    assert followed[dtype] is not None and followed["float32"] is not None
    (half, score), (full, full_score) = followed[dtype], followed["float32"]
    assert half.dtype == bool and half.shape == mask.shape and np.isfinite(score)
    assert iou(half, full) > 0.9 and abs(score - full_score) < 0.05


@pytest.mark.parametrize("dtype", HALF)
def test_video_masks_in_half_precision_match_float32(dtype: str, video_dir: Path) -> None:
    frames = np.random.default_rng(0).integers(0, 256, (3, 48, 64, 3), dtype=np.uint8)
    prompts = [ObjectPrompt("target", ((20.0, 10.0), (24.0, 12.0)))]
    half = load_video_segmenter(video_dir, "cpu", dtype)
    assert half.dtype == getattr(torch, dtype) and dtypes(half.model) == {half.dtype}
    masks = half.track(frames, prompts)
    want = load_video_segmenter(video_dir, "cpu").track(frames, prompts)
    assert masks.dtype == bool and masks.shape == want.shape
    assert iou(masks, want) > 0.9


@pytest.mark.parametrize("dtype", HALF)
def test_sam3_runs_in_half_precision_and_answers_in_float32(dtype: str, sam3_dir: Path) -> None:
    frame = table_scene()[0]
    results = {}
    for precision in (dtype, "float32"):
        options = Sam3Options(model=str(sam3_dir), device="cpu", threshold=0.0, dtype=precision)
        grounder = make_grounder("s3", PerceptionConfig(grounders={"s3": options}))
        assert dtypes(grounder.model) == {getattr(torch, precision)}
        results[precision] = grounder.locate(frame, "grey box")
    half, full = results[dtype], results["float32"]
    assert half.mask is not None and full.mask is not None and half.mask.dtype == bool
    assert isinstance(half.score, float) and abs(half.score - full.score) < 0.02
    assert iou(half.mask, full.mask) > 0.9
    assert half.found == full.found
    if half.found:
        assert half.point.dtype == np.float64 and np.all(np.isfinite(half.point))
        assert np.abs(half.point - full.point).max() < 0.01  # metres


@pytest.mark.parametrize("dtype", HALF)
def test_vlm_point_holds_the_vlm_and_its_masker_in_half_and_casts_pixels(
    dtype: str, vlm_dir: Path, sam_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    options = VlmPointOptions(
        model=str(vlm_dir), point_format="pixels", max_new_tokens=4, dtype=dtype,
        sam_checkpoint=sam_checkpoint,
    )  # fmt: skip
    grounder = make_grounder("v", PerceptionConfig(grounders={"v": options}))
    want = getattr(torch, dtype)
    assert dtypes(grounder.model) == {want}
    assert dtypes(grounder.sam.predictor.model.image_encoder) == {want}
    seen: dict[str, torch.dtype] = {}
    generate = grounder.model.generate

    def spy(**inputs: Any) -> Any:
        seen.update({k: v.dtype for k, v in inputs.items() if isinstance(v, torch.Tensor)})
        return generate(**inputs)

    monkeypatch.setattr(grounder.model, "generate", spy)
    answer = grounder.answer(table_scene()[0].rgb, "grey box")
    assert isinstance(answer, str) and answer
    assert seen["pixel_values"] == want and seen["input_ids"] == torch.long


def test_auto_is_float32_on_the_cpu(
    owlvit_dir: Path, sam2_dir: Path, sam_checkpoint: Path, sam3_dir: Path, vlm_dir: Path
) -> None:
    grounder, _ = _locate(owlvit_dir, sam2_dir, "auto")
    assert grounder.detector.model.dtype == torch.float32
    assert grounder.sam.model.dtype == torch.float32
    options = {
        "s3": Sam3Options(model=str(sam3_dir)),  # device auto: the CPU here
        "v": VlmPointOptions(
            model=str(vlm_dir), point_format="pixels", device="auto", sam_checkpoint=sam_checkpoint
        ),
    }
    config = PerceptionConfig(grounders=options)
    sam3, vlm = make_grounder("s3", config), make_grounder("v", config)
    assert sam3.device == vlm.device == "cpu"
    for model in (sam3.model, vlm.model, vlm.sam.predictor.model):
        assert dtypes(model) == {torch.float32}


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error without a GPU")
def test_vlm_point_on_cuda_without_a_gpu_says_so(vlm_dir: Path) -> None:
    options = VlmPointOptions(model=str(vlm_dir), point_format="pixels", device="cuda")
    with pytest.raises(PerceptionError, match="torch sees no CUDA GPU"):
        make_grounder("v", PerceptionConfig(grounders={"v": options}))


def test_a_bad_dtype_names_the_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("grounders:\n  x:\n    backend: owlv2-sam\n    dtype: float8\n")
    monkeypatch.setenv("VITALSKILLS_CONFIG", str(path))
    with pytest.raises(BadConfig, match=r"`grounders.x.owlv2-sam.dtype`.*float8"):
        load_config()
