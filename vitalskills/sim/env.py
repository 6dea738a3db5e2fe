"""`VitalEnv`: one ViTaL task as a gymnasium environment.

A chained scene (`plug_in_socket+card_swipe`) holds two tasks: the first task's object
starts in the gripper; the second's stands in a rack and is taken when the fingers
close around it. The task being worked on (`task`) is the one of the object in hand:
success, reward and the privileged masks follow it.

Control runs at 10 Hz: each `step` moves the mocap target by the action (a delta in the
end-effector frame, clamped per step and kept within `LEASH` of where the gripper
really is, so a blocked gripper pushes with a bounded force), then integrates
`SUBSTEPS` physics steps of 2 ms.

Reward (dense, for residual RL): with d the distance (m) from the end effector to its
goal pose's position and a the angle (rad) to the goal orientation, the potential is
phi = -(d / 0.01 + a / 0.1); each step earns phi_t - phi_{t-1} (one unit per
centimetre of progress), plus `SUCCESS_BONUS` on the step that succeeds, which also
ends the episode (`vitalskills.robot.reward`, shared with training on a robot's bench).
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import mujoco
import numpy as np

from vitalskills.robot.geometry import (
    axis_angle_to_matrix,
    matrix_to_axis_angle,
    matrix_to_quat,
    pose_matrix,
    quat_to_matrix,
    yaw_matrix,
)
from vitalskills.robot.reward import SUCCESS_BONUS, potential
from vitalskills.sim.randomize import (
    COLOURS,
    Layout,
    Station,
    check_distractors,
    check_start,
    sample_layout,
)
from vitalskills.sim.scene import (
    FINGER_TRAVEL,
    MAX_DISTRACTORS,
    PAD_HALF_WIDTH,
    RACK_FLOOR,
    build_mjcf,
    rack_lean,
)
from vitalskills.sim.tactile import SATURATION, TactileSkin
from vitalskills.sim.tasks import (
    SimError,
    TaskSpec,
    check_condition,
    get_stations,
    measure_insertion,
)

CONTROL_HZ = 10.0
SUBSTEPS = 50
MAX_TRANSLATION = 0.01
MAX_ROTATION = 0.1
LEASH = 0.012
#: The end effector point is kept inside this box (m, base frame).
WORKSPACE = np.array([[0.15, 0.9], [-0.5, 0.5], [0.0, 0.45]])
#: Pointing down: the end-effector frame's z axis along the world's -z.
DOWN = np.diag([1.0, -1.0, -1.0])
ACTION_LOW = np.array([-MAX_TRANSLATION] * 3 + [-MAX_ROTATION] * 3 + [-1.0], dtype=np.float32)
ACTION_HIGH = -ACTION_LOW
#: Baseline-subtracted readings stay within twice the ADC range.
TACTILE_RANGE = 2 * SATURATION
POSE_LOW = np.array([-2.0] * 3 + [-1.0] * 4, dtype=np.float32)
#: How close (m, end-effector frame) the fingers must be to an object's grip point, and
#: how well aligned (rad, about the vertical, either way round), to take it from a rack.
#: Along x a long object is also taken anywhere its length covers the pads, and across
#: the fingers anywhere its rack lets it lean between them (`grasp_reach`).
GRASP_REACH = (0.005, 0.005, 0.008)
GRASP_YAW = 0.25
#: Segmentation labels of `privileged/wrist_mask`.
MASK_LABELS = {"background": 0, "target": 1, "gripper": 2, "held": 3}
SHAPE_TYPES = {
    "box": mujoco.mjtGeom.mjGEOM_BOX,
    "cylinder": mujoco.mjtGeom.mjGEOM_CYLINDER,
    "sphere": mujoco.mjtGeom.mjGEOM_SPHERE,
}


class VitalEnv(gym.Env):
    """A ViTaL task: wrist RGB + tactile + proprioception in, 7-D EE deltas out.

    Args:
        task: one of `TASKS`, or two joined by `+` for a chained scene.
        condition: `canonical`, `spatial` or `scene`.
        seed: seeds the first `reset` (later resets continue the generator).
        distractors: distractors per episode (default: 2 to 5 in `scene`, else 0).
        image_size: side of the square wrist image.
        render_wrist: render `wrist_rgb` (off: the key is absent, stepping is faster).
        render_mode: `rgb_array` makes `render()` return the scene camera image.
        start: `approach` (around the task's approach point) or `home`.
        max_steps: steps before truncation (default 150 from `approach`, 300 `home`).
        privileged: add `privileged/wrist_mask` (uint8, `MASK_LABELS`) to observations.
        scene_size: (height, width) of the scene camera.
        wrist_jitter: move the wrist camera on its mount by up to this much (m) per axis
            each episode, in any condition (a stress test; no condition moves it).
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(
        self,
        task: str,
        condition: str = "canonical",
        *,
        seed: int | None = None,
        distractors: int | None = None,
        image_size: int = 128,
        render_wrist: bool = True,
        render_mode: str | None = None,
        start: str = "approach",
        max_steps: int | None = None,
        privileged: bool = False,
        scene_size: tuple[int, int] = (240, 320),
        wrist_jitter: float | None = None,
    ) -> None:
        self.stations = get_stations(task)
        self.task = self.stations[0]
        self.wrist_jitter = wrist_jitter
        self.condition = check_condition(condition)
        self.distractors = check_distractors(distractors)
        self.start = check_start(start)
        self.image_size = int(image_size)
        self.render_wrist = render_wrist
        self.render_mode = render_mode
        self.privileged = privileged
        self.scene_size = scene_size
        self.max_steps = max_steps or (150 if start == "approach" else 300)
        self._seed = seed
        self.model = mujoco.MjModel.from_xml_string(build_mjcf(*self.stations))
        self.data = mujoco.MjData(self.model)
        self._ids()
        self._base = {
            "cam_pos": self.model.cam_pos.copy(),
            "cam_quat": self.model.cam_quat.copy(),
            "light_dir": self.model.light_dir.copy(),
            "light_diffuse": self.model.light_diffuse.copy(),
        }
        self._renderers: dict[tuple[int, int], mujoco.Renderer] = {}
        self.action_space = gym.spaces.Box(ACTION_LOW, ACTION_HIGH, dtype=np.float32)
        spaces: dict[str, gym.Space] = {
            "tactile": gym.spaces.Box(-TACTILE_RANGE, TACTILE_RANGE, (15,), np.float32),
            "ee_pose": gym.spaces.Box(POSE_LOW, -POSE_LOW, (7,), np.float32),
            "gripper": gym.spaces.Box(0.0, 1.0, (1,), np.float32),
            "success": gym.spaces.Box(0, 1, (1,), bool),
        }
        if render_wrist:
            size = (self.image_size, self.image_size, 3)
            spaces["wrist_rgb"] = gym.spaces.Box(0, 255, size, np.uint8)
        if privileged:
            size = (self.image_size, self.image_size)
            spaces["privileged/wrist_mask"] = gym.spaces.Box(0, 3, size, np.uint8)
        self.observation_space = gym.spaces.Dict(spaces)
        self.layout: Layout | None = None

    def _ids(self) -> None:
        m = self.model
        body = lambda name: mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, name)  # noqa: E731
        self._gripper = body("gripper")
        suffixes = ["", *(f"_{i}" for i in range(1, len(self.stations)))]
        self._station_targets = [body(f"target{s}") for s in suffixes]
        self._station_helds = [body(f"held{s}") for s in suffixes]
        self._station_grasps = [
            mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_EQUALITY, f"grasp{s}") for s in suffixes
        ]
        self._racks = [body(f"rack{s}") for s in suffixes[1:]]
        self._rack_geoms = np.flatnonzero(np.isin(m.geom_bodyid, self._racks))
        self._rack_collides = (
            m.geom_contype[self._rack_geoms].copy(),
            m.geom_conaffinity[self._rack_geoms].copy(),
        )
        self._grasp_relpose = m.eq_data[self._station_grasps, 3:10].copy()
        self._grasp_reach = [
            grasp_reach(spec, _half_length(m, held))
            for spec, held in zip(self.stations, self._station_helds, strict=True)
        ]
        self._mocap = m.body_mocapid[body("ee_target")]
        self._distractor_bodies = [body(f"distractor_{i}") for i in range(MAX_DISTRACTORS)]
        self._table = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, "table")
        self._wall = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, "wall")
        self._scene_cam = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_CAMERA, "scene")
        self._wrist_cam = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_CAMERA, "wrist")
        self._gripper_qpos = m.jnt_qposadr[m.body_jntadr[self._gripper]]
        self._finger_qpos = [
            m.jnt_qposadr[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, f"finger_{s}")]
            for s in ("left", "right")
        ]
        self._activate(0)

    def _activate(self, station: int) -> None:
        """Work on `station`'s task: its target, its object and the weld that holds it."""
        m = self.model
        self.task = self.stations[station]
        self._target = self._station_targets[station]
        self._held = self._station_helds[station]
        self._grasp = self._station_grasps[station]
        self._held_dofs = m.jnt_dofadr[m.body_jntadr[self._held]] + np.arange(6)
        self._held_qpos = m.jnt_qposadr[m.body_jntadr[self._held]]
        # The fingers close on this object's width (they are built for the first one's).
        self._closed_at = (self.stations[0].grip_width - self.task.grip_width) / -2.0
        groups = {"target": [self._target], "held": [self._held]}
        groups["gripper"] = [b for b in range(m.nbody) if m.body_rootid[b] == self._gripper]
        self._geom_label = np.zeros(m.ngeom, dtype=np.uint8)
        for name, bodies in groups.items():
            self._geom_label[np.isin(m.geom_bodyid, bodies)] = MASK_LABELS[name]

    # ----------------------------------------------------------------- episode set-up
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Start an episode; the same seed gives the same episode."""
        if seed is None and self._seed is not None:
            seed, self._seed = self._seed, None
        super().reset(seed=seed)
        self._activate(0)
        self.layout = sample_layout(
            self.task, self.condition, self.np_random, self.distractors, self.start,
            self.wrist_jitter, self.stations[1] if len(self.stations) > 1 else None,
        )  # fmt: skip
        self._taken = {0}
        self._apply_layout(self.layout)
        self._skin = TactileSkin(self.np_random)
        self._steps = 0
        self._swipe_start: float | None = None
        self._swipe_travel = 0.0
        self._succeeded = False
        self._released = False
        self._gripper_cmd = 1.0
        obs = self._observe()
        info = self._info()
        self._potential = potential(info["goal_distance"], info["goal_angle"])
        return obs, info

    def _apply_layout(self, layout: Layout) -> None:
        m, d = self.model, self.data
        m.body_pos[self._target] = layout.target_pos
        m.body_quat[self._target] = matrix_to_quat(yaw_matrix(layout.target_yaw))
        hidden = np.isin(m.geom_bodyid, self._distractor_bodies)
        m.geom_rgba[hidden, 3] = 0.0  # the renderer skips invisible geoms: much faster
        for body in self._distractor_bodies:
            m.body_pos[body] = [0.0, 0.0, -2.0]
        for item in layout.distractors:
            body = self._distractor_bodies[item.slot]
            m.body_pos[body] = item.pos
            m.body_quat[body] = matrix_to_quat(yaw_matrix(item.yaw))
            geoms = np.flatnonzero(m.geom_bodyid == body)
            m.geom_rgba[geoms, 3] = 1.0
            rgb = COLOURS[item.colour]
            if item.decoy:
                m.geom_rgba[geoms, :3] = rgb
                continue
            m.geom_type[geoms] = SHAPE_TYPES[item.shape]
            m.geom_size[geoms] = item.size
            m.geom_pos[geoms] = [0.0, 0.0, item.size[2] if item.shape != "sphere" else item.size[0]]
            m.geom_rgba[geoms, :3] = rgb
        for geom, surface, texture, rgb in (
            (self._table, "table", layout.table_texture, layout.table_rgb),
            (self._wall, "wall", layout.wall_texture, layout.wall_rgb),
        ):
            mat = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_MATERIAL, f"{surface}_{texture}")
            m.geom_matid[geom] = mat
            m.mat_rgba[mat, :3] = rgb
            m.geom_rgba[geom, :3] = rgb
        directions = self._base["light_dir"] + layout.light_shift
        m.light_dir[:] = directions / np.linalg.norm(directions, axis=1, keepdims=True)
        m.light_diffuse[:] = np.clip(self._base["light_diffuse"] * layout.light_scale, 0, 1)
        m.cam_pos[:] = self._base["cam_pos"]
        m.cam_quat[:] = self._base["cam_quat"]
        m.cam_pos[self._scene_cam] += layout.camera_shift
        tilt = axis_angle_to_matrix(layout.camera_tilt)
        base = quat_to_matrix(self._base["cam_quat"][self._scene_cam])
        m.cam_quat[self._scene_cam] = matrix_to_quat(tilt @ base)
        m.cam_pos[self._wrist_cam] += layout.wrist_shift

        mujoco.mj_resetData(m, d)
        rot = yaw_matrix(layout.start_yaw) @ DOWN
        quat = matrix_to_quat(rot)
        d.qpos[self._gripper_qpos : self._gripper_qpos + 3] = layout.start_pos
        d.qpos[self._gripper_qpos + 3 : self._gripper_qpos + 7] = quat
        held_pos = layout.start_pos + rot @ np.array([0.0, 0.0, self.task.grip_height])
        d.qpos[self._held_qpos : self._held_qpos + 3] = held_pos
        d.qpos[self._held_qpos + 3 : self._held_qpos + 7] = matrix_to_quat(rot @ DOWN)
        d.mocap_pos[self._mocap] = layout.start_pos
        d.mocap_quat[self._mocap] = quat
        d.eq_active[self._grasp] = 1
        m.eq_data[self._station_grasps, 3:10] = self._grasp_relpose
        m.body_gravcomp[self._held] = 1.0
        if layout.station is not None:
            self._apply_station(layout.station)
        d.ctrl[:] = self._closed_at
        mujoco.mj_forward(m, d)

    def _apply_station(self, station: Station) -> None:
        """Place the second target, its rack, and its object upright in the rack."""
        m, d = self.model, self.data
        m.body_pos[self._station_targets[1]] = station.target_pos
        m.body_quat[self._station_targets[1]] = matrix_to_quat(yaw_matrix(station.target_yaw))
        m.body_pos[self._racks[0]] = station.rack_pos
        m.body_quat[self._racks[0]] = matrix_to_quat(yaw_matrix(station.rack_yaw))
        held = self._station_helds[1]
        qpos = m.jnt_qposadr[m.body_jntadr[held]]
        d.qpos[qpos : qpos + 3] = station.rack_pos + np.array([0.0, 0.0, RACK_FLOOR + 0.0005])
        d.qpos[qpos + 3 : qpos + 7] = matrix_to_quat(yaw_matrix(station.rack_yaw))
        d.eq_active[self._station_grasps[1]] = 0
        m.geom_contype[self._rack_geoms], m.geom_conaffinity[self._rack_geoms] = self._rack_collides
        # A rack holds its object as the table would: no weight to fall over with.
        m.body_gravcomp[held] = 1.0

    # ------------------------------------------------------------------------ stepping
    def step(
        self, action: np.ndarray
    ) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        """Apply one 7-D action for 0.1 s of simulated time."""
        raw = np.asarray(action, dtype=np.float32)
        if raw.size != 7 or not np.all(np.isfinite(raw)):
            raise SimError(
                f"an action must be 7 finite numbers, got shape {raw.shape}",
                hint="send xyz delta (m), axis-angle delta (rad) and the gripper command",
            )
        applied = np.clip(raw.reshape(7), ACTION_LOW, ACTION_HIGH)
        d = self.data
        rot = quat_to_matrix(d.mocap_quat[self._mocap])
        target_pos = d.mocap_pos[self._mocap] + rot @ applied[:3]
        target_rot = rot @ axis_angle_to_matrix(applied[3:6])
        ee = self.ee_pose_matrix()
        ee_pos, ee_rot = ee[:3, 3], ee[:3, :3]
        offset = target_pos - ee_pos
        if np.linalg.norm(offset) > LEASH:
            target_pos = ee_pos + offset * LEASH / np.linalg.norm(offset)
        turn = matrix_to_axis_angle(ee_rot.T @ target_rot)
        if np.linalg.norm(turn) > 3 * MAX_ROTATION:
            target_rot = ee_rot @ axis_angle_to_matrix(
                turn * 3 * MAX_ROTATION / np.linalg.norm(turn)
            )
        d.mocap_pos[self._mocap] = np.clip(target_pos, WORKSPACE[:, 0], WORKSPACE[:, 1])
        d.mocap_quat[self._mocap] = matrix_to_quat(target_rot)
        self._set_gripper(float(applied[6]))
        mujoco.mj_step(self.model, d, nstep=SUBSTEPS)
        if not np.all(np.isfinite(d.qpos)):
            raise SimError(
                f"the simulation became unstable at step {self._steps + 1}",
                hint="reset the environment; please report the task, seed and actions",
            )
        self._steps += 1
        obs = self._observe()
        success = bool(obs["success"][0])
        info = self._info()
        now = potential(info["goal_distance"], info["goal_angle"])
        reward = now - self._potential + (SUCCESS_BONUS if success else 0.0)
        self._potential = now
        truncated = self._steps >= self.max_steps and not success
        info["applied_action"] = applied
        return obs, float(reward), success, truncated, info

    def _set_gripper(self, command: float) -> None:
        """Close (+1) or open (-1) the fingers; opening past half lets go of the object.

        Closing with empty fingers around a racked object of a chained scene takes it.
        """
        self._gripper_cmd = command
        opening = FINGER_TRAVEL * (1.0 - command) / 2.0
        self.data.ctrl[:] = self._closed_at + opening
        if command > 0.0 and self._released:
            for station in range(len(self.stations)):
                if station not in self._taken and self._within_grasp(station):
                    self._take(station)
                    break
        if command < 0.0 and not self._released:
            # Let go: the weld (the grasp) goes, and so does the support that
            # compensated the object's weight while it was held.
            self._released = True
            self.data.eq_active[self._grasp] = 0
            self.model.body_gravcomp[self._held] = 0.0

    def _grip_offset(self, station: int) -> tuple[np.ndarray, float]:
        """Where `station`'s grip point is in the end-effector frame, and the yaw between them."""
        d, spec = self.data, self.stations[station]
        body = self._station_helds[station]
        rot = d.xmat[body].reshape(3, 3)
        grip = d.xpos[body] + rot @ np.array([0.0, 0.0, spec.grip_height])
        ee = self.ee_pose_matrix()
        relative = (ee[:3, :3] @ DOWN).T @ rot
        yaw = float(np.arctan2(relative[1, 0], relative[0, 0]))
        return ee[:3, :3].T @ (grip - ee[:3, 3]), abs((yaw + np.pi / 2) % np.pi - np.pi / 2)

    def _within_grasp(self, station: int) -> bool:
        """Whether the open fingers would close on `station`'s object (`grasp_reach`)."""
        offset, yaw = self._grip_offset(station)
        return bool(np.all(np.abs(offset) <= self._grasp_reach[station]) and yaw <= GRASP_YAW)

    def station_bodies(self) -> list[tuple[TaskSpec, int, int]]:
        """Each station's task with its target's and its object's body ids, first task first."""
        return list(zip(self.stations, self._station_targets, self._station_helds, strict=True))

    def _take(self, station: int) -> None:
        """Hold `station`'s object where the fingers closed on it and work on its task.

        The fingers centre the object between them and square it to their pads; along
        the pads and up or down it stays where they met it, so a grasp off the grip
        point holds the object off its nominal place in the hand. The object leaves
        its rack: the rack stops colliding (until the next episode), so centring an
        object that leaned in its slot does not wrench the arm through the slot's walls.
        """
        offset, _ = self._grip_offset(station)
        self._grip_at(station, offset[0], offset[2])
        self.model.geom_contype[self._rack_geoms] = 0
        self.model.geom_conaffinity[self._rack_geoms] = 0
        self.data.eq_active[self._station_grasps[station]] = 1
        self._taken.add(station)
        self._activate(station)
        self._released = False
        self._succeeded = False
        self._swipe_start = None
        self._swipe_travel = 0.0
        self.data.ctrl[:] = self._closed_at

    @property
    def steps(self) -> int:
        """Steps taken in this episode."""
        return self._steps

    @property
    def succeeded(self) -> bool:
        """Whether this episode has succeeded (latched)."""
        return self._succeeded

    def body_id(self, name: str) -> int:
        """Return the MuJoCo body id of `target`, `held`, `gripper` or `distractor_N`.

        `target` and `held` are the current task's; a chained scene's second station
        is also reachable as `target_1`, `held_1` and `rack_1`.
        """
        if name.startswith("distractor_"):
            return self._distractor_bodies[int(name.removeprefix("distractor_"))]
        current = {"target": self._target, "held": self._held, "gripper": self._gripper}
        if name in current:
            return current[name]
        body = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_BODY, name)
        if body < 0:
            raise SimError(f"the scene has no body `{name}`", hint="see VitalEnv.body_id")
        return body

    def hold_off_centre(self, along: float, height: float) -> dict[str, np.ndarray]:
        """Hold the object off its grasp: `along` the pads (m, their x) and `height` lower.

        `height` (m) is how much lower the object hangs in the hand (negative: higher).

        For a stress test, right after `reset`: the object sits in the hand where an
        off-centre grasp leaves it (`_take` holds a racked object the same way), and
        the episode starts from there. Returns the new observation.
        """
        relpos = self._grip_at(self.stations.index(self.task), along, height)
        ee = self.ee_pose_matrix()
        self.data.qpos[self._held_qpos : self._held_qpos + 3] = ee[:3, 3] + ee[:3, :3] @ relpos
        self.data.qvel[self._held_dofs] = 0.0
        return self._restart()

    def _grip_at(self, station: int, along: float, height: float) -> np.ndarray:
        """Make `station`'s grasp hold its object `along` the pads and `height` lower.

        Returns the object's tip in the end-effector frame that the grasp now keeps.
        """
        relpos = self._grasp_relpose[station, :3] + np.array([along, 0.0, height])
        self.model.eq_data[self._station_grasps[station], 3:6] = relpos
        return relpos

    def _restart(self) -> dict[str, np.ndarray]:
        """After a change to the start: recompute the state and the reward's potential
        from there (so the first step's reward is not the change); the observation."""
        mujoco.mj_forward(self.model, self.data)
        info = self._info()
        self._potential = potential(info["goal_distance"], info["goal_angle"])
        return self._observe()

    def place_held(self, pose_in_target: np.ndarray) -> bool:
        """Put the held object at a 4x4 pose in the target frame; return whether that succeeds.

        A teleport for tests and figures: the gripper follows so the grasp holds, no
        physics is integrated, and success is judged by geometry alone.
        """
        d = self.data
        held = self.target_matrix() @ pose_in_target
        ee_rot = held[:3, :3] @ DOWN
        ee_pos = held[:3, 3] - ee_rot @ np.array([0.0, 0.0, self.task.grip_height])
        d.qpos[self._held_qpos : self._held_qpos + 3] = held[:3, 3]
        d.qpos[self._held_qpos + 3 : self._held_qpos + 7] = matrix_to_quat(held[:3, :3])
        d.qpos[self._gripper_qpos : self._gripper_qpos + 3] = ee_pos
        d.qpos[self._gripper_qpos + 3 : self._gripper_qpos + 7] = matrix_to_quat(ee_rot)
        d.mocap_pos[self._mocap] = ee_pos
        d.mocap_quat[self._mocap] = matrix_to_quat(ee_rot)
        d.qvel[:] = 0.0
        mujoco.mj_forward(self.model, d)
        self._succeeded = self._success()
        return self._succeeded

    def shift_start(self, offset: np.ndarray) -> dict[str, np.ndarray]:
        """Move the gripper and the object it holds by `offset` (m, base frame) at the start.

        What a `reach` to a point that is `offset` off would have done: `eval
        --grounding-error` starts each episode where a grounder's error leaves the gripper.
        Returns the observation from there.
        """
        d, shift = self.data, np.asarray(offset, dtype=float).reshape(3)
        d.qpos[self._gripper_qpos : self._gripper_qpos + 3] += shift
        d.qpos[self._held_qpos : self._held_qpos + 3] += shift
        d.mocap_pos[self._mocap] += shift
        return self._restart()

    def hold(self) -> None:
        """Freeze the motion target where the gripper is now (a protective stop)."""
        pose = self.ee_pose_matrix()
        self.data.mocap_pos[self._mocap] = pose[:3, 3]
        self.data.mocap_quat[self._mocap] = matrix_to_quat(pose[:3, :3])

    def commanded_pose(self) -> np.ndarray:
        """The pose the controller drives the gripper to (xyz, wxyz): where actions start."""
        d = self.data
        return np.concatenate([d.mocap_pos[self._mocap], d.mocap_quat[self._mocap]])

    # ------------------------------------------------- the simulator served as hardware
    # What `vitalskills.sim.hardware` needs beyond an episode: nothing below is called
    # by `reset` or `step`, so episodes are the same with or without it.

    @property
    def holding(self) -> bool:
        """Whether the current task's object is in the gripper (not let go of)."""
        return not self._released

    @property
    def gripper_command(self) -> float:
        """The last gripper command (-1 open .. 1 close)."""
        return self._gripper_cmd

    def sense(self) -> dict[str, np.ndarray]:
        """Read every sensor once now, e.g. after a person changed the scene."""
        return self._observe()

    def restart(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Begin a new episode where the world stands: nothing is drawn or moved.

        The step count, the success latch and the swipe's travel start again, the
        reward's potential is taken from here, and the tactile skin re-zeroes (its
        baseline becomes the median of its next readings), as a real sensor's driver
        does when an episode starts. Returns the observation and info, as `reset` does.
        """
        self._steps = 0
        self._swipe_start = None
        self._swipe_travel = 0.0
        self._succeeded = False
        self._skin._first, self._skin._baseline = [], None
        obs = self._observe()
        info = self._info()
        self._potential = potential(info["goal_distance"], info["goal_angle"])
        return obs, info

    def contact_distances(self, body: int, ignore: tuple[int, ...] = ()) -> np.ndarray:
        """Distances (m, negative when they overlap) of `body`'s contacts with other geoms.

        Read from the contacts of the last forward pass; the `ignore` geoms are left out.
        """
        m = self.model
        contacts = self.data.contact
        mine = m.geom_bodyid[contacts.geom] == body  # (ncon, 2)
        other = np.where(mine[:, 0], contacts.geom[:, 1], contacts.geom[:, 0])
        counted = (mine[:, 0] != mine[:, 1]) & ~np.isin(other, list(ignore))
        return contacts.dist[counted].copy()

    def seat_held(self, max_penetration: float = 0.0005) -> bool:
        """Put the current task's object back in the gripper at its nominal grasp.

        What a person does by hand: wherever the object is (dropped, stuck in the
        target, tilted in the fingers), it is taken and held between the fingers as
        at the start of an episode, and the fingers close on it. The gripper does not
        move. Returns False, changing nothing, when the object would overlap something
        by more than `max_penetration` (m): the gripper is too low to seat it.
        """
        m, d = self.model, self.data
        saved = (d.qpos.copy(), d.qvel.copy(), d.eq_active.copy(), d.ctrl.copy())
        before = (float(m.body_gravcomp[self._held]), self._released, self._gripper_cmd)
        ee = self.ee_pose_matrix()
        rot = ee[:3, :3]
        d.qpos[self._held_qpos : self._held_qpos + 3] = ee[:3, 3] + rot @ np.array(
            [0.0, 0.0, self.task.grip_height]
        )
        d.qpos[self._held_qpos + 3 : self._held_qpos + 7] = matrix_to_quat(rot @ DOWN)
        d.qvel[self._held_dofs] = 0.0
        for qpos in self._finger_qpos:
            d.qpos[qpos] = self._closed_at
        for side in ("left", "right"):
            joint = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, f"finger_{side}")
            d.qvel[m.jnt_dofadr[joint]] = 0.0
        d.eq_active[self._grasp] = 1
        m.body_gravcomp[self._held] = 1.0
        self._released = False
        self._gripper_cmd = 1.0
        d.ctrl[:] = self._closed_at
        mujoco.mj_forward(m, d)
        if np.all(self.contact_distances(self._held) >= -max_penetration):
            return True
        d.qpos[:], d.qvel[:], d.eq_active[:], d.ctrl[:] = saved
        m.body_gravcomp[self._held], self._released, self._gripper_cmd = before
        mujoco.mj_forward(m, d)
        return False

    # ----------------------------------------------------------------------- sensing
    def ee_pose_matrix(self) -> np.ndarray:
        """Return the end effector's 4x4 pose in the base frame."""
        d = self.data
        return pose_matrix(d.xpos[self._gripper].copy(), d.xmat[self._gripper].reshape(3, 3).copy())

    def target_matrix(self) -> np.ndarray:
        """Return the target frame's 4x4 pose in the base frame."""
        d = self.data
        return pose_matrix(d.xpos[self._target].copy(), d.xmat[self._target].reshape(3, 3).copy())

    def held_matrix(self) -> np.ndarray:
        """Return the held object's 4x4 pose (tip frame) in the base frame."""
        d = self.data
        return pose_matrix(d.xpos[self._held].copy(), d.xmat[self._held].reshape(3, 3).copy())

    def goal_matrix(self) -> np.ndarray:
        """Return the end-effector pose (base frame) that puts the tip at the goal depth."""
        tip = self.task.goal_tip() + np.array([0.0, 0.0, self.task.grip_height])
        return self.target_matrix() @ pose_matrix(tip, DOWN)

    def grasp_wrench(self) -> tuple[np.ndarray, np.ndarray]:
        """Return the force and torque the held object puts on the fingertips (EE frame).

        Read from the grasp weld's constraint force (what the fingers apply to the
        object), negated, with the torque taken about the grasp point.
        """
        d = self.data
        if not d.eq_active[self._grasp]:
            return np.zeros(3), np.zeros(3)
        rows = np.flatnonzero(
            (d.efc_type == mujoco.mjtConstraint.mjCNSTR_EQUALITY) & (d.efc_id == self._grasp)
        )
        jac = d.efc_J.reshape(d.nefc, self.model.nv)[rows][:, self._held_dofs]
        generalized = jac.T @ d.efc_force[rows]
        held = self.held_matrix()
        force_w = generalized[:3]
        torque_w = held[:3, :3] @ generalized[3:]
        ee = self.ee_pose_matrix()
        torque_w = torque_w + np.cross(held[:3, 3] - ee[:3, 3], force_w)
        return -(ee[:3, :3].T @ force_w), -(ee[:3, :3].T @ torque_w)

    def insertion(self):
        """Return the held object's `Insertion` in the target."""
        relative = np.linalg.inv(self.target_matrix()) @ self.held_matrix()
        return measure_insertion(self.task, relative)

    def _success(self) -> bool:
        insertion = self._insertion = self.insertion()
        if self.task.kind != "swipe":
            return insertion.inserted(self.task)
        if insertion.inserted(self.task):
            if self._swipe_start is None:
                self._swipe_start = insertion.along
            self._swipe_travel = max(self._swipe_travel, abs(insertion.along - self._swipe_start))
        else:
            self._swipe_start = None
            self._swipe_travel = 0.0
        return self._swipe_travel >= self.task.swipe_travel

    def _goal_errors(self) -> tuple[float, float]:
        ee, goal = self.ee_pose_matrix(), self.goal_matrix()
        distance = float(np.linalg.norm(ee[:3, 3] - goal[:3, 3]))
        angle = float(np.linalg.norm(matrix_to_axis_angle(goal[:3, :3].T @ ee[:3, :3])))
        return distance, angle

    def _observe(self) -> dict[str, np.ndarray]:
        # In a chained scene an object let go of is done with: what the next skill is
        # judged on is the next object, so nothing succeeds until one is taken.
        holding = not self._released or len(self.stations) == 1
        self._succeeded = holding and (self._success() or self._succeeded)
        force, torque = self.grasp_wrench()
        ee = self.ee_pose_matrix()
        fingers = np.mean([self.data.qpos[q] for q in self._finger_qpos])
        obs = {
            "tactile": self._skin.read(force, torque),
            "ee_pose": np.concatenate([ee[:3, 3], matrix_to_quat(ee[:3, :3])]).astype(np.float32),
            "gripper": np.array(
                [np.clip(1.0 - (fingers - self._closed_at) / FINGER_TRAVEL, 0, 1)], dtype=np.float32
            ),
            "success": np.array([self._succeeded]),
        }
        if self.render_wrist:
            obs["wrist_rgb"] = self.render_camera("wrist", self.image_size, self.image_size)
        if self.privileged:
            obs["privileged/wrist_mask"] = self.render_labels(
                "wrist", self.image_size, self.image_size
            )
        return obs

    def _info(self) -> dict[str, Any]:
        distance, angle = self._goal_errors()
        insertion = self._insertion
        info = {
            "success": self._succeeded,
            "insertion_depth": insertion.depth,
            "goal_distance": distance,
            "goal_angle": angle,
            "step": self._steps,
        }
        if self.task.kind == "swipe":
            info["swipe_travel"] = self._swipe_travel
        return info

    # --------------------------------------------------------------------- rendering
    def _renderer(self, height: int, width: int) -> mujoco.Renderer:
        key = (height, width)
        if key not in self._renderers:
            self._renderers[key] = mujoco.Renderer(self.model, height, width)
        return self._renderers[key]

    def render_camera(
        self, camera: str, height: int, width: int, depth: bool = False
    ) -> np.ndarray:
        """Render `camera` as RGB uint8, or as depth in metres with `depth=True`."""
        renderer = self._renderer(height, width)
        renderer.update_scene(self.data, camera=camera)
        if depth:
            renderer.enable_depth_rendering()
            try:
                return renderer.render().astype(np.float32)
            finally:
                renderer.disable_depth_rendering()
        return renderer.render()

    def render_segmentation(self, camera: str, height: int, width: int) -> np.ndarray:
        """Render `camera`'s per-pixel geom id (-1 for background)."""
        renderer = self._renderer(height, width)
        renderer.update_scene(self.data, camera=camera)
        renderer.enable_segmentation_rendering()
        try:
            seg = renderer.render()
        finally:
            renderer.disable_segmentation_rendering()
        geom = seg[..., 0].astype(np.int64)
        geom[seg[..., 1] != mujoco.mjtObj.mjOBJ_GEOM] = -1
        return geom

    def render_labels(self, camera: str, height: int, width: int) -> np.ndarray:
        """Render `camera` as `MASK_LABELS` (target / gripper / held object)."""
        geom = self.render_segmentation(camera, height, width)
        labels = np.zeros(geom.shape, dtype=np.uint8)
        valid = geom >= 0
        labels[valid] = self._geom_label[geom[valid]]
        return labels

    def render(self) -> np.ndarray | None:
        """Return the scene camera image when `render_mode` is `rgb_array`."""
        if self.render_mode != "rgb_array":
            return None
        return self.render_camera("scene", *self.scene_size)

    def close(self) -> None:
        """Free the renderers' GL contexts."""
        for renderer in self._renderers.values():
            renderer.close()
        self._renderers.clear()


def grasp_reach(spec: TaskSpec, half_length: float) -> np.ndarray:
    """How far (m, per end-effector axis) from its grip point closing fingers take an object.

    `GRASP_REACH`, widened along x to where the object's length (`half_length`, half of
    it along its x) still covers the whole pads, and across the fingers to how far its
    rack lets it lean (`rack_lean`).
    """
    x, y, z = GRASP_REACH
    return np.array([max(x, half_length - PAD_HALF_WIDTH), max(y, rack_lean(spec)), z])


def _half_length(model: mujoco.MjModel, body: int) -> float:
    """Half the length (m) of a body's colliding boxes along its own x."""
    boxes = np.flatnonzero(
        (model.geom_bodyid == body)
        & (model.geom_type == mujoco.mjtGeom.mjGEOM_BOX)
        & (model.geom_contype > 0)
    )
    return float(np.max(np.abs(model.geom_pos[boxes, 0]) + model.geom_size[boxes, 0]))
