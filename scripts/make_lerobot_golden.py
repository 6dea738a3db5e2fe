"""Write the golden LeRobot dataset of tests/data/lerobot_golden with lerobot's own code.

Run it with the Python of an environment that has lerobot 0.4.4 (it cannot share this
project's environment: lerobot 0.4.x caps torch below the version vitalskills uses):

    uv venv /work/lerobot-env --python 3.11
    uv pip install --python /work/lerobot-env/bin/python lerobot==0.4.4
    /work/lerobot-env/bin/python scripts/make_lerobot_golden.py tests/data/lerobot_golden

The dataset is what a LeRobot user would bring: made with `LeRobotDataset.create`,
`add_frame` and `save_episode`, a wrist camera as AV1 video (lerobot's default codec), a
scene camera as PNG image frames, a label mask as a 1-channel PNG image feature, an
8-value state (end-effector pose and gripper), a 15-value tactile vector, 7-value actions,
a success flag and a reward, and two task texts. Everything is drawn from a seeded
generator, so running it again writes the same arrays (the video bytes depend on the
encoder build).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
from lerobot.datasets.lerobot_dataset import LeRobotDataset
from PIL import Image

SIZE = 32
FPS = 10
LENGTHS = (12, 9, 15)
TASKS = ("insert the plug", "insert the plug", "press the button")
STATE_NAMES = ["x", "y", "z", "qw", "qx", "qy", "qz", "gripper"]
ACTION_NAMES = ["dx", "dy", "dz", "rx", "ry", "rz", "gripper"]


def features() -> dict:
    """The dataset's features, as a LeRobot recording script declares them."""
    image = {"shape": (SIZE, SIZE, 3), "names": ["height", "width", "channels"]}
    return {
        "observation.images.wrist": {"dtype": "video", **image},
        "observation.images.scene": {"dtype": "image", **image},
        "observation.images.wrist_mask": {
            "dtype": "image",
            "shape": (SIZE, SIZE, 1),
            "names": ["height", "width", "channels"],
        },
        "observation.state": {"dtype": "float32", "shape": (8,), "names": STATE_NAMES},
        "observation.tactile": {
            "dtype": "float32",
            "shape": (15,),
            "names": [f"taxel_{i}" for i in range(15)],
        },
        "action": {"dtype": "float32", "shape": (7,), "names": ACTION_NAMES},
        "next.reward": {"dtype": "float32", "shape": (1,), "names": None},
        "next.success": {"dtype": "bool", "shape": (1,), "names": None},
    }


def frames(episode: int, length: int, rng: np.random.Generator) -> list[dict]:
    """One episode: a green square (the gripper) moving towards a red disc (the target)."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    target = rng.uniform(6, SIZE - 6, 2)
    start = rng.uniform(4, SIZE - 4, 2)
    rows = []
    for t in range(length):
        pos = start + (target - start) * t / (length - 1)
        labels = np.zeros((SIZE, SIZE), np.uint8)
        labels[(yy - target[1]) ** 2 + (xx - target[0]) ** 2 <= 9] = 1
        labels[(np.abs(yy - pos[1]) <= 2) & (np.abs(xx - pos[0]) <= 2)] = 2
        wrist = rng.integers(0, 60, (SIZE, SIZE, 3), dtype=np.uint8)
        wrist[labels == 1] = (220, 40, 40)
        wrist[labels == 2] = (40, 220, 40)
        scene = np.full((SIZE, SIZE, 3), 90, np.uint8)
        scene[:, : SIZE // 2] = (30 + 10 * episode, 120, 200)
        scene[int(pos[1]), int(pos[0])] = (255, 255, 0)
        quat = np.array([1.0, 0.0, 0.0, 0.0])
        state = np.array([*pos / SIZE, 0.1, *quat, float(t > length // 2)], np.float32)
        step = (target - start) / (length - 1) / SIZE
        action = np.array([*step, 0.0, 0.0, 0.0, 0.0, state[-1]], np.float32)
        rows.append(
            {
                "observation.images.wrist": wrist,
                "observation.images.scene": scene,
                "observation.images.wrist_mask": Image.fromarray(labels, mode="L"),
                "observation.state": state,
                "observation.tactile": rng.normal(0, 0.1, 15).astype(np.float32),
                "action": action,
                "next.reward": np.array([float(t == length - 1)], np.float32),
                "next.success": np.array([t == length - 1]),
                "task": TASKS[episode],
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder to write (replaced if it exists)")
    args = parser.parse_args()
    if args.out.exists():
        shutil.rmtree(args.out)
    dataset = LeRobotDataset.create(
        repo_id="vitalskills/lerobot_golden",
        fps=FPS,
        features=features(),
        root=args.out,
        robot_type="toy_arm",
        use_videos=True,
    )
    rng = np.random.default_rng(0)
    for episode, length in enumerate(LENGTHS):
        for row in frames(episode, length, rng):
            dataset.add_frame(row)
        dataset.save_episode()
    dataset.finalize()
    size = sum(path.stat().st_size for path in args.out.rglob("*") if path.is_file())
    meta = dataset.meta
    print(
        f"wrote {meta.total_episodes} episodes, {meta.total_frames} frames, {size / 1024:.0f} KiB"
    )


if __name__ == "__main__":
    main()
