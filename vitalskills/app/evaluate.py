"""Evaluate a policy or a trained skill in the simulator; record a skill's result.

The simulator's evaluation loop is reused with a policy factory: one `BCPolicy` per
episode, its networks loaded once per worker, fed only what a real robot could give
(privileged keys and the success flag are removed). The wrist camera renders at its
own size and the policy resizes it, exactly as training resized the demonstrations.
Episodes run in this process, in worker processes or on Ray (`app.episode_pool`), with
the same per-episode results wherever they run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
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
    from vitalskills.sim.env import VitalEnv
    from vitalskills.sim.rollouts import EpisodeOutcome, EvalResult, Prepare, Rollouts

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
    #: `noisy-oracle` parameters: each episode starts where a perturbed `locate` would.
    grounding: dict[str, float] = field(default_factory=dict)
    #: Hold the object up to this far (m) off its grasp, along the pads and in height.
    grasp_offset: float | None = None

    def __call__(self) -> Rollouts:
        from vitalskills.sim.rollouts import Rollouts

        factory: str | Callable = self.policy
        if self.skill is not None:
            factory = skill_policy_factory(load_manifest(self.skill), self.residual)
        return Rollouts(
            self.task, factory, self.condition, self.distractors, self.video_dir,
            wrist_jitter=self.wrist_jitter,
            prepare=start_changes(self.grounding, self.grasp_offset),
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
        job.task, policy_name, job.condition, outcomes, job.distractors, job.wrist_jitter,
        job.grounding or None, job.grasp_offset,
    )  # fmt: skip


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
    grounding: Mapping[str, float] | None = None,
    grasp_offset: float | None = None,
) -> EvalResult:
    """Run a built-in simulator policy (`expert`, `random`) for seeded episodes on `workers`.

    `grounding` and `grasp_offset` as for `evaluate_skill`.
    """
    job = SimEvalJob(
        task, condition, policy, distractors=distractors, video_dir=video_dir,
        wrist_jitter=wrist_jitter, grounding=dict(grounding or {}), grasp_offset=grasp_offset,
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
    grounding: Mapping[str, float] | None = None,
    grasp_offset: float | None = None,
) -> EvalResult:
    """Run the skill's policy for `episodes` seeded simulator episodes; return the counts.

    With `residual` (the default) a skill's residual corrects its BC policy; without, or
    for a skill that has none, the BC policy runs alone. `wrist_jitter` (m) moves the
    wrist camera on its mount (a stress test). `grounding` (`noisy-oracle` parameters)
    starts each episode where a perturbed `locate` would (see `GroundingStart`);
    `grasp_offset` (m) holds the object off its grasp (see `GraspOffsetStart`).
    `workers` says where the episodes run (default: in this process); the result is the
    same wherever they ran.
    """
    with_residual = residual and has_residual(manifest)
    job = SimEvalJob(
        task, condition, skill=manifest.root or Path.cwd(), residual=with_residual,
        distractors=distractors, video_dir=video_dir, wrist_jitter=wrist_jitter,
        grounding=dict(grounding or {}), grasp_offset=grasp_offset,
    )  # fmt: skip
    name = f"skill:{manifest.name}@{manifest.version}{RESIDUAL_SUFFIX if with_residual else ''}"
    return evaluate_in_workers(
        job, name, episodes=episodes, seed=seed, workers=workers, on_episode=on_episode
    )


@dataclass(frozen=True)
class GroundingStart:
    """Start each episode where a `locate` with these grounding errors would leave it.

    An episode starts around the approach point of the true target, as if `locate` had
    been exact. This asks a `noisy-oracle` grounder (seeded with the episode's seed) for
    the target in the scene camera's frame and moves the start by its error, as a
    `reach` to its answer would; a miss fails the episode before its first step, as
    `if found` would end the task. Plain data, so that workers receive it with their job.
    """

    grounding: Mapping[str, float]

    def __call__(self, env: VitalEnv, seed: int) -> dict[str, np.ndarray] | None:
        from vitalskills.perception.config import NoisyOracleOptions
        from vitalskills.perception.noisy_oracle import NoisyOracleGrounder
        from vitalskills.perception.sim_grounder import SimGrounder
        from vitalskills.sim.robot import privileged_scene

        options = NoisyOracleOptions(**{**self.grounding, "seed": seed})
        frame = privileged_scene(env)
        query = env.task.target_labels[0]
        located = NoisyOracleGrounder("noisy-oracle", options).locate(frame, query)
        if not located.found or located.point is None:
            return None
        oracle = SimGrounder().locate(frame, query).point
        assert oracle is not None
        return env.shift_start(located.point - oracle)


@dataclass(frozen=True)
class GraspOffsetStart:
    """Start each episode with the object held off its grasp, as an off-centre grasp leaves it.

    Along the pads and in height, each uniform within `offset` (m), drawn from the
    episode's seed alone (so results do not depend on the workers). Plain data.
    """

    offset: float

    def __call__(self, env: VitalEnv, seed: int) -> dict[str, np.ndarray]:
        along, height = np.random.default_rng([_GRASP_STREAM, seed]).uniform(
            -self.offset, self.offset, size=2
        )
        return env.hold_off_centre(float(along), float(height))


#: Keeps the grasp offsets' draws apart from the simulator's, which use the same seed.
_GRASP_STREAM = 0x6A5


@dataclass(frozen=True)
class StartChanges:
    """Several start changes in order; a change that ends the episode ends it."""

    changes: tuple[Prepare, ...]

    def __call__(self, env: VitalEnv, seed: int) -> dict[str, np.ndarray] | None:
        obs = None
        for change in self.changes:
            obs = change(env, seed)
            if obs is None:
                return None
        return obs


def start_changes(grounding: Mapping[str, float], grasp_offset: float | None) -> Prepare | None:
    """What changes each episode's start: an off-centre grasp, then a perturbed `locate`."""
    changes: list[Prepare] = []
    if grasp_offset is not None:
        changes.append(GraspOffsetStart(grasp_offset))
    if grounding:
        changes.append(GroundingStart(grounding))
    return StartChanges(tuple(changes)) if changes else None


def check_savable(
    distractors: int | None,
    wrist_jitter: float | None,
    grounding: Mapping[str, float] | None = None,
    grasp_offset: float | None = None,
) -> None:
    """Refuse to save a stress test: distractors, a moved wrist camera, grounding errors,
    an off-centre grasp.

    A skill's recorded evaluation is its table (the plain conditions); stress tests are
    reported on their own.
    """
    if wrist_jitter is not None or distractors is not None or grounding or grasp_offset is not None:
        raise UsageError(
            "a stress-test evaluation (`--wrist-jitter`, `--distractors`, "
            "`--grounding-error`, `--grounding-miss`, `--grasp-offset`) is not saved",
            hint="save the plain condition's evaluation, report stress tests on their own",
        )


def save_evaluation(manifest: SkillManifest, result: EvalResult, command: str) -> SkillManifest:
    """Record `result` in the skill's `provenance.evaluation`, under `bc` or `vital`.

    The entry for the result's part (`vital` when the residual ran) and condition is
    replaced; every other entry is kept.

    Raises:
        UsageError: the result is a stress test (see `check_savable`).
    """
    check_savable(result.distractors, result.wrist_jitter, result.grounding, result.grasp_offset)
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
