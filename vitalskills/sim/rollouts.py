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
    grasp_offset: float | None = None
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


@dataclass(frozen=True)
class EpisodeOutcome:
    """How one seeded episode ended."""

    seed: int
    success: bool
    steps: int


class Rollouts:
    """One environment that runs a policy for one seeded episode per call.

    Each episode depends only on its seed (the environment and the policy are both made
    from it), so episodes may run in any order, on any number of these.

    Args:
        task: simulator task.
        policy: `expert`, `random`, or a factory `(env, seed) -> policy`.
        condition: `canonical`, `spatial` or `scene`.
        distractors: distractors per episode (default depends on the condition).
        video_dir: write one MP4 per episode there (scene camera beside wrist camera).
        image_size: wrist image side.
        policy_name: name to report when `policy` is a factory.
        wrist_jitter: move the wrist camera on its mount by up to this much (m) per axis.
        prepare: changes each episode's start after its reset (see `run_episode`); sent
            to workers with the rest, so a picklable object rather than a closure.
    """

    def __init__(
        self,
        task: str,
        policy: str | PolicyFactory = "expert",
        condition: str = "canonical",
        distractors: int | None = None,
        video_dir: Path | None = None,
        image_size: int = 128,
        policy_name: str | None = None,
        wrist_jitter: float | None = None,
        prepare: Prepare | None = None,
    ) -> None:
        self.prepare = prepare
        self.factory = get_policy(policy) if isinstance(policy, str) else policy
        self.name = policy if isinstance(policy, str) else policy_name or "custom"
        self.task, self.condition, self.video_dir = task, condition, video_dir
        # Scripted policies read privileged state, so they need no wrist images.
        wrist = video_dir is not None or not isinstance(policy, str)
        self.env = VitalEnv(
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

    def __call__(self, seed: int) -> EpisodeOutcome:
        """Run the episode of `seed` (and write its video when asked)."""
        frames: list[np.ndarray] | None = [] if self.video_dir is not None else None
        info = run_episode(self.env, self.factory(self.env, seed), seed, frames, self.prepare)
        if frames and self.video_dir is not None:
            name = f"{self.task}_{self.condition}_{self.name}_seed{seed}.mp4"
            _write_video(frames, self.video_dir / name)
        return EpisodeOutcome(seed=seed, success=bool(info["success"]), steps=int(info["step"]))

    def close(self) -> None:
        """Close the environment."""
        self.env.close()


def summarize(
    task: str,
    policy: str,
    condition: str,
    outcomes: list[EpisodeOutcome],
    distractors: int | None = None,
    wrist_jitter: float | None = None,
    grounding: dict[str, float] | None = None,
    grasp_offset: float | None = None,
) -> EvalResult:
    """Count the outcomes (in seed order) of an evaluation into its `EvalResult`."""
    steps = [outcome.steps for outcome in outcomes]
    successes = sum(outcome.success for outcome in outcomes)
    return EvalResult(
        task=task,
        policy=policy,
        condition=condition,
        episodes=len(outcomes),
        successes=successes,
        success_rate=successes / len(outcomes) if outcomes else 0.0,
        seeds=[outcome.seed for outcome in outcomes],
        distractors=distractors,
        wrist_jitter=wrist_jitter,
        grounding=grounding,
        grasp_offset=grasp_offset,
        failed_seeds=[outcome.seed for outcome in outcomes if not outcome.success],
        mean_steps=float(np.mean(steps)) if steps else 0.0,
    )


def _write_video(frames: list[np.ndarray], path: Path) -> None:
    import imageio.v2 as imageio

    with imageio.get_writer(path, fps=10, codec="libx264", macro_block_size=8) as writer:
        for frame in frames:
            writer.append_data(frame)
