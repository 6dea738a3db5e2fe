"""One video frame: wrist camera and scene camera side by side, the plan's state below."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

#: Panel height; the wrist panel is square, the scene panel 4:3. Multiples of 16 keep
#: the H.264 encoder from resizing frames.
HEIGHT = 240
WRIST_WIDTH = 240
SCENE_WIDTH = 320
BAND = 80


def _panel(image: np.ndarray | None, width: int, title: str) -> Image.Image:
    if image is None:
        panel = Image.new("RGB", (width, HEIGHT), (40, 40, 40))
        ImageDraw.Draw(panel).text((10, HEIGHT // 2), f"no {title} image", fill=(200, 200, 200))
        return panel
    panel = Image.fromarray(np.ascontiguousarray(image[..., :3]).astype(np.uint8))
    panel = panel.resize((width, HEIGHT), Image.Resampling.BILINEAR)
    ImageDraw.Draw(panel).text((6, 4), title, fill=(255, 255, 0))
    return panel


def compose_frame(
    wrist: np.ndarray | None, scene: np.ndarray | None, lines: list[str]
) -> np.ndarray:
    """Return an (HEIGHT + BAND, WRIST_WIDTH + SCENE_WIDTH, 3) uint8 frame."""
    canvas = Image.new("RGB", (WRIST_WIDTH + SCENE_WIDTH, HEIGHT + BAND), (20, 20, 24))
    canvas.paste(_panel(wrist, WRIST_WIDTH, "wrist"), (0, 0))
    canvas.paste(_panel(scene, SCENE_WIDTH, "scene"), (WRIST_WIDTH, 0))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=13)
    for row, line in enumerate(lines[:4]):
        colour = (255, 255, 255) if row < 2 else (180, 180, 180)
        draw.text((8, HEIGHT + 6 + 18 * row), line[:90], fill=colour, font=font)
    return np.asarray(canvas)
