"""The dry run: walk a plan without a simulator, to validate it.

`DryRunRobot` integrates actions kinematically (no contacts, no physics), the grounder
returns a declared placeholder point marked `placeholder` in events, and every skill's
policy holds still and declares success after a few steps. A dry run shows that the
plan is well formed and how it flows; it says nothing about whether it would work.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np

from vitalskills.lang import compile_task
from vitalskills.perception.grounder import LocateResult
from vitalskills.robot import (
    CameraSpec,
    Observation,
    RobotCapabilities,
    SafetyStop,
    SceneFrame,
    SkillSpec,
)
from vitalskills.robot.geometry import axis_angle_to_matrix, matrix_to_quat, quat_to_matrix
from vitalskills.runtime.context import ManualClock
from vitalskills.runtime.events import Subscriber
from vitalskills.runtime.executor import Executor, RunResult
from vitalskills.runtime.plan import Plan, build_plan
from vitalskills.skills import default_library

#: Where the dry-run grounder says every object is, base frame, metres.
PLACEHOLDER_POINT = (0.5, 0.0, 0.05)
#: AnySkin's 5 magnetometers x 3 axes, the tactile layout the skills are trained on.
TACTILE_DIM = 15
#: Start pose: 30 cm above the table, gripper pointing down (180 deg about x), wxyz.
HOME_POSE = (0.4, 0.0, 0.3, 0.0, 1.0, 0.0, 0.0)


class DryRunRobot:
    """A kinematic robot: the end effector goes exactly where clipped actions send it.

    Args:
        control_hz: the control rate it reports (the executor ticks at it).
        max_translation: per-step translation clip, metres (like a real driver's limit).
        workspace: optional (low, high) xyz box; leaving it raises `SafetyStop`.
    """

    def __init__(
        self,
        *,
        control_hz: float = 10.0,
        max_translation: float = 0.02,
        max_rotation: float = 0.1,
        workspace: tuple[Iterable[float], Iterable[float]] | None = None,
    ) -> None:
        self.control_hz = control_hz
        self.max_translation = max_translation
        self.max_rotation = max_rotation
        self.workspace = (
            None if workspace is None else tuple(np.asarray(list(w)) for w in workspace)
        )
        self.position = np.asarray(HOME_POSE[:3], dtype=np.float64)
        self.rotation = quat_to_matrix(np.asarray(HOME_POSE[3:]))
        self.gripper = 0.0
        self.moving = False
        self.actions = 0
        self.stops = 0
        self.closed = False

    def capabilities(self) -> RobotCapabilities:
        return RobotCapabilities(
            name="dry-run",
            sensors=["wrist_rgb", "tactile", "ee_pose", "gripper", "scene_rgbd"],
            cameras=[CameraSpec(name="wrist_rgb", width=128, height=128)],
            tactile_dim=TACTILE_DIM,
            control_hz=self.control_hz,
        )

    def reset(self, seed: int | None = None) -> Observation:
        self.position = np.asarray(HOME_POSE[:3], dtype=np.float64)
        self.rotation = quat_to_matrix(np.asarray(HOME_POSE[3:]))
        self.gripper = 0.0
        self.moving = False
        return self.observe()

    def observe(self) -> Observation:
        pose = np.concatenate([self.position, matrix_to_quat(self.rotation)])
        return {
            "wrist_rgb": np.zeros((128, 128, 3), dtype=np.uint8),
            "tactile": np.zeros(TACTILE_DIM, dtype=np.float32),
            "ee_pose": pose.astype(np.float32),
            "gripper": np.array([self.gripper], dtype=np.float32),
        }

    def act(self, action: np.ndarray) -> np.ndarray:
        applied = np.asarray(action, dtype=np.float32).reshape(7).copy()
        norm = float(np.linalg.norm(applied[:3]))
        if norm > self.max_translation:
            applied[:3] *= self.max_translation / norm
        applied[3:6] = np.clip(applied[3:6], -self.max_rotation, self.max_rotation)
        applied[6] = np.clip(applied[6], -1.0, 1.0)
        position = self.position + self.rotation @ applied[:3].astype(np.float64)
        if self.workspace is not None:
            low, high = self.workspace
            if np.any(position < low) or np.any(position > high):
                self.stop()
                raise SafetyStop(
                    f"the end effector would leave the workspace at {position.round(3).tolist()}",
                    hint="keep targets and offsets inside the robot's workspace",
                )
        self.position = position
        self.rotation = self.rotation @ axis_angle_to_matrix(applied[3:6].astype(np.float64))
        goal = (float(applied[6]) + 1.0) / 2.0
        self.gripper += float(np.clip(goal - self.gripper, -0.25, 0.25))
        self.moving = True
        self.actions += 1
        return applied

    def stop(self) -> None:
        self.moving = False
        self.stops += 1

    def scene(self) -> SceneFrame:
        intrinsics = np.array([[100.0, 0, 80], [0, 100.0, 60], [0, 0, 1]])
        return SceneFrame(
            rgb=np.zeros((120, 160, 3), dtype=np.uint8),
            depth=np.zeros((120, 160), dtype=np.float32),
            intrinsics=intrinsics,
            extrinsics=np.eye(4),
        )

    def close(self) -> None:
        self.stop()
        self.closed = True

    def __enter__(self) -> DryRunRobot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class DryRunGrounder:
    """Answer every query with a declared placeholder point, flagged as a placeholder.

    Args:
        point: the placeholder, base frame, metres.
        points: per-query placeholders that override `point`.
        missing: queries to report as not found (to walk `if found ... else` branches).
    """

    name = "dry-run"

    def __init__(
        self,
        point: Iterable[float] = PLACEHOLDER_POINT,
        *,
        points: Mapping[str, Iterable[float]] | None = None,
        missing: Iterable[str] = (),
    ) -> None:
        self.point = np.asarray(list(point), dtype=np.float64)
        self.points = {q: np.asarray(list(p), dtype=np.float64) for q, p in (points or {}).items()}
        self.missing = set(missing)

    def locate(self, frame: SceneFrame, query: str) -> LocateResult:
        if query in self.missing:
            return LocateResult(query=query, grounder=self.name, found=False, placeholder=True)
        return LocateResult(
            query=query,
            grounder=self.name,
            found=True,
            score=1.0,
            point=self.points.get(query, self.point).copy(),
            placeholder=True,
        )


class DryRunPolicy:
    """Hold still (keeping the gripper as it is) and declare success after `steps` steps."""

    def __init__(self, steps: int) -> None:
        self.steps = steps
        self.taken = 0

    def reset(self) -> None:
        self.taken = 0

    def act(self, observation: Observation) -> np.ndarray:
        self.taken += 1
        action = np.zeros(7, dtype=np.float32)
        action[6] = 1.0 if float(observation["gripper"][0]) > 0.5 else -1.0
        return action

    def succeeded(self, observation: Observation) -> bool:
        return self.taken >= self.steps


class DryRunPolicyProvider:
    """Give every skill a `DryRunPolicy` (no weights are read)."""

    def __init__(self, steps: int = 3) -> None:
        self.steps = steps
        self.loaded: list[str] = []

    def load(self, manifest: SkillSpec) -> DryRunPolicy:
        self.loaded.append(manifest.name)
        return DryRunPolicy(min(self.steps, manifest.max_steps))


class EveryName(Mapping[str, DryRunGrounder]):
    """Answer every grounder name a task asks for with the same dry-run grounder."""

    def __init__(self, grounder: DryRunGrounder) -> None:
        self.grounder = grounder

    def __getitem__(self, name: str) -> DryRunGrounder:
        return self.grounder

    def __contains__(self, name: object) -> bool:
        return True

    def __iter__(self) -> Iterator[str]:
        return iter([self.grounder.name])

    def __len__(self) -> int:
        return 1


def plan_file(
    path: Path,
    *,
    skills_dirs: Sequence[Path] = (),
    overrides: Mapping[str, str] | None = None,
) -> Plan:
    """Compile and check `path` against the skill library and the dry-run robot, then plan it.

    Raises:
        CheckFailed: the task has errors.
        UsageError: a missing file or a bad override.
    """
    library = default_library(list(skills_dirs))
    capabilities = DryRunRobot().capabilities()
    task = compile_task(path, library=library, robot=capabilities, overrides=overrides)
    return build_plan(task, library.get)


def dry_run(
    plan: Plan,
    *,
    subscribers: Iterable[Subscriber] = (),
    not_found: Iterable[str] = (),
    timeout: float | None = None,
    source: str = "",
) -> RunResult:
    """Walk `plan` on the dry-run backend.

    Every locate answers with the placeholder point (or not found, for queries in
    `not_found`), every skill's policy declares success after a few steps, and virtual
    time makes `wait` and timeouts instant. It validates the plan; it simulates nothing.
    """
    with DryRunRobot() as robot:
        executor = Executor(
            robot,
            EveryName(DryRunGrounder(missing=not_found)),
            DryRunPolicyProvider(),
            clock=ManualClock(),
            subscribers=list(subscribers),
            timeout=timeout,
            run_info={"backend": "dry-run", "file": source},
        )
        return executor.run(plan)
