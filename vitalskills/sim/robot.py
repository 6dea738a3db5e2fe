"""`SimRobot`: the simulator behind the `Robot` interface, for the executor and the bridge.

It adds what a real robot cannot give, keyed `privileged/...`: the wrist camera's
segmentation labels (target / gripper / held object, for semantic augmentation) and
the true target pose. `scene()` returns the scene camera's RGB-D frame with its
camera model and, privileged, per-object masks, true target points and the phrases
people use for each object.
"""

from __future__ import annotations

from types import TracebackType

import numpy as np

from vitalskills.robot import (
    CameraSpec,
    Observation,
    RobotCapabilities,
    RobotError,
    SceneFrame,
)
from vitalskills.sim.env import ACTION_HIGH, CONTROL_HZ, VitalEnv
from vitalskills.sim.scene import DECOYS
from vitalskills.sim.tasks import CHAIN, SimError

SENSORS = ["wrist_rgb", "tactile", "ee_pose", "gripper", "scene_rgbd"]
#: OpenCV camera axes (x right, y down, z forward) expressed in MuJoCo's camera axes.
MJ_TO_CV = np.diag([1.0, -1.0, -1.0])


def sim_capabilities(env: VitalEnv, privileged: bool) -> RobotCapabilities:
    """Describe a simulated robot running `env`: its sensors, cameras and action space."""
    h, w = env.scene_size
    size = env.image_size
    return RobotCapabilities(
        name="sim:" + CHAIN.join(spec.name for spec in env.stations),
        sensors=list(SENSORS),
        cameras=[
            CameraSpec(name="wrist", width=size, height=size),
            CameraSpec(name="scene", width=w, height=h, depth=True),
        ],
        tactile_dim=15,
        action_dim=7,
        control_hz=CONTROL_HZ,
        action_limits=ACTION_HIGH.tolist(),
        privileged=privileged,
    )


def scene_frame(env: VitalEnv) -> SceneFrame:
    """Render the scene camera's RGB-D frame with its camera model, and nothing privileged."""
    h, w = env.scene_size
    rgb = env.render_camera("scene", h, w)
    depth = env.render_camera("scene", h, w, depth=True)
    model, data = env.model, env.data
    cam = model.camera("scene").id
    focal = (h / 2.0) / np.tan(np.deg2rad(model.cam_fovy[cam]) / 2.0)
    # Pixel (u, v) is the centre of pixel column u and row v, so the optical axis,
    # at the middle of the image plane, falls on ((w - 1) / 2, (h - 1) / 2).
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    intrinsics = np.array([[focal, 0.0, cx], [0.0, focal, cy], [0.0, 0.0, 1.0]])
    extrinsics = np.eye(4)
    extrinsics[:3, :3] = data.cam_xmat[cam].reshape(3, 3) @ MJ_TO_CV
    extrinsics[:3, 3] = data.cam_xpos[cam]
    return SceneFrame(rgb=rgb, depth=depth, intrinsics=intrinsics, extrinsics=extrinsics)


def privileged_scene(env: VitalEnv) -> SceneFrame:
    """Return the scene frame with the privileged masks, target points and labels."""
    h, w = env.scene_size
    frame = scene_frame(env)
    geoms = env.render_segmentation("scene", h, w)
    model, data = env.model, env.data
    bodies, objects, labels = {}, {}, {}
    for spec, target_body, held_body in env.station_bodies():
        target = data.xmat[target_body].reshape(3, 3)
        bodies |= {spec.target: target_body, spec.held: held_body}
        objects[spec.target] = target @ spec.target_point() + data.xpos[target_body]
        objects[spec.held] = data.xpos[held_body].copy()
        labels |= {spec.target: list(spec.target_labels), spec.held: list(spec.held_labels)}
    task = env.stations[0]
    for item in env.layout.distractors if env.layout else []:
        name = f"distractor_{item.slot}"
        bodies[name] = env.body_id(name)
        objects[name] = item.pos + np.array([0.0, 0.0, 0.02])
        kind = task.target_labels[0] if item.slot < DECOYS else item.shape
        labels[name] = [f"{item.colour} {kind}"]
    body_of_pixel = np.where(geoms >= 0, model.geom_bodyid[np.maximum(geoms, 0)], -1)
    segmentation = {name: body_of_pixel == body for name, body in bodies.items()}
    frame.segmentation = segmentation
    frame.objects = {k: np.asarray(v, dtype=float) for k, v in objects.items()}
    frame.labels = labels
    return frame


class SimRobot:
    """A simulated robot running one task; a context manager that stops on exit.

    Args:
        task: simulator task name, or two joined by `+` (a chained scene).
        condition: `canonical`, `spatial` or `scene`.
        seed: seeds the first `reset`.
        distractors: distractors per episode (default depends on the condition).
        image_size: side of the square wrist image.
        start: `home` (the default: a task run locates and reaches first) or
            `approach` (where a reaching step would leave the gripper).
        scene_size: (height, width) of the scene camera.
        wrist_jitter: move the wrist camera by up to this much (m) per axis each episode,
            in any condition (see `sample_layout`).
    """

    def __init__(
        self,
        task: str,
        condition: str = "canonical",
        seed: int | None = None,
        distractors: int | None = None,
        image_size: int = 128,
        start: str = "home",
        scene_size: tuple[int, int] = (240, 320),
        wrist_jitter: float | None = None,
    ) -> None:
        self.env = VitalEnv(
            task,
            condition,
            seed=seed,
            distractors=distractors,
            image_size=image_size,
            start=start,
            privileged=True,
            scene_size=scene_size,
            max_steps=10**9,
            wrist_jitter=wrist_jitter,
        )
        self._obs: Observation | None = None

    def capabilities(self) -> RobotCapabilities:
        """Describe the simulated robot's sensors, cameras and action space."""
        return sim_capabilities(self.env, privileged=True)

    def reset(self, seed: int | None = None) -> Observation:
        """Start a new episode (reproducible from `seed`) and return its observation."""
        obs, _ = self.env.reset(seed=seed)
        self._obs = self._with_privileged(obs)
        return self._obs

    def observe(self) -> Observation:
        """Return the latest observation (resetting first if there is none)."""
        if self._obs is None:
            return self.reset()
        return self._obs

    def act(self, action: np.ndarray) -> np.ndarray:
        """Apply one action for one control period; return the action after clipping."""
        if self._obs is None:
            self.reset()
        try:
            obs, _, _, _, info = self.env.step(action)
        except SimError as error:
            raise RobotError(error.message, hint=error.hint) from None
        self._obs = self._with_privileged(obs)
        return info["applied_action"]

    def stop(self) -> None:
        """Hold the gripper where it is now."""
        self.env.hold()

    def commanded_pose(self) -> np.ndarray:
        """Where the next action starts from: the motion target, ahead of `ee_pose` while
        the gripper moves (the bridge server checks the workspace box from it)."""
        return self.env.commanded_pose()

    def _with_privileged(self, obs: Observation) -> Observation:
        out = dict(obs)
        out["privileged/target_pose"] = self.env.target_matrix().astype(np.float32)
        out["privileged/insertion_depth"] = np.array([self.env.insertion().depth], np.float32)
        return out

    def scene(self) -> SceneFrame:
        """Return the scene camera's RGB-D frame, camera model and privileged labels."""
        if self._obs is None:
            self.reset()
        return privileged_scene(self.env)

    def close(self) -> None:
        """Stop and free the simulator's renderers."""
        self.stop()
        self.env.close()

    def __enter__(self) -> SimRobot:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
