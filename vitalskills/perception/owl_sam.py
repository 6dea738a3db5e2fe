"""`owlv2-sam`: an open-vocabulary detector proposes a box, SAM cuts the mask, depth gives 3D.

This is the reaching half of ViTaL with real perception models: the detector handles
the open vocabulary, SAM turns a loose box into an object mask, and the mask-depth
geometry gives a point that holes and edges do not drag off the object.
"""

from __future__ import annotations

import numpy as np

from vitalskills.perception.detector import ZeroShotDetector
from vitalskills.perception.geometry import check_camera, check_frame
from vitalskills.perception.grounder import LocateResult, mask_box, point_from_mask, stage
from vitalskills.perception.maskers import Masker
from vitalskills.perception.tracking import ObjectTracker
from vitalskills.robot import SceneFrame

#: SAM may leak past the box; keep mask pixels within this margin of it.
BOX_MARGIN_PX = 4


def clip_to_box(mask: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """Return `mask` with everything outside `box` (plus a small margin) cleared."""
    x0, y0, x1, y1 = box
    h, w = mask.shape
    keep = np.zeros_like(mask, dtype=bool)
    keep[
        max(int(y0) - BOX_MARGIN_PX, 0) : min(int(np.ceil(y1)) + BOX_MARGIN_PX + 1, h),
        max(int(x0) - BOX_MARGIN_PX, 0) : min(int(np.ceil(x1)) + BOX_MARGIN_PX + 1, w),
    ] = True
    return mask & keep


class OwlSamGrounder:
    """Detector (OWLv2, OWL-ViT, Grounding DINO, OmDet-Turbo) -> best box -> mask -> 3D point."""

    def __init__(
        self,
        detector: ZeroShotDetector,
        sam: Masker,
        *,
        name: str = "owlv2-sam",
        threshold: float = 0.1,
        point: str = "top",
        erode_px: int = 2,
        tracker: ObjectTracker | None = None,
    ) -> None:
        self.name = name
        self.tracker = tracker
        self.detector = detector
        self.sam = sam
        self.threshold = threshold
        self.point = point
        self.erode_px = erode_px

    def locate(self, frame: SceneFrame, query: str) -> LocateResult:
        """Return the best detection's 3D point in the base frame, or why there is none."""
        check_frame(frame.rgb, frame.depth)
        check_camera(frame.intrinsics, frame.extrinsics)
        timings: dict[str, float] = {}
        result = LocateResult(query=query, grounder=self.name, found=False, timings=timings)
        if self.tracker is not None and self._follow(frame, query, result):
            return result
        with stage(timings, "detector"):
            detection = self.detector.detect(frame.rgb, query)
        if detection is None:
            result.detail = "the detector proposed no box"
            return result
        result.box, result.score = detection.box, detection.score
        if detection.score < self.threshold:
            result.detail = (
                f"best box scores {detection.score:.3f}, below threshold {self.threshold}"
            )
            return result
        with stage(timings, "sam"):
            mask, _ = self.sam.mask(frame.rgb, detection.box)
        result.mask = clip_to_box(mask, detection.box)
        if not point_from_mask(result, frame, self.point, self.erode_px):
            result.detail = "the object's mask has no valid depth readings"
            return result
        result.detail = (
            f"box scored {detection.score:.3f}; point from {int(result.mask.sum())} mask pixels"
        )
        if self.tracker is not None:
            with stage(timings, "track"):
                self.tracker.start(query, frame.rgb, result.mask)
        return result

    def _follow(self, frame: SceneFrame, query: str, result: LocateResult) -> bool:
        """Re-locate `query` by propagating its last mask; False means ask the detector."""
        assert self.tracker is not None
        with stage(result.timings, "track"):
            followed = self.tracker.follow(query, frame.rgb)
        if followed is None:
            return False
        mask, presence = followed
        result.mask = mask
        if not point_from_mask(result, frame, self.point, self.erode_px):
            result.mask = None  # the detector's answer, if any, replaces it
            self.tracker.forget(query)
            return False
        result.score, result.box = presence, mask_box(mask)
        result.detail = (
            f"followed from the previous locate by video propagation (presence "
            f"{presence:.3f}); point from {int(mask.sum())} mask pixels"
        )
        return True
