"""The simulator oracle, perturbed the way a real grounder errs: measure tasks under it.

A real grounder is off in a few typical ways, each a parameter of `NoisyOracleOptions`:

- `point_px`: the point it answers is a few pixels off (Gaussian, per image axis);
- `depth_mm`: the depth under that point is noisy (Gaussian, along the camera axis);
- `extrinsics_deg`, `extrinsics_mm`: the camera's calibration is off (a rotation and a
  translation of the camera in its own frame, Gaussian per axis, drawn once per run:
  every `locate` of a run shares it, as they share one calibration);
- `miss`: it finds nothing (the probability of answering not found);
- `wrong_pick`: it answers a look-alike distractor ("red power strip" for "power
  strip") when the scene camera sees one.

The perturbation goes through the scene camera as a real detection does: the oracle's
point (from the privileged mask) is projected to its pixel, the pixel and the depth are
perturbed, and the pair is lifted back and mapped to the base frame with the
miscalibrated camera pose. The point is perturbed at the object's own depth: a grounder
that points a few pixels off still reads the depth of the object it pointed at. The
heading (`yaw`) stays the oracle's. `locate`, `if found`, `min_score` and retries see the result
as they would see a real grounder's.

`grounding_error_preset(mm)` sets these so that the median 3D error is about `mm`.
"""

from __future__ import annotations

import dataclasses
import math
import zlib

import numpy as np

from vitalskills.perception.config import NoisyOracleOptions
from vitalskills.perception.errors import BadConfig
from vitalskills.perception.geometry import backproject, project, to_base, to_camera
from vitalskills.perception.grounder import LocateResult
from vitalskills.perception.sim_grounder import SimGrounder, matching_objects, normalise
from vitalskills.robot import SceneFrame
from vitalskills.robot.geometry import axis_angle_to_matrix

#: The simulator's scene camera, for the preset: focal length (px) and distance to the
#: targets (m; 0.5 to 0.7 over the conditions' layouts).
NOMINAL_FOCAL_PX = 246.0
NOMINAL_RANGE_M = 0.62

#: The median length of a 3D Gaussian vector with unit standard deviation per axis
#: (the square root of the median of chi-square with 3 degrees of freedom).
MEDIAN_NORM_3D = 1.5382

#: Salt that keeps the grounder's draws apart from the simulator's, which use the same seed.
_STREAM = 0x9E0


def grounding_error_preset(
    mm: float, *, focal_px: float = NOMINAL_FOCAL_PX, range_m: float = NOMINAL_RANGE_M
) -> dict[str, float]:
    """Return the error parameters whose 3D error has a median of about `mm` millimetres.

    The budget is an isotropic Gaussian with `sigma = mm / 1.538` per axis (the median
    of its length is then `mm`), shared out so each source has a realistic part: the
    camera translation error gives sigma/2 on every axis, the rotation error sigma/2
    across the line of sight (at `range_m`), the pixel error the rest across it
    (sigma/sqrt(2), in pixels at `focal_px`), and the depth noise the rest along it
    (sigma*sqrt(3)/2).

    Raises:
        BadConfig: `mm` is negative or not finite.
    """
    if not math.isfinite(mm) or mm < 0:
        raise BadConfig(
            f"grounding error must be a finite number of millimetres >= 0, got {mm}",
            hint="e.g. --grounding-error 10",
        )
    sigma = mm / MEDIAN_NORM_3D
    return {
        "point_px": round(sigma / math.sqrt(2.0) * focal_px / (range_m * 1000.0), 3),
        "depth_mm": round(sigma * math.sqrt(3.0) / 2.0, 3),
        "extrinsics_deg": round(math.degrees(sigma / 2.0 / (range_m * 1000.0)), 4),
        "extrinsics_mm": round(sigma / 2.0, 3),
    }


def grounding_parameters(error_mm: float | None, miss: float | None) -> dict[str, float]:
    """The parameters `--grounding-error MM` and `--grounding-miss P` ask for (none: {})."""
    params = grounding_error_preset(error_mm) if error_mm is not None else {}
    if miss is not None:
        params["miss"] = miss
    return params


def look_alikes(frame: SceneFrame, name: str) -> list[str]:
    """Return the other scene objects called like `name` with a word before ("red power strip")."""
    own = {normalise(label) for label in frame.labels.get(name, [])}
    return sorted(
        other
        for other, labels in frame.labels.items()
        if other != name
        and any(normalise(label).endswith(" " + mine) for label in labels for mine in own)
        and frame.segmentation.get(other, np.zeros(1, bool)).any()
    )


class NoisyOracleGrounder:
    """The `sim` oracle with a real grounder's errors, drawn from a seeded generator.

    Each `locate` draws the same numbers in the same order whatever the parameters (a
    miss draw, a pick draw, three normals), so runs at different error levels with one
    seed share their draws: the error grows, its direction stays. The miss and pick
    draws are also turned by the query, so two tasks run with the same seeds do not
    miss on the same seeds.
    """

    def __init__(self, name: str, options: NoisyOracleOptions) -> None:
        self.name = name
        self.options = options
        self.seed = options.seed if options.seed is not None else 0
        self.oracle = SimGrounder(name=name, erode_px=options.erode_px, point=options.point)
        self._rng = np.random.default_rng([_STREAM, self.seed])
        calibration = self._rng.standard_normal(6)
        self.camera_error = np.eye(4)  # the believed camera pose, in the true camera's frame
        self.camera_error[:3, :3] = axis_angle_to_matrix(
            np.deg2rad(options.extrinsics_deg) * calibration[:3]
        )
        self.camera_error[:3, 3] = options.extrinsics_mm / 1000.0 * calibration[3:]

    def locate(self, frame: SceneFrame, query: str) -> LocateResult:
        """Return the oracle's answer as a grounder with these errors would give it."""
        o = self.options
        # Misses and picks depend on what is asked: the draws are turned by an amount
        # set by the query, so tasks with one seed but other objects miss independently.
        turn = zlib.crc32(normalise(query).encode()) / 2.0**32
        miss_draw, pick_draw, which = (self._rng.random(3) + turn) % 1.0
        normal = self._rng.standard_normal(3)
        if miss_draw < o.miss:
            return LocateResult(
                query=query, grounder=self.name, found=False, privileged=True,
                detail=f"a simulated miss (miss rate {o.miss:g})",
            )  # fmt: skip
        target = self.oracle.locate(frame, query)
        if not target.found or target.point is None:
            return target
        best = max(matching_objects(frame, query), key=lambda n: int(frame.segmentation[n].sum()))
        decoys = look_alikes(frame, best)
        picked = ""
        if decoys and pick_draw < o.wrong_pick:
            decoy = decoys[int(which * len(decoys))]
            wrong = self.oracle.locate(frame, decoy)
            if wrong.found and wrong.point is not None:
                target, picked = dataclasses.replace(wrong, query=query), decoy
        assert target.point is not None
        cam = to_camera(target.point, frame.extrinsics)
        pixel = project(cam, frame.intrinsics)[0] + o.point_px * normal[:2]
        depth = cam[2] + o.depth_mm / 1000.0 * normal[2]
        if depth <= 0:
            depth = cam[2]  # noise cannot put the point behind the camera
        moved = backproject(pixel[None], np.array([depth]), frame.intrinsics)[0]
        # The detection is right in the camera; the wrong calibration misplaces it.
        target.point = to_base(moved, frame.extrinsics @ self.camera_error)
        target.grounder = self.name
        target.detail = (
            f"{target.detail}; perturbed by {float(np.hypot(*(o.point_px * normal[:2]))):.1f} px "
            f"and {o.depth_mm * normal[2]:+.1f} mm of depth"
            + (f"; a wrong pick: the look-alike `{picked}`" if picked else "")
        )
        return target
