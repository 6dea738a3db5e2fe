"""`vlm-point`: ask a pointing VLM where the object is, then lift its point with depth.

Molmo answers "Point at the power strip." with `<point x="61.5" y="40.2" alt="...">`
(percent of width and height) or `<points x1=.. y1=.. x2=..>` for several; other VLMs
answer with bare coordinates or `{"point_2d": [x, y]}` whose unit `point_units` names.
`parse_points` reads all of these. SAM, when configured, turns the point into a mask
so the 3D point is the object's robust mask-depth point rather than one pixel's.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import torch
from PIL import Image
from transformers import AutoModelForCausalLM, AutoModelForImageTextToText, AutoProcessor

from vitalskills.perception.config import VlmPointOptions
from vitalskills.perception.detector import load_pretrained
from vitalskills.perception.errors import PerceptionError
from vitalskills.perception.geometry import check_camera, check_frame, object_point, pixel_point
from vitalskills.perception.grounder import LocateResult, set_heading, stage
from vitalskills.perception.sam import SamMasker, load_sam
from vitalskills.robot import SceneFrame

_NUMBER = r"-?\d+(?:\.\d+)?"
_POINT_TAG = re.compile(r"<point\b([^>]*)>", re.IGNORECASE)
_POINTS_TAG = re.compile(r"<points\b([^>]*)>", re.IGNORECASE)
_ATTR = re.compile(rf"""\b(x\d*|y\d*)\s*=\s*["']?({_NUMBER})""", re.IGNORECASE)
_PAIR = re.compile(rf"[\[(]?\s*({_NUMBER})\s*,\s*({_NUMBER})\s*[\])]?")

_SCALE = {"pixels": None, "percent": 100.0, "unit": 1.0, "permille": 1000.0}


def _to_pixels(x: float, y: float, width: int, height: int, units: str) -> tuple[float, float]:
    scale = _SCALE[units]
    if scale is None:
        return x, y
    return x / scale * width, y / scale * height


def parse_points(
    text: str, width: int, height: int, units: str = "pixels"
) -> list[tuple[float, float]]:
    """Return the image points (u, v) in pixels that a VLM's answer names, in order.

    Molmo tags are percent; bare pairs ("(412, 230)", "[0.4, 0.7]", "point_2d": [x, y])
    are read in `units`. Points outside the image are dropped.
    """
    found: list[tuple[float, float]] = []
    tags = [m.group(1) for m in _POINTS_TAG.finditer(text)]
    tags += [m.group(1) for m in _POINT_TAG.finditer(text)]
    for attributes in tags:
        values = {k.lower(): float(v) for k, v in _ATTR.findall(attributes)}
        for key in sorted((k for k in values if k.startswith("x")), key=lambda k: (len(k), k)):
            y_key = "y" + key[1:]
            if y_key in values:
                found.append(_to_pixels(values[key], values[y_key], width, height, "percent"))
    if not tags:
        found = [
            _to_pixels(float(x), float(y), width, height, units) for x, y in _PAIR.findall(text)
        ]
    return [(u, v) for u, v in found if 0 <= u <= width - 1 and 0 <= v <= height - 1]


class VlmPointGrounder:
    """Prompt a VLM to point at the query; the first point it names becomes the target."""

    def __init__(
        self,
        model: Any,
        processor: Any,
        options: VlmPointOptions,
        *,
        name: str = "vlm-point",
        sam: SamMasker | None = None,
    ) -> None:
        if "{query}" not in options.prompt:
            raise PerceptionError(
                f"vlm-point prompt `{options.prompt}` has no `{{query}}` placeholder",
                hint='write it like "Point at the {query}."',
            )
        self.name = name
        self.model = model.to(options.device).eval()
        self.processor = processor
        self.options = options
        self.sam = sam

    @classmethod
    def from_options(cls, name: str, options: VlmPointOptions) -> VlmPointGrounder:
        """Load the VLM (and SAM, if configured) from local files only."""
        remote = {"trust_remote_code": options.trust_remote_code}
        processor = load_pretrained(options.model, "VLM processor", AutoProcessor, **remote)
        try:
            model = load_pretrained(options.model, "VLM", AutoModelForImageTextToText, **remote)
        except PerceptionError:
            # Remote-code VLMs (the original Molmo) register as causal LMs.
            model = load_pretrained(options.model, "VLM", AutoModelForCausalLM, **remote)
        sam = None
        if options.sam_checkpoint is not None:
            sam = SamMasker(load_sam(options.sam_checkpoint, options.sam_type, options.device))
        return cls(model, processor, options, name=name, sam=sam)

    @torch.no_grad()
    def answer(self, rgb: np.ndarray, query: str) -> str:
        """Return the VLM's text answer to the pointing prompt for `query`."""
        prompt = self.options.prompt.format(query=query)
        if getattr(self.processor, "chat_template", None):
            messages = [
                {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}
            ]
            prompt = self.processor.apply_chat_template(messages, add_generation_prompt=True)
        inputs = self.processor(images=Image.fromarray(rgb), text=prompt, return_tensors="pt")
        inputs = inputs.to(self.options.device)
        output = self.model.generate(
            **inputs, max_new_tokens=self.options.max_new_tokens, do_sample=False
        )
        new_tokens = output[0, inputs["input_ids"].shape[1] :]
        return self.processor.decode(new_tokens, skip_special_tokens=True)

    def locate(self, frame: SceneFrame, query: str) -> LocateResult:
        """Return the 3D point under the VLM's first point, or not found with its answer."""
        check_frame(frame.rgb, frame.depth)
        check_camera(frame.intrinsics, frame.extrinsics)
        timings: dict[str, float] = {}
        result = LocateResult(query=query, grounder=self.name, found=False, timings=timings)
        h, w = frame.depth.shape
        with stage(timings, "vlm"):
            text = self.answer(frame.rgb, query)
        points = parse_points(text, w, h, self.options.point_units)
        if not points:
            result.detail = f"the VLM named no point in the image; it answered: {text[:200]!r}"
            return result
        u, v = points[0]
        # A VLM gives no calibrated confidence: a parsed point counts as score 1.
        result.score, result.box = 1.0, (u, v, u, v)
        point = None
        if self.sam is not None:
            with stage(timings, "sam"):
                result.mask, _ = self.sam.mask_at_point(frame.rgb, u, v)
            with stage(timings, "geometry"):
                point = object_point(
                    self.options.point,
                    result.mask,
                    frame.depth,
                    frame.intrinsics,
                    frame.extrinsics,
                    erode_px=self.options.erode_px,
                )
        if point is None:
            with stage(timings, "geometry"):
                point = pixel_point(
                    u,
                    v,
                    frame.depth,
                    frame.intrinsics,
                    frame.extrinsics,
                    window_px=self.options.window_px,
                )
        if point is None:
            result.detail = f"no valid depth around the VLM's point ({u:.0f}, {v:.0f})"
            return result
        result.found, result.point = True, point
        set_heading(result, frame)
        result.detail = f"VLM pointed at pixel ({u:.0f}, {v:.0f})"
        return result
