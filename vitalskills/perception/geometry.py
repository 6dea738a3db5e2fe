"""Camera geometry: pinhole projection, back-projection and a robust 3D point for a mask.

Conventions follow `SceneFrame`: intrinsics are the 3x3 pinhole matrix, extrinsics the
4x4 camera-to-base transform, the camera frame is OpenCV's (x right, y down, z forward)
and pixel (u, v) has its centre at integer coordinates. Depth is metres along z; 0, NaN,
inf and negative values mean "no reading".
"""

from __future__ import annotations

import numpy as np

from vitalskills.perception.errors import BadFrame


def valid_depth(depth: np.ndarray) -> np.ndarray:
    """Return a bool mask of pixels that carry a usable depth reading."""
    return np.isfinite(depth) & (depth > 0)


def to_base(points_cam: np.ndarray, extrinsics: np.ndarray) -> np.ndarray:
    """Map (N, 3) or (3,) camera-frame points into the base frame."""
    return points_cam @ extrinsics[:3, :3].T + extrinsics[:3, 3]


def to_camera(points_base: np.ndarray, extrinsics: np.ndarray) -> np.ndarray:
    """Map (N, 3) or (3,) base-frame points into the camera frame."""
    return (points_base - extrinsics[:3, 3]) @ extrinsics[:3, :3]


def project(points_cam: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """Project (N, 3) camera-frame points to (N, 2) pixel coordinates (u, v)."""
    pts = np.atleast_2d(points_cam)
    uvw = pts @ intrinsics.T
    return uvw[:, :2] / uvw[:, 2:3]


def backproject(uv: np.ndarray, depth: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """Lift (N, 2) pixel coordinates with (N,) depths to (N, 3) camera-frame points."""
    uv = np.atleast_2d(np.asarray(uv, dtype=np.float64))
    z = np.asarray(depth, dtype=np.float64).reshape(-1)
    fx, fy = intrinsics[0, 0], intrinsics[1, 1]
    cx, cy, skew = intrinsics[0, 2], intrinsics[1, 2], intrinsics[0, 1]
    y = (uv[:, 1] - cy) / fy
    x = (uv[:, 0] - cx - skew * y) / fx
    return np.stack([x * z, y * z, z], axis=1)


def erode(mask: np.ndarray, radius: int) -> np.ndarray:
    """Shrink a bool mask by `radius` pixels (square structuring element)."""
    out = mask.astype(bool).copy()
    if radius <= 0:
        return out
    padded = np.pad(out, radius, constant_values=False)
    h, w = out.shape
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            out &= padded[radius + dy : radius + dy + h, radius + dx : radius + dx + w]
    return out


def mask_point(
    mask: np.ndarray,
    depth: np.ndarray,
    intrinsics: np.ndarray,
    extrinsics: np.ndarray | None = None,
    *,
    erode_px: int = 2,
    min_pixels: int = 5,
    outlier_mad: float = 3.0,
    outlier_floor_m: float = 0.01,
) -> np.ndarray | None:
    """Return the robust 3D point of the surface a mask covers, or None if it has no depth.

    Masks from a segmenter spill over object borders, and depth sensors leave holes and
    flying pixels at edges. So: erode the mask (shrinking the radius when too little
    would remain), keep pixels with valid depth, drop depths further than `outlier_mad`
    median absolute deviations (at least `outlier_floor_m`) from the median, back-project
    the rest and take the per-axis median. The point is in the base frame when
    `extrinsics` is given, else in the camera frame.
    """
    check_depth(depth)
    if mask.shape != depth.shape:
        raise BadFrame(
            f"mask shape {mask.shape} does not match depth shape {depth.shape}",
            hint="pass a mask computed on the same image as the depth map",
        )
    usable = mask.astype(bool) & valid_depth(depth)
    for radius in range(erode_px, -1, -1):
        core = erode(mask, radius) & valid_depth(depth)
        if core.sum() >= min_pixels:
            usable = core
            break
    if not usable.any():
        return None
    v, u = np.nonzero(usable)
    z = depth[v, u].astype(np.float64)
    median = np.median(z)
    spread = max(outlier_mad * 1.4826 * np.median(np.abs(z - median)), outlier_floor_m)
    keep = np.abs(z - median) <= spread
    points = backproject(np.stack([u[keep], v[keep]], axis=1), z[keep], intrinsics)
    point = np.median(points, axis=0)
    return to_base(point, extrinsics) if extrinsics is not None else point


def pixel_point(
    u: float,
    v: float,
    depth: np.ndarray,
    intrinsics: np.ndarray,
    extrinsics: np.ndarray | None = None,
    *,
    window_px: int = 3,
) -> np.ndarray | None:
    """Return the 3D point under pixel (u, v), using the median depth of a small window.

    A single pixel is often a hole or an edge; the median over a (2w+1)^2 window of valid
    readings is not. Returns None when the window has no valid depth.
    """
    check_depth(depth)
    h, w = depth.shape
    if not (0 <= u <= w - 1 and 0 <= v <= h - 1):
        return None
    iu, iv = round(u), round(v)
    patch = depth[
        max(iv - window_px, 0) : iv + window_px + 1, max(iu - window_px, 0) : iu + window_px + 1
    ]
    readings = patch[valid_depth(patch)]
    if readings.size == 0:
        return None
    point = backproject(np.array([[u, v]]), np.array([np.median(readings)]), intrinsics)[0]
    return to_base(point, extrinsics) if extrinsics is not None else point


def check_depth(depth: np.ndarray) -> None:
    """Raise `BadFrame` unless `depth` is a 2-D float array in metres."""
    if depth.ndim != 2 or not np.issubdtype(depth.dtype, np.floating):
        raise BadFrame(
            f"depth must be a 2-D float array in metres, got {depth.dtype} {depth.shape}",
            hint="convert millimetre uint16 depth with `depth.astype(np.float32) / 1000`",
        )


def check_camera(intrinsics: np.ndarray, extrinsics: np.ndarray) -> None:
    """Raise `BadFrame` unless the camera model has the right shapes and a valid rotation."""
    if intrinsics.shape != (3, 3) or intrinsics[0, 0] <= 0 or intrinsics[1, 1] <= 0:
        raise BadFrame(
            f"intrinsics must be a 3x3 pinhole matrix with positive focal lengths, "
            f"got shape {intrinsics.shape}",
            hint="give fx,fy,cx,cy in pixels",
        )
    if extrinsics.shape != (4, 4):
        raise BadFrame(
            f"extrinsics must be a 4x4 camera-to-base transform, got shape {extrinsics.shape}",
            hint="save the 4x4 matrix with np.save or as a JSON/YAML list of 4 rows",
        )
    rot = extrinsics[:3, :3]
    if not np.allclose(rot @ rot.T, np.eye(3), atol=1e-4) or np.linalg.det(rot) < 0:
        raise BadFrame(
            "extrinsics rotation is not a proper rotation matrix",
            hint="the top-left 3x3 block must be orthonormal with determinant +1",
        )


def intrinsics_matrix(fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    """Return the 3x3 pinhole matrix for focal lengths and principal point in pixels."""
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


def check_frame(rgb: np.ndarray, depth: np.ndarray) -> None:
    """Raise `BadFrame` unless rgb is (H, W, 3) uint8 and depth an (H, W) float map."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise BadFrame(
            f"rgb must be an (H, W, 3) uint8 image, got {rgb.dtype} {rgb.shape}",
            hint="load the image as 8-bit RGB",
        )
    check_depth(depth)
    if depth.shape != rgb.shape[:2]:
        raise BadFrame(
            f"depth shape {depth.shape} does not match image size {rgb.shape[:2]}",
            hint="register the depth map to the colour image first",
        )


def top_point(
    mask: np.ndarray,
    depth: np.ndarray,
    intrinsics: np.ndarray,
    extrinsics: np.ndarray,
    *,
    erode_px: int = 0,
    band_m: float = 0.003,
    trim: float = 1.0,
) -> np.ndarray | None:
    """Return the centre of the highest surface a mask covers, in the base frame.

    Insertion targets (sockets, ports, slots, keyholes) open in an object's top face,
    which a tilted camera sees together with the object's sides: a median over the
    whole mask lands off-centre and below the face. So: back-project the eroded mask,
    keep the points within `band_m` of the robust top (the `100 - trim` percentile of
    height along base z), and return the centre of their x/y extent (`trim`..`100 -
    trim` percentiles) at their median height. Image-space erosion is off by default:
    on a tilted view it removes more of the far edge than the near one and biases the
    centre; the height band already rejects spill onto lower surfaces. Returns None
    without valid depth.
    """
    face = top_face(
        mask, depth, intrinsics, extrinsics, erode_px=erode_px, band_m=band_m, trim=trim
    )
    if face is None:
        return None
    low, high = np.percentile(face[:, :2], [trim, 100.0 - trim], axis=0)
    return np.array([*(low + high) / 2.0, np.median(face[:, 2])])


def top_face(
    mask: np.ndarray,
    depth: np.ndarray,
    intrinsics: np.ndarray,
    extrinsics: np.ndarray,
    *,
    erode_px: int = 0,
    band_m: float = 0.003,
    trim: float = 1.0,
) -> np.ndarray | None:
    """Return the base-frame points (N, 3) of the highest surface a mask covers.

    The points within `band_m` of the robust top (the `100 - trim` percentile of height),
    from the mask eroded by `erode_px` (the whole mask if erosion leaves too little).
    None without valid depth.
    """
    check_depth(depth)
    core = erode(mask, erode_px) & valid_depth(depth)
    if core.sum() < 5:
        core = mask.astype(bool) & valid_depth(depth)
    if not core.any():
        return None
    v, u = np.nonzero(core)
    points = to_base(backproject(np.stack([u, v], axis=1), depth[v, u], intrinsics), extrinsics)
    top = np.percentile(points[:, 2], 100.0 - trim)
    return points[points[:, 2] >= top - band_m]


#: Footprints whose long side is less than this times the short side count as square.
ELONGATED = 1.2


def footprint_heading(face: np.ndarray, step_deg: float = 0.5) -> tuple[float, float] | None:
    """Return (yaw, period) of the smallest rectangle around a face's x/y footprint.

    Targets are rectangular: the rectangle's long side gives the object's heading up to
    a half turn (`period` pi); a square footprint only gives its edges, up to a quarter
    turn (`period` pi/2). Yaw is about base z, in radians in [0, period). None for a
    footprint too small to measure (under 20 points).
    """
    if face is None or len(face) < 20:
        return None
    xy = face[:, :2] - face[:, :2].mean(axis=0)
    angles = np.deg2rad(np.arange(0.0, 90.0, step_deg))
    axes = np.stack([np.cos(angles), np.sin(angles)], axis=1)  # (K, 2)
    along = xy @ axes.T  # (N, K): extent along each candidate axis
    across = xy @ np.stack([-axes[:, 1], axes[:, 0]], axis=1).T
    length = np.ptp(along, axis=0)
    width = np.ptp(across, axis=0)
    best = int(np.argmin(length * width))
    long, short = max(length[best], width[best]), min(length[best], width[best])
    yaw = float(angles[best]) + (0.0 if length[best] >= width[best] else np.pi / 2)
    if long < ELONGATED * short:
        return float(np.mod(yaw, np.pi / 2)), np.pi / 2
    return float(np.mod(yaw, np.pi)), np.pi


POINT_METHODS = ("top", "median")


def object_point(
    method: str,
    mask: np.ndarray,
    depth: np.ndarray,
    intrinsics: np.ndarray,
    extrinsics: np.ndarray,
    *,
    erode_px: int = 2,
) -> np.ndarray | None:
    """Return a mask's 3D point in the base frame: `top` face centre or robust `median`."""
    if method == "top":
        return top_point(mask, depth, intrinsics, extrinsics)
    return mask_point(mask, depth, intrinsics, extrinsics, erode_px=erode_px)
