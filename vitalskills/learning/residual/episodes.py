"""Where residual RL's episodes happen: the `Episodes` interface, and the simulator's.

`ResidualTrainer` runs on any `Episodes`: the simulator in process (`SimEpisodes`, the
development path, which may use privileged state) or a robot's bench through the bridge
(`vitalskills.app.robot_residual.BenchTraining`, which knows only what the robot
reports and the recorded goal). An implementation says, per step, the reward and
whether the episode ended; which pixels semantic augmentation keeps; and what the
critics see besides the actor's input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from vitalskills.learning.residual.config import RunConfig
from vitalskills.learning.residual.replay import EMPTY
from vitalskills.robot import Observation

if TYPE_CHECKING:  # importing the simulator loads MuJoCo
    from vitalskills.sim.env import VitalEnv

#: Training episode i of a run seeded s uses seed `TRAIN_SEEDS + 100_000 * s + i`.
TRAIN_SEEDS = 10_000_000
#: Size of the critics' goal-relative state (`goal_state`, `critic_state`).
STATE_DIM = 7


@dataclass(frozen=True)
class Transition:
    """What one action led to."""

    observation: Observation
    reward: float
    terminated: bool  # the task is done: no value after it
    truncated: bool  # stopped for another reason (step limit, a safety stop)


class Episodes(Protocol):
    """A source of residual RL episodes (the simulator, or a robot's bench)."""

    #: The critics' extra state size (0: the critics see only the actor's input).
    state_dim: int

    def begin(self, episode: int) -> Observation | None:
        """Start training episode `episode`; None when its start was skipped (say why)."""
        ...

    def step(self, action: np.ndarray) -> Transition:
        """Apply one action."""
        ...

    def keep(self, observation: Observation) -> np.ndarray | None:
        """The wrist pixels semantic augmentation keeps (None: no mask available)."""
        ...

    def critic_view(self, observation: Observation) -> np.ndarray:
        """The critics' extra state for `observation` (empty when `state_dim` is 0)."""
        ...

    def end(self) -> dict[str, int]:
        """Finish the episode (stop the arm); return the interventions it needed."""
        ...

    def close(self) -> None:
        """Release the environment; stop the arm."""
        ...


def goal_state(relative: np.ndarray, depth: float) -> np.ndarray:
    """The critics' view of the goal: its pose seen from the gripper, and the depth to go.

    `relative` is the goal's 4x4 pose in the end-effector frame. Position in centimetres,
    rotation (axis-angle) in tenths of a radian and depth in centimetres: the units of
    the reward's potential.
    """
    from vitalskills.robot.geometry import matrix_to_axis_angle

    rotation = matrix_to_axis_angle(relative[:3, :3])
    return np.concatenate([relative[:3, 3] / 0.01, rotation / 0.1, [depth / 0.01]]).astype(
        np.float32
    )


def critic_state(env: VitalEnv) -> np.ndarray:
    """The simulator's privileged critic state: the true goal from the gripper, the depth."""
    relative = np.linalg.inv(env.ee_pose_matrix()) @ env.goal_matrix()
    return goal_state(relative, env.insertion().depth)


class SimEpisodes:
    """Episodes in the simulator, in process: a new randomized scene every episode.

    The reward is the simulator's (docs/simulator.md); augmentation keeps the pixels of
    the privileged segmentation; the critics see the true goal (`critic_state`) unless
    `run.privileged_critic` is off.
    """

    def __init__(self, task: str, condition: str, run: RunConfig) -> None:
        from vitalskills.sim.env import VitalEnv

        self.run = run
        self.state_dim = STATE_DIM if run.privileged_critic else 0
        # The camera renders at its own size and the policy resizes, as in BC training.
        self.env = VitalEnv(
            task, condition, privileged=run.augment, max_steps=run.max_episode_steps
        )

    def begin(self, episode: int) -> Observation:
        observation, _ = self.env.reset(seed=TRAIN_SEEDS + 100_000 * self.run.seed + episode)
        return observation

    def step(self, action: np.ndarray) -> Transition:
        observation, reward, terminated, truncated, _ = self.env.step(action)
        return Transition(observation, float(reward), bool(terminated), bool(truncated))

    def keep(self, observation: Observation) -> np.ndarray | None:
        mask = observation.get("privileged/wrist_mask")
        return None if mask is None else mask > 0

    def critic_view(self, observation: Observation) -> np.ndarray:
        return critic_state(self.env) if self.state_dim else EMPTY

    def end(self) -> dict[str, int]:
        return {}

    def close(self) -> None:
        self.env.close()
