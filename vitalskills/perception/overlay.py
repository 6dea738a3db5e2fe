"""Draw a locate result on its image: mask tint, box, and the 3D point projected back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from vitalskills.perception.geometry import project, to_camera
from vitalskills.perception.grounder import LocateResult
from vitalskills.robot import SceneFrame

MASK_TINT = np.array([40, 200, 255], dtype=np.float32)
BOX_COLOUR = (255, 200, 0)
POINT_COLOUR = (255, 40, 40)
TRUTH_COLOUR = (40, 255, 80)


def _cross(draw: ImageDraw.ImageDraw, u: float, v: float, colour: tuple[int, int, int]) -> None:
    r = 6
    draw.line([(u - r, v), (u + r, v)], fill=colour, width=2)
    draw.line([(u, v - r), (u, v + r)], fill=colour, width=2)
    draw.ellipse([(u - r, v - r), (u + r, v + r)], outline=colour, width=1)


def _pixel(point: np.ndarray, frame: SceneFrame, in_base: bool) -> tuple[float, float] | None:
    cam = to_camera(point, frame.extrinsics) if in_base else point
    if cam[2] <= 0:
        return None
    u, v = project(cam, frame.intrinsics)[0]
    return float(u), float(v)


def render_overlay(
    frame: SceneFrame, result: LocateResult, truth: np.ndarray | None = None
) -> Image.Image:
    """Return the frame's image with the result drawn on it (and the true point, if known)."""
    rgb = frame.rgb.astype(np.float32)
    if result.mask is not None:
        rgb[result.mask] = 0.45 * rgb[result.mask] + 0.55 * MASK_TINT
    image = Image.fromarray(rgb.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    if result.box is not None:
        draw.rectangle(result.box, outline=BOX_COLOUR, width=2)
    in_base = result.frame == "base"
    if truth is not None and (pixel := _pixel(truth, frame, in_base)):
        _cross(draw, *pixel, TRUTH_COLOUR)
    if result.point is not None and (pixel := _pixel(result.point, frame, in_base)):
        _cross(draw, *pixel, POINT_COLOUR)
    status = f"{result.query}: {result.score:.2f}" if result.found else f"{result.query}: not found"
    anchor = (result.box[0], max(result.box[1] - 12, 0)) if result.box else (4, 4)
    draw.text(anchor, status, fill=BOX_COLOUR)
    return image


def save_overlay(
    path: Path, frame: SceneFrame, result: LocateResult, truth: np.ndarray | None = None
) -> Path:
    """Write the overlay PNG to `path` and return it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    render_overlay(frame, result, truth).save(path)
    return path
