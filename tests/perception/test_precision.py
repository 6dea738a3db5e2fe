"""Model precision (`dtype`) for owlv2-sam with transformers maskers, on tiny random models.

The detector and masker are saved in the real on-disk format and loaded through the
factory. bfloat16 and float16 run on the CPU here (slowly); the GPU speed-up is not
measured by these tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from tests.perception.conftest import table_scene
from vitalskills.perception.config import OwlSamOptions, PerceptionConfig, load_config
from vitalskills.perception.errors import BadConfig
from vitalskills.perception.factory import make_grounder
from vitalskills.perception.grounder import LocateResult
from vitalskills.perception.random_maskers import save_random_masker


@pytest.fixture(scope="module")
def sam2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_random_masker(tmp_path_factory.mktemp("maskers") / "sam2", "sam2")


def _locate(detector: Path, masker: Path, dtype: str) -> tuple[Any, LocateResult]:
    options = OwlSamOptions(detector=str(detector), masker=str(masker), threshold=0.0, dtype=dtype)
    grounder = make_grounder("p", PerceptionConfig(grounders={"p": options}))
    return grounder, grounder.locate(table_scene()[0], "grey box")


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_precision_holds_the_models_in_it_and_gives_the_same_structure(
    dtype: str, owlvit_dir: Path, sam2_dir: Path
) -> None:
    half, result = _locate(owlvit_dir, sam2_dir, dtype)
    _, reference = _locate(owlvit_dir, sam2_dir, "float32")
    want = getattr(torch, dtype)
    for model in (half.detector.model, half.sam.model):
        assert {p.dtype for p in model.parameters()} == {want}
    assert result.mask is not None and reference.mask is not None
    assert result.mask.shape == reference.mask.shape and result.mask.dtype == bool
    assert isinstance(result.score, float) and np.isfinite(result.score)
    assert set(result.timings) == set(reference.timings)
    if result.found:
        assert result.point.shape == (3,) and np.all(np.isfinite(result.point))


def test_a_segment_anything_checkpoint_stays_float32_beside_a_half_detector(
    owlvit_dir: Path, sam_checkpoint: Path
) -> None:
    grounder, result = _locate(owlvit_dir, sam_checkpoint, "bfloat16")
    assert grounder.detector.model.dtype == torch.bfloat16
    assert {p.dtype for p in grounder.sam.predictor.model.parameters()} == {torch.float32}
    assert result.mask is not None and result.mask.dtype == bool and np.isfinite(result.score)


def test_auto_is_float32_on_the_cpu(owlvit_dir: Path, sam2_dir: Path) -> None:
    grounder, _ = _locate(owlvit_dir, sam2_dir, "auto")
    assert grounder.detector.model.dtype == torch.float32
    assert grounder.sam.model.dtype == torch.float32


def test_a_bad_dtype_names_the_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("grounders:\n  x:\n    backend: owlv2-sam\n    dtype: float8\n")
    monkeypatch.setenv("VITALSKILLS_CONFIG", str(path))
    with pytest.raises(BadConfig, match=r"`grounders.x.owlv2-sam.dtype`.*float8"):
        load_config()
