"""`sim show`: pictures of what a policy sees and feels during one expert episode."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from vitalskills.sim.env import VitalEnv
from vitalskills.sim.expert import CONTACT, expert_policy

#: Colours of `MASK_LABELS` in the mask picture.
MASK_COLOURS = np.array([[0, 0, 0], [230, 80, 60], [90, 150, 230], [250, 210, 60]], np.uint8)
WRIST_PREVIEW = 256


@dataclass
class ShowResult:
    """What `show_episode` wrote and how the episode went."""

    files: list[Path]
    success: bool
    steps: int


def _save(image: np.ndarray, path: Path, files: list[Path]) -> None:
    Image.fromarray(image).save(path)
    files.append(path)


def _depth_image(depth: np.ndarray) -> np.ndarray:
    near, far = np.percentile(depth, [1, 99])
    scaled = np.clip((depth - near) / max(far - near, 1e-6), 0, 1)
    return (255 * (1 - scaled)).astype(np.uint8)


def _tactile_plot(readings: np.ndarray, contact: int | None, title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(5, 1, figsize=(7, 6), sharex=True)
    t = np.arange(len(readings)) / 10.0
    for i, ax in enumerate(axes):
        for axis, colour in zip("xyz", ("tab:red", "tab:green", "tab:blue"), strict=True):
            ax.plot(t, readings[:, 3 * i + "xyz".index(axis)], color=colour, label=axis, lw=1.2)
        ax.set_ylabel(f"mag {i}")
        ax.grid(alpha=0.3)
        if contact is not None:
            ax.axvline(contact / 10.0, color="k", ls="--", lw=0.8)
    axes[0].legend(loc="upper left", ncol=3, fontsize=8)
    axes[0].set_title(title)
    axes[-1].set_xlabel("time (s); dashed: first contact")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def show_episode(
    task: str,
    condition: str,
    seed: int,
    out: Path,
    distractors: int | None = None,
    image_size: int = 128,
) -> ShowResult:
    """Run one expert episode and write wrist, scene and tactile pictures into `out`.

    Writes `wrist_start.png`, `wrist_contact.png` (at the strongest touch) and
    `wrist_end.png` (upscaled wrist views), `wrist_mask.png` (privileged segmentation),
    `scene.png`, `scene_depth.png` and `tactile.png` (the 15 channels over time).
    """
    out.mkdir(parents=True, exist_ok=True)
    env = VitalEnv(
        task,
        condition,
        seed=seed,
        distractors=distractors,
        image_size=image_size,
        privileged=True,
        render_mode="rgb_array",
    )
    files: list[Path] = []
    try:
        policy = expert_policy(env, seed=seed)
        obs, info = env.reset(seed=seed)
        big = lambda img: np.asarray(  # noqa: E731
            Image.fromarray(img).resize((WRIST_PREVIEW, WRIST_PREVIEW), Image.NEAREST)
        )
        _save(big(obs["wrist_rgb"]), out / "wrist_start.png", files)
        mask = MASK_COLOURS[obs["privileged/wrist_mask"]]
        _save(big(mask), out / "wrist_mask.png", files)
        _save(env.render(), out / "scene.png", files)
        _save(
            _depth_image(env.render_camera("scene", *env.scene_size, depth=True)),
            out / "scene_depth.png",
            files,
        )
        readings, frames = [obs["tactile"]], [obs["wrist_rgb"]]
        done = False
        while not done:
            obs, _, terminated, truncated, info = env.step(policy(obs))
            readings.append(obs["tactile"])
            frames.append(obs["wrist_rgb"])
            done = terminated or truncated
        strength = np.linalg.norm(np.array(readings), axis=1)
        touched = np.flatnonzero(strength > CONTACT)
        contact = int(touched[0]) if len(touched) else None
        _save(big(frames[int(np.argmax(strength))]), out / "wrist_contact.png", files)
        _save(big(obs["wrist_rgb"]), out / "wrist_end.png", files)
        verdict = "success" if info["success"] else "failure"
        title = f"{task} ({condition}, seed {seed}): tactile, {verdict} at step {info['step']}"
        _tactile_plot(np.array(readings), contact, title, out / "tactile.png")
        files.append(out / "tactile.png")
        return ShowResult(files=files, success=bool(info["success"]), steps=int(info["step"]))
    finally:
        env.close()
