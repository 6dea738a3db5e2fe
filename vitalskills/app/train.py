"""`train bc` and `train residual` end to end: skill folders out, with their provenance.

`train_skill` takes a dataset in. Manifest fields the training does not decide (action
limits, control rate, approach offset, ...) come from a template: a given `skill.yaml`,
else the library's skill of the same name (the shipped, declared-but-untrained
manifests), else defaults derived from the dataset and, for simulator tasks, the task's
approach offset. A simulator task that is done upright also gives its skill zero roll
and pitch limits.

`train_residual` takes a trained BC skill folder in, runs residual RL in the simulator
(`learning.residual.training`), and writes the skill again with its residual; the run's
log and checkpoints stay beside it, in `residual_run/`.
"""

from __future__ import annotations

import hashlib
import platform
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version as package_version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from vitalskills.app.episode_pool import EpisodePool, Workers
from vitalskills.errors import VitalskillsError
from vitalskills.learning.bc.config import BCConfig, TrainConfig
from vitalskills.learning.bc.policy import BCPolicy
from vitalskills.learning.bc.signals import Signals, pose_source
from vitalskills.learning.bc.training import TrainResult, train_bc
from vitalskills.learning.dataset import DemoDataset
from vitalskills.learning.policies import load_bc_policy
from vitalskills.learning.residual.actor import ResidualActor
from vitalskills.learning.residual.config import ResidualConfig, RunConfig, SACConfig
from vitalskills.learning.residual.episodes import SimEpisodes
from vitalskills.learning.residual.log import LogRow
from vitalskills.learning.residual.replay import ReplayBuffer
from vitalskills.learning.residual.sac import SAC
from vitalskills.learning.residual.training import (
    EVAL_SEEDS,
    ResidualTrainer,
    residual_policy_factory,
)
from vitalskills.learning.skill_folder import POLICY_WEIGHTS, add_residual, copy_skill, write_skill
from vitalskills.skills.hashcache import sha256_of
from vitalskills.skills.manifest import SkillManifest, load_manifest

if TYPE_CHECKING:  # importing the simulator loads MuJoCo
    from vitalskills.sim.rollouts import Rollouts
    from vitalskills.sim.tasks import TaskSpec

#: The residual run's record and checkpoints, inside the skill folder (not packaged).
RUN_DIR = "residual_run"

TEMPLATE_FIELDS = (
    "name", "version", "description", "action", "control_hz", "max_steps",
    "approach_offset", "requires",
)  # fmt: skip


def skill_template(name: str, dataset: DemoDataset, manifest: Path | None) -> dict[str, Any]:
    """Return the manifest fields a trained skill inherits (see the module docstring)."""
    found: SkillManifest | None = None
    if manifest is not None:
        found = load_manifest(manifest.parent if manifest.is_file() else manifest)
    else:
        from vitalskills.skills import default_library

        try:
            found = default_library().get(name)
        except VitalskillsError:
            found = None
    # Simulator demos start where the task's reaching step leaves the gripper, so that
    # pose, not the template's, is the approach the policy was trained from.
    spec = _sim_task(dataset.info.task)
    sim_offset = None if spec is None else spec.approach_offset().astype(float).tolist()
    if found is not None:
        data = found.model_dump(mode="json", include=set(TEMPLATE_FIELDS))
        if sim_offset is not None:
            data["approach_offset"] = sim_offset
    else:
        actions = np.concatenate([episode.frames["action"] for episode in dataset])
        bound = np.abs(actions).max(axis=0).astype(float).tolist()
        data = {
            "version": "0.1.0",
            "description": f"{dataset.info.task}, learned by behaviour cloning",
            "action": {"frame": "ee", "dim": len(bound), "low": [-b for b in bound], "high": bound},
            "control_hz": dataset.info.control_hz,
            "max_steps": 150,
            "approach_offset": [0.0, 0.0, 0.05] if sim_offset is None else sim_offset,
        }
    if spec is not None and spec.upright:
        # An upright task's skill never tilts the tool (docs/simulator.md#tasks).
        for side in ("low", "high"):
            data["action"][side][3:5] = [0.0, 0.0]
    return {**data, "name": name}


def _sim_task(task: str) -> TaskSpec | None:
    from vitalskills.sim.tasks import TASKS

    return TASKS.get(task)


def machine_record(device: str = "cpu") -> dict[str, Any]:
    """Return where a training ran, for a skill's provenance: threads, device, versions."""
    if torch.device(device).type == "cuda":
        device = f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
    return {
        "threads": torch.get_num_threads(),
        "device": device,
        "machine": f"{platform.machine()}, {platform.processor() or 'unknown cpu'}",
        "torch": str(torch.__version__),
        "vitalskills": package_version("vitalskills"),
    }


def dataset_fingerprint(dataset: DemoDataset) -> str:
    """Return a sha256 over the dataset's description and every episode file."""
    digest = hashlib.sha256((dataset.root / "meta" / "info.json").read_bytes())
    for path in dataset.paths:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def train_skill(
    data: Path,
    out: Path,
    config: BCConfig,
    train: TrainConfig,
    *,
    name: str | None = None,
    manifest: Path | None = None,
    resume: bool = False,
    command: str = "",
    on_step: Callable[[int, float], None] | None = None,
    device: str = "cpu",
    on_start: Callable[[Signals], None] | None = None,
) -> tuple[SkillManifest, TrainResult]:
    """Train on the dataset at `data` and package the skill into `out`.

    Checkpoints go to `out/checkpoints/latest` (not part of the packaged skill). A pose
    head without targets in the dataset (no end-effector pose, no successful episode, or
    with `train.privileged` no simulator target pose) is left out. `on_start` is called
    with what the run reads before training starts; the skill's provenance records it.
    """
    dataset = DemoDataset(data)
    if config.pose_head and pose_source(dataset, train.privileged)[0] is None:
        config = config.model_copy(update={"pose_head": False})
    name = name or dataset.info.task
    template = skill_template(name, dataset, manifest)
    result = train_bc(
        dataset, config, train, out / "checkpoints", resume=resume, on_step=on_step,
        device=device, on_start=on_start,
    )  # fmt: skip
    metas = dataset.metas()
    model = result.model
    stats = {
        key: value.tolist()
        for key, value in model.state_dict().items()
        if key.endswith(("_mean", "_std"))
    }
    tail = result.losses[-min(50, len(result.losses)) :]
    provenance = {
        "status": "trained",
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "dataset": {
            "path": str(data),
            "task": dataset.info.task,
            "condition": dataset.info.condition,
            "source": dataset.info.source,
            "robot": dataset.info.robot.get("name"),
            "episodes": len(metas),
            "frames": sum(meta.length for meta in metas),
            "seeds": [meta.seed for meta in metas],
            "sha256": dataset_fingerprint(dataset),
        },
        "training": {
            **train.model_dump(mode="json"),
            "tactile": config.uses_tactile,
            "final_loss": float(np.mean(tail)),
            "seconds": round(result.seconds, 1),
            "resumed_from_step": result.resumed_from,
            "frames_trained": result.frames,
            "pauses_left_out": result.paused,
            "signals": result.signals.record() if result.signals else None,
            **machine_record(result.device),
        },
        "policy": config.model_dump(mode="json"),
        "normalization": stats,
        "evaluation": {},
    }
    return write_skill(out, model, template, provenance), result


@dataclass
class ResidualResult:
    """A finished run: the packaged manifest, the actor, the record and the timings."""

    manifest: SkillManifest
    actor: ResidualActor
    agent: SAC
    buffer: ReplayBuffer
    rows: list[LogRow]
    critic_losses: list[float]
    seconds: float
    resumed_from: int
    files: list[Path]


def residual_provenance(trainer: ResidualTrainer, command: str) -> dict[str, Any]:
    """Return the run's record for `provenance.residual` in the packaged skill's manifest."""
    meta, state = trainer.meta, trainer.state
    rows = state.rows
    return {
        "status": "trained",
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "task": meta["task"],
        "condition": meta["condition"],
        "bc_weights_sha256": meta["bc_sha256"],
        "sac": meta["sac"],
        "run": meta["run"],
        "env_steps": state.step,
        "episodes": state.episode,
        "seconds": round(state.seconds, 1),
        "resumed_from_step": trainer.resumed_from,
        **machine_record(),
        "evaluation": {
            "seeds": f"{EVAL_SEEDS}..{EVAL_SEEDS + meta['run']['eval_episodes'] - 1}",
            "success_rate_over_steps": [[row["step"], row["eval_success_rate"]] for row in rows],
        },
        "log": f"{RUN_DIR}/log.csv",
    }


def load_bc_skill(skill_dir: Path) -> tuple[BCPolicy, SkillManifest, str]:
    """Load a skill folder's BC policy for residual RL: the policy, manifest, weights hash."""
    manifest = load_manifest(skill_dir)
    return load_bc_policy(manifest), manifest, sha256_of(skill_dir / POLICY_WEIGHTS)


@dataclass(frozen=True)
class ResidualEvalJob:
    """Builds one worker's evaluation of a residual being trained: the skill's BC policy
    from its folder and the actor from a copy of its current weights (plain arrays)."""

    skill: Path
    task: str
    condition: str
    actor_config: dict[str, Any]
    actor_state: dict[str, np.ndarray]

    def __call__(self) -> Rollouts:
        from vitalskills.sim.rollouts import Rollouts

        bc = load_bc_policy(load_manifest(self.skill))
        actor = ResidualActor(ResidualConfig.model_validate(self.actor_config))
        actor.load_state_dict({k: torch.from_numpy(v) for k, v in self.actor_state.items()})
        factory = residual_policy_factory(bc, actor.eval())
        return Rollouts(self.task, factory, self.condition, policy_name="residual")


@dataclass
class PoolEvaluator:
    """The trainer's evaluator: the policy on the fixed evaluation seeds, run on `pool`."""

    pool: EpisodePool
    skill: Path
    task: str
    condition: str

    def __call__(self, bc: BCPolicy, actor: ResidualActor, episodes: int) -> int:
        """Evaluate the BC skill corrected by `actor`; return the successes."""
        state = {k: v.detach().cpu().numpy().copy() for k, v in actor.state_dict().items()}
        job = ResidualEvalJob(
            self.skill, self.task, self.condition, actor.config.model_dump(mode="json"), state
        )
        seeds = range(EVAL_SEEDS, EVAL_SEEDS + episodes)
        return sum(done.result.success for done in self.pool.map(job, seeds))


def train_residual(
    skill_dir: Path,
    task: str,
    condition: str = "canonical",
    *,
    residual: dict[str, Any] | None = None,
    sac_config: SACConfig | None = None,
    run: RunConfig | None = None,
    out: Path | None = None,
    resume: bool = False,
    command: str = "",
    on_step: Callable[[int, dict[str, float]], None] | None = None,
    workers: Workers = Workers(),
) -> ResidualResult:
    """Train a residual on the BC skill in `skill_dir` and package it into `out`.

    Args:
        residual: `ResidualConfig` fields (dims, offset_scale, ...); the input size is
            taken from the BC policy.
        out: the skill folder to write (default: `skill_dir` itself); the run's record
            and checkpoints go to `out/residual_run/`.
        resume: continue from `out/residual_run/checkpoints/latest` when it exists.
        on_step: called after every environment step with the step and running stats
            (`return`, `success`, `critic_loss`, `alpha`, and `eval` after evaluations).
        workers: where the evaluations' episodes run (default: in this process); the
            successes are the same wherever they run.

    Raises:
        TrainingError: bad options, or a checkpoint of another skill or settings.
    """
    sac_config, run = sac_config or SACConfig(), run or RunConfig()
    skill_dir, out = Path(skill_dir), Path(out or skill_dir)
    bc, manifest, bc_sha256 = load_bc_skill(skill_dir)
    if workers.ray is None:
        workers = Workers(min(workers.resolved_count(), run.eval_episodes))
    episodes = SimEpisodes(task, condition, run)
    with EpisodePool(workers) as pool:
        try:
            trainer = ResidualTrainer(
                bc, episodes, residual or {}, sac_config, run, out / RUN_DIR,
                setting={"task": task, "condition": condition}, skill=manifest.name,
                bc_sha256=bc_sha256, title=f"{manifest.name} residual RL: {task}, {condition}",
                evaluate=PoolEvaluator(pool, skill_dir, task, condition), resume=resume,
            )  # fmt: skip
        except BaseException:
            episodes.close()
            raise
        with trainer:
            trainer.train(on_step)
    trainer.finish()
    if out.resolve() != skill_dir.resolve():
        copy_skill(skill_dir, out)
    packaged = add_residual(out, trainer.actor, residual_provenance(trainer, command))
    state = trainer.state
    return ResidualResult(
        manifest=packaged, actor=trainer.actor, agent=trainer.sac, buffer=trainer.buffer,
        rows=[LogRow(**row) for row in state.rows], critic_losses=state.critic_losses,
        seconds=state.seconds, resumed_from=trainer.resumed_from,
        files=[out / RUN_DIR / name for name in ("log.csv", "log.json", "success.png")],
    )  # fmt: skip
