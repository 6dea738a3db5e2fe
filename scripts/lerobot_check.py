"""Read a `vitalskills dataset export` folder with lerobot's own loader and compare.

Run by scripts/lerobot_check.sh with the Python of an environment that has lerobot 0.4.4
(lerobot cannot share the project's environment). It needs only numpy, so it compares
against `reference.npz`, which the shell script writes from the vitalskills dataset with
the project's own Python:

    python scripts/lerobot_check.py EXPORT_DIR REFERENCE.npz

It loads `LeRobotDataset("vitalskills/check", root=EXPORT_DIR, video_backend="pyav")`
and checks, frame by frame:

- the number of episodes and frames, and each episode's frame range;
- the task text of every frame;
- `action` and `observation.tactile` equal bit for bit (float32);
- every mask feature equal: LeRobot returns a PNG image feature as float (1, H, W) in
  [0, 1], and `round(value * 255)` must give back the stored labels exactly;
- every PNG colour camera equal the same way; a video camera's mean absolute error is
  printed (video is lossy);
- lerobot's own dataset tools work on it: `delete_episodes` drops the first episode,
  and the statistics it aggregates from the per-episode ones in the episode table give
  the remaining frames' action mean and count.

It prints one line per check and `lerobot check: ok` at the end, or exits non-zero.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from lerobot.datasets.dataset_tools import delete_episodes
from lerobot.datasets.lerobot_dataset import LeRobotDataset


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export", type=Path)
    parser.add_argument("reference", type=Path)
    args = parser.parse_args()
    reference = np.load(args.reference, allow_pickle=False)
    dataset = LeRobotDataset("vitalskills/check", root=args.export, video_backend="pyav")
    lengths = reference["lengths"]
    failures = []

    def check(ok: bool, line: str) -> None:
        print(("ok    " if ok else "FAIL  ") + line)
        if not ok:
            failures.append(line)

    check(
        dataset.num_episodes == len(lengths),
        f"episodes: lerobot {dataset.num_episodes}, vitalskills {len(lengths)}",
    )
    check(
        dataset.num_frames == int(lengths.sum()),
        f"frames: lerobot {dataset.num_frames}, vitalskills {int(lengths.sum())}",
    )
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    for episode, (start, length) in enumerate(zip(starts, lengths, strict=True)):
        row = dataset.meta.episodes[episode]
        span = (row["dataset_from_index"], row["dataset_to_index"])
        check(
            span == (start, start + length),
            f"episode {episode}: frames {span[0]}..{span[1]}, expected {start}..{start + length}",
        )
    items = [dataset[i] for i in range(dataset.num_frames)]
    tasks = {item["task"] for item in items}
    check(tasks == {str(reference["task"])}, f"task text: {sorted(tasks)}")
    actions = np.stack([item["action"].numpy() for item in items])
    check(
        actions.dtype == reference["action"].dtype and np.array_equal(actions, reference["action"]),
        f"action: {actions.shape} {actions.dtype}, bit for bit equal",
    )
    tactile = np.stack([item["observation.tactile"].numpy() for item in items])
    check(
        np.array_equal(tactile, reference["tactile"]),
        f"observation.tactile: {tactile.shape} {tactile.dtype}, bit for bit equal",
    )
    images = [key for key in reference.files if key.startswith("image:")]
    for name in images:
        key = name.removeprefix("image:")
        stored = reference[name]
        loaded = np.stack([item[key].numpy() for item in items])  # (N, C, H, W) in [0, 1]
        back = np.round(loaded * 255).astype(np.uint8).transpose(0, 2, 3, 1)
        back = back.reshape(stored.shape)
        if dataset.meta.features[key]["dtype"] == "video":
            error = np.abs(back.astype(float) - stored).mean()
            print(f"info  {key}: video, mean absolute error {error:.2f} of 255")
        else:
            if stored.ndim == 3:  # a mask: (N, H, W) labels or keep flags
                values = np.unique(stored).astype(int).tolist()
                what = f"mask, PNG): {stored.shape} {stored.dtype} values {values},"
            else:
                what = f"image, PNG): {stored.shape} {stored.dtype},"
            check(np.array_equal(back, stored), f"{key} ({what} round(x * 255) equal")
    with tempfile.TemporaryDirectory() as tmp:
        kept = delete_episodes(dataset, episode_indices=[0], output_dir=Path(tmp) / "kept")
        stats = json.loads((Path(tmp) / "kept" / "meta" / "stats.json").read_text())
        rest = reference["action"][int(lengths[0]) :]
        action = stats.get("action", {})
        check(
            kept.meta.total_frames == len(rest)
            and action.get("count") == [len(rest)]
            and np.allclose(action.get("mean", np.nan), rest.mean(axis=0), atol=1e-6),
            f"delete_episodes([0]): {kept.meta.total_frames} frames left, action statistics "
            f"aggregated from the episode table: count {action.get('count')}, mean of "
            f"the remaining frames",
        )
    print("lerobot check: " + ("ok" if not failures else f"{len(failures)} FAILED"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
