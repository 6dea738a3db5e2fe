"""Scripted experts that move like a careful human: aim, touch, feel, correct.

An expert reads privileged state (the true target pose, the insertion depth) but aims
with a human's error: each episode it misjudges the opening by up to about a
millimetre and a degree or two, and its hand trembles a little. It hovers over the
opening, lowers the object until it touches, and when touch says it is stuck (the
tactile signal is up but the object does not go down) it lifts a little and corrects
its aim, as a person does after feeling the rim. Card swiping then slides along the
slot. For an upright task it turns the object about the vertical only. Used to collect
demonstrations.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from vitalskills.robot.geometry import matrix_to_axis_angle, yaw_matrix
from vitalskills.sim.env import MAX_ROTATION, MAX_TRANSLATION, VitalEnv

AIM_STD = 0.0015
AIM_MAX = 0.003
YAW_STD = np.deg2rad(1.2)
TREMOR = 0.0003
HOVER = 0.006
DESCENT = 0.003
SWIPE_SPEED = 0.009
CONTACT = 0.4


class ScriptedExpert:
    """A stateful scripted policy for one `VitalEnv`; call it with each observation."""

    def __init__(self, env: VitalEnv, seed: int | None = None) -> None:
        self.env = env
        self.rng = np.random.default_rng(seed)
        self.reset()

    def reset(self) -> None:
        """Forget the last episode and draw this episode's aiming error."""
        aim = np.clip(self.rng.normal(0.0, AIM_STD, size=2), -AIM_MAX, AIM_MAX)
        self.aim = np.array([aim[0], aim[1], 0.0])
        self.yaw_error = float(np.clip(self.rng.normal(0.0, YAW_STD), -2 * YAW_STD, 2 * YAW_STD))
        self.phase = "align"
        self.stuck = 0
        self.last_tip_z: float | None = None
        self.corrections = 0
        self.settling = 0

    def __call__(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        """Return the next 7-D action."""
        env, task = self.env, self.env.task
        if env.steps == 0 and self.phase != "align":
            self.reset()
        target = env.target_matrix()
        tip_now = np.linalg.inv(target) @ env.held_matrix()
        tip_z = float(tip_now[2, 3])
        insertion = env.insertion()
        touching = float(np.linalg.norm(obs["tactile"])) > CONTACT
        hover = np.array([task.approach_tip[0], 0.0, task.entry_z + HOVER]) + self.aim
        if self.phase == "align":
            tip = hover
            self.settling += 1
            lateral, height, tilt = self._errors(target, tip)
            patience = 1.0 if self.settling < 20 else 2.5
            if lateral < 0.0004 * patience and height < 0.0015 and tilt < 0.01 * patience:
                self.phase = "descend"
                self.settling = 0
        elif self.phase == "descend":
            speed = DESCENT if tip_z > task.entry_z + 0.003 else DESCENT / 2
            tip = np.array([hover[0], hover[1], tip_z - speed])
            moved = self.last_tip_z is None or self.last_tip_z - tip_z > 0.0004
            self.stuck = 0 if moved else self.stuck + 1
            if touching and self.stuck >= 2 and insertion.depth < task.required_depth:
                self.phase = "lift"
                self.corrections += 1
                self.aim *= 0.3 if self.corrections < 3 else 0.0
                self.yaw_error *= 0.3 if self.corrections < 3 else 0.0
            elif task.kind == "swipe" and insertion.depth >= task.goal_depth - 0.002:
                self.phase = "swipe"
        elif self.phase == "lift":
            tip = np.array([hover[0], hover[1], task.entry_z + 0.004])
            if tip_z > task.entry_z + 0.003:
                self.phase = "align"
        else:
            # Sliding, the card drags on the slot wall it is aimed into: a person
            # feels the drag and centres the card.
            if touching:
                self.aim[1] *= 0.5
            depth_z = task.entry_z - task.goal_depth
            x = min(task.goal_tip_x, tip_now[0, 3] + SWIPE_SPEED)
            tip = np.array([x, self.aim[1], depth_z])
            if tip_now[0, 3] >= task.goal_tip_x - 0.001 and not env.succeeded:
                self.phase = "lift"
                self.corrections += 1
        if self.phase != "lift":
            floor = task.entry_z - task.goal_depth
            tip[2] = max(tip[2], floor)
        self.last_tip_z = tip_z
        return self._action_towards(target, tip)

    def _desired_rotation(self, target: np.ndarray) -> np.ndarray:
        return target[:3, :3] @ yaw_matrix(self.yaw_error)

    def _errors(self, target: np.ndarray, tip: np.ndarray) -> tuple[float, float, float]:
        """Lateral and vertical tip error (m) and tilt (rad) of the object, target frame."""
        held = np.linalg.inv(target) @ self.env.held_matrix()
        error = tip - held[:3, 3]
        rot = target[:3, :3].T @ self._desired_rotation(target)
        tilt = float(np.linalg.norm(matrix_to_axis_angle(held[:3, :3].T @ rot)))
        return float(np.linalg.norm(error[:2])), abs(float(error[2])), tilt

    def _action_towards(self, target: np.ndarray, tip: np.ndarray) -> np.ndarray:
        """Steer the object's tip (not the gripper) to `tip`, as a person watching it."""
        ee, held = self.env.ee_pose_matrix(), self.env.held_matrix()
        error = target[:3, :3] @ tip + target[:3, 3] - held[:3, 3]
        move = ee[:3, :3].T @ error
        if self.phase == "align":
            tremor = TREMOR * min(1.0, float(np.linalg.norm(error)) / 0.003)
            move = 0.8 * move + self.rng.normal(0.0, tremor, size=3)
        norm = np.linalg.norm(move)
        if norm > MAX_TRANSLATION:
            move *= MAX_TRANSLATION / norm
        relative = ee[:3, :3].T @ held[:3, :3]
        turn = relative @ matrix_to_axis_angle(held[:3, :3].T @ self._desired_rotation(target))
        if self.env.task.upright:
            turn[:2] = 0.0
        norm = np.linalg.norm(turn)
        if norm > MAX_ROTATION:
            turn *= MAX_ROTATION / norm
        return np.concatenate([move, turn, [1.0]]).astype(np.float32)


def random_policy(env: VitalEnv, seed: int | None = None) -> Callable[[dict], np.ndarray]:
    """Return a policy of uniform random actions with the gripper kept closed."""
    rng = np.random.default_rng(seed)

    def act(obs: dict[str, np.ndarray]) -> np.ndarray:
        action = rng.uniform(env.action_space.low, env.action_space.high).astype(np.float32)
        action[6] = 1.0
        return action

    return act


def expert_policy(env: VitalEnv, seed: int | None = None) -> ScriptedExpert:
    """Return the scripted expert for `env`'s task (a callable: observation -> action)."""
    return ScriptedExpert(getattr(env, "unwrapped", env), seed)
