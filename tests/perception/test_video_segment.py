"""SAM2 video propagation through transformers, with a tiny random model saved like a real one.

The model is built from a small `Sam2VideoConfig`, saved with `save_pretrained` (weights
and processor) and loaded by `load_video_segmenter`, the function the CLI uses for real
checkpoints. Its weights are random, so these tests check shapes, types, files, records
and errors, not mask quality: how well real SAM2 / EdgeTAM weights segment a wrist
camera's view could not be measured here (no weights can be downloaded).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from tests.learning.test_masks_cli import SIZE, make_dataset
from vitalskills.cli import app
from vitalskills.errors import UsageError
from vitalskills.learning.dataset import DemoDataset, Feature
from vitalskills.learning.masks import MASK_KEY, StoredMasks
from vitalskills.perception.errors import PerceptionError, WeightsNotFound
from vitalskills.perception.random_video_models import save_random_sam2_video
from vitalskills.perception.video_segment import (
    ObjectPrompt,
    build_prompts,
    load_video_segmenter,
    parse_point,
    resolve_device,
)

runner = CliRunner()


@pytest.fixture(scope="module")
def sam2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_random_sam2_video(tmp_path_factory.mktemp("models") / "sam2-video-tiny")


def frames(count: int = 3, height: int = 48, width: int = 64) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (count, height, width, 3), dtype=np.uint8)


def test_a_saved_model_loads_and_tracks_prompted_objects(sam2_dir: Path) -> None:
    assert {"config.json", "model.safetensors", "processor_config.json"} <= {
        path.name for path in sam2_dir.iterdir()
    }
    segmenter = load_video_segmenter(sam2_dir, device="cpu")
    assert segmenter.model_type == "sam2_video" and segmenter.device == "cpu"
    prompts = [
        ObjectPrompt("target", ((20.0, 10.0), (24.0, 12.0)), negatives=((2.0, 2.0),)),
        ObjectPrompt("held", ((40.0, 40.0),)),
    ]
    progress: list[tuple[int, int]] = []
    masks = segmenter.track(frames(), prompts, on_frame=lambda *step: progress.append(step))
    # Random weights: the masks mean nothing, but every object has one per frame.
    assert masks.dtype == bool and masks.shape == (2, 3, 48, 64)
    assert progress == [(1, 3), (2, 3), (3, 3)]
    assert segmenter.describe() == {
        "model": str(sam2_dir),
        "model_type": "sam2_video",
        "device": "cpu",
        "dtype": "float32",
    }


def test_tracking_is_deterministic(sam2_dir: Path) -> None:
    segmenter = load_video_segmenter(sam2_dir, device="cpu")
    prompts = [ObjectPrompt("target", ((20.0, 10.0),))]
    first = segmenter.track(frames(), prompts)
    np.testing.assert_array_equal(first, segmenter.track(frames(), prompts))


def test_masks_sam2_writes_masks_into_the_dataset(sam2_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "demos"
    make_dataset(data, episodes=2)
    args = ["masks", str(data), "--sam2", str(sam2_dir), "--device", "cpu"]
    args += ["--prompt", "target=8,12", "--prompt", "target=10,12", "--prompt", "gripper=16,29"]
    args += ["--negative", "target=2,2", "--keep-region", "10,26,21,31"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == (
        f"masked 2 episodes of {data} with sam2_video video propagation of target, gripper "
        f"({sam2_dir}) plus 1 fixed region(s)"
    )
    dataset = DemoDataset(data)
    assert dataset.info.features[MASK_KEY] == Feature(dtype="bool", shape=[SIZE, SIZE])
    made = dataset.info.derived[MASK_KEY]
    assert made["method"] == "video" and made["model"] == str(sam2_dir)
    assert made["model_type"] == "sam2_video" and made["prompted_frame"] == 0
    assert made["prompts"] == [
        {"name": "target", "points": [[8.0, 12.0], [10.0, 12.0]], "negatives": [[2.0, 2.0]]},
        {"name": "gripper", "points": [[16.0, 29.0]], "negatives": []},
    ]
    assert made["keep_regions"] == [[10, 26, 21, 31]]
    for episode in dataset:
        keep = StoredMasks().keep(episode)
        assert keep.shape == (len(episode), SIZE, SIZE) and keep.dtype == bool
        assert keep[:, 26:32, 10:22].all()  # the fixed region, whatever the model says
        assert (data / "masks" / f"episode_{episode.meta.index:06d}.png").is_file()


def test_masks_sam2_in_bfloat16_records_its_precision(sam2_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "demos"
    make_dataset(data, episodes=1)
    args = ["masks", str(data), "--sam2", str(sam2_dir), "--device", "cpu", "--dtype", "bfloat16"]
    result = runner.invoke(app, [*args, "--prompt", "target=8,12"])
    assert result.exit_code == 0, result.output
    made = DemoDataset(data).info.derived[MASK_KEY]
    assert made["dtype"] == "bfloat16" and made["device"] == "cpu"
    for episode in DemoDataset(data):
        assert StoredMasks().keep(episode).dtype == bool


def test_a_click_outside_the_frame_is_refused(sam2_dir: Path) -> None:
    segmenter = load_video_segmenter(sam2_dir, device="cpu")
    with pytest.raises(PerceptionError) as raised:
        segmenter.track(frames(), [ObjectPrompt("target", ((64.0, 10.0),))])
    assert raised.value.message == "prompt `target` click (64, 10) lies outside the 64x48 frame"


def write_config(directory: Path, model_type: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps({"model_type": model_type}))
    return directory


@pytest.mark.parametrize(
    ("model_type", "message"),
    [
        ("sam", "is an image model (`sam`): it segments single images and has no memory"),
        ("sam_hq", "is an image model (`sam_hq`)"),
        ("bert", "is a `bert` model, not a video segmentation model"),
    ],
)
def test_models_that_cannot_track_are_refused(
    tmp_path: Path, model_type: str, message: str
) -> None:
    directory = write_config(tmp_path / model_type, model_type)
    with pytest.raises(PerceptionError) as raised:
        load_video_segmenter(directory, device="cpu")
    assert raised.value.message.startswith(f"`{directory}` {message}")


def test_an_image_typed_config_with_every_video_weight_loads(
    sam2_dir: Path, tmp_path: Path
) -> None:
    """One hub checkpoint serves the image and the video class: accept either type."""
    relabelled = tmp_path / "relabelled"
    shutil.copytree(sam2_dir, relabelled)
    config = json.loads((relabelled / "config.json").read_text())
    (relabelled / "config.json").write_text(json.dumps({**config, "model_type": "sam2"}))
    segmenter = load_video_segmenter(relabelled, device="cpu")
    assert type(segmenter.model).__name__ == "Sam2VideoModel"
    assert segmenter.track(frames(), [ObjectPrompt("target", ((5.0, 5.0),))]).shape == (
        1,
        3,
        48,
        64,
    )


def test_an_image_model_without_memory_weights_is_refused(sam2_dir: Path, tmp_path: Path) -> None:
    from transformers import Sam2Config, Sam2Model

    video = json.loads((sam2_dir / "config.json").read_text())
    parts = ("vision_config", "prompt_encoder_config", "mask_decoder_config")
    image = tmp_path / "sam2-image"
    Sam2Model(Sam2Config(**{part: video[part] for part in parts})).save_pretrained(image)
    shutil.copy(sam2_dir / "processor_config.json", image)
    with pytest.raises(PerceptionError) as raised:
        load_video_segmenter(image, device="cpu")
    assert raised.value.message == (
        f"`{image}` is an image model (`sam2`): it segments single images and has no memory "
        "to track an object through an episode"
    )


@pytest.mark.skipif(importlib.util.find_spec("timm") is not None, reason="timm is installed")
def test_edgetam_without_timm_says_what_to_install(tmp_path: Path) -> None:
    directory = write_config(tmp_path / "edgetam", "edgetam_video")
    with pytest.raises(PerceptionError) as raised:
        load_video_segmenter(directory, device="cpu")
    assert raised.value.message == (
        "`edgetam_video` models need the `timm` package, which is not installed"
    )


def test_missing_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(WeightsNotFound) as raised:
        load_video_segmenter(tmp_path / "absent", device="cpu")
    assert raised.value.message == f"video model directory `{tmp_path / 'absent'}` does not exist"
    assert "hf download facebook/sam2.1-hiera-tiny" in (raised.value.hint or "")
    (tmp_path / "empty").mkdir()
    with pytest.raises(WeightsNotFound, match=r"has no config\.json"):
        load_video_segmenter(tmp_path / "empty", device="cpu")


def test_a_checkpoint_without_the_memory_weights_is_refused(sam2_dir: Path, tmp_path: Path) -> None:
    partial = tmp_path / "partial"
    shutil.copytree(sam2_dir, partial)
    weights = load_file(partial / "model.safetensors")
    kept = {name: value for name, value in weights.items() if "memory_attention" not in name}
    assert len(kept) < len(weights)
    save_file(kept, partial / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(PerceptionError) as raised:
        load_video_segmenter(partial, device="cpu")
    assert raised.value.message.startswith(f"`{partial}` lacks {len(weights) - len(kept)} weights")


@pytest.mark.parametrize(
    ("spec", "parsed"),
    [("target=10,20", ("target", (10.0, 20.0))), (" Held = 1.5 , 2 ", ("held", (1.5, 2.0)))],
)
def test_point_specs_parse(spec: str, parsed: tuple) -> None:
    assert parse_point(spec) == parsed


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("target", "`--prompt target` is not NAME=U,V"),
        ("target=1", "`--prompt target=1` is not NAME=U,V"),
        ("target=1,2,3", "`--prompt target=1,2,3` is not NAME=U,V"),
        ("cup=1,2", "`--prompt cup=1,2` names the unknown part `cup`"),
        ("target=1..2,3", "`--prompt target=1..2,3`: U and V must be numbers"),
    ],
)
def test_bad_point_specs_are_usage_errors(spec: str, message: str) -> None:
    with pytest.raises(UsageError) as raised:
        parse_point(spec)
    assert raised.value.message == message


def test_prompts_group_clicks_by_part_in_the_order_named() -> None:
    prompts = build_prompts(
        ["held=1,2", "target=3,4", "held=5,6"], negatives=["target=0,0", "target=9,9"]
    )
    assert prompts == [
        ObjectPrompt("held", ((1.0, 2.0), (5.0, 6.0))),
        ObjectPrompt("target", ((3.0, 4.0),), ((0.0, 0.0), (9.0, 9.0))),
    ]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_devices_resolve() -> None:
    assert resolve_device("auto") == "cpu" and resolve_device("cpu") == "cpu"
    with pytest.raises(PerceptionError, match="torch sees no CUDA GPU"):
        resolve_device("cuda")
    with pytest.raises(PerceptionError, match="unknown device `tpu`"):
        resolve_device("tpu")
