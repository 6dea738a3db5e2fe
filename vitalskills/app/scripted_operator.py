"""The simulator's scripted expert as a stand-in teleoperator (`--teleop expert`).

A person teleoperating a robot looks at the scene to decide what to do; the scripted
expert looks at the simulator's state instead, through the operator's view (a side
channel of `bridge serve --driver sim:TASK --hardware --operator-view ADDR`, see
`vitalskills.bridge.operator_view`). Like a person, it marks success when it sees the
object in (the state's success flag) and gives up after a step budget. Its commands go
through the robot like anyone's, and the dataset records only what the robot reported
and the actions it applied: nothing it saw is stored.

`ScriptedOperator` runs the unchanged `vitalskills.sim.expert.ScriptedExpert` on a small
stand-in for the environment (`SceneView`) built from each snapshot of the state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from vitalskills.robot import Observation
from vitalskills.robot.geometry import heading
from vitalskills.sim.expert import ScriptedExpert
from vitalskills.sim.tasks import TaskSpec, get_task
from vitalskills.teleop import DeviceSpecError, Mark, TeleopError

#: The keys of a state snapshot the expert needs.
STATE_KEYS = ("task", "success", "target", "held", "ee", "insertion_depth")
LEGEND = "the scripted expert drives (it sees the simulator's state); Ctrl-C stops"


class StateSource(Protocol):
    """Anything that returns the simulator's state (`OperatorView` in practice)."""

    def state(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class _Depth:
    depth: float


class SceneView:
    """What `ScriptedExpert` reads from an environment, answered from one state snapshot.

    `steps` counts this operator's commands in the episode, not the simulator's steps
    (which go on across episodes when the arm is not reset).
    """

    def __init__(self) -> None:
        self.state: dict[str, Any] = {}
        self.task: TaskSpec | None = None
        self.steps = 0

    def update(self, state: dict[str, Any], steps: int) -> None:
        missing = [key for key in STATE_KEYS if key not in state]
        if missing:
            raise TeleopError(
                f"the operator's view sent a state without {', '.join(missing)}",
                hint="serve the simulator with `bridge serve --driver sim:TASK --hardware "
                "--operator-view ADDR` from the same vitalskills version",
            )
        self.state = state
        if self.task is None or self.task.name != state["task"]:
            self.task = get_task(str(state["task"]))
        self.steps = steps

    @property
    def succeeded(self) -> bool:
        return bool(self.state["success"])

    def _matrix(self, key: str) -> np.ndarray:
        return np.asarray(self.state[key], dtype=np.float64).reshape(4, 4)

    def target_matrix(self) -> np.ndarray:
        return self._matrix("target")

    def held_matrix(self) -> np.ndarray:
        return self._matrix("held")

    def ee_pose_matrix(self) -> np.ndarray:
        return self._matrix("ee")

    def insertion(self) -> _Depth:
        return _Depth(float(self.state["insertion_depth"]))


class ScriptedOperator:
    """The scripted expert as a `TeleopDevice`: it sees the scene, acts through the robot.

    Args:
        operator_view: the operator's view address (`ipc://...`, `tcp://...`), or any
            object with `state()` (tests build one on an in-process simulator).
        seed: seeds the expert's aiming error and tremor.
        budget: commands per episode after which it gives up (marks failure).
        timeout_s: how long one look at the state may take.
    """

    name = "expert"
    legend = LEGEND

    def __init__(
        self,
        operator_view: str | StateSource | None = None,
        *,
        seed: int | str = 0,
        budget: int | str = 150,
        timeout_s: float | str = 2.0,
    ) -> None:
        self._view_spec = operator_view
        self.view: StateSource | None = None
        self.budget = int(budget)
        self.timeout_s = float(timeout_s)
        self.scene = SceneView()
        # The expert reads an environment by duck typing; the scene view answers for one.
        self.expert = ScriptedExpert(self.scene, seed=int(seed))
        self._fresh = False

    def open(self) -> None:
        spec = self._view_spec
        if spec is None:
            raise DeviceSpecError(
                "the scripted operator needs the simulator's operator view",
                hint="serve the simulator with `vitalskills bridge serve --driver sim:TASK "
                "--hardware --operator-view ADDR` and pass the same --operator-view ADDR here",
                code="T003",
            )
        if isinstance(spec, str):
            from vitalskills.bridge.operator_view import OperatorView

            self.view = OperatorView(spec, timeout_s=self.timeout_s)
        else:
            self.view = spec

    def _look(self) -> None:
        """Take one look at the scene."""
        if self.view is None:
            self.open()
        assert self.view is not None
        self.scene.update(self.view.state(), self.scene.steps)
        self._fresh = True

    def reset(self) -> None:
        self.scene.steps = 0
        self.expert.reset()
        self._fresh = False

    def mark(self) -> Mark | None:
        """Success when the object is seen in; failure when the budget is spent.

        Success counts only once the expert has acted in this episode: a start that
        already looks done is no demonstration.
        """
        self._look()
        if self.scene.succeeded and self.scene.steps > 0:
            return Mark.SUCCESS
        if self.scene.steps >= self.budget:
            return Mark.FAILURE
        return None

    def command(self, observation: Observation) -> np.ndarray:
        if not self._fresh:
            self._look()
        self._fresh = False  # the next command looks again (the arm will have moved)
        action = np.asarray(self.expert(observation), dtype=np.float32)
        self.scene.steps += 1
        return action

    def suggest_target(self) -> tuple[Sequence[float], float]:
        """The approach point the expert sees: where a `reach` step would leave the gripper."""
        self._look()
        assert self.scene.task is not None
        target = self.scene.target_matrix()
        task = self.scene.task
        point = target[:3, :3] @ (task.approach_offset() + task.target_point()) + target[:3, 3]
        return [float(v) for v in point], heading(target[:3, :3])

    def close(self) -> None:
        close = getattr(self.view, "close", None)
        if callable(close) and isinstance(self._view_spec, str):
            close()
        self.view = None
