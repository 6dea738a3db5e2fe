"""Residual RL: SAC on a residual over a frozen BC policy, in the simulator, step by step.

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

`ResidualTrainer` is the run; reading the BC skill folder and packaging the trained actor
into one is the `train residual` workflow (`vitalskills.app.train.train_residual`).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from vitalskills.learning.augment import background_pool, composite
from vitalskills.learning.bc.policy import BCPolicy
from vitalskills.learning.errors import TrainingError
from vitalskills.learning.residual.actor import ResidualActor, compose_action, feature_dim
from vitalskills.learning.residual.checkpoint import RunState, load_checkpoint, save_checkpoint
from vitalskills.learning.residual.config import ResidualConfig, RunConfig, SACConfig, validated
from vitalskills.learning.residual.log import LogRow, write_log
from vitalskills.learning.residual.policy import ResidualPolicy, residual_input
from vitalskills.learning.residual.replay import EMPTY, ReplayBuffer
from vitalskills.learning.residual.sac import SAC
from vitalskills.robot import policy_view

if TYPE_CHECKING:  # importing the simulator loads MuJoCo
    from types import TracebackType

    from vitalskills.sim.env import VitalEnv

TRAIN_SEEDS = 10_000_000
EVAL_SEEDS = 20_000_000


def _evaluate(
    task: str, condition: str, bc: BCPolicy, actor: ResidualActor, episodes: int
) -> tuple[int, list[int]]:
    """Run the deterministic residual policy on the fixed evaluation seeds."""
    from vitalskills.sim.rollouts import evaluate

    def factory(env: object, seed: int) -> Callable[[dict], np.ndarray]:
        policy = ResidualPolicy(BCPolicy(bc.model, bc.low, bc.high), actor)
        return lambda observation: policy.act(policy_view(observation))

    result = evaluate(
        task, factory, condition, episodes=episodes, seed=EVAL_SEEDS, policy_name="residual"
    )
    return result.successes, result.seeds


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


class ResidualTrainer:
    """One residual RL run: the frozen BC policy, the agent, the simulator and the records.

    Building it freezes the BC policy, builds the agent (from the checkpoint in
    `run_dir` when resuming) and opens the simulator; as a context manager it closes
    the simulator. `train` is the algorithm, and each method it calls is one step of
    it. Every random draw comes from `generator` (torch) or `rng` (numpy), which a
    checkpoint saves, so a resumed run continues exactly as the uninterrupted one would.

    Args:
        bc: the skill's BC policy; its network is frozen.
        residual: `ResidualConfig` fields; the input size is taken from the BC policy.
        run_dir: where the log (CSV, JSON, plot) and `checkpoints/latest` go.
        skill, bc_sha256: the BC skill's name and weights hash; a checkpoint of another
            skill is refused.
        resume: continue from `run_dir/checkpoints/latest` when it exists.

    Raises:
        TrainingError: the BC policy needs a camera the simulator lacks, or the
            checkpoint was written by another skill or with other settings.
        PolicyConfigError: a bad residual setting.
    """

    def __init__(
        self, bc: BCPolicy, task: str, condition: str, residual: dict[str, Any],
        sac_config: SACConfig, run: RunConfig, run_dir: Path, *, skill: str, bc_sha256: str,
        resume: bool = False,
    ) -> None:  # fmt: skip
        self.bc, self.task, self.condition, self.run_dir = bc, task, condition, run_dir
        self.sac_config, self.run = sac_config, run
        model = self.bc.model.requires_grad_(False)
        if self.bc.config.image_key != "wrist_rgb":
            raise TrainingError(f"the simulator has no camera `{self.bc.config.image_key}`")
        self.config = validated(
            ResidualConfig, {**residual, "feature_dim": feature_dim(model)}, "residual options"
        )
        self.generator = torch.Generator().manual_seed(run.seed)
        self.rng = np.random.default_rng(run.seed)
        state_dim = STATE_DIM if run.privileged_critic else 0
        self.sac = make_agent(self.config, sac_config, run.seed, state_dim)
        self.actor = self.sac.actor
        self.buffer = ReplayBuffer(
            sac_config.buffer, self.config.feature_dim, self.config.action_dim, state_dim
        )
        #: What a checkpoint must match to be resumed by this run.
        self.meta = {
            "skill": skill,
            "bc_sha256": bc_sha256,
            "task": task,
            "condition": condition,
            "residual": self.config.model_dump(mode="json"),
            "sac": sac_config.model_dump(mode="json"),
            "run": run.model_dump(mode="json", exclude={"steps", "eval_every", "checkpoint_every"}),
        }
        self.latest = run_dir / "checkpoints" / "latest"
        self.state = RunState()
        if resume and self.latest.is_dir():
            self.state = load_checkpoint(
                self.latest, self.sac, self.buffer, self.generator, self.rng, self.meta
            )
        self.resumed_from = self.state.step
        self.title = f"{skill} residual RL: {task}, {condition}"
        from vitalskills.sim.env import VitalEnv

        # The camera renders at its own size and the policy resizes, as in BC training.
        self.env = VitalEnv(
            task, condition, privileged=run.augment, max_steps=run.max_episode_steps
        )
        self.pool = (
            background_pool(self.env.image_size, run.backgrounds, run.seed) if run.augment else None
        )
        self.started = time.perf_counter() - self.state.seconds
        self.last_checkpoint = self.state.step
        self.recent = deque(
            zip(self.state.returns, self.state.successes, strict=True), maxlen=run.window
        )
        recent, losses = self.recent, self.state.critic_losses
        #: Running figures for the progress display (`on_step`).
        self.stats: dict[str, float] = {
            "return": float(np.mean([r for r, _ in recent])) if recent else 0.0,
            "success": float(np.mean([s for _, s in recent])) if recent else 0.0,
            "critic_loss": losses[-1] if losses else float("nan"),
            "alpha": self.sac.alpha,
        }
        # The current step's inputs: the BC action, the actor's input, the critics' view.
        self.bc_action, self.features, self.privileged = EMPTY, EMPTY, EMPTY
        self.episode_return, self.in_episode, self.succeeded = 0.0, True, False

    def __enter__(self) -> ResidualTrainer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:  # fmt: skip
        self.env.close()

    def view(self, observation: dict) -> dict[str, np.ndarray]:
        """Return what the policy sees of an observation: augmented, privileged keys removed."""
        seen = policy_view(observation)
        if self.pool is not None:
            keep = observation["privileged/wrist_mask"] > 0
            background = self.pool[int(self.rng.integers(len(self.pool)))]
            seen["wrist_rgb"] = composite(observation["wrist_rgb"], keep, background)
        return seen

    def critic_view(self) -> np.ndarray:
        """Return the critics' privileged state now (empty without a privileged critic)."""
        return critic_state(self.env) if self.run.privileged_critic else EMPTY

    def begin_episode(self) -> None:
        """Reset the simulator on the next training seed and let the BC policy act once."""
        seed = TRAIN_SEEDS + 100_000 * self.run.seed + self.state.episode
        observation, _ = self.env.reset(seed=seed)
        self.bc.reset()
        self.bc_action = self.bc.act(self.view(observation))
        self.features = residual_input(self.bc, self.bc_action)
        self.privileged = self.critic_view()
        self.episode_return, self.in_episode = 0.0, True

    def residual_offset(self) -> np.ndarray:
        """Draw the residual: uniform during the seed steps, then from the actor."""
        if self.state.step < self.sac_config.seed_steps:
            return self.rng.uniform(-1.0, 1.0, self.config.action_dim).astype(np.float32)
        with torch.no_grad():
            features = torch.from_numpy(self.features)[None]
            return self.actor.sample(features, self.generator)[0][0].numpy()

    def collect_step(self) -> bool:
        """Step the simulator with the corrected action and store the transition.

        Returns whether the episode ended (success or time limit).
        """
        offset = self.residual_offset()
        action = compose_action(self.bc_action, offset, self.config, self.bc.low, self.bc.high)
        observation, reward, terminated, truncated, _ = self.env.step(action)
        next_action = self.bc.act(self.view(observation))
        next_features = residual_input(self.bc, next_action)
        next_privileged = self.critic_view()
        self.buffer.add(self.features, offset, reward * self.run.reward_scale, next_features,
                        0.0 if terminated else 1.0, self.privileged, next_privileged)  # fmt: skip
        self.episode_return += reward
        self.state.step += 1
        self.bc_action, self.features, self.privileged = next_action, next_features, next_privileged
        self.in_episode, self.succeeded = not (terminated or truncated), bool(terminated)
        return not self.in_episode

    def update(self) -> None:
        """Run `utd` critic updates and one actor and temperature update on replayed batches."""
        batch_size = self.sac_config.batch_size
        losses = [
            self.sac.update_critic(self.buffer.sample(batch_size, self.rng), self.generator)
            for _ in range(self.sac_config.utd)
        ]
        self.sac.update_actor(self.buffer.sample(batch_size, self.rng), self.generator)
        self.stats["critic_loss"] = float(np.mean(losses))
        self.stats["alpha"] = self.sac.alpha
        self.state.critic_losses.append(self.stats["critic_loss"])

    def end_episode(self) -> None:
        """Record the finished episode's return and outcome."""
        self.recent.append((self.episode_return, self.succeeded))
        self.state.returns.append(self.episode_return)
        self.state.successes.append(self.succeeded)
        self.state.episode += 1
        self.stats["return"] = float(np.mean([r for r, _ in self.recent]))
        self.stats["success"] = float(np.mean([s for _, s in self.recent]))

    def evaluate(self) -> None:
        """Evaluate the deterministic policy on the fixed seeds and rewrite the run's log."""
        run, recent = self.run, self.recent
        successes, _ = _evaluate(self.task, self.condition, self.bc, self.actor, run.eval_episodes)
        returns = [r for r, _ in recent]
        row = LogRow(
            step=self.state.step, episodes=self.state.episode, eval_successes=successes,
            eval_episodes=run.eval_episodes, eval_success_rate=successes / run.eval_episodes,
            train_success_rate=float(np.mean([s for _, s in recent])) if recent else 0.0,
            mean_return=float(np.mean(returns)) if returns else 0.0,
            critic_loss=self.stats["critic_loss"], alpha=self.sac.alpha,
            seconds=round(time.perf_counter() - self.started, 1),
        )  # fmt: skip
        self.state.rows.append(asdict(row))
        self.stats["eval"] = row.eval_success_rate
        write_log([LogRow(**r) for r in self.state.rows], self.run_dir, self.title)

    def checkpoint(self) -> None:
        """Save everything a resumed run needs into `run_dir/checkpoints/latest`."""
        self.state.seconds = time.perf_counter() - self.started
        save_checkpoint(
            self.latest, self.sac, self.buffer, self.generator, self.rng, self.state, self.meta
        )
        self.last_checkpoint = self.state.step

    def train(self, on_step: Callable[[int, dict[str, float]], None] | None = None) -> None:
        """Run until `run.steps` environment steps: act, learn, evaluate, checkpoint.

        Args:
            on_step: called after every environment step with the step and running stats
                (`return`, `success`, `critic_loss`, `alpha`, and `eval` after evaluations).
        """
        state, run = self.state, self.run
        if state.step == 0 and not state.rows:
            self.evaluate()  # the BC policy with a near-zero residual: the starting point
        self.begin_episode()
        while state.step < run.steps:
            episode_over = self.collect_step()
            if state.step >= self.sac_config.seed_steps:
                self.update()
            if episode_over:
                self.end_episode()
            if state.step % run.eval_every == 0 or state.step == run.steps:
                self.evaluate()
            if episode_over:
                if state.step - self.last_checkpoint >= run.checkpoint_every:
                    self.checkpoint()
                if state.step < run.steps:
                    self.begin_episode()
            if on_step is not None:
                on_step(state.step, self.stats)

    def finish(self) -> None:
        """Write the final checkpoint (after `train`, with the simulator closed)."""
        # The run may end mid-episode: a resumed run starts the next episode afresh.
        self.state.episode += int(self.in_episode)
        self.checkpoint()
