"""Residual RL on a robot's bench: `vitalskills train residual --robot ADDR --skill --goal`.

The paper trains its residual on the real arm: the target fixed on a bench, a random
start near it before every episode, a dense reward toward a recorded goal pose. Here the
episodes are `BenchEpisodes` (`vitalskills.app.bench`: back out along the goal's axis,
reset, move to a random start in the skill's local region, never forced) wrapped as the
trainer's `Episodes` (`BenchTraining`):

- the reward is the simulator's form measured against the goal file: one unit per
  centimetre (or tenth of a radian) of progress toward the goal pose, plus 10 on success
  (the end effector within the goal's tolerance, and a detector's signal if given);
- the critics see the goal from the gripper (`goal_state`), computed from the robot's
  own end-effector pose and the goal file: what the robot knows, never simulator state;
- semantic augmentation keys out the green (or blue) screen in every wrist image, with
  the chroma settings the BC policy's masks were made with (`vitalskills masks`).

A checkpoint is written at every episode's end, so a run stopped at any moment (Ctrl-C,
a crash, a power cut) resumes from the start of the episode it was in, exactly. A key
pauses: the arm stops and waits until the key comes again. Interventions are counted:
operator requests through the bridge during an episode (re-seating a dropped object,
moving the target), and a key a person presses after stepping in by hand.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vitalskills.app.bench import SAFETY_STOP, BenchEpisodes, BenchSettings, SuccessDetector
from vitalskills.app.train import RUN_DIR, load_bc_skill, machine_record
from vitalskills.errors import UsageError
from vitalskills.learning.masks import ChromaKey
from vitalskills.learning.residual.config import RunConfig, SACConfig
from vitalskills.learning.residual.episodes import STATE_DIM, TRAIN_SEEDS, Transition, goal_state
from vitalskills.learning.residual.replay import EMPTY
from vitalskills.learning.residual.training import ResidualTrainer
from vitalskills.learning.skill_folder import add_residual, copy_skill
from vitalskills.robot import Observation, Robot, RobotError
from vitalskills.robot.geometry import ee_pose
from vitalskills.robot.reward import SUCCESS_BONUS, potential
from vitalskills.skills.manifest import SkillManifest
from vitalskills.teleop.goal import GoalFile

log = logging.getLogger("vitalskills.train")

#: The key that pauses and resumes training.
PAUSE_KEY = "p"
#: The key a person presses after stepping in by hand (an intervention, counted).
INTERVENTION_KEY = "i"
#: How a by-hand intervention is counted.
BY_HAND = "by_hand"


def goal_potential(goal: GoalFile, observation: Observation) -> float:
    """The reward's potential (`vitalskills.robot.reward`) at the goal file's error."""
    error = goal.error(observation)
    return potential(error.distance, error.angle)


def goal_critic_state(goal: GoalFile, observation: Observation) -> np.ndarray:
    """The critics' state from proprioception: the goal seen from the gripper, and the
    depth still to go along the goal's axis (0 once at or past the goal)."""
    position, rotation = ee_pose(observation)
    goal_position, goal_rotation = goal.pose()
    relative = np.eye(4)
    relative[:3, :3] = rotation.T @ goal_rotation
    relative[:3, 3] = rotation.T @ (goal_position - position)
    to_go = max(float((position - goal_position) @ goal.backout_axis()), 0.0)
    return goal_state(relative, to_go)


def chroma_from_skill(provenance: dict[str, Any]) -> ChromaKey | None:
    """The chroma key the BC policy's training masks were made with (None: not chroma)."""
    signals = (provenance.get("training") or {}).get("signals") or {}
    method = ((signals.get("masks") or {}).get("method")) or {}
    return ChromaKey.from_description(method) if method.get("method") == "chroma" else None


class BenchTraining:
    """Bench episodes as residual RL's `Episodes`: reward and critic state from the goal.

    Args:
        bench: the bench procedure on the robot.
        run_seed: the run's seed; episode i starts at the start drawn with
            `TRAIN_SEEDS + 100_000 * run_seed + i`.
        chroma: keys out the screen for augmentation (None: no masks).
        goal_critic: the critics see the goal from the gripper (else only the actor's input).
    """

    def __init__(
        self, bench: BenchEpisodes, run_seed: int, chroma: ChromaKey | None,
        goal_critic: bool = True,
    ) -> None:  # fmt: skip
        self.bench, self.run_seed, self.chroma = bench, run_seed, chroma
        self.state_dim = STATE_DIM if goal_critic else 0
        self.skipped: list[dict[str, Any]] = []
        self.skips_in_a_row = 0
        self.by_hand = 0  # interventions a person reported during the episode
        self._potential = 0.0

    def begin(self, episode: int) -> Observation | None:
        start = self.bench.begin(TRAIN_SEEDS + 100_000 * self.run_seed + episode)
        if start.skipped is not None or start.observation is None:
            self.skipped.append({"episode": episode, "seed": start.seed, "reason": start.skipped})
            self.skips_in_a_row += 1
            if self.skips_in_a_row >= self.bench.settings.max_skips:
                raise RobotError(
                    f"{self.skips_in_a_row} starts in a row could not be reached; the last: "
                    f"{start.skipped}",
                    hint="check the bench (the target, the held object, the workspace box) "
                    "and the start box (--start-radius, --start-height), then --resume",
                )
            return None
        self.skips_in_a_row = 0
        self._potential = goal_potential(self.bench.goal, start.observation)
        return start.observation

    def step(self, action: np.ndarray) -> Transition:
        done = self.bench.step(action)
        now = goal_potential(self.bench.goal, done.observation)
        reward = now - self._potential + (SUCCESS_BONUS if done.success else 0.0)
        self._potential = now
        if done.ended_by == SAFETY_STOP:
            log.warning("a protective stop ended the episode; the robot is reset before the next")
        return Transition(done.observation, reward, done.success, done.done and not done.success)

    def keep(self, observation: Observation) -> np.ndarray | None:
        if self.chroma is None:
            return None
        return self.chroma.mask(observation["wrist_rgb"][None])[0]

    def critic_view(self, observation: Observation) -> np.ndarray:
        return goal_critic_state(self.bench.goal, observation) if self.state_dim else EMPTY

    def end(self) -> dict[str, int]:
        counts = self.bench.end()
        if self.by_hand:
            counts[BY_HAND] = counts.get(BY_HAND, 0) + self.by_hand
            self.by_hand = 0
        return counts

    def close(self) -> None:
        self.bench.close()


@dataclass
class TrainingKeys:
    """The keys of a run on a robot, read between steps.

    `p` pauses: the arm stops and the run waits until `p` comes again. `i` says a person
    stepped in by hand (re-seated the object, put the target back): the episode's
    interventions count it.

    Args:
        keys: returns the keys typed since the last call (a terminal, or a test's script).
        robot: stopped while paused.
        episodes: where a by-hand intervention is counted.
        on_pause: told `True` when a pause begins and `False` when it ends.
        poll_s: how often to look for the key while paused.
    """

    keys: Callable[[], Iterable[str]]
    robot: Robot
    episodes: BenchTraining
    on_pause: Callable[[bool], None] | None = None
    poll_s: float = 0.05
    pauses: int = field(default=0, init=False)

    def check(self) -> None:
        """Count an `i`; return at once unless `p` was typed, then hold until it is again."""
        typed = list(self.keys())
        self.episodes.by_hand += typed.count(INTERVENTION_KEY)
        if PAUSE_KEY not in typed:
            return
        self.robot.stop()
        self.pauses += 1
        if self.on_pause is not None:
            self.on_pause(True)
        while PAUSE_KEY not in (typed := list(self.keys())):
            self.episodes.by_hand += typed.count(INTERVENTION_KEY)
            time.sleep(self.poll_s)
        if self.on_pause is not None:
            self.on_pause(False)


@dataclass
class RobotResidualResult:
    """What `train residual --robot` did."""

    manifest: SkillManifest  # the packaged skill
    trainer: ResidualTrainer
    robot: str
    control_hz: float
    steps: int
    episodes: int
    successes: int
    seconds: float
    robot_time_s: float
    interventions: dict[str, int]
    skipped: list[dict[str, Any]]
    pauses: int
    log_files: list[Path]


def train_residual_on_robot(
    robot: Robot,
    skill_dir: Path,
    goal: GoalFile,
    *,
    goal_path: str = "",
    out: Path | None = None,
    residual: dict[str, Any] | None = None,
    sac_config: SACConfig | None = None,
    run: RunConfig | None = None,
    settings: BenchSettings | None = None,
    chroma: ChromaKey | None = None,
    detector: SuccessDetector | None = None,
    resume: bool = False,
    keys: Callable[[], Iterable[str]] | None = None,
    on_pause: Callable[[bool], None] | None = None,
    on_step: Callable[[int, dict[str, float]], None] | None = None,
    command: str = "",
) -> RobotResidualResult:
    """Train a residual on the BC skill in `skill_dir` on `robot`'s bench; package it.

    Episodes follow the bench procedure with `settings` (its step limit defaults to
    `run.max_episode_steps`, else 150). With `run.augment`, wrist images are augmented
    with `chroma` (default: the key the skill's training masks were made with). A
    checkpoint is written at every episode's end; `resume` continues from it. `keys`
    gives the typed keys (`TrainingKeys`: `p` pauses and resumes, `i` counts a by-hand
    intervention). The robot is stopped on every way out; an interruption (Ctrl-C)
    leaves the last checkpoint, the start of the episode it stopped, to resume from.

    Raises:
        UsageError: augmentation without a chroma key to make masks with.
        TrainingError: bad options, or a checkpoint of another skill, goal or settings.
        RobotError: the robot failed, or starts could not be reached (it is stopped first).
    """
    sac_config = sac_config or SACConfig()
    run = run or RunConfig(checkpoint_every=1, privileged_critic=True)
    skill_dir, out = Path(skill_dir), Path(out or skill_dir)
    bc, manifest, bc_sha256 = load_bc_skill(skill_dir)
    if run.augment and chroma is None:
        chroma = chroma_from_skill(manifest.provenance)
        if chroma is None:
            raise UsageError(
                f"the BC policy of `{manifest.name}` was not trained on chroma-key masks, so "
                "there is no key to augment its wrist images with online",
                hint="give --chroma green|blue for the screen behind your bench, or --no-augment",
            )
    caps = robot.capabilities()
    settings = settings or BenchSettings(max_steps=run.max_episode_steps or 150)
    bench = BenchEpisodes(robot, goal, settings, detector=detector)
    episodes = BenchTraining(
        bench, run.seed, chroma if run.augment else None, goal_critic=run.privileged_critic
    )
    pause = TrainingKeys(keys, robot, episodes, on_pause) if keys is not None else None

    def step_done(step: int, stats: dict[str, float]) -> None:
        if pause is not None:
            pause.check()
        if on_step is not None:
            on_step(step, stats)

    setting = {"task": goal.task, "robot": caps.name, "goal": goal.pose_vector()}
    try:
        trainer = ResidualTrainer(
            bc, episodes, residual or {}, sac_config, run, out / RUN_DIR, setting=setting,
            skill=manifest.name, bc_sha256=bc_sha256,
            title=f"{manifest.name} residual RL on {caps.name}: {goal.task}", resume=resume,
        )  # fmt: skip
    except BaseException:
        bench.close()
        raise
    began = time.perf_counter()
    with trainer:
        trainer.train(step_done)
        bench.finish()
    trainer.finish()
    if out.resolve() != skill_dir.resolve():
        copy_skill(skill_dir, out)
    state = trainer.state
    robot_time = state.step / caps.control_hz
    provenance = {
        "status": "trained",
        "where": "robot",
        "command": command,
        "task": goal.task,
        "robot": caps.name,
        "goal": {"file": goal_path, "pose": goal.pose_vector(), "through": goal.goal.through,
                 "tolerance": bench.tolerance.model_dump(), "made": goal.made.model_dump()},
        "bench": {"start_box": asdict(settings.start_box), "max_steps": settings.max_steps},
        "augmentation": chroma.describe() if chroma is not None and run.augment else None,
        "critic": "goal from the gripper (proprioception and the goal file)"
        if run.privileged_critic else "the actor's input only",
        "bc_weights_sha256": bc_sha256,
        "sac": trainer.meta["sac"],
        "run": trainer.meta["run"],
        "env_steps": state.step,
        "episodes": state.episode,
        "training_successes": int(sum(state.successes)),
        "skipped_starts": state.skipped,
        "interventions": dict(state.interventions),
        "robot_time_s": round(robot_time, 1),
        "seconds": round(state.seconds, 1),
        "resumed_from_step": trainer.resumed_from,
        **machine_record(),
        "log": f"{RUN_DIR}/log.csv",
    }  # fmt: skip
    packaged = add_residual(out, trainer.actor, provenance)
    return RobotResidualResult(
        manifest=packaged, trainer=trainer, robot=caps.name, control_hz=caps.control_hz,
        steps=state.step, episodes=state.episode, successes=int(sum(state.successes)),
        seconds=time.perf_counter() - began, robot_time_s=robot_time,
        interventions=dict(state.interventions), skipped=episodes.skipped,
        pauses=pause.pauses if pause is not None else 0,
        log_files=[out / RUN_DIR / name for name in ("log.csv", "log.json", "success.png")],
    )  # fmt: skip
