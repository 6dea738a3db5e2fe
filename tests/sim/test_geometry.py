"""Success is decided by geometry alone: inserted poses succeed, poses 2 mm off do not."""

import numpy as np
import pytest

from vitalskills.robot.geometry import (
    pose_matrix,
    yaw_matrix,
)
from vitalskills.sim import TASKS, make_env
from vitalskills.sim.plates import plate_boxes
from vitalskills.sim.tasks import Opening, TaskSpec, measure_insertion


def _pose(x: float, y: float, z: float, yaw: float = 0.0) -> np.ndarray:
    return pose_matrix(np.array([x, y, z]), yaw_matrix(yaw))


def test_plate_boxes_tile_the_plate_minus_the_holes() -> None:
    holes = [(-0.01, 0.0, 0.002, 0.004), (0.01, 0.0, 0.002, 0.004), (0.0, 0.02, 0.005, 0.001)]
    boxes = plate_boxes((-0.03, 0.03, -0.03, 0.03), holes)
    area = sum(4 * hx * hy for _, _, hx, hy in boxes)
    expected = 0.06 * 0.06 - sum(4 * hx * hy for _, _, hx, hy in holes)
    assert area == pytest.approx(expected)
    rng = np.random.default_rng(0)
    for x, y in rng.uniform(-0.03, 0.03, size=(2000, 2)):
        in_hole = any(abs(x - h[0]) < h[2] and abs(y - h[1]) < h[3] for h in holes)
        covers = sum(abs(x - b[0]) < b[2] and abs(y - b[1]) < b[3] for b in boxes)
        assert covers == (0 if in_hole else 1)


@pytest.mark.parametrize("name", ["plug_in_socket", "usb_insert", "key_in_lock"])
def test_insertion_depth_and_alignment_are_exact(name: str) -> None:
    spec = TASKS[name]
    top = spec.entry_z
    deep = measure_insertion(spec, _pose(0.0, 0.0, top - spec.required_depth - 0.0005))
    assert deep.aligned and deep.inserted(spec)
    assert deep.depth == pytest.approx(spec.required_depth + 0.0005)
    shallow = measure_insertion(spec, _pose(0.0, 0.0, top - spec.required_depth + 0.0005))
    assert shallow.aligned and not shallow.inserted(spec)
    for dx, dy in ((0.002, 0.0), (0.0, 0.002), (-0.002, 0.0), (0.0, -0.002)):
        off = measure_insertion(spec, _pose(dx, dy, top - spec.goal_depth))
        assert not off.aligned and not off.inserted(spec) and off.depth == 0.0
    twisted = measure_insertion(spec, _pose(0.0, 0.0, top - spec.goal_depth, np.deg2rad(25)))
    assert not twisted.inserted(spec)


def test_clearances_are_millimetric() -> None:
    for spec in TASKS.values():
        assert 0.0003 <= spec.clearance <= 0.002, spec.name
    assert TASKS["usb_insert"].clearance < 0.001


@pytest.mark.parametrize("name", sorted(TASKS))
def test_env_success_follows_the_placed_pose(name: str) -> None:
    env = make_env(name, render_wrist=False)
    env.reset(seed=0)
    spec = env.task
    depth = spec.entry_z - spec.goal_depth
    if spec.kind == "swipe":
        assert not env.place_held(_pose(-0.045, 0.0, depth))
        assert not env.place_held(_pose(0.0, 0.0, depth))
        assert env.place_held(_pose(0.02, 0.0, depth))
        env.reset(seed=0)
        env.place_held(_pose(-0.045, 0.0, depth))
        assert not env.place_held(_pose(-0.01, 0.002, depth))
        assert not env.place_held(_pose(0.02, 0.0, depth))
    else:
        assert env.place_held(_pose(0.0, 0.0, depth))
        env.reset(seed=0)
        assert not env.place_held(_pose(0.002, 0.0, depth))
        assert not env.place_held(_pose(0.0, 0.002, depth))
        assert not env.place_held(_pose(0.0, 0.0, spec.entry_z - spec.required_depth + 0.001))
    env.close()


def test_swipe_needs_travel_inside_the_slot() -> None:
    spec: TaskSpec = TASKS["card_swipe"]
    assert spec.openings[0] == Opening(0.0, 0.0, 0.07, 0.0015)
    depth = spec.entry_z - spec.goal_depth
    assert measure_insertion(spec, _pose(0.0, 0.0, depth)).inserted(spec)
    assert not measure_insertion(spec, _pose(0.0, 0.0, spec.entry_z - 0.004)).inserted(spec)
    assert not measure_insertion(spec, _pose(0.0, 0.002, depth)).inserted(spec)
    assert not measure_insertion(spec, _pose(0.11, 0.0, depth)).inserted(spec)
