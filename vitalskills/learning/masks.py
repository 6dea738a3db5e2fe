"""Where the keep masks for semantic augmentation come from: a small interface, its sources.

`LabelMasks` reads a label map stored with the demonstrations (the simulator's
privileged segmentation). `SamMasks` prompts SAM with points or boxes on an episode's
first frame and propagates through the episode: each later frame is prompted with the
box around the previous frame's mask, as a tracker would. For real demonstrations,
`vitalskills masks` computes masks once and stores them in the dataset (`mask.keep`):
`ChromaKey` keys out a green or blue screen, `VideoMasks` tracks prompted parts with a
SAM2 / EdgeTAM video model, `KeepRegions` adds fixed regions (the gripper in a wrist
camera), and `StoredMasks` reads the stored result back for training. Every source
gives one (T, H, W) bool array per episode: the union of the parts to keep.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from vitalskills.errors import UsageError
from vitalskills.learning.dataset import DatasetEditor, DatasetInfo, DemoDataset, Episode
from vitalskills.learning.errors import DatasetError

if TYPE_CHECKING:
    from PIL import Image

    from vitalskills.perception.video_segment import ObjectPrompt

IMAGE_KEY = "observation.wrist_rgb"
KEEP_PARTS = ("target", "gripper", "held")
#: Where `vitalskills masks` stores keep masks in each episode: (T, H, W) bool, True = keep.
MASK_KEY = "mask.keep"
MASKS_HINT = (
    "make them with `vitalskills masks DATA --chroma green` (green screen) or "
    "`vitalskills masks DATA --sam2 MODEL_DIR --prompt target=U,V` (see docs/masks.md)"
)


class MaskSource(Protocol):
    """Give the pixels to keep in every frame of an episode."""

    def keep(self, episode: Episode) -> np.ndarray: ...


@dataclass(frozen=True)
class LabelMasks:
    """Keep the pixels whose stored label is one of `parts` (names from `labels`)."""

    labels: dict[str, int]
    key: str = "privileged.wrist_mask"
    parts: tuple[str, ...] = KEEP_PARTS

    def keep(self, episode: Episode) -> np.ndarray:
        if self.key not in episode.frames:
            raise DatasetError(
                f"episode {episode.meta.index} has no `{self.key}` segmentation to augment with",
                hint="collect with the simulator's privileged masks, use SAM masks, "
                "or train with --no-augment",
            )
        unknown = [part for part in self.parts if part not in self.labels]
        if unknown:
            raise DatasetError(
                f"the dataset's mask labels have no {', '.join(f'`{p}`' for p in unknown)}",
                hint=f"labels are: {', '.join(self.labels) or 'none'}",
            )
        values = [self.labels[part] for part in self.parts]
        return np.isin(episode.frames[self.key], values)


@dataclass(frozen=True)
class SamPrompt:
    """One part to segment on the first frame: a foreground point (u, v) or a box."""

    point: tuple[float, float] | None = None
    box: tuple[float, float, float, float] | None = None

    def __post_init__(self) -> None:
        if (self.point is None) == (self.box is None):
            raise DatasetError("a SAM prompt needs exactly one of `point` or `box`")


class Segmenter(Protocol):
    """The part of `vitalskills.perception.sam.SamMasker` that propagation needs."""

    def mask(
        self, rgb: np.ndarray, box: tuple[float, float, float, float]
    ) -> tuple[np.ndarray, float]: ...

    def mask_at_point(self, rgb: np.ndarray, u: float, v: float) -> tuple[np.ndarray, float]: ...


def mask_box(mask: np.ndarray, margin: float) -> tuple[float, float, float, float] | None:
    """Return the box (x0, y0, x1, y1) around a mask, grown by `margin` pixels; None if empty."""
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        return None
    height, width = mask.shape
    return (
        max(0.0, cols.min() - margin),
        max(0.0, rows.min() - margin),
        min(width - 1.0, cols.max() + margin),
        min(height - 1.0, rows.max() + margin),
    )


class SamMasks:
    """Segment each prompted part with SAM and track it through the episode.

    Args:
        segmenter: a `SamMasker` (any real SAM checkpoint loaded by the perception code).
        prompts: the parts to keep, prompted on frame 0 of every episode.
        margin: pixels added around the previous mask's box when tracking.
    """

    def __init__(self, segmenter: Segmenter, prompts: Sequence[SamPrompt], margin: float = 4.0):
        if not prompts:
            raise DatasetError("SAM masks need at least one prompt (a point or a box)")
        self.segmenter = segmenter
        self.prompts = list(prompts)
        self.margin = margin

    def keep(self, episode: Episode) -> np.ndarray:
        images = episode.frames[IMAGE_KEY]
        keep = np.zeros(images.shape[:3], bool)
        for prompt in self.prompts:
            previous: np.ndarray | None = None
            for t, image in enumerate(images):
                box = prompt.box if previous is None else mask_box(previous, self.margin)
                if previous is None and prompt.point is not None:
                    mask, _ = self.segmenter.mask_at_point(image, *prompt.point)
                elif box is None:
                    mask = previous  # the part vanished: keep its last mask rather than none
                else:
                    mask, _ = self.segmenter.mask(image, box)
                if not mask.any() and previous is not None:
                    mask = previous
                keep[t] |= mask
                previous = mask
        return keep


def describe(source: MaskSource) -> dict[str, Any]:
    """Return what a mask source says about itself (`describe()`), or its class name."""
    told = getattr(source, "describe", None)
    return dict(told()) if callable(told) else {"method": type(source).__name__}


def _check_keep(keep: np.ndarray, episode: Episode, what: str) -> np.ndarray:
    """Return `keep` if it is (T, H, W) bool matching the episode's images, else raise."""
    expected = episode.frames[IMAGE_KEY].shape[:3]
    if keep.dtype != np.bool_ or keep.shape != expected:
        raise DatasetError(
            f"episode {episode.meta.index}: {what} are {keep.dtype}{list(keep.shape)}, "
            f"expected bool{list(expected)} like `{IMAGE_KEY}`",
            hint="compute them again: " + MASKS_HINT,
        )
    return keep


@dataclass(frozen=True)
class StoredMasks:
    """Keep the pixels of the masks stored in each episode by `vitalskills masks`."""

    key: str = MASK_KEY

    def keep(self, episode: Episode) -> np.ndarray:
        if self.key not in episode.frames:
            raise DatasetError(
                f"episode {episode.meta.index} has no stored keep masks (`{self.key}`)",
                hint=MASKS_HINT,
            )
        if IMAGE_KEY not in episode.frames:
            raise DatasetError(f"episode {episode.meta.index} has no `{IMAGE_KEY}` images")
        return _check_keep(episode.frames[self.key], episode, f"the stored `{self.key}` masks")


# -- chroma keying -----------------------------------------------------------------------

#: Default hue ranges (degrees) of studio screens as wrist cameras see them.
SCREEN_HUES = {"green": (70.0, 170.0), "blue": (180.0, 260.0)}
_CHUNK = 256  # frames converted to HSV at a time: bounds memory on long episodes


def rgb_to_hsv(images: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return hue (degrees, 0..360), saturation and value (0..1) of uint8 RGB `images`."""
    rgb = images.astype(np.float32) / 255.0
    red, green, blue = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    value = rgb.max(axis=-1)
    spread = value - rgb.min(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        saturation = np.where(value > 0, spread / value, 0.0)
        safe = np.where(spread > 0, spread, 1.0)
        hue = np.where(
            value == red,
            ((green - blue) / safe) % 6.0,
            np.where(value == green, (blue - red) / safe + 2.0, (red - green) / safe + 4.0),
        )
    hue = np.where(spread > 0, hue * 60.0, 0.0)
    return hue, saturation, value


def _shift_reduce(mask: np.ndarray, radius: int, axis: int, reduce: Callable) -> np.ndarray:
    """AND/OR `mask` with its shifts by -radius..radius along `axis` (edge-replicated)."""
    pad = [(0, 0)] * mask.ndim
    pad[axis] = (radius, radius)
    padded = np.pad(mask, pad, mode="edge")
    size = mask.shape[axis]
    out = np.take(padded, range(0, size), axis=axis)
    for offset in range(1, 2 * radius + 1):
        out = reduce(out, np.take(padded, range(offset, offset + size), axis=axis))
    return out


def erode(mask: np.ndarray, radius: int) -> np.ndarray:
    """Erode (..., H, W) bool masks with a (2r+1)-pixel square (separable: rows, then columns)."""
    if radius <= 0:
        return mask
    rows = _shift_reduce(mask, radius, mask.ndim - 2, np.logical_and)
    return _shift_reduce(rows, radius, mask.ndim - 1, np.logical_and)


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Dilate (..., H, W) bool masks with a (2r+1)-pixel square."""
    if radius <= 0:
        return mask
    rows = _shift_reduce(mask, radius, mask.ndim - 2, np.logical_or)
    return _shift_reduce(rows, radius, mask.ndim - 1, np.logical_or)


def open_by_reconstruction(mask: np.ndarray, radius: int) -> np.ndarray:
    """Drop the parts of (..., H, W) bool masks that hold no (2r+1)-pixel square.

    A plain opening also shaves every structure thinner than the square (a key's
    2-pixel shaft), which is what the policy most needs to see. Reconstruction keeps
    the whole of any 8-connected part that survives the erosion, thin limbs included,
    and drops only the specks that do not.
    """
    if radius <= 0:
        return mask
    part = erode(mask, radius) & mask
    while True:
        grown = dilate(part, 1) & mask
        if np.array_equal(grown, part):
            return part
        part = grown


@dataclass(frozen=True)
class ChromaKey:
    """Keep every pixel that is not the green (or blue) screen behind the scene.

    A pixel is screen when its hue lies in `hue_range` (degrees; wraps past 360 when
    low > high) and it is saturated and bright enough to be the coloured cloth rather
    than a grey or dark part. The keep mask is then cleaned: kept specks that hold no
    `open_radius` square are dropped (sensor noise, seams in the cloth) while thin parts
    joined to a larger one stay (an opening by reconstruction), and a closing fills
    holes up to the `close_radius` square (green reflected in a shiny part).

    Raises:
        UsageError: an unknown colour or an out-of-range parameter.
    """

    colour: str = "green"
    hue_range: tuple[float, float] | None = None
    min_saturation: float = 0.25
    min_value: float = 0.15
    open_radius: int = 1
    close_radius: int = 2

    def __post_init__(self) -> None:
        if self.colour not in SCREEN_HUES:
            raise UsageError(
                f"unknown screen colour `{self.colour}`", hint=f"use {' or '.join(SCREEN_HUES)}"
            )
        low, high = self.hues
        if not (0 <= low <= 360 and 0 <= high <= 360):
            default = ",".join(f"{hue:g}" for hue in SCREEN_HUES[self.colour])
            raise UsageError(
                f"hue range `{low:g},{high:g}` must lie in 0..360 degrees",
                hint=f"the {self.colour} default is {default}",
            )
        for name in ("min_saturation", "min_value"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise UsageError(f"`{name}` must lie in 0..1 (got `{getattr(self, name)}`)")
        for name in ("open_radius", "close_radius"):
            if not 0 <= getattr(self, name) <= 16:
                raise UsageError(f"`{name}` must lie in 0..16 pixels (got `{getattr(self, name)}`)")

    @property
    def hues(self) -> tuple[float, float]:
        """The hue range in use: the one given, else the colour's default."""
        return self.hue_range if self.hue_range is not None else SCREEN_HUES[self.colour]

    def screen(self, images: np.ndarray) -> np.ndarray:
        """Return the (..., H, W) bool pixels of `images` that are the screen colour."""
        hue, saturation, value = rgb_to_hsv(images)
        low, high = self.hues
        in_hue = (hue >= low) & (hue <= high) if low <= high else (hue >= low) | (hue <= high)
        return in_hue & (saturation >= self.min_saturation) & (value >= self.min_value)

    def mask(self, images: np.ndarray) -> np.ndarray:
        """Return the (T, H, W) bool keep mask of (T, H, W, 3) uint8 `images`."""
        keep = np.empty(images.shape[:3], bool)
        for start in range(0, len(images), _CHUNK):
            part = ~self.screen(images[start : start + _CHUNK])
            part = open_by_reconstruction(part, self.open_radius)
            keep[start : start + _CHUNK] = erode(dilate(part, self.close_radius), self.close_radius)
        return keep

    def keep(self, episode: Episode) -> np.ndarray:
        return self.mask(episode.frames[IMAGE_KEY])

    @classmethod
    def from_description(cls, method: dict[str, Any]) -> ChromaKey:
        """The key a `describe()` record (stored with masks and in skills) was made with."""
        fields = ("min_saturation", "min_value", "open_radius", "close_radius")
        return cls(
            colour=method["colour"],
            hue_range=tuple(method["hue_range"]),
            **{name: method[name] for name in fields if name in method},
        )

    def describe(self) -> dict[str, Any]:
        return {
            "method": "chroma",
            "colour": self.colour,
            "hue_range": list(self.hues),
            "min_saturation": self.min_saturation,
            "min_value": self.min_value,
            "open_radius": self.open_radius,
            "close_radius": self.close_radius,
        }


# -- fixed regions -----------------------------------------------------------------------

Box = tuple[int, int, int, int]
_BOX = re.compile(r"^\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*$")


def parse_box(spec: str, option: str = "--keep-region") -> Box:
    """Parse `X0,Y0,X1,Y1` (inclusive pixel corners) into a box.

    Raises:
        UsageError: not four non-negative integers, or corners out of order.
    """
    found = _BOX.match(spec)
    if found is None:
        raise UsageError(
            f"`{option} {spec}` is not X0,Y0,X1,Y1",
            hint=f"e.g. `{option} 40,100,88,127` (columns x, rows y, inclusive pixels)",
        )
    x0, y0, x1, y1 = (int(value) for value in found.groups())
    if x1 < x0 or y1 < y0:
        raise UsageError(f"`{option} {spec}`: X1 must be >= X0 and Y1 >= Y0")
    return x0, y0, x1, y1


@dataclass(frozen=True)
class KeepRegions:
    """Add fixed image regions to another source's masks in every frame.

    A wrist camera sees the gripper (and what it holds) in the same place in every
    frame, so a box around it keeps it whatever the segmentation makes of it.
    """

    source: MaskSource
    boxes: tuple[Box, ...]

    def keep(self, episode: Episode) -> np.ndarray:
        keep = np.array(self.source.keep(episode), dtype=bool, copy=True)
        height, width = keep.shape[1:]
        for x0, y0, x1, y1 in self.boxes:
            if x1 >= width or y1 >= height:
                raise UsageError(
                    f"keep region `{x0},{y0},{x1},{y1}` reaches outside the {width}x{height} "
                    f"frames of episode {episode.meta.index}",
                    hint=f"corners are inclusive pixels: x in 0..{width - 1}, y in 0..{height - 1}",
                )
            keep[:, y0 : y1 + 1, x0 : x1 + 1] = True
        return keep

    def describe(self) -> dict[str, Any]:
        return {**describe(self.source), "keep_regions": [list(box) for box in self.boxes]}


# -- video propagation -------------------------------------------------------------------


class VideoSegmenter(Protocol):
    """What `vitalskills.perception.video_segment.VideoSegmenter` offers to `VideoMasks`."""

    def track(
        self,
        frames: np.ndarray,
        prompts: Sequence[ObjectPrompt],
        on_frame: Callable[[int, int], None] | None = None,
    ) -> np.ndarray: ...

    def describe(self) -> dict[str, Any]: ...


@dataclass
class VideoMasks:
    """Keep the union of parts prompted on each episode's first frame and tracked through it.

    The same clicks are used for every episode, so they suit demonstrations that start
    from similar views (the paper's setting: the target fixed, the start randomized
    around it). Check the contact sheets; episodes that start elsewhere need their own
    prompts.

    Args:
        segmenter: a loaded SAM2 / EdgeTAM video model.
        prompts: clicks per part on frame 0 (`build_prompts`).
        on_frame: progress callback (frames done, frames), set per episode by the CLI.
    """

    segmenter: VideoSegmenter
    prompts: Sequence[ObjectPrompt]
    on_frame: Callable[[int, int], None] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.prompts:
            raise UsageError("video masks need at least one prompt (a part and a point)")

    def keep(self, episode: Episode) -> np.ndarray:
        objects = self.segmenter.track(episode.frames[IMAGE_KEY], self.prompts, self.on_frame)
        return objects.any(axis=0)

    def describe(self) -> dict[str, Any]:
        return {
            "method": "video",
            **self.segmenter.describe(),
            "prompted_frame": 0,
            "prompts": [prompt.to_json() for prompt in self.prompts],
        }


# -- contact sheets ----------------------------------------------------------------------

#: Removed pixels are blended towards this colour on contact sheets (magenta: no screen
#: colour and few scene colours are near it).
REMOVED_TINT = np.array([255, 0, 255], np.float32)
_TILE_MIN = 160  # small images are scaled up (nearest) to at least this many pixels
_SHEET_MIN_WIDTH = 360  # room for the title and legend above a single tile
_BACKDROP = (24, 24, 24)


def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow built without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def contact_sheet(
    images: np.ndarray,
    keep: np.ndarray,
    *,
    tiles: int = 12,
    columns: int = 4,
    title: str = "",
) -> Image.Image:
    """Return a grid of evenly spaced frames with removed pixels tinted, labelled `t=N`.

    Kept pixels are shown as recorded; removed ones (what training replaces with random
    backgrounds) are blended 55% towards magenta. Small frames are scaled up with
    nearest-neighbour sampling so single mask pixels stay visible.
    """
    from PIL import Image, ImageDraw

    count, height, width = images.shape[:3]
    chosen = np.unique(np.linspace(0, count - 1, min(tiles, count)).round().astype(int))
    scale = max(1, -(-_TILE_MIN // max(height, width)))
    tile_w, tile_h, label_h, header_h, gap = width * scale, height * scale, 16, 40, 4
    columns = min(columns, len(chosen))
    rows = -(-len(chosen) // columns)
    sheet = Image.new(
        "RGB",
        (
            max(_SHEET_MIN_WIDTH, columns * (tile_w + gap) + gap),
            header_h + rows * (tile_h + label_h + gap) + gap,
        ),
        _BACKDROP,
    )
    draw = ImageDraw.Draw(sheet)
    draw.text((gap, 4), title, fill=(235, 235, 235), font=_font(14))
    legend = "magenta: removed (random background in training)"
    draw.text((gap, 22), legend, fill=(230, 120, 230), font=_font(12))
    for slot, t in enumerate(chosen):
        frame = images[t].astype(np.float32)
        tinted = frame * 0.45 + REMOVED_TINT * 0.55
        shown = np.where(keep[t][..., None], frame, tinted).round().astype(np.uint8)
        tile = Image.fromarray(shown).resize((tile_w, tile_h), Image.NEAREST)
        x = gap + (slot % columns) * (tile_w + gap)
        y = header_h + (slot // columns) * (tile_h + label_h + gap)
        sheet.paste(tile, (x, y))
        kept = float(keep[t].mean())
        draw.text(
            (x + 2, y + tile_h + 1), f"t={t}  kept {kept:.0%}", fill=(220, 220, 220), font=_font(12)
        )
    return sheet


def save_contact_sheet(path: Path, images: np.ndarray, keep: np.ndarray, title: str = "") -> Path:
    """Write `contact_sheet(...)` as a PNG at `path` (replaced whole, never half written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    try:
        contact_sheet(images, keep, title=title).save(tmp, format="PNG")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


# -- computing and storing masks ---------------------------------------------------------


@dataclass
class EpisodeMasks:
    """What one episode got: its kept fraction and contact sheet (None if skipped)."""

    index: int
    frames: int
    kept_fraction: float | None
    sheet: Path | None
    skipped: bool = False


@dataclass
class MaskRun:
    """The outcome of `write_masks`: every episode's result and how the masks were made."""

    root: Path
    method: dict[str, Any]
    episodes: list[EpisodeMasks]

    @property
    def sheets_dir(self) -> Path:
        return self.root / "masks"

    @property
    def written(self) -> list[EpisodeMasks]:
        return [episode for episode in self.episodes if not episode.skipped]


def sheet_path(root: Path, index: int) -> Path:
    """Where the contact sheet of episode `index` goes: DATA/masks/episode_NNNNNN.png."""
    return Path(root) / "masks" / f"episode_{index:06d}.png"


def _check_maskable(root: Path, info: DatasetInfo, episodes: int) -> None:
    if IMAGE_KEY not in info.features:
        raise DatasetError(
            f"dataset `{root}` has no `{IMAGE_KEY}` images to mask",
            hint="masks are computed on the wrist camera; collect with a robot that "
            "reports `wrist_rgb`",
        )
    if episodes == 0:
        raise DatasetError(f"dataset `{root}` has no episodes to mask")


def check_maskable(root: Path) -> None:
    """Check that `root` is a dataset with wrist images and episodes, before slow work.

    Raises:
        DatasetError: it is not, saying why.
    """
    dataset = DemoDataset(root)
    _check_maskable(Path(root), dataset.info, len(dataset))


def write_masks(
    root: Path,
    source: MaskSource,
    *,
    method: Mapping[str, Any] | None = None,
    sheets: bool = True,
    only_missing: bool = False,
    on_start: Callable[[int, int, int, int], None] | None = None,
    on_episode: Callable[[EpisodeMasks], None] | None = None,
) -> MaskRun:
    """Compute keep masks for every episode and store them as `mask.keep`, with sheets.

    Each episode is rewritten atomically as soon as its masks are computed, so a run
    that is stopped keeps the episodes it finished (rerun with `only_missing`). How the
    masks were made (`method`, default: the source's `describe()`) is recorded in each
    episode's `meta.extra["mask.keep"]` and, at the end, in `meta/info.json`'s
    `derived["mask.keep"]`.

    Args:
        source: where masks come from (`ChromaKey`, `VideoMasks`, `KeepRegions`, ...).
        method: overrides the recorded description (the CLI adds its command line).
        sheets: write DATA/masks/episode_NNNNNN.png contact sheets.
        only_missing: skip episodes that already store `mask.keep`.
        on_start: called as (position, episodes, episode index, frames) before each
            episode it computes.
        on_episode: called with each episode's result, for progress display.

    Raises:
        DatasetError: not a dataset, no wrist images, no episodes, or another process
            is writing the dataset.
    """
    recorded = dict(method) if method is not None else describe(source)
    with DatasetEditor(root) as editor:
        _check_maskable(Path(root), editor.info, len(editor.paths))
        run = MaskRun(root=Path(root), method=recorded, episodes=[])
        for position, index in enumerate(sorted(editor.paths)):
            length = editor.length(index)
            if only_missing and editor.has_array(index, MASK_KEY):
                result = EpisodeMasks(index, length, None, None, skipped=True)
            else:
                if on_start is not None:
                    on_start(position, len(editor.paths), index, length)
                episode = editor.episode(index)
                keep = _check_keep(np.asarray(source.keep(episode)), episode, "the masks")
                fraction = float(keep.mean())
                extra = {MASK_KEY: {**recorded, "kept_fraction": round(fraction, 4)}}
                editor.write_array(index, MASK_KEY, keep, extra=extra)
                sheet = None
                if sheets:
                    title = f"episode {index}: {length} frames, kept {fraction:.1%}"
                    sheet = save_contact_sheet(
                        sheet_path(root, index), episode.frames[IMAGE_KEY], keep, title
                    )
                result = EpisodeMasks(index, length, fraction, sheet)
            run.episodes.append(result)
            if on_episode is not None:
                on_episode(result)
        if run.written:
            created = datetime.now(UTC).isoformat(timespec="seconds")
            editor.describe(MASK_KEY, {**recorded, "created": created})
    return run
