"""Rotations and poses, the one implementation every package uses.

Conventions: quaternions are (w, x, y, z); rotation vectors are axis-angle in radians;
poses are 4x4 homogeneous transforms or 7-vectors (xyz metres + wxyz quaternion);
"heading" is the yaw about base z of a frame's x axis.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from vitalskills.robot.interface import Observation


def quat_to_matrix(quat_wxyz: Sequence[float] | np.ndarray) -> np.ndarray:
    """Return the 3x3 rotation matrix of a (w, x, y, z) quaternion.

    A quaternion that is not unit length (float32 observations) is normalised first; a
    unit one is used as is, so that simulator state round-trips bit for bit.
    """
    w, x, y, z = np.asarray(quat_wxyz, dtype=np.float64).reshape(4)
    norm = math.sqrt(w * w + x * x + y * y + z * z)
    if norm > 0.0 and abs(norm - 1.0) > 1e-12:
        w, x, y, z = w / norm, x / norm, y / norm, z / norm
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def matrix_to_quat(mat: np.ndarray) -> np.ndarray:
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


def axis_angle_to_matrix(rotvec: np.ndarray) -> np.ndarray:
    """Return the rotation matrix of an axis-angle vector (Rodrigues)."""
    angle = float(np.linalg.norm(rotvec))
    if angle < 1e-12:
        return np.eye(3)
    k = np.asarray(rotvec, dtype=float) / angle
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(angle) * kx + (1 - np.cos(angle)) * kx @ kx


def matrix_to_axis_angle(mat: np.ndarray) -> np.ndarray:
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


def rpy_to_quat(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """Return the quaternion (w, x, y, z) of extrinsic x-y-z roll, pitch, yaw (radians).

    This is the convention of most arm controllers (xArm, UR's RPY, Franka's Euler).
    """
    cr, sr = math.cos(roll / 2), math.sin(roll / 2)
    cp, sp = math.cos(pitch / 2), math.sin(pitch / 2)
    cy, sy = math.cos(yaw / 2), math.sin(yaw / 2)
    return np.array(
        [
            cr * cp * cy + sr * sp * sy,
            sr * cp * cy - cr * sp * sy,
            cr * sp * cy + sr * cp * sy,
            cr * cp * sy - sr * sp * cy,
        ]
    )


def axis_angle_to_rpy(rotvec: np.ndarray) -> tuple[float, float, float]:
    """Return the extrinsic x-y-z roll, pitch, yaw (radians) of an axis-angle rotation."""
    r = axis_angle_to_matrix(rotvec)
    pitch = math.asin(max(-1.0, min(1.0, -r[2, 0])))
    return math.atan2(r[2, 1], r[2, 2]), pitch, math.atan2(r[1, 0], r[0, 0])


def yaw_matrix(yaw: float) -> np.ndarray:
    """Return the rotation about the world z axis by `yaw` radians."""
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def pose_matrix(pos: np.ndarray, rot: np.ndarray) -> np.ndarray:
    """Return the 4x4 homogeneous transform of a position and rotation matrix."""
    out = np.eye(4)
    out[:3, :3] = rot
    out[:3, 3] = pos
    return out


def ee_pose(observation: Observation) -> tuple[np.ndarray, np.ndarray]:
    """Return the end effector's position (base frame) and rotation matrix."""
    pose = np.asarray(observation["ee_pose"], dtype=np.float64).reshape(-1)
    return pose[:3], quat_to_matrix(pose[3:7])


def heading(rotation: np.ndarray) -> float:
    """Return the yaw about base z of a rotation's x axis (the gripper's heading)."""
    return math.atan2(rotation[1, 0], rotation[0, 0])


def wrap_angle(angle: float) -> float:
    """Return `angle` in [-pi, pi)."""
    return (angle + math.pi) % (2 * math.pi) - math.pi


def rotate_yaw(xy: np.ndarray, yaw: float) -> np.ndarray:
    """Rotate a 2-D vector by `yaw` about z."""
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([c * xy[0] - s * xy[1], s * xy[0] + c * xy[1]])


def median_rotation(rotations: Sequence[np.ndarray]) -> np.ndarray:
    """A robust middle of rotations: the per-component median of their quaternions.

    The quaternions are put on one hemisphere first (q and -q are the same rotation), and
    the median is normalized; for poses a few degrees apart this is the rotation in the
    middle, and one odd pose does not pull it.
    """
    quats = np.array([matrix_to_quat(r) for r in rotations])
    quats *= np.where(quats @ quats[0] < 0, -1.0, 1.0)[:, None]
    middle = np.median(quats, axis=0)
    return quat_to_matrix(middle / np.linalg.norm(middle))
