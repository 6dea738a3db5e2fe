"""`vitalskills masks --chroma`, the stored `mask.keep` array, and writes that cannot tear.

The demonstrations are synthetic: a noisy green screen, a red block that moves right one
pixel per step and a grey gripper fixed at the bottom, so the true keep mask is known
exactly. The SAM2 path (a tiny random video model) is tested in
tests/perception/test_video_segment.py.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from vitalskills.cli import app
from vitalskills.errors import UsageError
from vitalskills.learning.dataset import (
    DatasetEditor,
    DatasetInfo,
    DatasetWriter,
    DemoDataset,
    Episode,
    EpisodeMeta,
    Feature,
    write_episode_array,
)
from vitalskills.learning.errors import DatasetError
from vitalskills.learning.masks import (
    MASK_KEY,
    ChromaKey,
    KeepRegions,
    StoredMasks,
    VideoMasks,
    contact_sheet,
    dilate,
    erode,
    parse_box,
    rgb_to_hsv,
    write_masks,
)

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]
SIZE, STEPS = 32, 6
GREEN, RED, GREY = (20, 170, 60), (200, 60, 40), (120, 120, 125)


def scene(steps: int = STEPS, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Return (T, S, S, 3) images of a green screen, a moving red block and a grey gripper,
    and the true (T, S, S) keep mask."""
    rng = np.random.default_rng(seed)
    images = np.empty((steps, SIZE, SIZE, 3), np.uint8)
    images[:] = GREEN
    images = np.clip(images + rng.integers(-15, 16, images.shape), 0, 255).astype(np.uint8)
    truth = np.zeros((steps, SIZE, SIZE), bool)
    for t in range(steps):
        images[t, 8:16, 4 + t : 12 + t] = RED
        truth[t, 8:16, 4 + t : 12 + t] = True
    images[:, SIZE - 6 :, 10:22] = GREY
    truth[:, SIZE - 6 :, 10:22] = True
    return images, truth


def make_dataset(root: Path, episodes: int = 2, wrist: bool = True) -> list[np.ndarray]:
    """Write a dataset of `episodes` green-screen episodes; return their true keep masks."""
    info = DatasetInfo(task="toy", condition="canonical", control_hz=6.0, source="test")
    truths = []
    with DatasetWriter(root, info) as writer:
        for index in range(episodes):
            images, truth = scene(seed=index)
            frames = {"action": np.zeros((STEPS, 7), np.float32)}
            frames["observation.tactile"] = np.zeros((STEPS, 15), np.float32)
            if wrist:
                frames["observation.wrist_rgb"] = images
            writer.add_episode(frames, seed=index, success=True)
            truths.append(truth)
    return truths


def episode_of(images: np.ndarray) -> Episode:
    meta = EpisodeMeta(index=0, length=len(images))
    return Episode(meta=meta, frames={"observation.wrist_rgb": images})


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- chroma keying ---------------------------------------------------------------------


def test_hsv_matches_the_textbook_values() -> None:
    pixels = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [0, 177, 64], [128, 128, 128]])
    hue, saturation, value = rgb_to_hsv(pixels.astype(np.uint8))
    np.testing.assert_allclose(hue, [0, 120, 240, 141.69, 0], atol=0.01)
    np.testing.assert_allclose(saturation, [1, 1, 1, 1, 0], atol=1e-6)
    np.testing.assert_allclose(value, [1, 1, 1, 177 / 255, 128 / 255], atol=1e-6)


def test_chroma_keeps_the_block_and_gripper_and_removes_the_green_screen() -> None:
    images, truth = scene()
    keep = ChromaKey().mask(images)
    assert keep.dtype == bool and keep.shape == truth.shape
    np.testing.assert_array_equal(keep, truth)


def test_cleanup_drops_specks_and_fills_holes() -> None:
    images, truth = scene()
    images[:, 2, 28] = RED  # one noisy non-green pixel on the screen
    images[:, 11:13, 6:8] = GREEN  # a green reflection inside the block
    np.testing.assert_array_equal(ChromaKey().mask(images), truth)
    raw = ChromaKey(open_radius=0, close_radius=0).mask(images)
    assert raw[:, 2, 28].all() and not raw[:, 11:13, 6:8].any()


def test_cleanup_keeps_a_thin_shaft_joined_to_a_part() -> None:
    # A key's shaft is 2 pixels wide in the wrist camera: a plain opening shaved it off.
    images, truth = scene()
    images[:, 16:26, 9:11] = GREY  # a shaft hanging below the block
    truth[:, 16:26, 9:11] = True
    images[:, 22:24, 28:30] = GREY  # a 2x2 speck on its own
    np.testing.assert_array_equal(ChromaKey().mask(images), truth)


def test_morphology_is_a_square_and_edges_are_replicated() -> None:
    mask = np.zeros((1, 9, 9), bool)
    mask[0, 4, 4] = True
    assert dilate(mask, 1).sum() == 9 and erode(dilate(mask, 1), 1).sum() == 1
    border = np.zeros((1, 9, 9), bool)
    border[0, :3, :3] = True  # a 3x3 block in the corner survives erosion by 1 at its centre
    assert erode(border, 1)[0, :2, :2].all() and erode(border, 1).sum() == 4


def test_blue_screen_and_a_wrapping_hue_range() -> None:
    images, truth = scene()
    blue = images.copy()
    blue[~truth] = (30, 60, 200)
    np.testing.assert_array_equal(ChromaKey("blue").mask(blue), truth)
    red_screen = ChromaKey(hue_range=(340.0, 20.0)).mask(images)  # wraps past 360
    for t in range(STEPS):  # the red block is the screen now; the green is kept
        assert not red_screen[t, 8:16, 4 + t : 12 + t].any() and red_screen[t, :8].all()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"colour": "pink"}, "unknown screen colour `pink`"),
        ({"hue_range": (10.0, 400.0)}, "hue range `10,400` must lie in 0..360 degrees"),
        ({"min_saturation": 1.5}, "`min_saturation` must lie in 0..1 (got `1.5`)"),
        ({"close_radius": -1}, "`close_radius` must lie in 0..16 pixels (got `-1`)"),
    ],
)
def test_bad_chroma_settings_are_named(options: dict, message: str) -> None:
    with pytest.raises(UsageError) as raised:
        ChromaKey(**options)
    assert raised.value.message == message


def test_a_chroma_key_is_rebuilt_from_its_record() -> None:
    # Residual RL on a robot keys images online with the key the BC masks were made with.
    key = ChromaKey("blue", hue_range=(190.0, 250.0), min_value=0.3, open_radius=2)
    record = {**key.describe(), "command": "vitalskills masks DATA --chroma blue"}
    assert ChromaKey.from_description(record) == key


def test_keep_regions_add_a_fixed_box_to_every_frame() -> None:
    images, truth = scene()
    assert parse_box("0,0,3,1") == (0, 0, 3, 1)
    keep = KeepRegions(ChromaKey(), (parse_box("0,0,3,1"),)).keep(episode_of(images))
    assert keep[:, 0:2, 0:4].all()
    np.testing.assert_array_equal(keep[:, 2:], truth[:, 2:])
    for bad in ("1,2,3", "4,0,3,1", "a,b,c,d"):
        with pytest.raises(UsageError):
            parse_box(bad)
    with pytest.raises(UsageError) as raised:
        KeepRegions(ChromaKey(), ((0, 0, 32, 3),)).keep(episode_of(images))
    assert raised.value.message == (
        "keep region `0,0,32,3` reaches outside the 32x32 frames of episode 0"
    )


class FakeSegmenter:
    """Two 'objects': the left and the right half of every frame; records the prompts."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, list]] = []

    def track(self, frames, prompts, on_frame=None):
        self.calls.append((len(frames), list(prompts)))
        count, height, width = frames.shape[:3]
        masks = np.zeros((2, count, height, width), bool)
        masks[0, :, :, :4] = True
        masks[1, :, :, -4:] = True
        for done in range(1, count + 1):
            if on_frame is not None:
                on_frame(done, count)
        return masks

    def describe(self) -> dict:
        return {"model": "fake", "model_type": "fake_video", "device": "cpu"}


def test_video_masks_keep_the_union_of_the_tracked_parts() -> None:
    from vitalskills.perception.video_segment import build_prompts

    images, _ = scene()
    segmenter = FakeSegmenter()
    prompts = build_prompts(["target=10,12", "gripper=16,29"])
    seen = []
    source = VideoMasks(segmenter, prompts, on_frame=lambda done, total: seen.append(done))
    keep = source.keep(episode_of(images))
    assert keep[:, :, :4].all() and keep[:, :, -4:].all() and not keep[:, :, 4:-4].any()
    assert seen == list(range(1, STEPS + 1))
    assert source.describe()["prompts"][1] == {
        "name": "gripper",
        "points": [[16.0, 29.0]],
        "negatives": [],
    }


# -- contact sheets ----------------------------------------------------------------------


def test_contact_sheet_tints_removed_pixels_and_keeps_kept_ones() -> None:
    images, truth = scene(steps=20)
    sheet = np.asarray(contact_sheet(images, truth, tiles=4, columns=2))
    # 2 x 2 tiles of 32 px scaled by 5 (160 px), 4 px gaps, a 40 px header, 16 px labels,
    # at least 360 px wide for the title.
    assert sheet.shape == (40 + 2 * (160 + 16 + 4) + 4, 360, 3)
    first = sheet[40 : 40 + 160, 4 : 4 + 160]
    np.testing.assert_array_equal(first[8 * 5 + 2, 4 * 5 + 2], RED)  # kept: as recorded
    removed = first[2, 2].astype(int)
    assert removed[0] > 100 and removed[2] > 100  # tinted towards magenta


# -- the command ------------------------------------------------------------------------


def test_masks_chroma_writes_masks_meta_and_sheets(tmp_path: Path) -> None:
    data = tmp_path / "demos"
    truths = make_dataset(data)
    result = runner.invoke(app, ["masks", str(data), "--chroma", "green"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"masked 2 episodes of {data} with a green chroma key (hue 70..170 degrees)",
        "episode  frames  kept ",
        "0        6       13.3%",
        "1        6       13.3%",
        "mean kept fraction 13.3% (min 13.3% episode 0, max 13.3% episode 0)",
        f"contact sheets: {data}/masks/episode_NNNNNN.png",
    ]
    dataset = DemoDataset(data)
    assert dataset.info.features[MASK_KEY] == Feature(dtype="bool", shape=[SIZE, SIZE])
    made = dataset.info.derived[MASK_KEY]
    assert made["method"] == "chroma" and made["hue_range"] == [70.0, 170.0]
    assert made["command"] == f"vitalskills masks {data} --chroma green"
    for truth, episode in zip(truths, dataset, strict=True):
        np.testing.assert_array_equal(StoredMasks().keep(episode), truth)
        assert episode.meta.extra[MASK_KEY]["kept_fraction"] == pytest.approx(truth.mean(), 1e-3)
        assert episode.meta.success and episode.meta.seed == episode.meta.index  # kept as is
        sheet = data / "masks" / f"episode_{episode.meta.index:06d}.png"
        assert sheet.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        with Image.open(sheet) as image:
            image.verify()
    lines = (data / "meta" / "episodes.jsonl").read_text().splitlines()
    assert all('"kept_fraction"' in line for line in lines)


def test_stored_masks_plug_into_training_data(tmp_path: Path) -> None:
    from vitalskills.learning.bc.demos import load_demos

    data = tmp_path / "demos"
    truths = make_dataset(data)
    assert runner.invoke(app, ["masks", str(data), "--chroma", "green"]).exit_code == 0
    demos = load_demos(DemoDataset(data), tactile=True, masks=StoredMasks())
    np.testing.assert_array_equal(demos.keep, np.concatenate(truths))


def test_stored_masks_without_masks_say_how_to_make_them(tmp_path: Path) -> None:
    data = tmp_path / "demos"
    make_dataset(data)
    with pytest.raises(DatasetError) as raised:
        StoredMasks().keep(DemoDataset(data).episode(0))
    assert raised.value.message == "episode 0 has no stored keep masks (`mask.keep`)"
    assert "vitalskills masks DATA --chroma green" in (raised.value.hint or "")


def test_keep_region_and_chroma_options_are_recorded(tmp_path: Path) -> None:
    data = tmp_path / "demos"
    make_dataset(data, episodes=1)
    args = ["masks", str(data), "--chroma", "green", "--min-value", "0.2"]
    result = runner.invoke(app, [*args, "--keep-region", "0,0,31,1", "--no-sheets"])
    assert result.exit_code == 0, result.output
    assert "plus 1 fixed region(s)" in result.stdout and "contact sheets" not in result.stdout
    episode = DemoDataset(data).episode(0)
    assert StoredMasks().keep(episode)[:, :2].all()
    made = DemoDataset(data).info.derived[MASK_KEY]
    assert made["keep_regions"] == [[0, 0, 31, 1]] and made["min_value"] == 0.2
    assert not (data / "masks").exists()


def test_an_appended_episode_drops_the_feature_until_masked_again(tmp_path: Path) -> None:
    data = tmp_path / "demos"
    make_dataset(data, episodes=2)
    assert runner.invoke(app, ["masks", str(data), "--chroma", "green"]).exit_code == 0
    make_dataset(data, episodes=1)  # a later collection appends episode 2, without masks
    dataset = DemoDataset(data)
    assert MASK_KEY not in dataset.info.features and len(dataset) == 3
    assert [len(episode) for episode in dataset] == [STEPS] * 3  # every episode still loads
    result = runner.invoke(app, ["masks", str(data), "--chroma", "green", "--only-missing"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].startswith(
        f"masked 1 episode of {data} (2 already had masks) with a green chroma key"
    )
    assert MASK_KEY in DemoDataset(data).info.features


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        ([], 2, "error: give exactly one of --chroma COLOUR or --sam2 MODEL_DIR"),
        (["--chroma", "green", "--sam2", "m"], 2, "error: give exactly one of --chroma"),
        (["--chroma", "green", "--prompt", "target=1,2"], 2, "error: --prompt, --negative and"),
        (["--chroma", "green", "--dtype", "float16"], 2, "error: --prompt, --negative and --dtype"),
        (["--sam2", "m", "--hue-range", "80,160"], 2, "error: --hue-range tune --chroma"),
        (["--chroma", "green", "--hue-range", "80"], 2, "error: `--hue-range 80` is not LO,HI"),
        (["--chroma", "green", "--keep-region", "1,2"], 2, "error: `--keep-region 1,2` is not"),
        (["--sam2", "m", "--prompt", "target:1,2"], 2, "error: `--prompt target:1,2` is not NAME"),
        (["--sam2", "m", "--prompt", "wall=1,2"], 2, "error: `--prompt wall=1,2` names the"),
        (["--sam2", "m"], 2, "error: video masks need at least one prompt"),
        (["--sam2", "m", "--prompt", "target=1,2", "--negative", "held=3,4"], 2, "error: `--neg"),
    ],
)
def test_usage_errors_exit_2_before_anything_is_read(
    tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    result = runner.invoke(app, ["masks", str(tmp_path / "nowhere"), *args])
    assert result.exit_code == code, result.output
    assert result.stderr.startswith(message), result.stderr


def test_data_errors_are_clear(tmp_path: Path) -> None:
    result = runner.invoke(app, ["masks", str(tmp_path / "nowhere"), "--chroma", "green"])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: `{tmp_path / 'nowhere'}` is not a demonstration dataset (no meta/info.json)",
        "help: collect one with `vitalskills collect --out DIR`",
    ]
    blind = tmp_path / "blind"
    make_dataset(blind, wrist=False)
    result = runner.invoke(app, ["masks", str(blind), "--chroma", "green"])
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        f"error: dataset `{blind}` has no `observation.wrist_rgb` images to mask"
    )
    data = tmp_path / "demos"
    make_dataset(data, episodes=1)
    args = ["masks", str(data), "--sam2", str(tmp_path / "no-model"), "--prompt", "target=1,2"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"error: video model directory `{tmp_path / 'no-model'}` does not exist\nhelp: download"
    )


# -- writing into episodes ------------------------------------------------------------


def test_features_appear_once_every_episode_has_the_array(tmp_path: Path) -> None:
    data = tmp_path / "demos"
    truths = make_dataset(data, episodes=2)
    write_episode_array(data, 0, MASK_KEY, truths[0], extra={"note": "first"})
    dataset = DemoDataset(data)
    assert MASK_KEY not in dataset.info.features  # half done: still a valid dataset
    assert [len(episode) for episode in dataset] == [STEPS, STEPS]
    assert dataset.episode(0).meta.extra == {"note": "first"}
    write_episode_array(data, 1, MASK_KEY, truths[1])
    assert DemoDataset(data).info.features[MASK_KEY].dtype == "bool"
    write_episode_array(data, 1, MASK_KEY, ~truths[1])  # replacing is fine
    np.testing.assert_array_equal(DemoDataset(data).episode(1).frames[MASK_KEY], ~truths[1])


def test_bad_writes_are_refused(tmp_path: Path) -> None:
    data = tmp_path / "demos"
    truths = make_dataset(data, episodes=1)
    cases = [
        ("action", truths[0], "`action` is not a derived array: recorded arrays are never"),
        (MASK_KEY, truths[0][:3], "`mask.keep` for episode 0 has 3 rows, the episode has 6"),
    ]
    for key, values, message in cases:
        with pytest.raises(DatasetError) as raised:
            write_episode_array(data, 0, key, values)
        assert raised.value.message.startswith(message)
    with pytest.raises(DatasetError, match="has no episode 7"):
        write_episode_array(data, 7, MASK_KEY, truths[0])
    write_episode_array(data, 0, MASK_KEY, truths[0])
    with pytest.raises(DatasetError) as raised:
        write_episode_array(data, 0, MASK_KEY, truths[0].astype(np.uint8))
    assert raised.value.message == (
        "`mask.keep` for episode 0 is uint8[32, 32], the dataset stores bool[32, 32]"
    )


def test_a_failed_write_leaves_the_episode_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "demos"
    truths = make_dataset(data, episodes=1)
    path = data / "data" / "episode_000000.npz"
    before = sha(path)
    original = np.savez_compressed

    def dies_half_way(handle, **arrays):
        original(handle, **{key: arrays[key] for key in list(arrays)[:1]})
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez_compressed", dies_half_way)
    with pytest.raises(OSError, match="disk full"):
        write_episode_array(data, 0, MASK_KEY, truths[0])
    monkeypatch.undo()
    assert sha(path) == before
    assert [p.name for p in (data / "data").iterdir()] == ["episode_000000.npz"]
    episode = DemoDataset(data).episode(0)
    assert MASK_KEY not in episode.frames and len(episode) == STEPS


def test_a_killed_write_never_corrupts_the_episode(tmp_path: Path) -> None:
    """SIGKILL a process after its new episode file is written but before the rename."""
    data = tmp_path / "demos"
    truths = make_dataset(data, episodes=1)
    np.save(tmp_path / "keep.npy", truths[0])
    path = data / "data" / "episode_000000.npz"
    before = sha(path)
    script = textwrap.dedent(
        f"""
        import sys, time
        import numpy as np
        from vitalskills.learning.dataset import write_episode_array
        original = np.savez_compressed
        def written_then_stalled(handle, **arrays):
            original(handle, **arrays)
            handle.flush()
            print("written", flush=True)
            time.sleep(60)
        np.savez_compressed = written_then_stalled
        write_episode_array({str(data)!r}, 0, "mask.keep", np.load({str(tmp_path / "keep.npy")!r}))
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "written"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    assert sha(path) == before  # the old episode, whole
    leftovers = [p.name for p in (data / "data").iterdir() if p.name.startswith(".tmp-")]
    assert len(leftovers) == 1  # the new file that never got renamed
    assert MASK_KEY not in DemoDataset(data).episode(0).frames
    with DatasetEditor(data) as editor:  # the lock died with the process; leftovers go
        assert not editor.has_array(0, MASK_KEY)
    assert [p.name for p in (data / "data").iterdir()] == ["episode_000000.npz"]
    run = write_masks(data, ChromaKey(), sheets=False)
    assert [episode.kept_fraction for episode in run.written] == [pytest.approx(truths[0].mean())]


def test_the_editor_waits_for_no_one(tmp_path: Path) -> None:
    data = tmp_path / "demos"
    make_dataset(data, episodes=1)
    info = DemoDataset(data).info
    with DatasetWriter(data, info), pytest.raises(DatasetError) as raised:
        DatasetEditor(data)
    assert raised.value.message == f"dataset `{data}` is being written by another process"
