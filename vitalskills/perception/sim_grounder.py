"""The simulator's oracle: the renderer's segmentation and depth, never a learned model.

Every result says `privileged: true`, because no real robot has a perfect segmentation.
The point still comes from the same mask-plus-depth geometry as the perception
grounders, so it is the point a perfect segmenter would give.
"""

from __future__ import annotations

import re

import numpy as np

from vitalskills.perception.geometry import check_camera, check_frame, mask_point, top_point
from vitalskills.perception.grounder import LocateResult, mask_box, set_heading, stage
from vitalskills.robot import SceneFrame

_ARTICLES = re.compile(r"^(the|a|an)\s+")


def normalise(phrase: str) -> str:
    """Lowercase, collapse spaces, drop a leading article: "The  Power strip" -> "power strip"."""
    text = " ".join(phrase.lower().replace("_", " ").split())
    return _ARTICLES.sub("", text)


def matching_objects(frame: SceneFrame, query: str) -> list[str]:
    """Return the scene objects whose name or labels equal the query (normalised)."""
    wanted = normalise(query)
    names = set(frame.segmentation) | set(frame.labels)
    return sorted(
        name
        for name in names
        if wanted in {normalise(name), *(normalise(label) for label in frame.labels.get(name, []))}
    )


class SimGrounder:
    """Locate by matching the query against the scene's labels and using their masks."""

    def __init__(self, name: str = "sim", erode_px: int = 2, point: str = "top") -> None:
        self.name = name
        self.erode_px = erode_px
        self.point = point

    def locate(self, frame: SceneFrame, query: str) -> LocateResult:
        """Return the labelled object's mask-depth point, or not found with the reason."""
        check_frame(frame.rgb, frame.depth)
        check_camera(frame.intrinsics, frame.extrinsics)
        timings: dict[str, float] = {}
        result = LocateResult(query=query, grounder=self.name, found=False, privileged=True)
        result.timings = timings
        candidates = matching_objects(frame, query)
        if not candidates:
            known = sorted({label for labels in frame.labels.values() for label in labels})
            result.detail = (
                f"no object in the scene is called `{query}` (scene has: {', '.join(known)})"
            )
            return result
        # Several matches (two of the same thing): take the most visible one.
        masks = {
            n: frame.segmentation.get(n, np.zeros(frame.depth.shape, bool)) for n in candidates
        }
        best = max(candidates, key=lambda n: int(masks[n].sum()))
        with stage(timings, "geometry"):
            if self.point == "top":  # perfect masks: no trimming needed
                point = top_point(
                    masks[best], frame.depth, frame.intrinsics, frame.extrinsics, trim=0.0
                )
            else:
                point = mask_point(
                    masks[best],
                    frame.depth,
                    frame.intrinsics,
                    frame.extrinsics,
                    erode_px=self.erode_px,
                )
        result.mask = masks[best]
        result.box = mask_box(masks[best])
        if point is None:
            result.detail = f"`{best}` is in the scene but not visible to the scene camera"
            return result
        result.found, result.score, result.point = True, 1.0, point
        set_heading(result, frame)
        result.detail = f"matched scene object `{best}` (privileged simulator segmentation)"
        return result
