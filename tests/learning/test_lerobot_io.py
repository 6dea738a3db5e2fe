"""LeRobotDataset v3.0 in and out: exact round trips, what does not map, errors, the golden.

The source dataset is collected on the real simulator through `vitalskills collect`, with
a keep mask added the way `vitalskills masks` stores one. The golden dataset in
tests/data/lerobot_golden was written by lerobot 0.4.4's own `LeRobotDataset.create`,
`add_frame` and `save_episode` (scripts/make_lerobot_golden.py): a wrist camera as AV1
video, a scene camera and a label mask as PNG image features, an 8-value state, a
15-value tactile vector, actions, `next.success`, and two task texts. Reading an export
with lerobot's own loader needs lerobot's environment: scripts/lerobot_check.sh does it
(docs/datasets.md#lerobot says what was run).
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image
from typer.testing import CliRunner

from vitalskills.cli import app
from vitalskills.learning.dataset import DatasetEditor, DatasetInfo, DatasetWriter, DemoDataset
from vitalskills.learning.errors import DatasetError
from vitalskills.learning.lerobot_io import export_lerobot, import_lerobot
from vitalskills.learning.lerobot_io.media import decode_png, encode_png

runner = CliRunner()
GOLDEN = Path(__file__).parents[1] / "data" / "lerobot_golden"


@pytest.fixture(scope="module")
def demos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two simulator demonstrations at 32 px, with a stored keep mask (`mask.keep`)."""
    root = tmp_path_factory.mktemp("lerobot") / "demos"
    collected = runner.invoke(
        app,
        ["collect", "--task", "plug_in_socket", "--episodes", "2", "--seed", "3",
         "--image-size", "32", "--out", str(root)],
    )  # fmt: skip
    assert collected.exit_code == 0, collected.output
    with DatasetEditor(root) as editor:
        for index in editor.paths:
            labels = editor.episode(index).frames["privileged.wrist_mask"]
            editor.write_array(index, "mask.keep", labels > 0, extra={"mask.keep": {"n": 1}})
        editor.describe("mask.keep", {"method": "test: the label map's non-background"})
    return root


def assert_same_dataset(
    a: DemoDataset, b: DemoDataset, *, except_keys: tuple[str, ...] = ()
) -> None:
    """Every array equal in dtype, shape and value; every episode's metadata equal."""
    assert len(a) == len(b)
    for first, second in zip(a, b, strict=True):
        assert first.meta == second.meta
        assert set(first.frames) == set(second.frames)
        for key, value in first.frames.items():
            if key in except_keys:
                continue
            assert second.frames[key].dtype == value.dtype, key
            assert np.array_equal(second.frames[key], value), key
    info_a, info_b = a.info.model_dump(), b.info.model_dump()
    assert info_b.pop("origin")["format"] == "LeRobotDataset v3.0"
    info_a.pop("origin")
    assert info_a == info_b


def test_png_round_trip_restores_every_array_and_field_exactly(demos: Path, tmp_path: Path) -> None:
    exported = runner.invoke(
        app, ["dataset", "export", str(demos), "--to", "lerobot", str(tmp_path / "lr")]
    )
    assert exported.exit_code == 0, exported.output
    assert "exported 2 episodes" in exported.output
    lines = exported.stdout.splitlines()
    assert "  observation.state <- observation.ee_pose, observation.gripper (values, 8)" in lines
    assert "  observation.images.wrist <- observation.wrist_rgb (image, 32x32x3)" in lines
    assert "  mask.keep <- mask.keep (image, 32x32x1)" in lines
    assert "  privileged.target_pose <- privileged.target_pose (values, 16)" in lines
    assert any(line.startswith("not mapped: mask label names") for line in lines)
    assert not any(line.startswith("lossy:") for line in lines)
    imported = runner.invoke(
        app, ["dataset", "import", str(tmp_path / "lr"), str(tmp_path / "back")]
    )
    assert imported.exit_code == 0, imported.output
    assert "(a vitalskills export, restored exactly)" in imported.output
    assert_same_dataset(DemoDataset(demos), DemoDataset(tmp_path / "back"))


def test_the_export_is_lerobot_v3_layout(demos: Path, tmp_path: Path) -> None:
    export_lerobot(demos, tmp_path / "lr")
    info = json.loads((tmp_path / "lr" / "meta" / "info.json").read_text())
    assert info["codebase_version"] == "v3.0" and info["fps"] == 10
    assert info["total_episodes"] == 2 and info["splits"] == {"train": "0:2"}
    assert info["features"]["observation.state"]["names"][-1] == "gripper"
    assert info["features"]["observation.tactile"]["shape"] == [15]
    assert info["features"]["privileged.wrist_mask"]["dtype"] == "image"
    data = pq.read_table(tmp_path / "lr" / "data" / "chunk-000" / "file-000.parquet")
    tactile = data.schema.field("observation.tactile").type  # LeRobot's fixed-size list
    assert pa.types.is_fixed_size_list(tactile) and tactile.list_size == 15
    assert tactile.value_type == pa.float32()
    assert data.num_rows == info["total_frames"]
    episodes = pq.read_table(
        tmp_path / "lr" / "meta" / "episodes" / "chunk-000" / "file-000.parquet"
    )
    ranges = list(
        zip(
            *(episodes.column(k).to_pylist() for k in ("dataset_from_index", "dataset_to_index")),
            strict=True,
        )
    )
    lengths = [len(e) for e in DemoDataset(demos)]
    assert ranges == [(0, lengths[0]), (lengths[0], sum(lengths))]
    assert episodes.column("tasks").to_pylist() == [["plug_in_socket"]] * 2
    tasks = pq.read_table(tmp_path / "lr" / "meta" / "tasks.parquet")
    assert tasks.to_pylist() == [{"task_index": 0, "__index_level_0__": "plug_in_socket"}]
    pandas = json.loads(tasks.schema.metadata[b"pandas"])  # the text is pandas' index
    assert pandas["index_columns"] == ["__index_level_0__"]
    stats = json.loads((tmp_path / "lr" / "meta" / "stats.json").read_text())
    actions = np.concatenate([e.frames["action"] for e in DemoDataset(demos)])
    assert np.allclose(stats["action"]["mean"], actions.mean(axis=0), atol=1e-6)
    assert np.array(stats["observation.images.wrist"]["std"]).shape == (3, 1, 1)
    assert stats["index"]["min"] == [0] and stats["index"]["max"] == [sum(lengths) - 1]


def test_each_episode_row_carries_its_own_statistics(demos: Path, tmp_path: Path) -> None:
    export_lerobot(demos, tmp_path / "lr")
    episodes = pq.read_table(
        tmp_path / "lr" / "meta" / "episodes" / "chunk-000" / "file-000.parquet"
    ).to_pylist()
    golden = pq.read_table(GOLDEN / "meta" / "episodes" / "chunk-000" / "file-000.parquet").schema
    for episode, row in zip(DemoDataset(demos), episodes, strict=True):
        actions = episode.frames["action"]
        assert np.allclose(row["stats/action/mean"], actions.mean(axis=0), atol=1e-6)
        assert np.allclose(row["stats/action/max"], actions.max(axis=0))
        assert row["stats/action/count"] == [len(episode)]
        assert row["stats/index/min"] == [row["dataset_from_index"]]  # integers stay integers
        assert row["stats/index/max"] == [row["dataset_to_index"] - 1]
        assert np.array(row["stats/observation.images.wrist/mean"]).shape == (3, 1, 1)
    written = pq.read_table(
        tmp_path / "lr" / "meta" / "episodes" / "chunk-000" / "file-000.parquet"
    ).schema
    for key in ("stats/observation.state/mean", "stats/index/min", "stats/action/count"):
        assert written.field(key).type == golden.field(key).type  # as lerobot writes them


def test_video_export_keeps_masks_and_numbers_exact(demos: Path, tmp_path: Path) -> None:
    result = export_lerobot(demos, tmp_path / "lr", video=True, task_text="plug it in")
    assert result.lossy == ["`observation.wrist_rgb` as H.264 video (pixels change)"]
    video = tmp_path / "lr" / "videos" / "observation.images.wrist" / "chunk-000" / "file-000.mp4"
    assert video.is_file()
    info = json.loads((tmp_path / "lr" / "meta" / "info.json").read_text())
    assert info["features"]["observation.images.wrist"]["info"]["video.codec"] == "h264"
    assert info["features"]["privileged.wrist_mask"]["dtype"] == "image"  # never video
    back = import_lerobot(tmp_path / "lr", tmp_path / "back")
    assert back.lossy == [
        "`observation.images.wrist` is video: frames are decoded, not the original pixels"
    ]
    original, restored = DemoDataset(demos), DemoDataset(tmp_path / "back")
    assert_same_dataset(original, restored, except_keys=("observation.wrist_rgb",))
    for first, second in zip(original, restored, strict=True):
        error = np.abs(
            first.frames["observation.wrist_rgb"].astype(float)
            - second.frames["observation.wrist_rgb"]
        )
        assert error.mean() < 8.0  # near, not equal: H.264 is lossy


def test_what_does_not_map_is_listed_and_recorded(tmp_path: Path) -> None:
    info = DatasetInfo(task="toy", condition="canonical", control_hz=12.5, source="test")
    with DatasetWriter(tmp_path / "demos", info) as writer:
        writer.add_episode(
            {
                "action": np.zeros((3, 7), np.float32),
                "observation.note": np.array(["a", "b", "c"]),
            }
        )
    result = runner.invoke(
        app, ["dataset", "export", str(tmp_path / "demos"), "--to", "lerobot", str(tmp_path / "lr")]
    )
    assert result.exit_code == 0, result.output
    assert (
        "not mapped: `observation.note` (<U1[]): LeRobot features hold numbers only"
        in result.output
    )
    assert (
        "not mapped: control rate 12.5 Hz: LeRobot's fps is a whole number: written as 12"
        in result.output
    )
    info_json = json.loads((tmp_path / "lr" / "meta" / "info.json").read_text())
    assert "observation.note" not in info_json["features"]
    recorded = info_json["vitalskills"]["unmapped"]
    assert "`observation.note` (<U1[]): LeRobot features hold numbers only" in recorded
    back = import_lerobot(tmp_path / "lr", tmp_path / "back")
    dataset = DemoDataset(tmp_path / "back")
    assert set(dataset.info.features) == {"action"} and dataset.info.control_hz == 12.5
    assert back.exact


def test_exclude_leaves_arrays_out_and_says_so(demos: Path, tmp_path: Path) -> None:
    out = tmp_path / "lr"
    result = runner.invoke(
        app,
        ["dataset", "export", str(demos), "--to", "lerobot", str(out),
         "--exclude", "privileged.*"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "not mapped: `privileged.wrist_mask`: left out (--exclude privileged.*)" in result.stdout
    features = json.loads((out / "meta" / "info.json").read_text())["features"]
    assert not [key for key in features if key.startswith("privileged.")]
    # lerobot-train feeds every `observation.*` feature to the policy: success is an outcome.
    assert "next.success" in features and "observation.success" not in features
    assert {"observation.images.wrist", "mask.keep", "observation.state"} <= set(features)
    back = DemoDataset(import_lerobot(out, tmp_path / "back").out)
    assert "privileged.target_pose" not in back.info.features
    first, second = DemoDataset(demos).episode(0), back.episode(0)
    assert np.array_equal(first.frames["mask.keep"], second.frames["mask.keep"])
    unknown = runner.invoke(
        app,
        ["dataset", "export", str(demos), "--to", "lerobot", str(tmp_path / "x"),
         "--exclude", "privileged.nothing*"],
    )  # fmt: skip
    assert unknown.exit_code == 1
    assert f"`--exclude privileged.nothing*` matches no array of `{demos}`" in unknown.stderr


def test_palette_and_grey_label_images_keep_their_values() -> None:
    labels = np.array([[0, 1], [2, 3]], np.uint8)
    palette = Image.fromarray(labels, mode="P")
    palette.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * 756)
    buffer = io.BytesIO()
    palette.save(buffer, format="PNG")
    assert np.array_equal(decode_png(buffer.getvalue(), "test", labels=True), labels)
    assert np.array_equal(decode_png(encode_png(labels), "test", labels=True), labels)
    colour = decode_png(buffer.getvalue(), "test")  # as a camera: the palette's colours
    assert colour.shape == (2, 2, 3) and tuple(colour[1, 0]) == (0, 255, 0)


def test_golden_dataset_written_by_lerobot_imports(tmp_path: Path) -> None:
    result = runner.invoke(app, ["dataset", "import", str(GOLDEN), str(tmp_path / "demos")])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("imported 3 episodes (36 frames) of ")
    assert lines[0].endswith("task `insert the plug`:")
    assert "  observation.wrist_rgb <- observation.images.wrist (video, 32x32x3)" in lines
    assert "  observation.wrist_mask <- observation.images.wrist_mask (image, 32x32x1)" in lines
    assert "  observation.ee_pose, observation.gripper <- observation.state (values, 8)" in lines
    assert (
        "not mapped: 2 task texts: a vitalskills dataset holds one task; each episode's text "
        "is in its `extra.task`" in lines
    )
    assert (
        "lossy: `observation.images.wrist` is video: frames are decoded, not the original pixels"
        in lines
    )
    dataset = DemoDataset(tmp_path / "demos")
    assert dataset.info.source == "lerobot" and dataset.info.control_hz == 10.0
    assert dataset.info.robot == {"name": "toy_arm"}
    assert dataset.info.origin["unmapped"][-1].startswith("2 task texts")
    metas = dataset.metas()
    assert [m.length for m in metas] == [12, 9, 15]
    assert [m.extra["task"] for m in metas] == [
        "insert the plug",
        "insert the plug",
        "press the button",
    ]
    assert all(m.success for m in metas)  # each episode's last `next.success` is true
    for position, episode in enumerate(dataset):
        labels = episode.frames["observation.wrist_mask"]
        assert labels.dtype == np.uint8 and set(np.unique(labels)) == {0, 1, 2}
        # The mask (PNG, lossless) and the state agree: the gripper square is centred on
        # the state's x, y (scaled by the image size), as the golden script drew it.
        for labels_t, pose in zip(labels, episode.frames["observation.ee_pose"], strict=True):
            rows, cols = np.nonzero(labels_t == 2)
            assert abs(cols.mean() - pose[0] * 32) <= 1.0 and abs(rows.mean() - pose[1] * 32) <= 1.0
        scene = episode.frames["observation.scene_rgb"].copy()  # PNG: exact
        poses = episode.frames["observation.ee_pose"]
        steps = np.arange(len(episode))
        dots = scene[steps, (poses[:, 1] * 32).astype(int), (poses[:, 0] * 32).astype(int)]
        assert (dots == (255, 255, 0)).all()  # a yellow dot where the state says
        scene[steps, (poses[:, 1] * 32).astype(int), (poses[:, 0] * 32).astype(int)] = 90
        assert (scene[:, :, 16:] == 90).all()
        left = scene[:, :, :16].reshape(-1, 3)
        assert (
            (left == (30 + 10 * position, 120, 200)).all(axis=1) | (left == 90).all(axis=1)
        ).all()
        wrist = episode.frames["observation.wrist_rgb"].astype(float)  # AV1: close
        gripper = wrist[labels == 2]
        assert gripper[:, 1].mean() > 150 and gripper[:, 0].mean() < 110
        assert episode.frames["observation.tactile"].shape == (len(episode), 15)
        assert episode.frames["observation.gripper"].shape == (len(episode), 1)


def test_bc_trains_from_the_imported_golden_dataset(tmp_path: Path) -> None:
    imported = runner.invoke(app, ["dataset", "import", str(GOLDEN), str(tmp_path / "demos")])
    assert imported.exit_code == 0, imported.output
    trained = runner.invoke(
        app,
        ["train", "bc", "--data", str(tmp_path / "demos"), "--out", str(tmp_path / "skill"),
         "--name", "golden", "--steps", "3", "--batch-size", "4", "--image-size", "32",
         "--width", "32", "--layers", "1", "--checkpoint-every", "3", "--no-augment"],
    )  # fmt: skip
    assert trained.exit_code == 0, trained.output
    assert "trained `golden` 0.1.0: 3 steps on 36 frames" in trained.output
    assert (tmp_path / "skill" / "skill.yaml").is_file()


def test_errors_say_what_is_wrong_and_what_to_do(demos: Path, tmp_path: Path) -> None:
    missing = runner.invoke(app, ["dataset", "import", str(tmp_path / "nope"), str(tmp_path / "o")])
    assert missing.exit_code == 1
    assert "does not exist or is not a folder" in missing.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    no_info = runner.invoke(app, ["dataset", "import", str(empty), str(tmp_path / "o")])
    assert no_info.exit_code == 1
    assert f"`{empty}` is not a LeRobot dataset (no meta/info.json)" in no_info.stderr
    old = tmp_path / "old"
    shutil.copytree(GOLDEN, old)
    info = json.loads((old / "meta" / "info.json").read_text())
    (old / "meta" / "info.json").write_text(json.dumps({**info, "codebase_version": "v2.1"}))
    version = runner.invoke(app, ["dataset", "import", str(old), str(tmp_path / "o")])
    assert version.exit_code == 1
    assert (
        "codebase_version `v2.1` is not supported; import reads LeRobotDataset v3.0"
        in version.stderr
    )
    assert "convert_dataset_v21_to_v30" in version.stderr
    assert not (tmp_path / "o").exists()
    with pytest.raises(DatasetError, match="already exists"):
        import_lerobot(GOLDEN, demos)
    with pytest.raises(DatasetError, match="already exists"):
        export_lerobot(demos, GOLDEN)
    not_ours = runner.invoke(
        app, ["dataset", "export", str(GOLDEN), "--to", "lerobot", str(tmp_path / "x")]
    )
    assert not_ours.exit_code == 1 and "is a LeRobot dataset already" in not_ours.stderr
    assert f"help: to bring it in: `vitalskills dataset import {GOLDEN} OUT`" in not_ours.stderr
    plain = runner.invoke(
        app, ["dataset", "export", str(empty), "--to", "lerobot", str(tmp_path / "x")]
    )
    assert plain.exit_code == 1 and "is not a demonstration dataset" in plain.stderr
    broken = tmp_path / "broken"
    shutil.copytree(GOLDEN, broken)
    (broken / "data" / "chunk-000" / "file-000.parquet").unlink()
    gone = runner.invoke(app, ["dataset", "import", str(broken), str(tmp_path / "o")])
    assert gone.exit_code == 1 and "data file" in gone.stderr and "is missing" in gone.stderr
    assert not (tmp_path / "o").exists() and not (tmp_path / ".tmp-o").exists()
