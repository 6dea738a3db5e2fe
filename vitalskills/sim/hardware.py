"""`HardwareSim`: the simulator served as a real robot (`bridge serve ... --hardware`).

It reports only what a real arm and its sensors could: wrist RGB, touch, the end
effector's pose and the gripper's opening, and the scene camera's RGB-D frame with its
camera model. No success flag, nothing `privileged/...`, no segmentation, object
points or labels.

The scene is one place in a lab: its layout (target pose, looks, lighting, cameras,
distractors) is drawn once, when the driver is built, from the condition and the seed,
and stays put. `reset` moves nothing but the arm, and that only as a real arm's
controller would: by commands, one control step at a time, at a bounded speed, back to
the session's home pose (straight up first when the gripper is low, so that an object
in a hole comes out the way it went in). The object in the gripper stays there.

What a person does by hand between episodes are explicit operator requests, each
logged and counted (`operator_counts`): `reseat` puts the object back in the gripper
at its nominal grasp, `move_target` puts the target at a new place drawn as the
condition draws one. The arm does not move for either.

`operator_state()` is what a person standing next to the robot sees (the true poses,
whether the task succeeded). It is for a stand-in operator such as the scripted expert
and is never part of an observation.
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Any

import mujoco
import numpy as np

from vitalskills.robot import Observation, RobotCapabilities, RobotError, SceneFrame
from vitalskills.robot.geometry import (
    matrix_to_axis_angle,
    matrix_to_quat,
    quat_to_matrix,
    yaw_matrix,
)
from vitalskills.sim.env import MAX_ROTATION, MAX_TRANSLATION, VitalEnv
from vitalskills.sim.randomize import (
    CANONICAL_STATION,
    CANONICAL_TARGET,
    MAX_TARGET_YAW,
    RACK_CLEAR,
    REGION,
    STATION_CLEAR,
)
from vitalskills.sim.robot import scene_frame, sim_capabilities
from vitalskills.sim.tasks import CHAIN, SimError

log = logging.getLogger("vitalskills.sim")

#: The observation keys a real arm and its sensors report; nothing else is sent.
OBSERVED = ("wrist_rgb", "tactile", "ee_pose", "gripper")
#: What an operator (a person in the lab) may be asked to do.
OPERATOR_REQUESTS = ("reseat", "move_target")
#: Chroma-key green (sRGB 0, 177, 64): the table top and the wall with `green_screen`.
CHROMA_GREEN = (0.0, 177 / 255, 64 / 255)
#: Going home, the commanded pose moves at most this far (m) and turns at most this
#: much (rad) per control step: 0.1 m/s and 1 rad/s at 10 Hz, the largest action.
HOMING_STEP = MAX_TRANSLATION
HOMING_TURN = MAX_ROTATION
#: The arm is home when the measured pose is this close to it (m, rad).
HOME_TOLERANCE = (0.001, 0.01)
#: Control steps a reset may take (a blocked arm gives up and says so).
MAX_HOMING_STEPS = 400
#: How far (m) a moved target keeps from the distractors: as far as they were placed
#: from it (decoys further), and how deep it may overlap a body (the gripper, an object).
DECOY_CLEAR = 0.2
DISTRACTOR_CLEAR = 0.13
MAX_OVERLAP = 0.0005
TARGET_TRIES = 500
#: Mixed into the seed of the operator's own generator, so that what a person does
#: never changes what the scene's generator draws.
OPERATOR_STREAM = 0x0E7A


class HardwareSim:
    """The simulator as a real robot: a bridge driver that sends only what hardware can.

    Args:
        task: simulator task name, or two joined by `+` (a chained scene).
        condition: `canonical`, `spatial` or `scene`: how the one scene is drawn.
        seed: draws the scene (and seeds the operator's choices); None draws at random.
        distractors: distractors in the scene (default depends on the condition).
        image_size: side of the square wrist image.
        scene_size: (height, width) of the scene camera.
        green_screen: make the table top and the wall a uniform chroma green, as the
            backdrop of demonstration scenes (the paper's data collection).
        wrist_jitter: move the wrist camera on its mount by up to this much (m) per axis.
    """

    def __init__(
        self,
        task: str,
        condition: str = "canonical",
        seed: int | None = None,
        distractors: int | None = None,
        image_size: int = 128,
        scene_size: tuple[int, int] = (240, 320),
        green_screen: bool = False,
        wrist_jitter: float | None = None,
    ) -> None:
        self.env = VitalEnv(
            task,
            condition,
            seed=seed,
            distractors=distractors,
            image_size=image_size,
            start="home",
            scene_size=scene_size,
            max_steps=10**9,
            wrist_jitter=wrist_jitter,
        )
        self.green_screen = green_screen
        #: How often each operator request was carried out this session.
        self.operator_counts: dict[str, int] = dict.fromkeys(OPERATOR_REQUESTS, 0)
        #: The measured end-effector poses (7,) of each control step of the last reset.
        self.last_homing: list[np.ndarray] = []
        self._rng = np.random.default_rng(None if seed is None else [OPERATOR_STREAM, seed])
        # The first wrist image is rendered when first asked for: a renderer belongs to
        # the thread that made it, and the bridge may serve from another thread.
        self.env.render_wrist = False
        obs, _ = self.env.reset(seed=seed)
        self.env.render_wrist = True
        if green_screen:
            paint_green_screen(self.env)
        #: Where `reset` drives the arm: the pose the session started in (xyz, wxyz).
        self.home = self.env.commanded_pose()
        self._obs = _reported(obs)
        self._seed_noted = False

    # ------------------------------------------------------------------ the driver
    def capabilities(self) -> RobotCapabilities:
        """Describe the sensors, cameras and action space (nothing privileged)."""
        return sim_capabilities(self.env, privileged=False)

    def reset(self, seed: int | None = None) -> Observation:
        """Drive the arm home by commands and start an episode there.

        Nothing else moves: the scene was drawn when the driver was built, and `seed`
        does not change it. The object in the gripper stays there, the gripper keeps
        its last command, and the tactile skin re-zeroes.

        Raises:
            RobotError: the arm could not get home (something blocks it).
        """
        if seed is not None and not self._seed_noted:
            self._seed_noted = True
            log.info("reset's seed %d is ignored: the scene was drawn once, at start", seed)
        self.last_homing = self._go_home()
        obs, _ = self.env.restart()
        self._obs = _reported(obs)
        return self._obs

    def observe(self) -> Observation:
        """Return the latest observation."""
        if "wrist_rgb" not in self._obs:
            size = self.env.image_size
            self._obs["wrist_rgb"] = self.env.render_camera("wrist", size, size)
        return self._obs

    def act(self, action: np.ndarray) -> np.ndarray:
        """Apply one action for one control period; return the action after clipping."""
        try:
            obs, _, _, _, info = self.env.step(action)
        except SimError as error:
            raise RobotError(error.message, hint=error.hint) from None
        self._obs = _reported(obs)
        return info["applied_action"]

    def stop(self) -> None:
        """Hold the gripper where it is now."""
        self.env.hold()

    def commanded_pose(self) -> np.ndarray:
        """Where the next action starts from: the motion target, ahead of `ee_pose` while
        the gripper moves (the bridge server checks the workspace box from it)."""
        return self.env.commanded_pose()

    def scene(self) -> SceneFrame:
        """Return the scene camera's RGB-D frame and camera model, nothing privileged."""
        return scene_frame(self.env)

    def close(self) -> None:
        """Stop and free the simulator's renderers."""
        self.stop()
        self.env.close()

    def __enter__(self) -> HardwareSim:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ the operator
    def operator(self, request: str) -> dict[str, int]:
        """Do what a person in the lab is asked to; return the counts of requests done.

        `reseat`: put the object back in the gripper at its nominal grasp, wherever it
        is (dropped, stuck in the target, tilted in the fingers). `move_target`: put
        the target at a new place drawn as the condition draws one (in `canonical`
        that is its one place); it looks the same. The arm does not move.

        Raises:
            RobotError: an unknown request, or one a person could not carry out (the
                gripper is too low to seat the object; something touches the target).
        """
        if request not in OPERATOR_REQUESTS:
            raise RobotError(
                f"unknown operator request `{request}`",
                hint=f"ask for one of: {', '.join(OPERATOR_REQUESTS)}",
            )
        done = self._reseat() if request == "reseat" else self._move_target()
        self.operator_counts[request] += 1
        log.info("operator request %d: %s (%s)", sum(self.operator_counts.values()), request, done)
        self._obs = _reported(self.env.sense())
        return dict(self.operator_counts)

    def operator_state(self) -> dict[str, Any]:
        """What a person next to the robot sees; never sent on the robot's bridge.

        Returns a map of plain values: `task` (the task being worked on), `scene` (all
        of the scene's tasks, joined by `+`), `steps` (actions since the last reset),
        `success`, `holding` (the object is in the gripper), `target`, `held` and `ee`
        (4x4 nested lists: the target frame, the held object's tip frame and the end
        effector, base frame), `insertion_depth` (m) and `operator_counts`.
        """
        env = self.env
        return {
            "task": env.task.name,
            "scene": CHAIN.join(spec.name for spec in env.stations),
            "steps": int(env.steps),
            "success": bool(env.succeeded),
            "holding": bool(env.holding),
            "target": env.target_matrix().tolist(),
            "held": env.held_matrix().tolist(),
            "ee": env.ee_pose_matrix().tolist(),
            "insertion_depth": float(env.insertion().depth),
            "operator_counts": dict(self.operator_counts),
        }

    # ------------------------------------------------------------------ internals
    def _go_home(self) -> list[np.ndarray]:
        """Command the arm home one control step at a time; return the measured poses."""
        env = self.env
        home_pos, home_rot = self.home[:3], quat_to_matrix(self.home[3:])
        path = [_pose(env)]
        rendering, env.render_wrist = env.render_wrist, False  # nobody looks meanwhile
        try:
            for _ in range(MAX_HOMING_STEPS):
                command = env.commanded_pose()
                pos, rot = command[:3], quat_to_matrix(command[3:])
                if _near(path[-1], home_pos, home_rot) and _near(command, home_pos, home_rot):
                    return path
                goal, turn_to = home_pos, home_rot
                low = pos[2] < home_pos[2] - HOME_TOLERANCE[0]
                if low and np.linalg.norm(home_pos[:2] - pos[:2]) > HOME_TOLERANCE[0]:
                    goal, turn_to = np.array([pos[0], pos[1], home_pos[2]]), rot
                move = _clip_norm(goal - pos, HOMING_STEP)
                turn = _clip_norm(matrix_to_axis_angle(rot.T @ turn_to), HOMING_TURN)
                action = np.concatenate([rot.T @ move, turn, [env.gripper_command]])
                try:
                    env.step(action.astype(np.float32))
                except SimError as error:
                    raise RobotError(error.message, hint=error.hint) from None
                path.append(_pose(env))
        finally:
            env.render_wrist = rendering
        env.hold()
        raise RobotError(
            f"the arm did not get home in {MAX_HOMING_STEPS} control steps: something "
            f"blocks it ({np.linalg.norm(path[-1][:3] - home_pos) * 1e3:.0f} mm away)",
            hint="ask the operator to `reseat` the object, then reset again",
        )

    def _reseat(self) -> str:
        if not self.env.seat_held(MAX_OVERLAP):
            raise RobotError(
                "the object cannot be seated in the gripper here: it would overlap the "
                "table or the target",
                hint="move the arm up (or `reset` it home) first, then ask again",
            )
        return "the object is back in the gripper"

    def _move_target(self) -> str:
        env = self.env
        m, d = env.model, env.data
        table = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, "table")
        body = env.body_id("target")
        station = next(i for i, (_, t, _) in enumerate(env.station_bodies()) if t == body)
        mujoco.mj_forward(m, d)
        if env.insertion().depth > 0.0 or env.contact_distances(body, ignore=(table,)).size:
            raise RobotError(
                "something touches the target (an object in it, or the gripper): a person "
                "would not move it now",
                hint="`reset` the arm home, and `reseat` an object left in the target first",
            )
        keep_clear = self._keep_clear(body)
        old_pos, old_quat = m.body_pos[body].copy(), m.body_quat[body].copy()
        for _ in range(TARGET_TRIES):
            pos, yaw = self._draw_target(station)
            if any(np.linalg.norm(pos[:2] - xy) <= clear for xy, clear in keep_clear):
                continue
            m.body_pos[body] = pos
            m.body_quat[body] = matrix_to_quat(yaw_matrix(yaw))
            mujoco.mj_forward(m, d)
            if np.all(env.contact_distances(body, ignore=(table,)) >= -MAX_OVERLAP):
                self._note_target(station, pos, yaw)
                where = f"({pos[0]:.3f}, {pos[1]:.3f}) m, yaw {np.rad2deg(yaw):.1f} deg"
                return f"the target is now at {where}"
        m.body_pos[body], m.body_quat[body] = old_pos, old_quat
        mujoco.mj_forward(m, d)
        raise RobotError(
            f"no free place for the target after {TARGET_TRIES} tries",
            hint="clear the table (fewer distractors), or leave the target where it is",
        )

    def _draw_target(self, station: int) -> tuple[np.ndarray, float]:
        """A target pose drawn as the condition draws one (`sample_layout`)."""
        if self.env.condition == "canonical":
            place = CANONICAL_TARGET if station == 0 else CANONICAL_STATION
            return place.copy(), 0.0
        rng = self._rng
        pos = np.array([rng.uniform(*REGION[0]), rng.uniform(*REGION[1]), 0.0])
        return pos, float(rng.uniform(-MAX_TARGET_YAW, MAX_TARGET_YAW))

    def _keep_clear(self, body: int) -> list[tuple[np.ndarray, float]]:
        """Places (xy) a moved target keeps clear of, each with its distance (m)."""
        env = self.env
        layout = env.layout
        places = [
            (env.data.xpos[target, :2].copy(), STATION_CLEAR)
            for _, target, _ in env.station_bodies()
            if target != body
        ]
        if layout is not None and layout.station is not None:
            places.append((layout.station.rack_pos[:2], RACK_CLEAR))
        for item in layout.distractors if layout is not None else []:
            places.append((item.pos[:2], DECOY_CLEAR if item.decoy else DISTRACTOR_CLEAR))
        return places

    def _note_target(self, station: int, pos: np.ndarray, yaw: float) -> None:
        """Keep the layout saying where the target is."""
        layout = self.env.layout
        if layout is None:
            return
        if station == 0:
            layout.target_pos, layout.target_yaw = pos.copy(), yaw
        elif layout.station is not None:
            layout.station.target_pos, layout.station.target_yaw = pos.copy(), yaw


def paint_green_screen(env: VitalEnv) -> None:
    """Make the table top and the wall a uniform, matte chroma green."""
    m = env.model
    for surface in ("table", "wall"):
        geom = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, surface)
        material = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_MATERIAL, f"{surface}_plain")
        m.geom_matid[geom] = material
        m.mat_rgba[material, :3] = CHROMA_GREEN
        m.mat_specular[material] = 0.0
        m.mat_reflectance[material] = 0.0
        m.geom_rgba[geom, :3] = CHROMA_GREEN


def _reported(obs: dict[str, np.ndarray]) -> Observation:
    """Keep what the arm's sensors report."""
    return {key: obs[key] for key in OBSERVED if key in obs}


def _pose(env: VitalEnv) -> np.ndarray:
    ee = env.ee_pose_matrix()
    return np.concatenate([ee[:3, 3], matrix_to_quat(ee[:3, :3])])


def _near(pose: np.ndarray, pos: np.ndarray, rot: np.ndarray) -> bool:
    """Whether a pose (xyz, wxyz) is within `HOME_TOLERANCE` of `pos`, `rot`."""
    turn = matrix_to_axis_angle(quat_to_matrix(pose[3:]).T @ rot)
    return bool(
        np.linalg.norm(pose[:3] - pos) <= HOME_TOLERANCE[0]
        and np.linalg.norm(turn) <= HOME_TOLERANCE[1]
    )


def _clip_norm(vector: np.ndarray, limit: float) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector * (limit / norm) if norm > limit else vector
