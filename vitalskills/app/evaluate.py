"""Evaluate a trained skill in the simulator and record the result in its manifest.

The simulator's evaluation loop is reused with a policy factory: one `BCPolicy` per
episode, loaded once and reset per episode, fed only what a real robot could give
(privileged keys and the success flag are removed). The wrist camera renders at its
own size and the policy resizes it, exactly as training resized the demonstrations.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vitalskills.errors import UsageError
from vitalskills.learning.policies import BCPolicy, ResidualPolicy
from vitalskills.learning.skill_folder import (
    has_residual,
    load_residual,
    load_skill_model,
    update_provenance,
)
from vitalskills.robot import policy_view
from vitalskills.skills.manifest import SkillManifest

if TYPE_CHECKING:  # importing the simulator loads MuJoCo
    from vitalskills.sim.env import VitalEnv
    from vitalskills.sim.rollouts import EvalResult, Prepare

#: Ends the policy name of an evaluation in which the skill's residual ran.
RESIDUAL_SUFFIX = "+residual"


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
    grounding: Mapping[str, float] | None = None,
) -> EvalResult:
    """Run the skill's policy for `episodes` seeded simulator episodes; return the counts.

    With `residual` (the default) a skill's residual corrects its BC policy; without, or
    for a skill that has none, the BC policy runs alone. `wrist_jitter` (m) moves the
    wrist camera on its mount (a stress test). `grounding` (`noisy-oracle` parameters)
    starts each episode where a perturbed `locate` would (see `grounding_start`).
    """
    from vitalskills.sim.rollouts import evaluate

    model = load_skill_model(manifest)
    low, high = np.asarray(manifest.action.low), np.asarray(manifest.action.high)
    actor = load_residual(manifest, model) if residual and has_residual(manifest) else None

    def factory(env: object, episode_seed: int) -> Callable[[dict], np.ndarray]:
        bc = BCPolicy(model, low, high)
        policy = bc if actor is None else ResidualPolicy(bc, actor)
        return lambda observation: policy.act(policy_view(observation))

    return evaluate(
        task,
        factory,
        condition,
        episodes=episodes,
        seed=seed,
        distractors=distractors,
        video_dir=video_dir,
        on_episode=on_episode,
        wrist_jitter=wrist_jitter,
        prepare=grounding_start(grounding) if grounding else None,
        grounding=dict(grounding) if grounding else None,
        policy_name=f"skill:{manifest.name}@{manifest.version}{RESIDUAL_SUFFIX if actor else ''}",
    )


def grounding_start(grounding: Mapping[str, float]) -> Prepare:
    """Start each episode where a `locate` with these grounding errors would leave it.

    An episode starts around the approach point of the true target, as if `locate` had
    been exact. This asks a `noisy-oracle` grounder (seeded with the episode's seed) for
    the target in the scene camera's frame and moves the start by its error, as a
    `reach` to its answer would; a miss fails the episode before its first step, as
    `if found` would end the task.
    """
    from vitalskills.perception.config import NoisyOracleOptions
    from vitalskills.perception.noisy_oracle import NoisyOracleGrounder
    from vitalskills.perception.sim_grounder import SimGrounder
    from vitalskills.sim.robot import privileged_scene

    def prepare(env: VitalEnv, seed: int) -> dict[str, np.ndarray] | None:
        options = NoisyOracleOptions(**{**grounding, "seed": seed})
        frame = privileged_scene(env)
        query = env.task.target_labels[0]
        located = NoisyOracleGrounder("noisy-oracle", options).locate(frame, query)
        if not located.found or located.point is None:
            return None
        oracle = SimGrounder().locate(frame, query).point
        assert oracle is not None
        return env.shift_start(located.point - oracle)

    return prepare


def check_savable(
    distractors: int | None,
    wrist_jitter: float | None,
    grounding: Mapping[str, float] | None = None,
) -> None:
    """Refuse to save a stress test: distractors, a moved wrist camera, grounding errors.

    A skill's recorded evaluation is its table (the plain conditions); stress tests are
    reported on their own.
    """
    if wrist_jitter is not None or distractors is not None or grounding:
        raise UsageError(
            "a stress-test evaluation (`--wrist-jitter`, `--distractors`, "
            "`--grounding-error`, `--grounding-miss`) is not saved",
            hint="save the plain condition's evaluation, report stress tests on their own",
        )


def save_evaluation(manifest: SkillManifest, result: EvalResult, command: str) -> SkillManifest:
    """Record `result` in the skill's `provenance.evaluation`, under `bc` or `vital`.

    The entry for the result's part (`vital` when the residual ran) and condition is
    replaced; every other entry is kept.

    Raises:
        UsageError: the result is a stress test (see `check_savable`).
    """
    check_savable(result.distractors, result.wrist_jitter, result.grounding)
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
