"""`vitalskills run --track`: a run's later `locate` of an object follows it by video propagation.

Tiny random models in the real formats (OWL-ViT detector, SAM 2 masker, SAM 2 video model)
answer on the simulator's scene camera; their answers are meaningless, so the grounder
accepts every box and its tracker never calls the object lost (`track_min_score: 0`), and
the test checks which path answered each `locate`, through the run's JSON.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vitalskills.cli import app
from vitalskills.perception.random_maskers import save_random_masker
from vitalskills.perception.random_video_models import save_random_sam2_video

runner = CliRunner()

TASK = """task follow "Locate the strip, move, locate it again"
locate "power strip" as strip
move [0, 0, 10] mm in base
locate "power strip" as again
"""


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_random_sam2_video(tmp_path_factory.mktemp("run-track") / "video", image_size=64)


@pytest.fixture()
def setup(tmp_path: Path, owlvit_dir: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    grounder = {
        "backend": "owlv2-sam", "detector": str(owlvit_dir),
        "masker": str(save_random_masker(tmp_path / "sam2", "sam2")), "threshold": 0.0,
        "track_min_score": 0.0,
    }  # fmt: skip
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps({"grounders": {"tiny": grounder}}))
    monkeypatch.setenv("VITALSKILLS_CONFIG", str(config))
    task = tmp_path / "follow.vtl"
    task.write_text(TASK)
    return task, config


def locates(summary: dict) -> list[dict]:
    return [node for node in summary["nodes"] if node["kind"] == "locate"]


def test_a_run_with_track_follows_the_object_to_its_next_locate(
    setup: tuple[Path, Path], video: Path
) -> None:
    task, _ = setup
    args = ["run", str(task), "--grounder", "tiny", "--track", str(video), "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    first, again = locates(json.loads(result.stdout))
    assert "detector" in first["values"]["timings"]  # found by the text query
    assert "track" in again["values"]["timings"]  # followed after the motion
    assert "detector" not in again["values"]["timings"]


def test_without_track_every_locate_asks_the_detector(setup: tuple[Path, Path]) -> None:
    task, _ = setup
    result = runner.invoke(app, ["run", str(task), "--grounder", "tiny", "--json"])
    assert result.exit_code == 0, result.output
    for node in locates(json.loads(result.stdout)):
        assert "detector" in node["values"]["timings"]
        assert "track" not in node["values"]["timings"]


@pytest.mark.parametrize(
    ("grounder", "folder", "message"),
    [
        ([], "video", "error: --track follows objects found by an `owlv2-sam` grounder, but"),
        (["--grounder", "tiny"], "missing", "error: --track "),
    ],
)
def test_track_is_refused_before_anything_starts(
    setup: tuple[Path, Path], video: Path, grounder: list[str], folder: str, message: str
) -> None:
    task, config = setup
    path = video if folder == "video" else config.parent / "no-such-model"
    result = runner.invoke(app, ["run", str(task), *grounder, "--track", str(path)])
    assert result.exit_code == 2, result.output
    assert f"\n{message}" in result.stderr, result.stderr
    assert "starting the simulator" not in result.stderr
