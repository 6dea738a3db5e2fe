"""The one rotation and pose implementation: round trips and conventions."""

import numpy as np

from vitalskills.robot.geometry import (
    axis_angle_to_matrix,
    matrix_to_axis_angle,
    matrix_to_quat,
    quat_to_matrix,
)


def test_rotation_helpers_round_trip() -> None:
    rng = np.random.default_rng(1)
    for _ in range(50):
        axis = rng.normal(size=3)
        rotvec = axis / np.linalg.norm(axis) * rng.uniform(0.0, 3.1)
        mat = axis_angle_to_matrix(rotvec)
        assert np.allclose(matrix_to_axis_angle(mat), rotvec, atol=1e-9)
        assert np.allclose(quat_to_matrix(matrix_to_quat(mat)), mat, atol=1e-9)
