"""`train residual`: SAC on a residual over a frozen BC skill, in the simulator.

Each step the frozen BC policy acts on the (semantically augmented) wrist image and the
touch reading; the actor sees the BC encoders' features and the BC action and adds a
scaled offset. The reward is the simulator's: progress towards the goal pose plus a
success bonus (docs/simulator.md). By default the critics also see privileged state, the
goal pose seen from the gripper and the insertion depth (`critic_state`): they exist
only in training, and knowing where the goal is lets them learn from a few dozen
episodes what the actor, which sees only the camera and the skin, must find. Periodic
deterministic evaluations on fixed seeds are logged (CSV, JSON, PNG). Checkpoints are
written at episode ends, so a resumed run continues exactly as the uninterrupted one
would.

Seeds: training episode i uses `TRAIN_SEEDS + 100_000 * seed + i`; evaluations use
`EVAL_SEEDS + j`, the same for every evaluation and run, and far from the seeds
`vitalskills eval` tables use.
"""

from __future__ import annotations

import json
import platform
import shutil
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib.metadata import version as package_version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from safetensors.torch import load_file, save_file

from vitalskills.learning.augment import background_pool, composite
from vitalskills.learning.errors import TrainingError
from vitalskills.learning.package import WEIGHTS_FILE
from vitalskills.learning.policy import BCPolicy, load_bc_policy
from vitalskills.learning.replay import EMPTY, ReplayBuffer
from vitalskills.learning.residual import (
    ResidualActor,
    ResidualConfig,
    ResidualPolicy,
    compose_action,
    feature_dim,
    residual_input,
    validated,
)
from vitalskills.learning.residual_log import LogRow, write_log
from vitalskills.learning.residual_package import add_residual, copy_skill
from vitalskills.learning.sac import SAC, SACConfig
from vitalskills.learning.train import replace_folder
from vitalskills.robot import policy_view
from vitalskills.skills.manifest import SkillManifest, load_manifest, sha256_of

if TYPE_CHECKING:  # importing the simulator loads MuJoCo
    from vitalskills.sim.env import VitalEnv

TRAIN_SEEDS = 10_000_000
EVAL_SEEDS = 20_000_000
RUN_DIR = "residual_run"


class RunConfig(BaseModel):
    """How long to train, how often to evaluate and checkpoint, and what the actor sees."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    steps: int = Field(6000, ge=1, description="environment steps")
    seed: int = Field(0, ge=0)
    eval_every: int = Field(1000, ge=1, description="environment steps between evaluations")
    eval_episodes: int = Field(10, ge=1)
    checkpoint_every: int = Field(1000, ge=1, description="steps; written at the next episode end")
    augment: bool = Field(True, description="semantic augmentation of the wrist image")
    backgrounds: int = Field(256, ge=1)
    max_episode_steps: int | None = Field(None, ge=1, description="default: the simulator's")
    reward_scale: float = Field(1.0, gt=0)
    window: int = Field(20, ge=1, description="recent episodes in the training success rate")
    privileged_critic: bool = Field(
        True, description="critics also see the goal pose from the gripper (simulator only)"
    )


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


@dataclass
class _State:
    """What a checkpoint restores besides the networks and the replay buffer."""

    step: int = 0
    episode: int = 0
    returns: list[float] | None = None
    successes: list[bool] | None = None
    critic_losses: list[float] | None = None
    rows: list[dict] | None = None
    seconds: float = 0.0


def _augmenter(
    run: RunConfig, size: int, rng: np.random.Generator
) -> Callable[[dict], dict[str, np.ndarray]]:
    """Return what the policy sees of an observation: augmented, privileged keys removed."""
    pool = background_pool(size, run.backgrounds, run.seed) if run.augment else None

    def view(observation: dict) -> dict[str, np.ndarray]:
        seen = policy_view(observation)
        if pool is not None:
            keep = observation["privileged/wrist_mask"] > 0
            background = pool[int(rng.integers(len(pool)))]
            seen["wrist_rgb"] = composite(observation["wrist_rgb"], keep, background)
        return seen

    return view


def _evaluate(
    task: str, condition: str, bc: BCPolicy, actor: ResidualActor, episodes: int
) -> tuple[int, list[int]]:
    """Run the deterministic residual policy on the fixed evaluation seeds."""
    from vitalskills.sim.evaluate import evaluate

    def factory(env: object, seed: int) -> Callable[[dict], np.ndarray]:
        policy = ResidualPolicy(BCPolicy(bc.model, bc.low, bc.high), actor)
        return lambda observation: policy.act(policy_view(observation))

    result = evaluate(
        task, factory, condition, episodes=episodes, seed=EVAL_SEEDS, policy_name="residual"
    )
    return result.successes, result.seeds


def _optim_tensors(sac: SAC) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors, groups = {}, {}
    for name, optim in sac.optimizers().items():
        state = optim.state_dict()
        groups[name] = state["param_groups"]
        for index, entry in state["state"].items():
            for key, value in entry.items():
                tensors[f"optim.{name}.{index}.{key}"] = torch.as_tensor(value).contiguous()
    return tensors, groups


def _save_checkpoint(
    folder: Path, sac: SAC, buffer: ReplayBuffer, generator: torch.Generator,
    rng: np.random.Generator, state: _State, meta: dict[str, Any],
) -> None:  # fmt: skip
    """Write the run's state into `folder` atomically (a temporary sibling, then rename)."""
    tmp = folder.with_name(f".tmp-{folder.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    tensors, groups = _optim_tensors(sac)
    tensors.update({f"model.{k}": v.contiguous() for k, v in sac.state_dict().items()})
    tensors["rng.torch"] = generator.get_state()
    save_file(tensors, tmp / "sac.safetensors")
    buffer.save(tmp / "replay.safetensors")
    document = {**meta, "state": asdict(state), "param_groups": groups,
                "numpy_rng": rng.bit_generator.state}  # fmt: skip
    (tmp / "state.json").write_text(json.dumps(document), encoding="utf-8")
    replace_folder(tmp, folder)


def _load_checkpoint(
    folder: Path, sac: SAC, buffer: ReplayBuffer, generator: torch.Generator,
    rng: np.random.Generator, meta: dict[str, Any],
) -> _State:  # fmt: skip
    """Restore a checkpoint written by `_save_checkpoint` for the same skill and settings."""
    try:
        document = json.loads((folder / "state.json").read_text(encoding="utf-8"))
        for key, value in meta.items():
            if document.get(key) != value:
                raise ValueError(f"it was trained with a different `{key}`")
        tensors = load_file(folder / "sac.safetensors")
        sac.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        buffer.load(folder / "replay.safetensors")
    except (OSError, RuntimeError, ValueError, KeyError) as error:
        raise TrainingError(
            f"checkpoint `{folder}` cannot be resumed: {str(error).splitlines()[0]}",
            hint="train from scratch into a new --out, or delete the checkpoint",
        ) from None
    for name, optim in sac.optimizers().items():
        entries: dict[int, dict[str, torch.Tensor]] = {}
        prefix = f"optim.{name}."
        for key, value in tensors.items():
            if key.startswith(prefix):
                index, field = key[len(prefix) :].split(".", 1)
                entries.setdefault(int(index), {})[field] = value
        optim.load_state_dict({"state": entries, "param_groups": document["param_groups"][name]})
    generator.set_state(tensors["rng.torch"])
    rng.bit_generator.state = document["numpy_rng"]
    return _State(**document["state"])


def _provenance(
    manifest: SkillManifest, task: str, condition: str, meta: dict[str, Any], state: _State,
    command: str, resumed_from: int,
) -> dict[str, Any]:  # fmt: skip
    rows = state.rows or []
    return {
        "status": "trained",
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "task": task,
        "condition": condition,
        "bc_weights_sha256": meta["bc_sha256"],
        "sac": meta["sac"],
        "run": meta["run"],
        "env_steps": state.step,
        "episodes": state.episode,
        "seconds": round(state.seconds, 1),
        "resumed_from_step": resumed_from,
        "threads": torch.get_num_threads(),
        "device": "cpu",
        "machine": f"{platform.machine()}, {platform.processor() or 'unknown cpu'}",
        "torch": str(torch.__version__),
        "vitalskills": package_version("vitalskills"),
        "evaluation": {
            "seeds": f"{EVAL_SEEDS}..{EVAL_SEEDS + meta['run']['eval_episodes'] - 1}",
            "success_rate_over_steps": [[row["step"], row["eval_success_rate"]] for row in rows],
        },
        "log": f"{RUN_DIR}/log.csv",
    }


#: Size of `critic_state`.
STATE_DIM = 7


def critic_state(env: VitalEnv) -> np.ndarray:
    """The critics' privileged view: the goal pose in the gripper frame, and the depth.

    Position in centimetres, rotation (axis-angle) in tenths of a radian and depth in
    centimetres: the units of the reward's potential.
    """
    from vitalskills.robot.geometry import matrix_to_axis_angle

    relative = np.linalg.inv(env.ee_pose_matrix()) @ env.goal_matrix()
    rotation = matrix_to_axis_angle(relative[:3, :3])
    depth = env.insertion().depth
    return np.concatenate([relative[:3, 3] / 0.01, rotation / 0.1, [depth / 0.01]]).astype(
        np.float32
    )


def make_agent(config: ResidualConfig, sac_config: SACConfig, seed: int, state_dim: int = 0) -> SAC:
    """Build the actor and the SAC agent, initialized from `seed` as a run does."""
    torch.manual_seed(seed)
    return SAC(ResidualActor(config), sac_config, state_dim)


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

    Raises:
        TrainingError: bad options, or a checkpoint of another skill or settings.
    """
    sac_config, run = sac_config or SACConfig(), run or RunConfig()
    skill_dir, out = Path(skill_dir), Path(out or skill_dir)
    manifest = load_manifest(skill_dir)
    bc = load_bc_policy(manifest)
    model = bc.model.requires_grad_(False)
    if bc.config.image_key != "wrist_rgb":
        raise TrainingError(f"the simulator has no camera `{bc.config.image_key}`")
    config = validated(
        ResidualConfig, {**(residual or {}), "feature_dim": feature_dim(model)}, "residual options"
    )
    generator = torch.Generator().manual_seed(run.seed)
    rng = np.random.default_rng(run.seed)
    state_dim = STATE_DIM if run.privileged_critic else 0
    sac = make_agent(config, sac_config, run.seed, state_dim)
    actor = sac.actor
    buffer = ReplayBuffer(sac_config.buffer, config.feature_dim, config.action_dim, state_dim)
    meta = {
        "skill": manifest.name,
        "bc_sha256": sha256_of(skill_dir / WEIGHTS_FILE),
        "task": task,
        "condition": condition,
        "residual": config.model_dump(mode="json"),
        "sac": sac_config.model_dump(mode="json"),
        "run": run.model_dump(mode="json", exclude={"steps", "eval_every", "checkpoint_every"}),
    }
    latest = out / RUN_DIR / "checkpoints" / "latest"
    state = _State(returns=[], successes=[], critic_losses=[], rows=[])
    if resume and latest.is_dir():
        state = _load_checkpoint(latest, sac, buffer, generator, rng, meta)
    resumed_from = state.step
    low, high = bc.low, bc.high
    title = f"{manifest.name} residual RL: {task}, {condition}"
    from vitalskills.sim.env import VitalEnv

    # The camera renders at its own size and the policy resizes, as in BC training.
    env = VitalEnv(task, condition, privileged=run.augment, max_steps=run.max_episode_steps)
    view = _augmenter(run, env.image_size, rng)
    started = time.perf_counter() - state.seconds
    last_checkpoint = state.step
    recent = deque(zip(state.returns, state.successes, strict=True), maxlen=run.window)
    stats: dict[str, float] = {
        "return": float(np.mean([r for r, _ in recent])) if recent else 0.0,
        "success": float(np.mean([s for _, s in recent])) if recent else 0.0,
        "critic_loss": state.critic_losses[-1] if state.critic_losses else float("nan"),
        "alpha": sac.alpha,
    }

    def privileged() -> np.ndarray:
        return critic_state(env) if run.privileged_critic else EMPTY

    def begin() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        observation, _ = env.reset(seed=TRAIN_SEEDS + 100_000 * run.seed + state.episode)
        bc.reset()
        action = bc.act(view(observation))
        return action, residual_input(bc, action), privileged()

    def evaluate_now() -> None:
        successes, _ = _evaluate(task, condition, bc, actor, run.eval_episodes)
        returns = [r for r, _ in recent]
        row = LogRow(
            step=state.step, episodes=state.episode, eval_successes=successes,
            eval_episodes=run.eval_episodes, eval_success_rate=successes / run.eval_episodes,
            train_success_rate=float(np.mean([s for _, s in recent])) if recent else 0.0,
            mean_return=float(np.mean(returns)) if returns else 0.0,
            critic_loss=stats["critic_loss"], alpha=sac.alpha,
            seconds=round(time.perf_counter() - started, 1),
        )  # fmt: skip
        state.rows.append(asdict(row))
        stats["eval"] = row.eval_success_rate
        write_log([LogRow(**r) for r in state.rows], out / RUN_DIR, title)

    try:
        if state.step == 0 and not state.rows:
            evaluate_now()  # the BC policy with a near-zero residual: the starting point
        bc_action, features, critic_view = begin()
        episode_return, in_episode = 0.0, True
        while state.step < run.steps:
            if state.step < sac_config.seed_steps:
                offset = rng.uniform(-1.0, 1.0, config.action_dim).astype(np.float32)
            else:
                with torch.no_grad():
                    offset = actor.sample(torch.from_numpy(features)[None], generator)[0][0].numpy()
            observation, reward, terminated, truncated, _ = env.step(
                compose_action(bc_action, offset, config, low, high)
            )
            next_action = bc.act(view(observation))
            next_features = residual_input(bc, next_action)
            next_critic_view = privileged()
            buffer.add(features, offset, reward * run.reward_scale, next_features,
                       0.0 if terminated else 1.0, critic_view, next_critic_view)  # fmt: skip
            episode_return += reward
            state.step += 1
            if state.step >= sac_config.seed_steps:
                losses = [
                    sac.update_critic(buffer.sample(sac_config.batch_size, rng), generator)
                    for _ in range(sac_config.utd)
                ]
                sac.update_actor(buffer.sample(sac_config.batch_size, rng), generator)
                stats["critic_loss"] = float(np.mean(losses))
                stats["alpha"] = sac.alpha
                state.critic_losses.append(stats["critic_loss"])
            bc_action, features, critic_view = next_action, next_features, next_critic_view
            in_episode = not (terminated or truncated)
            if not in_episode:
                recent.append((episode_return, bool(terminated)))
                state.returns.append(episode_return)
                state.successes.append(bool(terminated))
                state.episode += 1
                stats["return"] = float(np.mean([r for r, _ in recent]))
                stats["success"] = float(np.mean([s for _, s in recent]))
                episode_return = 0.0
            if state.step % run.eval_every == 0 or state.step == run.steps:
                evaluate_now()
            if not in_episode:
                if state.step - last_checkpoint >= run.checkpoint_every:
                    state.seconds = time.perf_counter() - started
                    _save_checkpoint(latest, sac, buffer, generator, rng, state, meta)
                    last_checkpoint = state.step
                if state.step < run.steps:
                    bc_action, features, critic_view = begin()
            if on_step is not None:
                on_step(state.step, stats)
    finally:
        env.close()
    state.seconds = time.perf_counter() - started
    # The run may end mid-episode: a resumed run starts the next episode afresh.
    state.episode += int(in_episode)
    _save_checkpoint(latest, sac, buffer, generator, rng, state, meta)
    if out.resolve() != skill_dir.resolve():
        copy_skill(skill_dir, out)
    provenance = _provenance(manifest, task, condition, meta, state, command, resumed_from)
    packaged = add_residual(out, actor, provenance)
    files = [out / RUN_DIR / name for name in ("log.csv", "log.json", "success.png")]
    return ResidualResult(
        manifest=packaged, actor=actor, agent=sac, buffer=buffer,
        rows=[LogRow(**r) for r in state.rows], critic_losses=state.critic_losses,
        seconds=state.seconds, resumed_from=resumed_from, files=files,
    )  # fmt: skip
