"""`sam3`: a tiny random SAM 3 saved like facebook/sam3, loaded through the factory and CLI.

A random model's masks are meaningless: these tests check the plumbing (loading, result
structure, geometry, encode-once, errors), not grounding quality.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.perception.conftest import table_scene
from vitalskills.cli import app
from vitalskills.perception.config import PerceptionConfig, Sam3Options
from vitalskills.perception.errors import PerceptionError, WeightsNotFound
from vitalskills.perception.factory import make_grounder
from vitalskills.perception.random_models import save_random_sam3
from vitalskills.perception.sam3_grounder import Sam3Grounder

runner = CliRunner()


@pytest.fixture(scope="session")
def sam3_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_random_sam3(tmp_path_factory.mktemp("models") / "sam3-tiny")


def config_with(model: Path, **options: object) -> PerceptionConfig:
    return PerceptionConfig(
        grounders={"my-sam3": Sam3Options(model=str(model), device="cpu", **options)}
    )


def test_locates_through_the_factory_and_encodes_the_image_once(sam3_dir: Path) -> None:
    frame, _ = table_scene()
    grounder = make_grounder("my-sam3", config_with(sam3_dir, threshold=0.0))
    assert isinstance(grounder, Sam3Grounder)
    first = grounder.locate(frame, "grey box")
    assert first.grounder == "my-sam3" and 0.0 <= first.score <= 1.0
    assert first.box is not None and first.mask is not None
    assert first.mask.shape == frame.depth.shape and first.mask.dtype == bool
    if first.found:  # a random mask may miss every valid depth pixel
        assert first.point is not None and first.point.shape == (3,)
        assert np.all(np.isfinite(first.point))
    else:
        assert "no valid depth" in first.detail
    assert "encode" in first.timings and "sam3" in first.timings
    second = grounder.locate(frame, "table")
    assert "encode" not in second.timings  # same frame: the image embedding is reused


def test_threshold_rejects_low_scores(sam3_dir: Path) -> None:
    frame, _ = table_scene()
    result = make_grounder("my-sam3", config_with(sam3_dir, threshold=1.0)).locate(frame, "box")
    assert not result.found and "below 1.0" in result.detail and result.point is None


def test_cli_locate_with_a_configured_sam3(
    sam3_dir: Path,
    files: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"grounders:\n  my-sam3:\n    backend: sam3\n    model: {sam3_dir}\n", encoding="utf-8"
    )
    monkeypatch.setenv("VITALSKILLS_CONFIG", str(config))
    args = ["locate", files["image"], "--depth", files["depth"], "--intrinsics",
            files["intrinsics"], "--extrinsics", files["ext"], "--query", "grey box",
            "--grounder", "my-sam3", "--threshold", "0", "--device", "cpu", "--json"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["grounder"] == "my-sam3" and data["mask_pixels"] is not None
    assert len(data["box"]) == 4 and "sam3" in data["timings"]


def test_a_folder_that_is_not_sam3_is_a_clear_error(
    tmp_path: Path, sam3_dir: Path, owlv2_dir: Path
) -> None:
    with pytest.raises(WeightsNotFound, match=r"has no config\.json"):
        make_grounder("my-sam3", config_with(tmp_path))
    with pytest.raises(PerceptionError, match="is a `owlv2` model, not SAM 3"):
        make_grounder("my-sam3", config_with(owlv2_dir))
    weightless = tmp_path / "weightless"
    weightless.mkdir()
    (weightless / "config.json").write_text((sam3_dir / "config.json").read_text())
    with pytest.raises(WeightsNotFound, match="cannot load SAM 3 model"):
        make_grounder("my-sam3", config_with(weightless))
