"""Camera geometry on synthetic depth images whose true 3D content is known exactly."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vitalskills.perception.errors import BadFrame
from vitalskills.perception.geometry import (
    backproject,
    check_camera,
    erode,
    footprint_heading,
    intrinsics_matrix,
    mask_point,
    object_point,
    pixel_point,
    project,
    to_base,
    to_camera,
    top_point,
)

K = intrinsics_matrix(500.0, 480.0, 160.0, 120.0)
H, W = 240, 320


def look_down_extrinsics(height: float = 0.8) -> np.ndarray:
    """A camera `height` metres above the base origin looking straight down (-z base)."""
    t = np.eye(4)
    t[:3, :3] = np.array([[1.0, 0, 0], [0, -1.0, 0], [0, 0, -1.0]])
    t[:3, 3] = [0.4, 0.0, height]
    return t


def plane_scene(
    center_uv: tuple[int, int], half: int, z: float, background: float = 1.5
) -> tuple[np.ndarray, np.ndarray]:
    """Depth image with a fronto-parallel square patch at depth z, and its mask."""
    depth = np.full((H, W), background, dtype=np.float64)
    mask = np.zeros((H, W), dtype=bool)
    u0, v0 = center_uv
    depth[v0 - half : v0 + half + 1, u0 - half : u0 + half + 1] = z
    mask[v0 - half : v0 + half + 1, u0 - half : u0 + half + 1] = True
    return depth, mask


@settings(max_examples=50, deadline=None)
@given(
    x=st.floats(-0.3, 0.3),
    y=st.floats(-0.2, 0.2),
    z=st.floats(0.2, 3.0),
)
def test_project_then_backproject_recovers_the_point(x: float, y: float, z: float) -> None:
    point = np.array([[x, y, z]])
    uv = project(point, K)
    np.testing.assert_allclose(backproject(uv, np.array([z]), K), point, atol=1e-12)


def test_base_and_camera_frames_round_trip() -> None:
    ext = look_down_extrinsics()
    p_base = np.array([[0.5, 0.1, 0.02], [0.3, -0.2, 0.0]])
    np.testing.assert_allclose(to_base(to_camera(p_base, ext), ext), p_base, atol=1e-12)
    # Straight below the camera at table height is 0.8 m along the optical axis.
    np.testing.assert_allclose(to_camera(np.array([0.4, 0.0, 0.0]), ext), [0, 0, 0.8])


def test_known_point_projected_into_depth_is_recovered_exactly() -> None:
    ext = look_down_extrinsics(0.8)
    target_base = np.array([0.45, -0.05, 0.03])
    target_cam = to_camera(target_base, ext)
    u, v = project(target_cam, K)[0]
    # Put the patch centre exactly on the projected pixel: choose the target so it is.
    u_i, v_i = round(u), round(v)
    target_cam = backproject(np.array([[u_i, v_i]]), np.array([target_cam[2]]), K)[0]
    depth, mask = plane_scene((u_i, v_i), 10, float(target_cam[2]))
    got = mask_point(mask, depth, K, ext)
    np.testing.assert_allclose(got, to_base(target_cam, ext), atol=1e-9)
    np.testing.assert_allclose(mask_point(mask, depth, K), target_cam, atol=1e-9)


def test_holes_and_edge_spill_do_not_pull_the_point_off_the_object() -> None:
    z = 0.6
    depth, mask = plane_scene((150, 100), 12, z, background=1.4)
    truth = backproject(np.array([[150, 100]]), np.array([z]), K)[0]
    rng = np.random.default_rng(0)
    # Holes: 20% of the object's pixels have no reading (0 or NaN).
    holes = mask & (rng.random((H, W)) < 0.2)
    depth[holes & (rng.random((H, W)) < 0.5)] = 0.0
    depth[holes & (depth != 0.0)] = np.nan
    # Edge spill: the segmenter's mask is 3 px too big on the left and bottom,
    # covering far background, and flying pixels sit on the object's border.
    spilled = mask.copy()
    spilled[100 - 12 : 100 + 16, 150 - 15 : 150 + 13] = True
    depth[100 - 12, 150 - 12 : 150 + 13] = 1.0
    got = mask_point(spilled, depth, K)
    assert got is not None
    assert abs(got[2] - z) < 1e-9
    assert np.linalg.norm(got - truth) < 0.005
    # The naive mean over the same mask is pulled far off the object.
    naive = np.nanmean(np.where(spilled & (depth > 0), depth, np.nan))
    assert abs(naive - z) > 0.05


def test_small_masks_are_eroded_less_instead_of_vanishing() -> None:
    depth, mask = plane_scene((60, 60), 1, 0.7)  # a 3x3 object
    got = mask_point(mask, depth, K, erode_px=3, min_pixels=5)
    np.testing.assert_allclose(got, backproject(np.array([[60, 60]]), np.array([0.7]), K)[0])


def test_mask_without_depth_gives_none() -> None:
    depth, mask = plane_scene((60, 60), 5, 0.7)
    depth[mask] = 0.0
    assert mask_point(mask, depth, K) is None
    assert mask_point(np.zeros_like(mask), depth, K) is None


def test_pixel_point_uses_window_median_over_holes() -> None:
    depth, _ = plane_scene((100, 80), 6, 0.9)
    depth[80, 100] = 0.0  # a hole exactly under the pixel
    got = pixel_point(100, 80, depth, K)
    np.testing.assert_allclose(got, backproject(np.array([[100, 80]]), np.array([0.9]), K)[0])
    assert pixel_point(-5, 10, depth, K) is None


def test_erode_shrinks_by_radius() -> None:
    _, mask = plane_scene((50, 50), 5, 1.0)
    assert erode(mask, 2).sum() == 7 * 7
    assert erode(mask, 0).sum() == mask.sum()


def test_bad_inputs_are_clear_errors() -> None:
    depth, mask = plane_scene((50, 50), 5, 1.0)
    with pytest.raises(BadFrame, match="depth must be a 2-D float array"):
        mask_point(mask, (depth * 1000).astype(np.uint16), K)
    with pytest.raises(BadFrame, match="mask shape"):
        mask_point(mask[:10], depth, K)
    with pytest.raises(BadFrame, match="extrinsics must be a 4x4"):
        check_camera(K, np.eye(3))
    bad = np.eye(4)
    bad[0, 0] = 2.0
    with pytest.raises(BadFrame, match="proper rotation"):
        check_camera(K, bad)


def raycast_box_on_table(
    k: np.ndarray, ext: np.ndarray, size: tuple[int, int], lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Exact depth of an axis-aligned box [lo, hi] standing on the table plane z = 0."""
    h, w = size
    v, u = np.mgrid[0:h, 0:w]
    rays_cam = backproject(np.stack([u.ravel(), v.ravel()], 1), np.ones(h * w), k)
    origin, rays = ext[:3, 3], rays_cam @ ext[:3, :3].T  # base-frame ray per unit depth
    best = np.full(h * w, np.inf)
    hit_box = np.zeros(h * w, bool)
    for axis in range(3):
        for bound in (lo[axis], hi[axis]):
            with np.errstate(divide="ignore", invalid="ignore"):
                t = (bound - origin[axis]) / rays[:, axis]
                p = origin + t[:, None] * rays
            others = [a for a in range(3) if a != axis]
            inside = np.all(
                [(p[:, a] >= lo[a] - 1e-12) & (p[:, a] <= hi[a] + 1e-12) for a in others], axis=0
            )
            closer = inside & (t > 0) & (t < best)
            best[closer], hit_box[closer] = t[closer], True
    table_t = -origin[2] / rays[:, 2]
    table = ~hit_box & (table_t > 0)
    best[table] = table_t[table]
    return best.reshape(h, w), hit_box.reshape(h, w)


def test_top_point_finds_the_top_face_centre_from_a_tilted_view() -> None:
    # A camera 0.5 m up and 0.4 m back, pitched 45 deg down: it sees the box's top and side.
    pitch = np.deg2rad(45.0)
    ext = np.eye(4)
    forward = np.array([np.cos(pitch), 0.0, -np.sin(pitch)])
    right = np.array([0.0, -1.0, 0.0])
    ext[:3, :3] = np.stack([right, np.cross(forward, right), forward], axis=1)
    ext[:3, 3] = [0.1, 0.0, 0.5]
    lo, hi = np.array([0.47, -0.06, 0.0]), np.array([0.53, 0.02, 0.04])
    depth, mask = raycast_box_on_table(K, ext, (H, W), lo, hi)
    truth = np.array([0.5, -0.02, 0.04])
    top = top_point(mask, depth, K, ext, trim=0.0)
    assert np.linalg.norm(top - truth) < 0.0015  # within a pixel's footprint
    # The whole-mask median is pulled down the visible side face.
    median = mask_point(mask, depth, K, ext)
    assert np.linalg.norm(median - truth) > 0.004
    assert object_point("top", mask, depth, K, ext) is not None
    assert top_point(np.zeros_like(mask), depth, K, ext) is None


def rectangle_face(yaw: float, length: float, width: float, n: int = 4000) -> np.ndarray:
    """Points filling a `length` x `width` rectangle turned by `yaw`, at table height."""
    rng = np.random.default_rng(0)
    local = rng.uniform(-0.5, 0.5, size=(n, 2)) * [length, width]
    c, s = np.cos(yaw), np.sin(yaw)
    xy = local @ np.array([[c, s], [-s, c]]) + [0.5, 0.1]
    return np.column_stack([xy, np.full(n, 0.03)])


@pytest.mark.parametrize("yaw", [-0.5, -0.1, 0.0, 0.3, 1.2])
def test_footprint_heading_of_an_elongated_face_is_its_long_side(yaw: float) -> None:
    found = footprint_heading(rectangle_face(yaw, 0.26, 0.06))
    assert found is not None
    heading, period = found
    assert period == pytest.approx(np.pi)
    error = (heading - yaw + np.pi / 2) % np.pi - np.pi / 2
    assert abs(error) < np.deg2rad(1.0)


def test_footprint_heading_of_a_square_face_is_known_up_to_a_quarter_turn() -> None:
    heading, period = footprint_heading(rectangle_face(0.4, 0.05, 0.05))
    assert period == pytest.approx(np.pi / 2)
    assert abs((heading - 0.4 + np.pi / 4) % (np.pi / 2) - np.pi / 4) < np.deg2rad(1.0)


def test_footprint_heading_needs_enough_points() -> None:
    assert footprint_heading(rectangle_face(0.0, 0.1, 0.02, n=10)) is None
