"""`vlm-point`: ask a pointing VLM where the object is, then lift its point with depth.

Each VLM family writes points its own way, and reading one family's answer with
another's rules puts the point somewhere else or nowhere:

- the original Molmo: `<point x="61.5" y="40.2" alt="...">` or `<points x1=.. y1=.. x2=..>`,
  percent of width and height;
- Molmo2: `<points coords="1 1 615 402 2 ...">label</points>`: an image (or frame) id,
  then `index x y` triplets on a 0-1000 scale;
- Qwen3-VL: JSON `{"point_2d": [615, 402], "label": "..."}` on a 0-1000 scale.

`point_format: auto` picks the family's rules from the model's `config.json`
(`model_type`); bare `(x, y)` pairs in pixels, percent, 0..1 or 0..1000 cover other
VLMs. SAM, when configured, turns the point into a mask so the 3D point is the
object's robust mask-depth point rather than one pixel's.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import torch
from PIL import Image
from transformers import AutoModelForCausalLM, AutoModelForImageTextToText, AutoProcessor

from vitalskills.perception.config import DEFAULT_PROMPT, VlmPointOptions
from vitalskills.perception.errors import PerceptionError
from vitalskills.perception.geometry import check_camera, check_frame, object_point, pixel_point
from vitalskills.perception.grounder import LocateResult, set_heading, stage
from vitalskills.perception.hub import load_pretrained, resolve_device, resolve_dtype
from vitalskills.perception.maskers import Masker
from vitalskills.robot import SceneFrame

_NUMBER = r"-?\d+(?:\.\d+)?"
_POINT_TAG = re.compile(r"<point\b([^>]*)>", re.IGNORECASE)
_POINTS_TAG = re.compile(r"<points\b([^>]*)>", re.IGNORECASE)
_ATTR = re.compile(rf"""\b(x\d*|y\d*)\s*=\s*["']?({_NUMBER})""", re.IGNORECASE)
_PAIR = re.compile(rf"[\[(]?\s*({_NUMBER})\s*,\s*({_NUMBER})\s*[\])]?")
# Molmo2's grammar, as its model card's parser reads it: the coords attribute holds
# groups `ID x y x y ...` separated by tabs, `:`, `,` or `;`, one per image or frame;
# each point is `index x y` with x and y as 3-4 digit per-mille values.
_COORDS = re.compile(r"<(?:points|tracks)\b[^>]*?\bcoords=\"([0-9\t:;, .]+)\"")
_COORD_GROUP = re.compile(r"(?:^|\t|:|,|;)([0-9.]+) ([0-9. ]+)")
_TRIPLET = re.compile(r"([0-9]+) ([0-9]{3,4}) ([0-9]{3,4})")
_JSON_KEY = re.compile(r'"(point_2d|bbox_2d)"\s*:\s*\[([^\]]*)\]')

_SCALE = {"pixels": None, "percent": 100.0, "unit": 1.0, "permille": 1000.0}

#: `model_type` in config.json -> how that family writes points.
FAMILY_FORMATS = {
    "molmo": "molmo",
    "molmo2": "molmo2",
    "qwen3_vl": "qwen3",
    "qwen3_vl_moe": "qwen3",
    "qwen3_5": "qwen3",
    "qwen3_5_moe": "qwen3",
}

#: The prompt each family was trained to answer with points (from their model cards).
FORMAT_PROMPTS = {
    "molmo": DEFAULT_PROMPT,
    "molmo2": "Point to the {query}.",
    "qwen3": "Locate the {query} with points, report its point coordinates in JSON format "
    'like this: {"point_2d": [x, y], "label": "{query}"}',
}

Point = tuple[float, float]


def _to_pixels(x: float, y: float, width: int, height: int, units: str) -> Point:
    scale = _SCALE[units]
    if scale is None:
        return x, y
    return x / scale * width, y / scale * height


def _molmo_points(text: str, width: int, height: int) -> list[Point]:
    found: list[Point] = []
    tags = [m.group(1) for m in _POINTS_TAG.finditer(text)]
    tags += [m.group(1) for m in _POINT_TAG.finditer(text)]
    for attributes in tags:
        values = {k.lower(): float(v) for k, v in _ATTR.findall(attributes)}
        for key in sorted((k for k in values if k.startswith("x")), key=lambda k: (len(k), k)):
            y_key = "y" + key[1:]
            if y_key in values:
                found.append(_to_pixels(values[key], values[y_key], width, height, "percent"))
    return found


def _molmo2_points(text: str, width: int, height: int) -> list[Point]:
    found: list[Point] = []
    for coords in _COORDS.finditer(text):
        for group in _COORD_GROUP.finditer(coords.group(1)):
            for _, x, y in _TRIPLET.findall(group.group(2)):
                found.append(_to_pixels(float(x), float(y), width, height, "permille"))
    return found


def _qwen3_points(text: str, width: int, height: int) -> list[Point]:
    found: list[Point] = []
    for key, values in _JSON_KEY.findall(text):
        try:
            numbers = [float(v) for v in values.split(",")]
        except ValueError:
            continue
        if key == "point_2d" and len(numbers) == 2:
            found.append(_to_pixels(*numbers, width, height, "permille"))
        elif key == "bbox_2d" and len(numbers) == 4:
            x0, y0, x1, y1 = numbers
            found.append(_to_pixels((x0 + x1) / 2, (y0 + y1) / 2, width, height, "permille"))
    if not found:
        found = _bare_points(text, width, height, "permille")
    return found


def _bare_points(text: str, width: int, height: int, units: str) -> list[Point]:
    return [_to_pixels(float(x), float(y), width, height, units) for x, y in _PAIR.findall(text)]


def parse_points(text: str, width: int, height: int, point_format: str) -> list[Point]:
    """Return the image points (u, v) in pixels that a VLM's answer names, in order.

    `point_format` is a family (`molmo`, `molmo2`, `qwen3`: that family's syntax and
    scale, see the module docstring) or the unit of bare `(x, y)` pairs (`pixels`,
    `percent`, `unit` for 0..1, `permille` for 0..1000). Points outside the image are
    dropped.
    """
    if point_format == "molmo":
        found = _molmo_points(text, width, height)
    elif point_format == "molmo2":
        found = _molmo2_points(text, width, height)
    elif point_format == "qwen3":
        found = _qwen3_points(text, width, height)
    elif point_format in _SCALE:
        found = _bare_points(text, width, height, point_format)
    else:
        raise ValueError(f"unknown point format {point_format!r}")
    return [(u, v) for u, v in found if 0 <= u <= width - 1 and 0 <= v <= height - 1]


def resolve_point_format(model_type: str, configured: str, model: str) -> str:
    """Return the point format to read `model`'s answers with.

    Raises:
        PerceptionError: `auto` for a family whose pointing syntax is not known here.
    """
    if configured != "auto":
        return configured
    if model_type in FAMILY_FORMATS:
        return FAMILY_FORMATS[model_type]
    raise PerceptionError(
        f"cannot tell how `{model}` (a `{model_type}` model) writes points",
        hint="set `point_format:` in its grounder config or pass --point-format: molmo, "
        "molmo2 or qwen3 for those families' syntax, or pixels, percent, unit (0..1) or "
        "permille (0..1000) for bare (x, y) answers",
    )


class VlmPointGrounder:
    """Prompt a VLM to point at the query; the first point it names becomes the target."""

    def __init__(
        self,
        model: Any,
        processor: Any,
        options: VlmPointOptions,
        *,
        name: str = "vlm-point",
        sam: Masker | None = None,
    ) -> None:
        model_type = getattr(model.config, "model_type", "")
        self.point_format = resolve_point_format(model_type, options.point_format, options.model)
        self.prompt = options.prompt or FORMAT_PROMPTS.get(self.point_format, DEFAULT_PROMPT)
        if "{query}" not in self.prompt:
            raise PerceptionError(
                f"vlm-point prompt `{self.prompt}` has no `{{query}}` placeholder",
                hint='write it like "Point at the {query}."',
            )
        self.name = name
        self.device = resolve_device(options.device)
        self.model = model.to(self.device).eval()
        self.processor = processor
        self.options = options
        self.sam = sam

    @classmethod
    def from_options(
        cls, name: str, options: VlmPointOptions, masker: Masker | None = None
    ) -> VlmPointGrounder:
        """Load the VLM in `options.dtype` from local files; `masker` turns points into masks."""
        remote = {"trust_remote_code": options.trust_remote_code}
        dtype = resolve_dtype(options.dtype, resolve_device(options.device))
        processor = load_pretrained(options.model, "VLM processor", AutoProcessor, **remote)
        try:
            model = load_pretrained(
                options.model, "VLM", AutoModelForImageTextToText, dtype=dtype, **remote
            )
        except PerceptionError:
            # Remote-code VLMs (the original Molmo) register as causal LMs.
            model = load_pretrained(
                options.model, "VLM", AutoModelForCausalLM, dtype=dtype, **remote
            )
        return cls(model, processor, options, name=name, sam=masker)

    @torch.no_grad()
    def answer(self, rgb: np.ndarray, query: str) -> str:
        """Return the VLM's text answer to the pointing prompt for `query`."""
        # Not str.format: prompts such as Qwen3-VL's hold literal JSON braces.
        prompt = self.prompt.replace("{query}", query)
        if getattr(self.processor, "chat_template", None):
            messages = [
                {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}
            ]
            prompt = self.processor.apply_chat_template(messages, add_generation_prompt=True)
        inputs = self.processor(images=Image.fromarray(rgb), text=prompt, return_tensors="pt")
        # Pixels in the model's precision; token ids and masks keep their integer types.
        inputs = inputs.to(self.device, dtype=self.model.dtype)
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
        points = parse_points(text, w, h, self.point_format)
        if not points:
            result.detail = (
                f"the VLM named no point in the image (read as `{self.point_format}`); "
                f"it answered: {text[:200]!r}"
            )
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
