"""`vitalskills locate` in process: files in, JSON / text / overlay PNG out, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from vitalskills.cli import app

runner = CliRunner()


def owl_args(files: dict[str, str], owlv2_dir: Path, sam_checkpoint: Path) -> list[str]:
    return [
        "locate", files["image"], "--depth", files["depth"], "--intrinsics", files["intrinsics"],
        "--query", "grey box", "--grounder", "owlv2-sam", "--detector", str(owlv2_dir),
        "--sam-checkpoint", str(sam_checkpoint), "--threshold", "0",
    ]  # fmt: skip


def test_json_from_files_with_extrinsics_is_in_base_frame(
    files: dict[str, str], owlv2_dir: Path, sam_checkpoint: Path, tmp_path: Path
) -> None:
    out = tmp_path / "overlay.png"
    args = owl_args(files, owlv2_dir, sam_checkpoint)
    result = runner.invoke(app, [*args, "--extrinsics", files["ext"], "--json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["frame"] == "base" and data["grounder"] == "owlv2-sam"
    assert data["privileged"] is False and len(data["box"]) == 4
    assert set(data["timings"]) == {"detector", "sam", "geometry"}
    overlay = np.asarray(Image.open(out))
    assert overlay.shape == (120, 160, 3)
    assert not np.array_equal(overlay, np.asarray(Image.open(files["image"])))


def test_without_extrinsics_the_point_is_in_camera_frame(
    files: dict[str, str], owlv2_dir: Path, sam_checkpoint: Path
) -> None:
    result = runner.invoke(app, [*owl_args(files, owlv2_dir, sam_checkpoint), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["frame"] == "camera"


def test_text_output_says_found_or_why_not(
    files: dict[str, str], owlv2_dir: Path, sam_checkpoint: Path
) -> None:
    args = [*owl_args(files, owlv2_dir, sam_checkpoint)[:-1], "1.0"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "not found: grey box: best box scores" in result.output


@pytest.mark.parametrize(
    ("extra", "message", "code"),
    [
        (["--intrinsics", "600,600"], "--intrinsics must be four numbers", 2),
        (["--depth", "nowhere.npy"], "depth file `nowhere.npy` does not exist", 2),
        (["--grounder", "yolo"], "unknown grounder `yolo`", 1),
        (["--grounder", "sim", "--threshold", "0.5"], "option `threshold` does not apply", 1),
        (["--grounder", "owlv2-sam", "--sam-checkpoint", "sam_vit_b_x.pth"],
         "SAM checkpoint `sam_vit_b_x.pth` does not exist", 1),
    ],
)  # fmt: skip
def test_user_mistakes_are_diagnostics_not_tracebacks(
    files: dict[str, str], extra: list[str], message: str, code: int
) -> None:
    base = ["locate", files["image"], "--depth", files["depth"], "--intrinsics",
            files["intrinsics"], "--query", "box"]  # fmt: skip
    result = runner.invoke(app, [*base, *extra])
    assert result.exit_code == code, result.output
    assert message in result.output and "Traceback" not in result.output


def test_integer_depth_needs_a_scale(files: dict[str, str]) -> None:
    base = ["locate", files["image"], "--depth", files["depth_mm"], "--intrinsics",
            files["intrinsics"], "--query", "box", "--grounder", "sim"]  # fmt: skip
    result = runner.invoke(app, base)
    assert result.exit_code == 1 and "--depth-scale 0.001" in result.output
    result = runner.invoke(app, [*base, "--depth-scale", "0.001", "--json"])
    assert result.exit_code == 0, result.output
    # Files carry no privileged labels, so the oracle honestly finds nothing.
    assert json.loads(result.stdout)["found"] is False


def test_missing_inputs_explain_both_modes() -> None:
    result = runner.invoke(app, ["locate", "--query", "box"])
    assert result.exit_code == 2 and "or --task TASK" in result.output
    assert runner.invoke(app, ["locate", "--help"]).exit_code == 0


@pytest.fixture(scope="module")
def qwen3_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from vitalskills.perception.random_models import save_random_qwen3_vl

    return save_random_qwen3_vl(tmp_path_factory.mktemp("models") / "qwen3-vl-tiny")


def vlm_args(files: dict[str, str], model: Path) -> list[str]:
    return [
        "locate", files["image"], "--depth", files["depth"], "--intrinsics", files["intrinsics"],
        "--query", "grey box", "--grounder", "vlm-point", "--vlm-model", str(model), "--json",
    ]  # fmt: skip


def test_a_qwen3_vl_folder_is_read_per_mille_unless_told_otherwise(
    files: dict[str, str], qwen3_dir: Path
) -> None:
    result = runner.invoke(app, vlm_args(files, qwen3_dir))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["grounder"] == "vlm-point" and "vlm" in data["timings"]
    # Random weights: whatever it said was read with Qwen3-VL's rules.
    assert data["found"] or "(read as `qwen3`)" in data["detail"]
    result = runner.invoke(app, [*vlm_args(files, qwen3_dir), "--point-format", "molmo2"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["found"] is False and "(read as `molmo2`)" in data["detail"]


def test_point_format_is_checked_and_needed_for_unknown_families(
    files: dict[str, str], tmp_path: Path
) -> None:
    from vitalskills.perception.random_models import save_random_vlm

    llava = save_random_vlm(tmp_path / "llava-tiny")
    result = runner.invoke(app, vlm_args(files, llava))
    assert result.exit_code == 1, result.output
    assert "(a `llava` model) writes points" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, [*vlm_args(files, llava), "--point-format", "inches"])
    assert result.exit_code == 2 and "inches" in result.output
