"""The MuJoCo simulator: the four ViTaL tasks, their sensors, conditions and experts.

    env = make_env("plug_in_socket", "scene", seed=3)      # a gymnasium.Env
    robot = SimRobot("usb_insert")                          # behind the Robot interface
    arm = HardwareSim("usb_insert", "spatial", seed=0)      # as a real arm: no ground truth

The environments are also registered with gymnasium as `vitalskills/PlugInSocket-v0`,
`vitalskills/UsbInsert-v0`, `vitalskills/CardSwipe-v0` and `vitalskills/KeyInLock-v0`.
"""

from __future__ import annotations

import os

# Headless machines have no display for GLFW: render offscreen with EGL unless the user
# chose a backend. This must happen before MuJoCo's renderer is first imported.
if "MUJOCO_GL" not in os.environ and not os.environ.get("DISPLAY"):
    os.environ["MUJOCO_GL"] = "egl"
    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

import gymnasium as gym

from vitalskills.sim.env import VitalEnv
from vitalskills.sim.expert import expert_policy
from vitalskills.sim.gl import isolate_triton_llvm
from vitalskills.sim.hardware import HardwareSim
from vitalskills.sim.robot import SimRobot
from vitalskills.sim.tasks import CONDITIONS, TASKS, SimError, TaskSpec

# Mesa's OpenGL and triton each bring an LLVM; without this, training after rendering
# segfaults. Any order works (see the docstring); here, no caller has to remember it.
isolate_triton_llvm()

__all__ = [
    "CONDITIONS",
    "TASKS",
    "HardwareSim",
    "SimError",
    "SimRobot",
    "TaskSpec",
    "VitalEnv",
    "expert_policy",
    "make_env",
]


def make_env(
    task: str,
    condition: str = "canonical",
    *,
    seed: int | None = None,
    distractors: int | None = None,
    image_size: int = 128,
    render_wrist: bool = True,
    **options: object,
) -> VitalEnv:
    """Create the environment of `task` in `condition` (see `VitalEnv` for options)."""
    return VitalEnv(
        task,
        condition,
        seed=seed,
        distractors=distractors,
        image_size=image_size,
        render_wrist=render_wrist,
        **options,
    )


for _spec in TASKS.values():
    if _spec.gym_id not in gym.registry:
        gym.register(
            id=_spec.gym_id,
            entry_point="vitalskills.sim.env:VitalEnv",
            kwargs={"task": _spec.name},
            max_episode_steps=None,
        )
