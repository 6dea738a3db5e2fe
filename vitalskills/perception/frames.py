"""Read an RGB-D frame and its camera model from files, as `vitalskills locate` takes them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import yaml
from PIL import Image, UnidentifiedImageError

from vitalskills.errors import UsageError
from vitalskills.perception.errors import BadFrame
from vitalskills.perception.geometry import check_camera, check_frame, intrinsics_matrix
from vitalskills.robot import SceneFrame


def parse_intrinsics(text: str) -> np.ndarray:
    """Parse "fx,fy,cx,cy" (pixels) into a 3x3 pinhole matrix."""
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        values = []
    if len(values) != 4:
        raise UsageError(
            f"--intrinsics must be four numbers fx,fy,cx,cy, got `{text}`",
            hint="e.g. --intrinsics 615.2,615.0,320.5,240.1",
        )
    return intrinsics_matrix(*values)


def read_extrinsics(path: Path) -> np.ndarray:
    """Read a 4x4 camera-to-base matrix from `.npy`, `.json` or `.yaml` (a list of rows)."""
    if not path.is_file():
        raise UsageError(f"extrinsics file `{path}` does not exist")
    try:
        if path.suffix == ".npy":
            matrix = np.load(path, allow_pickle=False)
        else:
            text = path.read_text(encoding="utf-8")
            data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
            matrix = np.asarray(data, dtype=np.float64)
    except (ValueError, TypeError, yaml.YAMLError) as error:
        raise BadFrame(
            f"cannot read a 4x4 matrix from `{path}`: {error}",
            hint="save it with np.save, or as JSON/YAML: a list of 4 rows of 4 numbers",
        ) from None
    return np.asarray(matrix, dtype=np.float64)


def read_frame(
    image: Path,
    depth: Path,
    intrinsics: str,
    extrinsics: Path | None = None,
    depth_scale: float = 1.0,
) -> SceneFrame:
    """Load an RGB image, a `.npy` depth map (times `depth_scale` gives metres) and a camera.

    Without extrinsics the camera frame is used as the base frame (identity transform).
    """
    try:
        rgb = np.asarray(Image.open(image).convert("RGB"))
    except (OSError, UnidentifiedImageError) as error:
        raise UsageError(f"cannot read image `{image}`: {error}") from None
    if not depth.is_file():
        raise UsageError(f"depth file `{depth}` does not exist", hint="save depth with np.save")
    try:
        raw = np.load(depth, allow_pickle=False)
    except ValueError as error:
        raise BadFrame(
            f"cannot read depth `{depth}`: {error}", hint="save it with np.save"
        ) from None
    if np.issubdtype(raw.dtype, np.integer) and depth_scale == 1.0:
        raise BadFrame(
            f"depth `{depth}` holds integers ({raw.dtype}); metres were expected",
            hint="for millimetre depth pass --depth-scale 0.001",
        )
    frame = SceneFrame(
        rgb=rgb,
        depth=raw.astype(np.float32) * np.float32(depth_scale),
        intrinsics=parse_intrinsics(intrinsics),
        extrinsics=read_extrinsics(extrinsics) if extrinsics is not None else np.eye(4),
    )
    check_frame(frame.rgb, frame.depth)
    check_camera(frame.intrinsics, frame.extrinsics)
    return frame
