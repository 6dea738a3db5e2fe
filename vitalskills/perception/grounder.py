"""The grounder interface: a text query plus a scene RGB-D frame -> a typed 3D target.

`locate` in the task language asks a grounder; the DSL's `min_score` and `if found`
act on the `LocateResult` it returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from vitalskills.runtime.robot import SceneFrame


@dataclass
class LocateResult:
    """What a grounder found for a query.

    `point` is in the frame named by `frame` (always the robot base frame for results
    handed to the executor). `privileged` is true when the result came from simulator
    ground truth rather than from perception. `placeholder` is true when no grounding
    happened at all (the dry run's declared point). `timings` maps a stage name
    (detector, sam, geometry, ...) to seconds.
    """

    query: str
    grounder: str
    found: bool
    score: float = 0.0
    box: tuple[float, float, float, float] | None = None
    mask: np.ndarray | None = None
    point: np.ndarray | None = None
    frame: str = "base"
    privileged: bool = False
    placeholder: bool = False
    timings: dict[str, float] = field(default_factory=dict)


@runtime_checkable
class Grounder(Protocol):
    """Something that turns (scene frame, text query) into a `LocateResult`."""

    name: str

    def locate(self, frame: SceneFrame, query: str) -> LocateResult: ...
