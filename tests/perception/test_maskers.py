"""Maskers through transformers: SAM, SAM-HQ, SAM 2, EdgeTAM folders built from tiny configs.

Each family is built with transformers' own classes, saved with `save_pretrained` (model
and processor, the real on-disk format) and loaded by `vitalskills locate`, the path a
downloaded checkpoint takes. Random weights: the masks are meaningless, their shapes,
the CLI path, the errors and the image-encoding count are not.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from tests.perception.conftest import table_scene
from vitalskills.cli import app
from vitalskills.perception.config import OwlSamOptions, PerceptionConfig
from vitalskills.perception.errors import PerceptionError, WeightsNotFound
from vitalskills.perception.factory import make_grounder
from vitalskills.perception.maskers import TransformersMasker, load_masker
from vitalskills.perception.random_maskers import save_random_masker
from vitalskills.perception.sam import SamMasker

runner = CliRunner()
FAMILIES = ["sam", "sam_hq", "sam2", "edgetam"]


@pytest.fixture(scope="module")
def masker_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("maskers")
    return {kind: save_random_masker(root / kind, kind) for kind in FAMILIES}


@pytest.fixture()
def files(tmp_path: Path) -> list[str]:
    frame, _ = table_scene()
    Image.fromarray(frame.rgb).save(tmp_path / "scene.png")
    np.save(tmp_path / "depth.npy", frame.depth)
    k = frame.intrinsics
    return [
        "locate", str(tmp_path / "scene.png"), "--depth", str(tmp_path / "depth.npy"),
        "--intrinsics", f"{k[0, 0]},{k[1, 1]},{k[0, 2]},{k[1, 2]}", "--query", "grey box",
    ]  # fmt: skip


@pytest.mark.parametrize("kind", FAMILIES)
def test_each_family_loads_through_the_cli(
    kind: str, masker_dirs: dict[str, Path], owlvit_dir: Path, files: list[str]
) -> None:
    args = ["--grounder", "owlv2-sam", "--detector", str(owlvit_dir), "--masker",
            str(masker_dirs[kind]), "--threshold", "0", "--json"]  # fmt: skip
    result = runner.invoke(app, [*files, *args])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data["timings"]) == {"detector", "sam", "geometry"}
    assert data["mask_pixels"] is not None
    assert data["found"] or "depth" in data["detail"]


@pytest.mark.parametrize("kind", FAMILIES)
def test_each_family_masks_a_box_and_a_click(kind: str, masker_dirs: dict[str, Path]) -> None:
    masker = load_masker(str(masker_dirs[kind]))
    assert isinstance(masker, TransformersMasker) and masker.model_type == kind
    rgb = table_scene()[0].rgb
    for mask, score in (masker.mask(rgb, (60, 40, 100, 80)), masker.mask_at_point(rgb, 80, 60)):
        assert mask.shape == (120, 160) and mask.dtype == bool and np.isfinite(score)


def test_a_video_checkpoint_serves_as_an_image_masker(tmp_path: Path) -> None:
    from vitalskills.perception.random_video_models import save_random_sam2_video

    directory = save_random_sam2_video(tmp_path / "sam2-video", image_size=64)
    masker = load_masker(str(directory))
    assert isinstance(masker, TransformersMasker) and masker.model_type == "sam2_video"
    assert type(masker.model).__name__ == "Sam2Model"
    mask, _ = masker.mask(table_scene()[0].rgb, (60, 40, 100, 80))
    assert mask.shape == (120, 160)


class CountingCalls:
    """Wrap a real method and count its calls (a spy: the real model still runs)."""

    def __init__(self, method: object) -> None:
        self.method, self.calls = method, 0

    def __call__(self, *args: object, **kwargs: object) -> object:
        self.calls += 1
        return self.method(*args, **kwargs)  # type: ignore[operator]


def test_the_image_is_encoded_once_for_several_prompts(masker_dirs: dict[str, Path]) -> None:
    masker = load_masker(str(masker_dirs["edgetam"]))
    spy = CountingCalls(masker.model.get_image_embeddings)
    masker.model.get_image_embeddings = spy
    rgb = table_scene()[0].rgb
    first, _ = masker.mask(rgb, (60, 40, 100, 80))
    again, _ = masker.mask(rgb.copy(), (60, 40, 100, 80))
    masker.mask_at_point(rgb, 80, 60)
    assert spy.calls == 1 and np.array_equal(first, again)
    moved = rgb.copy()
    moved[0, 0] += 1  # one pixel of a new camera frame differs
    masker.mask(moved, (60, 40, 100, 80))
    assert spy.calls == 2


def test_segment_anything_checkpoints_are_encoded_once_too(sam_checkpoint: Path) -> None:
    masker = load_masker(sam_checkpoint)
    assert isinstance(masker, SamMasker)
    spy = CountingCalls(masker.predictor.set_image)
    masker.predictor.set_image = spy
    rgb = table_scene()[0].rgb
    masker.mask(rgb, (60, 40, 100, 80))
    masker.mask_at_point(rgb, 80, 60)
    assert spy.calls == 1


def test_missing_and_wrong_files_are_named(
    tmp_path: Path, owlvit_dir: Path, masker_dirs: dict[str, Path]
) -> None:
    with pytest.raises(WeightsNotFound, match=r"masker directory `.*absent` does not exist"):
        load_masker(str(tmp_path / "absent"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(WeightsNotFound, match=r"masker folder `.*empty` has no config\.json"):
        load_masker(str(tmp_path / "empty"))
    with pytest.raises(PerceptionError, match=r"is a `owlvit` model, not a SAM-family masker"):
        load_masker(str(owlvit_dir))
    no_weights = tmp_path / "no-weights"
    shutil.copytree(masker_dirs["sam2"], no_weights)
    (no_weights / "model.safetensors").unlink()
    with pytest.raises(WeightsNotFound, match=r"cannot load SAM 2 masker `.*no-weights`"):
        load_masker(str(no_weights))
    with pytest.raises(PerceptionError, match="`sam_type` applies to segment-anything"):
        load_masker(str(masker_dirs["sam"]), sam_type="vit_b")


def test_cli_errors_name_the_masker(
    files: list[str], owlvit_dir: Path, sam_checkpoint: Path, tmp_path: Path
) -> None:
    base = [*files, "--grounder", "owlv2-sam", "--detector", str(owlvit_dir)]
    result = runner.invoke(app, [*base, "--masker", str(tmp_path / "nowhere")])
    assert result.exit_code == 1 and "masker directory" in result.output
    assert "nowhere` does not exist" in result.output and "Traceback" not in result.output
    result = runner.invoke(
        app, [*base, "--masker", str(owlvit_dir), "--sam-checkpoint", str(sam_checkpoint)]
    )
    assert result.exit_code == 1 and "names both `masker` and `sam_checkpoint`" in result.output


def test_the_masker_is_chosen_in_the_grounder_config(
    owlvit_dir: Path, masker_dirs: dict[str, Path]
) -> None:
    options = OwlSamOptions(detector=str(owlvit_dir), masker=str(masker_dirs["sam2"]))
    grounder = make_grounder("cam", PerceptionConfig(grounders={"cam": options}))
    assert grounder.sam.model_type == "sam2"


def test_omdet_turbo_detects_through_the_cli(
    omdet_turbo_dir: Path, masker_dirs: dict[str, Path], files: list[str]
) -> None:
    args = ["--grounder", "owlv2-sam", "--detector", str(omdet_turbo_dir), "--masker",
            str(masker_dirs["edgetam"]), "--threshold", "0", "--json"]  # fmt: skip
    result = runner.invoke(app, [*files, *args])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    x0, y0, x1, y1 = data["box"]
    assert 0 <= x0 < x1 <= 160 and 0 <= y0 < y1 <= 120 and 0.0 <= data["score"] <= 1.0
