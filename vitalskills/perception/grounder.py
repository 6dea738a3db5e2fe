"""The grounder interface: a text query plus a scene RGB-D frame -> a typed 3D target.

`locate` in the task language asks a grounder; the DSL's `min_score` and `if found`
act on the `LocateResult` it returns.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from vitalskills.perception.geometry import footprint_heading, object_point, top_face

if TYPE_CHECKING:  # runtime imports this module: a run-time import would be circular
    from vitalskills.robot import SceneFrame


@dataclass
class LocateResult:
    """What a grounder found for a query.

    `point` is in the frame named by `frame` (always the robot base frame for results
    handed to the executor). `privileged` is true when the result came from simulator
    ground truth rather than from perception. `yaw` is the object's heading about base
    z (radians) from its footprint, known up to `yaw_period` (pi for an elongated
    footprint, pi/2 for a square one); None when the grounder has no mask.
    `placeholder` is true when no grounding happened at all (the dry run's declared
    point). `timings` maps a stage name (detector, sam, geometry, ...) to seconds.
    """

    query: str
    grounder: str
    found: bool
    score: float = 0.0
    box: tuple[float, float, float, float] | None = None
    mask: np.ndarray | None = None
    point: np.ndarray | None = None
    yaw: float | None = None
    yaw_period: float | None = None
    frame: str = "base"
    privileged: bool = False
    placeholder: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    detail: str = ""

    def to_json(self) -> dict[str, object]:
        """Return a JSON-ready dict; the mask is summarised by its pixel count."""
        return {
            "query": self.query,
            "grounder": self.grounder,
            "found": self.found,
            "score": self.score,
            "box": list(self.box) if self.box is not None else None,
            "point": self.point.tolist() if self.point is not None else None,
            "yaw": self.yaw,
            "yaw_period": self.yaw_period,
            "frame": self.frame,
            "privileged": self.privileged,
            "placeholder": self.placeholder,
            "mask_pixels": int(self.mask.sum()) if self.mask is not None else None,
            "timings": self.timings,
            "detail": self.detail,
        }


@runtime_checkable
class Grounder(Protocol):
    """Something that turns (scene frame, text query) into a `LocateResult`."""

    name: str

    def locate(self, frame: SceneFrame, query: str) -> LocateResult: ...


@contextmanager
def stage(timings: dict[str, float], name: str) -> Iterator[None]:
    """Add the wall time of the enclosed block to `timings[name]` (seconds)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - start


def set_heading(result: LocateResult, frame: SceneFrame) -> None:
    """Give a found result with a mask the heading of the mask's top-face footprint."""
    if result.mask is None or result.point is None:
        return
    heading = footprint_heading(
        top_face(result.mask, frame.depth, frame.intrinsics, frame.extrinsics)
    )
    if heading is not None:
        result.yaw, result.yaw_period = heading


def point_from_mask(result: LocateResult, frame: SceneFrame, method: str, erode_px: int) -> bool:
    """Give `result` its mask's 3D point (`object_point`) and heading; the tail every
    mask-making grounder shares. False, the result left not found, when the mask has
    no valid depth readings."""
    assert result.mask is not None
    with stage(result.timings, "geometry"):
        point = object_point(
            method, result.mask, frame.depth, frame.intrinsics, frame.extrinsics,
            erode_px=erode_px,
        )  # fmt: skip
    if point is None:
        return False
    result.found, result.point = True, point
    set_heading(result, frame)
    return True


def mask_box(mask: np.ndarray) -> tuple[float, float, float, float] | None:
    """Return the (x0, y0, x1, y1) pixel bounding box of a bool mask, or None if empty."""
    v, u = np.nonzero(mask)
    if u.size == 0:
        return None
    return (float(u.min()), float(v.min()), float(u.max()), float(v.max()))


def image_key(rgb: np.ndarray) -> tuple[tuple[int, ...], bytes]:
    """Return a key that changes whenever an image's pixels do (shape + content digest).

    Models that encode an image once for several queries compare keys, not identities:
    a caller may refill the same array with the next camera frame.
    """
    digest = hashlib.blake2b(np.ascontiguousarray(rgb).data, digest_size=16).digest()
    return rgb.shape, digest
