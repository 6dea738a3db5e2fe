"""Record demonstrations from any robot and any demonstrator into a dataset.

The robot is anything with the `Robot` interface (the in-process simulator, or a
bridge client for a real arm). The demonstrator is anything with the `Policy`
interface (`reset()`, `act(observation)`): the simulator's scripted expert, a
teleoperation device, or a trained policy. Demonstrators see the full observation,
privileged keys included; the dataset stores what the robot reported and the action it
actually applied after clipping.

A person (or the scripted expert standing in for one) teleoperating a robot behind the
bridge has a loop of its own, with random starts and verdicts: `app.teleop_collect`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vitalskills.app.episode_pool import EpisodePool, Workers, in_seed_order
from vitalskills.learning.dataset import DatasetInfo, DatasetWriter, EpisodeMeta, EpisodeRecorder
from vitalskills.learning.errors import DatasetError
from vitalskills.robot import Observation, Policy, Robot

if TYPE_CHECKING:  # importing the simulator loads MuJoCo
    from vitalskills.sim import SimRobot


@dataclass
class CollectReport:
    """What a collection did: episodes written, attempts discarded, the seeds used."""

    written: list[EpisodeMeta]
    discarded_seeds: list[int]
    dataset: Path

    @property
    def success_rate(self) -> float:
        """Fraction of attempted episodes that succeeded (written ones if failures kept)."""
        attempts = len(self.written) + len(self.discarded_seeds)
        successes = sum(meta.success for meta in self.written)
        return successes / attempts if attempts else 0.0


def succeeded(observation: Observation) -> bool:
    """Whether the robot reports success in this observation (False when it cannot judge)."""
    flag = observation.get("success")
    return flag is not None and bool(np.asarray(flag).reshape(-1)[0])


def record_episode(
    robot: Robot, demonstrator: Policy, seed: int, max_steps: int
) -> tuple[EpisodeRecorder, bool]:
    """Roll the demonstrator out once from `robot.reset(seed)`; always stop the robot.

    Returns the buffered steps and whether the robot reported success.
    """
    recorder = EpisodeRecorder()
    try:
        observation = robot.reset(seed=seed)
        demonstrator.reset()
        while recorder.length < max_steps and not succeeded(observation):
            applied = robot.act(np.asarray(demonstrator.act(observation), dtype=np.float32))
            recorder.record(observation, applied)
            observation = robot.observe()
    finally:
        robot.stop()
    return recorder, succeeded(observation)


@dataclass(frozen=True)
class Attempt:
    """One recorded attempt: its stacked steps (None when it recorded none), its verdict."""

    frames: dict[str, np.ndarray] | None
    success: bool


def collect(
    robot: Robot,
    demonstrator: Policy,
    out: Path,
    info: DatasetInfo,
    *,
    episodes: int,
    seed: int,
    max_steps: int,
    keep_failures: bool = False,
    max_attempts: int | None = None,
    on_episode: Callable[[EpisodeMeta | None], None] | None = None,
) -> CollectReport:
    """Append `episodes` demonstrations to the dataset at `out`.

    Attempt `k` resets the robot with seed `seed + k`. Failed attempts are discarded
    unless `keep_failures`; collection gives up after `max_attempts` (default
    3 x `episodes`). `on_episode` is called after every attempt with the written
    episode's metadata, or None for a discarded attempt.

    Raises:
        DatasetError: the dataset does not match `info`, or too many attempts failed.
    """

    def attempts() -> Iterator[tuple[int, Attempt]]:
        for episode_seed in count(seed):
            recorder, success = record_episode(robot, demonstrator, episode_seed, max_steps)
            yield episode_seed, Attempt(recorder.frames() if recorder.length else None, success)

    return write_attempts(
        out, info, attempts(), episodes=episodes, seed=seed, keep_failures=keep_failures,
        max_attempts=max_attempts, on_episode=on_episode,
    )  # fmt: skip


def write_attempts(
    out: Path,
    info: DatasetInfo,
    attempts: Iterator[tuple[int, Attempt]],
    *,
    episodes: int,
    seed: int,
    keep_failures: bool = False,
    max_attempts: int | None = None,
    on_episode: Callable[[EpisodeMeta | None], None] | None = None,
) -> CollectReport:
    """Write attempts, given in seed order from `seed`, until `episodes` are written.

    The dataset writer stays in this process, so the dataset is the same whether the
    attempts were recorded here or by workers. See `collect` for the rest.
    """
    if episodes < 1:
        raise DatasetError(f"--episodes must be at least 1, got {episodes}")
    limit = max_attempts if max_attempts is not None else 3 * episodes
    written: list[EpisodeMeta] = []
    discarded: list[int] = []
    with DatasetWriter(out, info) as writer:
        tried = 0
        while len(written) < episodes:
            if tried >= limit:
                raise DatasetError(
                    f"only {len(written)} of {episodes} demonstrations succeeded in "
                    f"{tried} attempts (seeds {seed}..{seed + tried - 1})",
                    hint="check the demonstrator, raise --max-steps, or pass --keep-failures",
                )
            episode_seed, attempt = next(attempts)
            tried += 1
            meta = None
            if attempt.frames is not None and (attempt.success or keep_failures):
                meta = writer.add_episode(
                    attempt.frames, seed=episode_seed, success=attempt.success
                )
                written.append(meta)
            else:
                discarded.append(episode_seed)
            if on_episode is not None:
                on_episode(meta)
    return CollectReport(written=written, discarded_seeds=discarded, dataset=Path(out))


class CallableDemonstrator:
    """Adapt a callable policy (`fn(observation) -> action`, optional `fn.reset()`)."""

    def __init__(self, fn: Callable[[Observation], np.ndarray]) -> None:
        self.fn = fn

    def reset(self) -> None:
        reset = getattr(self.fn, "reset", None)
        if reset is not None:
            reset()

    def act(self, observation: Observation) -> np.ndarray:
        return self.fn(observation)


@dataclass(frozen=True)
class ExpertDemos:
    """Builds one worker's simulator and records the scripted expert from each seed.

    Plain data, so that it can be sent to worker processes and Ray actors. Each attempt
    depends only on its seed: the episode and the expert's aiming error and tremor are
    both drawn from it.
    """

    task: str
    condition: str = "canonical"
    max_steps: int = 150
    image_size: int = 128
    wrist_jitter: float | None = None

    def robot(self) -> SimRobot:
        """The in-process simulator these demonstrations are recorded on."""
        from vitalskills.sim import SimRobot

        return SimRobot(
            self.task, self.condition, image_size=self.image_size, start="approach",
            wrist_jitter=self.wrist_jitter,
        )  # fmt: skip

    def __call__(self) -> _ExpertRecorder:
        return _ExpertRecorder(self.robot(), self.max_steps)


class _ExpertRecorder:
    """A worker's simulator and the expert: one attempt per seed."""

    def __init__(self, robot: SimRobot, max_steps: int) -> None:
        self.robot, self.max_steps = robot, max_steps

    def __call__(self, seed: int) -> Attempt:
        from vitalskills.sim import expert_policy

        expert = CallableDemonstrator(expert_policy(self.robot.env, seed))
        recorder, success = record_episode(self.robot, expert, seed, self.max_steps)
        return Attempt(recorder.frames() if recorder.length else None, success)

    def close(self) -> None:
        self.robot.close()


def collect_sim(
    task: str,
    out: Path,
    *,
    condition: str = "canonical",
    episodes: int,
    seed: int,
    max_steps: int = 150,
    image_size: int = 128,
    keep_failures: bool = False,
    on_episode: Callable[[EpisodeMeta | None], None] | None = None,
    wrist_jitter: float | None = None,
    workers: Workers = Workers(),
) -> CollectReport:
    """Collect scripted-expert demonstrations of a simulator task, starting at the approach.

    `wrist_jitter` (m) moves the wrist camera on its mount each episode (recorded in the
    dataset's `robot` metadata). `workers` says where attempts are recorded (default: in
    this process); they are written here in seed order, so the dataset is the same
    wherever they ran.

    The simulator's privileged wrist segmentation is stored for semantic augmentation.
    """
    from vitalskills.sim.env import MASK_LABELS

    job = ExpertDemos(task, condition, max_steps, image_size, wrist_jitter)
    robot = job.robot()
    try:
        capabilities = robot.capabilities()
    finally:
        robot.close()
    info = DatasetInfo(
        task=task,
        condition=condition,
        control_hz=capabilities.control_hz,
        source="expert",
        robot=capabilities.model_dump(mode="json") | {"wrist_jitter_m": wrist_jitter},
        mask_labels=dict(MASK_LABELS),
    )
    with EpisodePool(workers) as pool, closing(pool.map(job, count(seed))) as done:
        attempts = ((item.seed, item.result) for item in in_seed_order(done))
        return write_attempts(
            out, info, attempts, episodes=episodes, seed=seed, keep_failures=keep_failures,
            on_episode=on_episode,
        )  # fmt: skip
