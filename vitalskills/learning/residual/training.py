"""Residual RL: SAC on a residual over a frozen BC policy, step by step, on any `Episodes`.

Each step the frozen BC policy acts on the (semantically augmented) wrist image and the
touch reading; the actor sees the BC encoders' features and the BC action and adds a
scaled offset. Where the episodes happen is an `Episodes` (`episodes.py`): the simulator
in process, whose reward is its own and whose critics may see privileged state, or a
robot's bench through the bridge (`vitalskills.app.robot_residual`), whose reward and
critic state come from the recorded goal and the robot's proprioception. Knowing where
the goal is lets the critics learn from a few dozen episodes what the actor, which sees
only the camera and the skin, must find. Where the episodes can evaluate the policy on
fixed seeds (the simulator), evaluations are logged (CSV, JSON, PNG). Checkpoints are
written at episode ends, so a resumed run continues exactly as the uninterrupted one
would.

Seeds: training episode i uses `TRAIN_SEEDS + 100_000 * seed + i` (the bench draws its
start from the same number); evaluations use `EVAL_SEEDS + j`, the same for every
evaluation and run, and far from the seeds `vitalskills eval` tables use.

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

from vitalskills.learning.augment import background_pool, composite, relight_image
from vitalskills.learning.bc.policy import BCPolicy
from vitalskills.learning.errors import TrainingError
from vitalskills.learning.residual.actor import ResidualActor, compose_action, feature_dim
from vitalskills.learning.residual.checkpoint import RunState, load_checkpoint, save_checkpoint
from vitalskills.learning.residual.config import ResidualConfig, RunConfig, SACConfig, validated
from vitalskills.learning.residual.episodes import Episodes
from vitalskills.learning.residual.log import LogRow, write_log
from vitalskills.learning.residual.policy import ResidualPolicy, residual_input
from vitalskills.learning.residual.replay import EMPTY, ReplayBuffer
from vitalskills.learning.residual.sac import SAC
from vitalskills.robot import Observation, policy_view

if TYPE_CHECKING:
    from types import TracebackType

EVAL_SEEDS = 20_000_000


def residual_policy_factory(
    bc: BCPolicy, actor: ResidualActor
) -> Callable[[object, int], Callable[[dict], np.ndarray]]:
    """A simulator policy factory: a fresh BC + residual policy per episode, on `bc`'s networks."""

    def factory(env: object, seed: int) -> Callable[[dict], np.ndarray]:
        policy = ResidualPolicy(BCPolicy(bc.model, bc.low, bc.high), actor)
        return lambda observation: policy.act(policy_view(observation))

    return factory


#: Evaluates the BC policy with the actor on fixed seeds: (bc, actor, episodes) -> successes.
Evaluator = Callable[[BCPolicy, ResidualActor, int], int]


def make_agent(config: ResidualConfig, sac_config: SACConfig, seed: int, state_dim: int = 0) -> SAC:
    """Build the actor and the SAC agent, initialized from `seed` as a run does."""
    torch.manual_seed(seed)
    return SAC(ResidualActor(config), sac_config, state_dim)


class ResidualTrainer:
    """One residual RL run: the frozen BC policy, the agent, the episodes and the records.

    Building it freezes the BC policy and builds the agent (from the checkpoint in
    `run_dir` when resuming); as a context manager it closes the episodes. `train` is
    the algorithm, and each method it calls is one step of it. Every random draw comes
    from `generator` (torch) or `rng` (numpy), which a checkpoint saves, so a resumed run
    continues exactly as the uninterrupted one would.

    Args:
        bc: the skill's BC policy; its network is frozen.
        episodes: where the episodes happen; the trainer closes it.
        residual: `ResidualConfig` fields; the input size is taken from the BC policy.
        run_dir: where the log (CSV, JSON, plot) and `checkpoints/latest` go.
        setting: what the run trains on (task, condition or robot and goal); a checkpoint
            of another setting is refused.
        skill, bc_sha256: the BC skill's name and weights hash; a checkpoint of another
            skill is refused.
        evaluate: evaluates the policy on fixed seeds (None: the episodes cannot, as on
            a robot; the log then records training success only).
        resume: continue from `run_dir/checkpoints/latest` when it exists.

    Raises:
        TrainingError: the BC policy needs a camera other than the wrist's, or the
            checkpoint was written by another skill or with other settings.
        PolicyConfigError: a bad residual setting.
    """

    def __init__(
        self, bc: BCPolicy, episodes: Episodes, residual: dict[str, Any], sac_config: SACConfig,
        run: RunConfig, run_dir: Path, *, setting: dict[str, Any], skill: str, bc_sha256: str,
        title: str, evaluate: Evaluator | None = None, resume: bool = False,
    ) -> None:  # fmt: skip
        self.bc, self.episodes, self.run_dir = bc, episodes, run_dir
        self.sac_config, self.run, self.evaluator, self.title = sac_config, run, evaluate, title
        model = self.bc.model.requires_grad_(False)
        if self.bc.config.image_key != "wrist_rgb":
            key = self.bc.config.image_key
            raise TrainingError(f"residual RL needs a wrist-camera policy; this one reads `{key}`")
        sees = residual.get("sees", "vision_touch")
        if sees == "touch" and not model.config.uses_tactile:
            raise TrainingError(
                "a residual that sees touch alone needs a BC policy with touch; this one "
                "was trained without it",
                hint="leave out --touch-only, or train the BC policy with touch",
            )
        self.config = validated(
            ResidualConfig, {**residual, "feature_dim": feature_dim(model, sees)},
            "residual options",
        )  # fmt: skip
        self.generator = torch.Generator().manual_seed(run.seed)
        self.rng = np.random.default_rng(run.seed)
        state_dim = episodes.state_dim
        self.sac = make_agent(self.config, sac_config, run.seed, state_dim)
        self.actor = self.sac.actor
        self.buffer = ReplayBuffer(
            sac_config.buffer, self.config.feature_dim, self.config.action_dim, state_dim
        )
        #: What a checkpoint must match to be resumed by this run.
        self.meta = {
            "skill": skill,
            "bc_sha256": bc_sha256,
            **setting,
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
        #: Background images for augmentation, made at the first image's size.
        self.pool: list[np.ndarray] | None = None
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
            "episodes": self.state.episode,
            "interventions": sum(self.state.interventions.values()),
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
        self.episodes.close()

    def view(self, observation: Observation) -> dict[str, np.ndarray]:
        """Return what the policy sees of an observation: augmented, privileged keys removed."""
        seen = policy_view(observation)
        keep = self.episodes.keep(observation) if self.run.augment else None
        if keep is not None:
            image = observation["wrist_rgb"]
            if self.pool is None:
                self.pool = background_pool(image.shape[0], self.run.backgrounds, self.run.seed)
            background = self.pool[int(self.rng.integers(len(self.pool)))]
            if self.run.relight:
                image = relight_image(image, keep, self.generator, self.run.relight)
            seen["wrist_rgb"] = composite(image, keep, background)
        return seen

    def begin_episode(self) -> None:
        """Start the next episode (skipping unreachable starts); the BC policy acts once."""
        while (observation := self.episodes.begin(self.state.episode + self.state.skipped)) is None:
            self.state.skipped += 1
        self.bc.reset()
        self.bc_action = self.bc.act(self.view(observation))
        self.features = residual_input(self.bc, self.bc_action, self.config.sees)
        self.privileged = self.episodes.critic_view(observation)
        self.episode_return, self.in_episode = 0.0, True

    def residual_offset(self) -> np.ndarray:
        """Draw the residual: uniform during the seed steps, then from the actor."""
        if self.state.step < self.sac_config.seed_steps:
            return self.rng.uniform(-1.0, 1.0, self.config.action_dim).astype(np.float32)
        with torch.no_grad():
            features = torch.from_numpy(self.features)[None]
            return self.actor.sample(features, self.generator)[0][0].numpy()

    def collect_step(self) -> bool:
        """Apply the corrected action and store the transition.

        Returns whether the episode ended (success or time limit).
        """
        offset = self.residual_offset()
        action = compose_action(self.bc_action, offset, self.config, self.bc.low, self.bc.high)
        done = self.episodes.step(action)
        next_action = self.bc.act(self.view(done.observation))
        next_features = residual_input(self.bc, next_action, self.config.sees)
        next_privileged = self.episodes.critic_view(done.observation)
        self.buffer.add(self.features, offset, done.reward * self.run.reward_scale,
                        next_features, 0.0 if done.terminated else 1.0, self.privileged,
                        next_privileged)  # fmt: skip
        self.episode_return += done.reward
        self.state.step += 1
        self.bc_action, self.features, self.privileged = next_action, next_features, next_privileged
        self.in_episode = not (done.terminated or done.truncated)
        self.succeeded = done.terminated
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
        """Finish the episode (the arm stops); record its return, outcome and interventions."""
        for kind, count in self.episodes.end().items():
            self.state.interventions[kind] = self.state.interventions.get(kind, 0) + count
        self.recent.append((self.episode_return, self.succeeded))
        self.state.returns.append(self.episode_return)
        self.state.successes.append(self.succeeded)
        self.state.episode += 1
        self.stats["return"] = float(np.mean([r for r, _ in self.recent]))
        self.stats["success"] = float(np.mean([s for _, s in self.recent]))
        self.stats["episodes"] = self.state.episode
        self.stats["interventions"] = sum(self.state.interventions.values())

    def evaluate(self) -> None:
        """Evaluate the deterministic policy on the fixed seeds (when the episodes can);
        add a row to the run's log and rewrite it."""
        run, recent, state = self.run, self.recent, self.state
        successes = (
            None if self.evaluator is None
            else self.evaluator(self.bc, self.actor, run.eval_episodes)
        )  # fmt: skip
        returns = [r for r, _ in recent]
        row = LogRow(
            step=state.step, episodes=state.episode,
            eval_successes=successes,
            eval_episodes=run.eval_episodes if successes is not None else 0,
            eval_success_rate=None if successes is None else successes / run.eval_episodes,
            train_success_rate=float(np.mean([s for _, s in recent])) if recent else 0.0,
            mean_return=float(np.mean(returns)) if returns else 0.0,
            critic_loss=self.stats["critic_loss"], alpha=self.sac.alpha,
            seconds=round(time.perf_counter() - self.started, 1),
            interventions=sum(state.interventions.values()), skipped=state.skipped,
        )  # fmt: skip
        state.rows.append(asdict(row))
        if row.eval_success_rate is not None:
            self.stats["eval"] = row.eval_success_rate
        write_log([LogRow(**r) for r in state.rows], self.run_dir, self.title)

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
                (`return`, `success`, `critic_loss`, `alpha`, `episodes`, `interventions`,
                and `eval` after evaluations). It may block (a pause) or raise (a stop):
                it is called between steps, and the last checkpoint is the start of an
                episode.
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
        """Write the final checkpoint (after `train`; the episodes may be closed)."""
        # The run may end mid-episode: a resumed run starts the next episode afresh.
        self.state.episode += int(self.in_episode)
        self.checkpoint()
