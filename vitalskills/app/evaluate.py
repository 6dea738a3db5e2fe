"""Evaluate a policy or a trained skill in the simulator; record a skill's result.

The simulator's evaluation loop is reused with a policy factory: one `BCPolicy` per
episode, its networks loaded once per worker, fed only what a real robot could give
(privileged keys and the success flag are removed). The wrist camera renders at its
own size and the policy resizes it, exactly as training resized the demonstrations.
Episodes run in this process, in worker processes or on Ray (`app.episode_pool`), with
the same per-episode results wherever they run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vitalskills.app.episode_pool import Done, Workers, run_episodes
from vitalskills.errors import UsageError
from vitalskills.learning.policies import BCPolicy, ResidualPolicy
from vitalskills.learning.skill_folder import (
    has_residual,
    load_residual,
    load_skill_model,
    update_provenance,
)
from vitalskills.robot import policy_view
from vitalskills.skills.manifest import SkillManifest, load_manifest

if TYPE_CHECKING:  # importing the simulator loads MuJoCo
    from vitalskills.sim.rollouts import EpisodeOutcome, EvalResult, Rollouts

#: Ends the policy name of an evaluation in which the skill's residual ran.
RESIDUAL_SUFFIX = "+residual"


@dataclass(frozen=True)
class SimEvalJob:
    """Builds one worker's `Rollouts`: a built-in policy, or a skill loaded from its folder.

    Plain data, so that it can be sent to worker processes and Ray actors; each worker
    loads the skill's networks once and runs every seed it is given on them.
    """

    task: str
    condition: str = "canonical"
    policy: str = "expert"
    skill: Path | None = None
    residual: bool = True
    distractors: int | None = None
    video_dir: Path | None = None
    wrist_jitter: float | None = None

    def __call__(self) -> Rollouts:
        from vitalskills.sim.rollouts import Rollouts

        factory: str | Callable = self.policy
        if self.skill is not None:
            factory = skill_policy_factory(load_manifest(self.skill), self.residual)
        return Rollouts(
            self.task, factory, self.condition, self.distractors, self.video_dir,
            wrist_jitter=self.wrist_jitter,
        )  # fmt: skip


def skill_policy_factory(
    manifest: SkillManifest, residual: bool = True
) -> Callable[[object, int], Callable[[dict], np.ndarray]]:
    """Load the skill's networks once; return a factory of a fresh policy per episode.

    With `residual`, a skill's residual corrects its BC policy; without, or for a skill
    that has none, the BC policy runs alone.
    """
    model = load_skill_model(manifest)
    low, high = np.asarray(manifest.action.low), np.asarray(manifest.action.high)
    actor = load_residual(manifest, model) if residual and has_residual(manifest) else None

    def factory(env: object, episode_seed: int) -> Callable[[dict], np.ndarray]:
        bc = BCPolicy(model, low, high)
        policy = bc if actor is None else ResidualPolicy(bc, actor)
        return lambda observation: policy.act(policy_view(observation))

    return factory


def evaluate_in_workers(
    job: SimEvalJob,
    policy_name: str,
    *,
    episodes: int,
    seed: int,
    workers: Workers,
    on_episode: Callable[[int, bool], None] | None = None,
) -> EvalResult:
    """Run `job` on seeds `seed`.. on `workers`; count the outcomes in seed order.

    `on_episode` is called as each episode completes with its index and success.
    """
    from vitalskills.sim.rollouts import summarize

    def done(item: Done[EpisodeOutcome]) -> None:
        if on_episode is not None:
            on_episode(item.index, item.result.success)

    seeds = [seed + index for index in range(episodes)]
    outcomes = run_episodes(job, seeds, workers, done)
    return summarize(
        job.task, policy_name, job.condition, outcomes, job.distractors, job.wrist_jitter
    )


def evaluate_policy(
    task: str,
    policy: str = "expert",
    condition: str = "canonical",
    *,
    episodes: int = 20,
    seed: int = 0,
    distractors: int | None = None,
    video_dir: Path | None = None,
    on_episode: Callable[[int, bool], None] | None = None,
    wrist_jitter: float | None = None,
    workers: Workers = Workers(),
) -> EvalResult:
    """Run a built-in simulator policy (`expert`, `random`) for seeded episodes on `workers`."""
    job = SimEvalJob(
        task, condition, policy, distractors=distractors, video_dir=video_dir,
        wrist_jitter=wrist_jitter,
    )  # fmt: skip
    return evaluate_in_workers(
        job, policy, episodes=episodes, seed=seed, workers=workers, on_episode=on_episode
    )


def evaluate_skill(
    manifest: SkillManifest,
    task: str,
    condition: str = "canonical",
    *,
    episodes: int = 30,
    seed: int = 0,
    distractors: int | None = None,
    video_dir: Path | None = None,
    on_episode: Callable[[int, bool], None] | None = None,
    residual: bool = True,
    wrist_jitter: float | None = None,
    workers: Workers = Workers(),
) -> EvalResult:
    """Run the skill's policy for `episodes` seeded simulator episodes; return the counts.

    With `residual` (the default) a skill's residual corrects its BC policy; without, or
    for a skill that has none, the BC policy runs alone. `wrist_jitter` (m) moves the
    wrist camera on its mount (a stress test). `workers` says where the episodes run
    (default: in this process); the result is the same wherever they ran.
    """
    with_residual = residual and has_residual(manifest)
    job = SimEvalJob(
        task, condition, skill=manifest.root or Path.cwd(), residual=with_residual,
        distractors=distractors, video_dir=video_dir, wrist_jitter=wrist_jitter,
    )  # fmt: skip
    name = f"skill:{manifest.name}@{manifest.version}{RESIDUAL_SUFFIX if with_residual else ''}"
    return evaluate_in_workers(
        job, name, episodes=episodes, seed=seed, workers=workers, on_episode=on_episode
    )


def check_savable(distractors: int | None, wrist_jitter: float | None) -> None:
    """Refuse to save a stress test: a set distractor count or a moved wrist camera.

    A skill's recorded evaluation is its table (the plain conditions); stress tests are
    reported on their own.
    """
    if wrist_jitter is not None or distractors is not None:
        raise UsageError(
            "a stress-test evaluation (`--wrist-jitter`, `--distractors`) is not saved",
            hint="save the plain condition's evaluation, report stress tests on their own",
        )


def save_evaluation(manifest: SkillManifest, result: EvalResult, command: str) -> SkillManifest:
    """Record `result` in the skill's `provenance.evaluation`, under `bc` or `vital`.

    The entry for the result's part (`vital` when the residual ran) and condition is
    replaced; every other entry is kept.

    Raises:
        UsageError: the result is a stress test (see `check_savable`).
    """
    check_savable(result.distractors, result.wrist_jitter)
    part = "vital" if result.policy.endswith(RESIDUAL_SUFFIX) else "bc"
    cell = {
        "episodes": result.episodes,
        "successes": result.successes,
        "success_rate": result.success_rate,
        "seeds": f"{result.seeds[0]}..{result.seeds[-1]}",
        "failed_seeds": result.failed_seeds,
        "mean_steps": result.mean_steps,
        "policy": result.policy,
        "command": command,
    }
    evaluation = dict(manifest.provenance.get("evaluation") or {})
    evaluation[part] = {**evaluation.get(part, {}), result.condition: cell}
    return update_provenance(manifest.root, evaluation=evaluation)
