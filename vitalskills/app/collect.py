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

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vitalskills.learning.dataset import DatasetInfo, DatasetWriter, EpisodeMeta, EpisodeRecorder
from vitalskills.learning.errors import DatasetError
from vitalskills.robot import Observation, Policy, Robot


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
    if episodes < 1:
        raise DatasetError(f"--episodes must be at least 1, got {episodes}")
    limit = max_attempts if max_attempts is not None else 3 * episodes
    written: list[EpisodeMeta] = []
    discarded: list[int] = []
    with DatasetWriter(out, info) as writer:
        attempt = 0
        while len(written) < episodes:
            if attempt >= limit:
                raise DatasetError(
                    f"only {len(written)} of {episodes} demonstrations succeeded in "
                    f"{attempt} attempts (seeds {seed}..{seed + attempt - 1})",
                    hint="check the demonstrator, raise --max-steps, or pass --keep-failures",
                )
            episode_seed = seed + attempt
            attempt += 1
            recorder, success = record_episode(robot, demonstrator, episode_seed, max_steps)
            if recorder.length and (success or keep_failures):
                meta = writer.add_episode(recorder.frames(), seed=episode_seed, success=success)
                written.append(meta)
            else:
                discarded.append(episode_seed)
                meta = None
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
) -> CollectReport:
    """Collect scripted-expert demonstrations of a simulator task, starting at the approach.

    `wrist_jitter` (m) moves the wrist camera on its mount each episode (recorded in the
    dataset's `robot` metadata).

    The simulator's privileged wrist segmentation is stored for semantic augmentation.
    """
    from vitalskills.sim import SimRobot, expert_policy
    from vitalskills.sim.env import MASK_LABELS

    robot = SimRobot(
        task, condition, seed=seed, image_size=image_size, start="approach",
        wrist_jitter=wrist_jitter,
    )  # fmt: skip
    try:
        info = DatasetInfo(
            task=task,
            condition=condition,
            control_hz=robot.capabilities().control_hz,
            source="expert",
            robot=robot.capabilities().model_dump(mode="json") | {"wrist_jitter_m": wrist_jitter},
            mask_labels=dict(MASK_LABELS),
        )
        expert = CallableDemonstrator(expert_policy(robot.env, seed))
        return collect(
            robot, expert, out, info, episodes=episodes, seed=seed, max_steps=max_steps,
            keep_failures=keep_failures, on_episode=on_episode,
        )  # fmt: skip
    finally:
        robot.close()
