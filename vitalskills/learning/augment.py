"""Semantic augmentation (ViTaL): keep the task-relevant pixels, replace everything else.

The pixels of the target, the gripper and the held object (a per-frame keep mask) are
composited onto a background drawn from a pool: procedural textures (value noise,
stripes, checkers, gradients) and rendered clutter (shaded random shapes over a
texture), plus any background images the user supplies. Then every image gets a
random shift (pad and crop, DrQ-style) and colour jitter. Compositing never alters a
kept pixel; shift and jitter act on the whole image afterwards, as in the paper's code.

Backgrounds change what lies around the target, not how the target itself is lit, and
a dark part whose tiny opening is a few pixels of shading (a USB port) looks different
under every lamp. `relight` re-shades the kept pixels alone before the rest: an overall
gain, a gamma and a smooth gain field across the image, as a light that is dimmer,
harsher or coming from elsewhere would.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFilter

from vitalskills.learning.errors import DatasetError

TEXTURES = ("noise", "stripes", "checkers", "gradient", "clutter")
_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}


def _colour(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(0, 255, 3)


def value_noise(rng: np.random.Generator, size: int) -> np.ndarray:
    """Return smooth colour noise: a coarse random grid upsampled bilinearly."""
    cells = int(rng.integers(2, 12))
    grid = rng.uniform(0, 255, (cells, cells, 3)).astype(np.uint8)
    return np.asarray(Image.fromarray(grid).resize((size, size), Image.BILINEAR), np.float64)


def stripes(rng: np.random.Generator, size: int) -> np.ndarray:
    """Return two-colour sinusoidal stripes at a random angle and frequency."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    angle = rng.uniform(0, np.pi)
    wave = np.sin(2 * np.pi * rng.uniform(2, 12) * (np.cos(angle) * xx + np.sin(angle) * yy))
    t = (0.5 + 0.5 * wave)[..., None]
    return t * _colour(rng) + (1 - t) * _colour(rng)


def checkers(rng: np.random.Generator, size: int) -> np.ndarray:
    """Return a checkerboard of random cell size and colours."""
    cell = int(rng.integers(4, max(5, size // 3)))
    yy, xx = np.mgrid[0:size, 0:size]
    board = ((yy // cell + xx // cell) % 2)[..., None]
    return board * _colour(rng) + (1 - board) * _colour(rng)


def gradient(rng: np.random.Generator, size: int) -> np.ndarray:
    """Return a linear gradient between two random colours in a random direction."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    angle = rng.uniform(0, 2 * np.pi)
    t = np.cos(angle) * xx + np.sin(angle) * yy
    t = ((t - t.min()) / max(np.ptp(t), 1e-9))[..., None]
    return t * _colour(rng) + (1 - t) * _colour(rng)


def clutter(rng: np.random.Generator, size: int) -> np.ndarray:
    """Return a rendered clutter scene: shaded, shadowed random shapes over a texture."""
    base = Image.fromarray(np.clip(value_noise(rng, size), 0, 255).astype(np.uint8))
    shadows = Image.new("L", (size, size), 0)
    shapes = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw_shadow, draw = ImageDraw.Draw(shadows), ImageDraw.Draw(shapes)
    light = rng.uniform(-1, 1, 2) * size * 0.04
    for _ in range(int(rng.integers(3, 10))):
        x0, y0 = rng.uniform(-0.1, 0.9, 2) * size
        w, h = rng.uniform(0.08, 0.45, 2) * size
        box = [x0, y0, x0 + w, y0 + h]
        shadow_box = [box[0] + light[0], box[1] + light[1], box[2] + light[0], box[3] + light[1]]
        fill = (*_colour(rng).astype(int).tolist(), 255)
        kind = rng.integers(0, 3)
        if kind == 0:
            draw_shadow.rectangle(shadow_box, fill=110)
            draw.rectangle(box, fill=fill)
        elif kind == 1:
            draw_shadow.ellipse(shadow_box, fill=110)
            draw.ellipse(box, fill=fill)
        else:
            points = [tuple(p) for p in rng.uniform(0, 1, (3, 2)) * [w, h] + [x0, y0]]
            draw_shadow.polygon([(x + light[0], y + light[1]) for x, y in points], fill=110)
            draw.polygon(points, fill=fill)
    dark = Image.new("RGB", (size, size), (0, 0, 0))
    base = Image.composite(dark, base, shadows.filter(ImageFilter.GaussianBlur(size / 64)))
    base.paste(shapes, (0, 0), shapes)
    rendered = np.asarray(base, np.float64)
    # Shading: a soft light falloff across the scene.
    yy, xx = np.mgrid[0:size, 0:size] / size
    centre = rng.uniform(0, 1, 2)
    falloff = 1.0 - 0.4 * np.hypot(xx - centre[0], yy - centre[1])
    return rendered * falloff[..., None]


_MAKERS = {
    "noise": value_noise,
    "stripes": stripes,
    "checkers": checkers,
    "gradient": gradient,
    "clutter": clutter,
}


def make_background(rng: np.random.Generator, size: int, kind: str | None = None) -> np.ndarray:
    """Return one (size, size, 3) uint8 background of `kind` (random kind when None)."""
    kind = kind or TEXTURES[int(rng.integers(0, len(TEXTURES)))]
    return np.clip(_MAKERS[kind](rng, size), 0, 255).astype(np.uint8)


def background_pool(size: int, count: int, seed: int, image_dir: Path | None = None) -> np.ndarray:
    """Return `count` procedural backgrounds plus every image in `image_dir`, resized.

    Raises:
        DatasetError: `image_dir` is given but holds no readable image.
    """
    rng = np.random.default_rng(seed)
    pool = [make_background(rng, size) for _ in range(count)]
    if image_dir is not None:
        files = sorted(p for p in Path(image_dir).iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)
        if not files:
            raise DatasetError(
                f"background directory `{image_dir}` holds no .png/.jpg images",
                hint="point --backgrounds at a folder of images, or leave it out",
            )
        for path in files:
            with Image.open(path) as image:
                pool.append(np.asarray(image.convert("RGB").resize((size, size), Image.BILINEAR)))
    return np.stack(pool)


def composite(images: np.ndarray, keep: np.ndarray, backgrounds: np.ndarray) -> np.ndarray:
    """Return `images` with every pixel outside `keep` taken from `backgrounds`.

    Args:
        images: (..., H, W, 3) uint8.
        keep: (..., H, W) bool: pixels to keep (target, gripper, held object).
        backgrounds: (..., H, W, 3) uint8, broadcastable to `images`.
    """
    return np.where(keep[..., None], images, backgrounds)


def relight(
    images: torch.Tensor, keep: torch.Tensor, generator: torch.Generator, strength: float
) -> torch.Tensor:
    """Re-shade the kept pixels of a (B, 3, H, W) [0, 1] batch as a different light would.

    Each image draws a gain `exp(u * strength)`, a gamma `exp(v * strength / 2)` and a
    smooth gain field `exp(w * strength / 2)` (a 3 x 3 grid of uniform draws upsampled
    bilinearly), with u, v, w uniform in [-1, 1]. Pixels outside `keep` (B, H, W) are
    returned unchanged; `strength` 0 returns the batch as it is.
    """
    if strength <= 0:
        return images
    batch, _, height, width = images.shape

    def uniform(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=generator) * 2 - 1

    gain = torch.exp(uniform(batch, 1, 1, 1) * strength)
    gamma = torch.exp(uniform(batch, 1, 1, 1) * strength / 2)
    grid = uniform(batch, 1, 3, 3) * strength / 2
    field = torch.exp(torch.nn.functional.interpolate(grid, size=(height, width), mode="bilinear"))
    shaded = (images.clamp_min(0).pow(gamma) * gain * field).clamp(0.0, 1.0)
    return torch.where(keep[:, None], shaded, images)


def relight_image(
    image: np.ndarray, keep: np.ndarray, generator: torch.Generator, strength: float
) -> np.ndarray:
    """`relight` for one (H, W, 3) uint8 image and its (H, W) keep mask; uint8 back."""
    batch = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float() / 255
    shaded = relight(batch, torch.from_numpy(keep)[None], generator, strength)
    return (shaded[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()


def random_shift(images: torch.Tensor, pad: int, generator: torch.Generator) -> torch.Tensor:
    """Shift each (B, C, H, W) image by up to `pad` pixels (replicate padding, then crop)."""
    if pad <= 0:
        return images
    batch, _, height, width = images.shape
    padded = torch.nn.functional.pad(images, (pad, pad, pad, pad), mode="replicate")
    offsets = torch.randint(0, 2 * pad + 1, (batch, 2), generator=generator)
    rows = offsets[:, 0, None] + torch.arange(height)
    cols = offsets[:, 1, None] + torch.arange(width)
    index = torch.arange(batch)[:, None, None]
    gathered = padded.permute(0, 2, 3, 1)[index, rows[:, :, None], cols[:, None, :]]
    return gathered.permute(0, 3, 1, 2)


def colour_jitter(
    images: torch.Tensor,
    generator: torch.Generator,
    brightness: float = 0.3,
    contrast: float = 0.3,
    saturation: float = 0.3,
) -> torch.Tensor:
    """Jitter brightness, contrast and saturation per image of a (B, 3, H, W) [0, 1] batch."""
    batch = images.shape[0]

    def factor(amount: float) -> torch.Tensor:
        return 1.0 + (torch.rand(batch, 1, 1, 1, generator=generator) * 2 - 1) * amount

    out = images * factor(brightness)
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    out = (out - mean) * factor(contrast) + mean
    grey = (out * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    out = (out - grey) * factor(saturation) + grey
    return out.clamp(0.0, 1.0)
