"""Small rigid-body helpers: rotations, poses, and boxes around rectangular holes.

MuJoCo collides primitive geoms far more reliably than meshes, so a plate with holes
(a socket face, a USB port, a keyway) is built from the boxes that tile it.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np


def quat_to_mat(quat: np.ndarray) -> np.ndarray:
    """Return the 3x3 rotation matrix of a unit quaternion (w, x, y, z)."""
    w, x, y, z = quat
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def mat_to_quat(mat: np.ndarray) -> np.ndarray:
    """Return the unit quaternion (w, x, y, z) of a rotation matrix, with w >= 0."""
    m = mat
    trace = m[0, 0] + m[1, 1] + m[2, 2]
    if trace > 0:
        s = 2.0 * np.sqrt(trace + 1.0)
        q = [0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s]
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = 2.0 * np.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        q = [(m[2, 1] - m[1, 2]) / s, 0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s]
    elif m[1, 1] > m[2, 2]:
        s = 2.0 * np.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        q = [(m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s]
    else:
        s = 2.0 * np.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        q = [(m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s]
    quat = np.asarray(q, dtype=float)
    quat /= np.linalg.norm(quat)
    return quat if quat[0] >= 0 else -quat


def axis_angle_to_mat(rotvec: np.ndarray) -> np.ndarray:
    """Return the rotation matrix of an axis-angle vector (Rodrigues)."""
    angle = float(np.linalg.norm(rotvec))
    if angle < 1e-12:
        return np.eye(3)
    k = np.asarray(rotvec, dtype=float) / angle
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(angle) * kx + (1 - np.cos(angle)) * kx @ kx


def mat_to_axis_angle(mat: np.ndarray) -> np.ndarray:
    """Return the axis-angle vector of a rotation matrix (angle in [0, pi])."""
    cos = np.clip((np.trace(mat) - 1.0) / 2.0, -1.0, 1.0)
    angle = float(np.arccos(cos))
    if angle < 1e-9:
        return np.zeros(3)
    if np.pi - angle < 1e-6:
        axis = np.sqrt(np.clip((np.diag(mat) + 1.0) / 2.0, 0.0, None))
        i = int(np.argmax(axis))
        signs = np.sign(mat[i] + (np.arange(3) == i))
        return angle * axis * signs
    axis = np.array([mat[2, 1] - mat[1, 2], mat[0, 2] - mat[2, 0], mat[1, 0] - mat[0, 1]])
    return angle * axis / (2.0 * np.sin(angle))


def yaw_mat(yaw: float) -> np.ndarray:
    """Return the rotation about the world z axis by `yaw` radians."""
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def pose_matrix(pos: np.ndarray, rot: np.ndarray) -> np.ndarray:
    """Return the 4x4 homogeneous transform of a position and rotation matrix."""
    out = np.eye(4)
    out[:3, :3] = rot
    out[:3, 3] = pos
    return out


def plate_boxes(
    extent: tuple[float, float, float, float],
    holes: list[tuple[float, float, float, float]],
) -> list[tuple[float, float, float, float]]:
    """Tile a rectangle minus rectangular holes with as few axis-aligned boxes as is easy.

    Args:
        extent: (x0, x1, y0, y1) of the plate.
        holes: (cx, cy, half_x, half_y) of each hole, inside the plate.

    Returns:
        (cx, cy, half_x, half_y) of each box; their union is the plate minus the holes.
    """
    x0, x1, y0, y1 = extent
    xs = sorted({x0, x1, *(h[0] - h[2] for h in holes), *(h[0] + h[2] for h in holes)})
    ys = sorted({y0, y1, *(h[1] - h[3] for h in holes), *(h[1] + h[3] for h in holes)})

    def free(x: float, y: float) -> bool:
        return not any(abs(x - h[0]) < h[2] and abs(y - h[1]) < h[3] for h in holes)

    columns: list[tuple[float, float, list[tuple[float, float]]]] = []
    for xa, xb in pairwise(xs):
        spans: list[tuple[float, float]] = []
        for ya, yb in pairwise(ys):
            if not free((xa + xb) / 2, (ya + yb) / 2):
                continue
            if spans and abs(spans[-1][1] - ya) < 1e-12:
                spans[-1] = (spans[-1][0], yb)
            else:
                spans.append((ya, yb))
        if columns and columns[-1][2] == spans and abs(columns[-1][1] - xa) < 1e-12:
            columns[-1] = (columns[-1][0], xb, spans)
        else:
            columns.append((xa, xb, spans))
    return [
        ((xa + xb) / 2, (ya + yb) / 2, (xb - xa) / 2, (yb - ya) / 2)
        for xa, xb, spans in columns
        for ya, yb in spans
    ]
