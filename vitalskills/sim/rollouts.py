"""Roll out a policy for N seeded episodes and count successes (`vitalskills eval`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from vitalskills.sim.env import VitalEnv
from vitalskills.sim.expert import expert_policy, random_policy
from vitalskills.sim.tasks import SimError

Policy = Callable[[dict[str, np.ndarray]], np.ndarray]
PolicyFactory = Callable[[VitalEnv, int], Policy]
#: Called after each reset with the episode's seed: the observation of a changed start,
#: or None to end the episode there as a failure.
Prepare = Callable[[VitalEnv, int], "dict[str, np.ndarray] | None"]

POLICIES: dict[str, PolicyFactory] = {"expert": expert_policy, "random": random_policy}


@dataclass
class EvalResult:
    """Success counts of one evaluation, with the seeds that reproduce it."""

    task: str
    policy: str
    condition: str
    episodes: int
    successes: int
    success_rate: float
    seeds: list[int]
    distractors: int | None = None
    wrist_jitter: float | None = None
    grounding: dict[str, float] | None = None
    failed_seeds: list[int] = field(default_factory=list)
    mean_steps: float = 0.0

    def to_dict(self) -> dict:
        """Return a JSON-ready dict."""
        return asdict(self)


def get_policy(name: str) -> PolicyFactory:
    """Return the policy factory called `name`, or raise `SimError` naming the known ones."""
    try:
        return POLICIES[name]
    except KeyError:
        known = ", ".join(f"`{p}`" for p in POLICIES)
        raise SimError(f"unknown policy `{name}`", hint=f"choose one of {known}") from None


def _video_frame(env: VitalEnv, obs: dict[str, np.ndarray]) -> np.ndarray:
    scene = env.render()
    height = scene.shape[0]
    wrist = np.asarray(Image.fromarray(obs["wrist_rgb"]).resize((height, height), Image.NEAREST))
    return np.concatenate([scene, wrist], axis=1)


def run_episode(
    env: VitalEnv,
    policy: Policy,
    seed: int,
    frames: list[np.ndarray] | None = None,
    prepare: Prepare | None = None,
) -> dict:
    """Run one episode from `seed` to success or truncation; return its last info.

    `prepare` changes the start after the reset; when it returns None the episode
    fails there, without a step (a target the grounder missed).
    """
    obs, info = env.reset(seed=seed)
    if prepare is not None:
        prepared = prepare(env, seed)
        if prepared is None:
            return {**info, "success": False, "step": 0}
        obs = prepared
    if frames is not None:
        frames.append(_video_frame(env, obs))
    done = False
    while not done:
        obs, _, terminated, truncated, info = env.step(policy(obs))
        if frames is not None:
            frames.append(_video_frame(env, obs))
        done = terminated or truncated
    return info


def evaluate(
    task: str,
    policy: str | PolicyFactory = "expert",
    condition: str = "canonical",
    episodes: int = 20,
    seed: int = 0,
    distractors: int | None = None,
    video_dir: Path | None = None,
    on_episode: Callable[[int, bool], None] | None = None,
    image_size: int = 128,
    policy_name: str | None = None,
    wrist_jitter: float | None = None,
    prepare: Prepare | None = None,
    grounding: dict[str, float] | None = None,
) -> EvalResult:
    """Evaluate a policy on episodes seeded `seed`, `seed + 1`, ...

    Args:
        task: simulator task.
        policy: `expert`, `random`, or a factory `(env, seed) -> policy`.
        condition: `canonical`, `spatial` or `scene`.
        episodes: how many episodes.
        seed: seed of the first episode.
        distractors: distractors per episode (default depends on the condition).
        video_dir: write one MP4 per episode there (scene camera beside wrist camera).
        on_episode: called after each episode with its index and success.
        image_size: wrist image side.
        policy_name: name to report when `policy` is a factory.
        wrist_jitter: move the wrist camera on its mount by up to this much (m) per axis.
        prepare: changes each episode's start after its reset (see `run_episode`).
        grounding: the grounding errors `prepare` applies, to report with the result.
    """
    factory = get_policy(policy) if isinstance(policy, str) else policy
    name = policy if isinstance(policy, str) else policy_name or "custom"
    # Scripted policies read privileged state, so they need no wrist images.
    wrist = video_dir is not None or not isinstance(policy, str)
    env = VitalEnv(
        task,
        condition,
        distractors=distractors,
        image_size=image_size,
        render_wrist=wrist,
        render_mode="rgb_array" if video_dir is not None else None,
        wrist_jitter=wrist_jitter,
    )
    if video_dir is not None:
        video_dir.mkdir(parents=True, exist_ok=True)
    seeds = [seed + i for i in range(episodes)]
    successes, failed, steps = 0, [], []
    try:
        for i, episode_seed in enumerate(seeds):
            frames: list[np.ndarray] | None = [] if video_dir is not None else None
            policy_fn = factory(env, episode_seed)
            info = run_episode(env, policy_fn, episode_seed, frames, prepare)
            ok = bool(info["success"])
            successes += ok
            steps.append(info["step"])
            if not ok:
                failed.append(episode_seed)
            if frames and video_dir is not None:
                _write_video(
                    frames, video_dir / f"{task}_{condition}_{name}_seed{episode_seed}.mp4"
                )
            if on_episode is not None:
                on_episode(i, ok)
    finally:
        env.close()
    return EvalResult(
        task=task,
        policy=name,
        condition=condition,
        episodes=episodes,
        successes=successes,
        success_rate=successes / episodes if episodes else 0.0,
        seeds=seeds,
        distractors=distractors,
        wrist_jitter=wrist_jitter,
        grounding=grounding,
        failed_seeds=failed,
        mean_steps=float(np.mean(steps)) if steps else 0.0,
    )


def _write_video(frames: list[np.ndarray], path: Path) -> None:
    import imageio.v2 as imageio

    with imageio.get_writer(path, fps=10, codec="libx264", macro_block_size=8) as writer:
        for frame in frames:
            writer.append_data(frame)
