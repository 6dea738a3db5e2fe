"""Dataset round trip, append, validation, and atomicity under a killed collection."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.learning.toy import LABELS, ToyExpert, ToyRobot
from vitalskills.app.collect import collect
from vitalskills.learning.dataset import DatasetInfo, DatasetWriter, DemoDataset
from vitalskills.learning.errors import DatasetError


def toy_info(**overrides: object) -> DatasetInfo:
    fields: dict = dict(
        task="toy", condition="canonical", control_hz=10.0, source="expert", mask_labels=LABELS
    )
    return DatasetInfo(**{**fields, **overrides})


def test_collect_round_trip_keeps_every_array_exactly(tmp_path: Path) -> None:
    robot = ToyRobot()
    report = collect(
        robot, ToyExpert(), tmp_path / "ds", toy_info(), episodes=3, seed=5, max_steps=60
    )
    assert [m.seed for m in report.written] == [5, 6, 7]
    assert all(m.success for m in report.written)
    assert robot.stopped == 3

    dataset = DemoDataset(tmp_path / "ds")
    assert len(dataset) == 3
    assert dataset.info.features["observation.wrist_rgb"].shape == [32, 32, 3]
    assert dataset.info.features["privileged.wrist_mask"].dtype == "uint8"
    assert dataset.info.mask_labels == LABELS

    # Replaying the same seed reproduces the stored observations and actions bit for bit.
    episode = dataset.episode(1)
    replay, expert = ToyRobot(), ToyExpert()
    observation = replay.reset(seed=6)
    for t in range(len(episode)):
        assert np.array_equal(episode.frames["observation.wrist_rgb"][t], observation["wrist_rgb"])
        mask = episode.frames["privileged.wrist_mask"][t]
        assert np.array_equal(mask, observation["privileged/wrist_mask"])
        applied = replay.act(expert.act(observation))
        assert np.array_equal(episode.frames["action"][t], applied)
        observation = replay.observe()
    assert observation["success"][0]
    # Every array, images included, is stored deflate-compressed.
    with zipfile.ZipFile(tmp_path / "ds" / "data" / "episode_000001.npz") as archive:
        assert {i.compress_type for i in archive.infolist()} == {zipfile.ZIP_DEFLATED}


def test_append_continues_numbering_and_rejects_other_tasks(tmp_path: Path) -> None:
    collect(ToyRobot(), ToyExpert(), tmp_path, toy_info(), episodes=2, seed=0, max_steps=60)
    collect(ToyRobot(), ToyExpert(), tmp_path, toy_info(), episodes=1, seed=100, max_steps=60)
    metas = DemoDataset(tmp_path).metas()
    assert [(m.index, m.seed) for m in metas] == [(0, 0), (1, 1), (2, 100)]
    lines = (tmp_path / "meta" / "episodes.jsonl").read_text().splitlines()
    assert len(lines) == 3
    with pytest.raises(DatasetError, match="has task `toy`, not `other`"):
        DatasetWriter(tmp_path, toy_info(task="other"))


def test_feature_mismatch_and_second_writer_are_errors(tmp_path: Path) -> None:
    collect(ToyRobot(), ToyExpert(), tmp_path, toy_info(), episodes=1, seed=0, max_steps=60)
    with DatasetWriter(tmp_path, toy_info()) as writer:
        with pytest.raises(DatasetError, match="being written by another process"):
            DatasetWriter(tmp_path, toy_info())
        frames = DemoDataset(tmp_path).episode(0).frames
        frames["observation.wrist_rgb"] = frames["observation.wrist_rgb"][:, :16]
        with pytest.raises(DatasetError, match=r"observation\.wrist_rgb differ"):
            writer.add_episode(frames)


def test_failed_demonstrations_are_discarded_unless_kept(tmp_path: Path) -> None:
    report = collect(
        ToyRobot(),
        ToyExpert(),
        tmp_path / "a",
        toy_info(),
        episodes=1,
        seed=0,
        max_steps=2,
        max_attempts=2,
        keep_failures=True,
    )
    assert not report.written[0].success and report.written[0].length == 2
    with pytest.raises(DatasetError, match="only 0 of 1 demonstrations succeeded"):
        collect(
            ToyRobot(),
            ToyExpert(),
            tmp_path / "b",
            toy_info(),
            episodes=1,
            seed=0,
            max_steps=2,
            max_attempts=2,
        )


def test_corrupt_episode_file_is_a_clear_error(tmp_path: Path) -> None:
    collect(ToyRobot(), ToyExpert(), tmp_path, toy_info(), episodes=1, seed=0, max_steps=60)
    path = tmp_path / "data" / "episode_000000.npz"
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DatasetError, match=r"episode_000000\.npz` is corrupt"):
        DemoDataset(tmp_path).episode(0)
    with pytest.raises(DatasetError, match="not a demonstration dataset"):
        DemoDataset(tmp_path / "data")


_COLLECTOR = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from tests.learning.toy import ToyExpert, ToyRobot
    from tests.learning.test_dataset import toy_info
    from vitalskills.app.collect import collect
    collect(ToyRobot(step_delay=0.01), ToyExpert(), Path(sys.argv[1]), toy_info(),
            episodes=1000, seed=0, max_steps=60)
    """
)


@pytest.mark.parametrize("delay", [0.0, 0.07, 0.15])
def test_killed_collection_loses_only_the_episode_in_progress(tmp_path: Path, delay: float) -> None:
    out = tmp_path / "ds"
    process = subprocess.Popen(
        [sys.executable, "-c", _COLLECTOR, str(out)], cwd=Path(__file__).parents[2]
    )
    try:
        deadline = time.monotonic() + 60
        while not (out / "data" / "episode_000001.npz").exists():
            assert process.poll() is None, "the collector died on its own"
            assert time.monotonic() < deadline
            time.sleep(0.005)
        time.sleep(delay)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    dataset = DemoDataset(out)
    assert len(dataset) >= 2
    for position in range(len(dataset)):
        episode = dataset.episode(position)
        assert episode.meta.success and episode.meta.index == position
    # The next writer takes the lock, clears leftovers and appends after the survivors.
    collect(ToyRobot(), ToyExpert(), out, toy_info(), episodes=1, seed=999, max_steps=60)
    assert [p.name for p in (out / "data").iterdir() if p.name.startswith(".")] == []
    assert DemoDataset(out).metas()[-1].seed == 999
