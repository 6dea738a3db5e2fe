"""The noisy oracle on real simulator frames: each error matches its parameter.

Frames come from the real MuJoCo scene (`plug_in_socket`, `scene` condition, which
shows look-alike power strips); errors are measured against the plain `sim` oracle on
the same frame, over many seeded grounders (one per simulated run).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from vitalskills.perception import BadConfig, load_config, make_grounder
from vitalskills.perception.config import NoisyOracleOptions, PerceptionConfig, grounder_options
from vitalskills.perception.geometry import project, to_camera
from vitalskills.perception.noisy_oracle import (
    MEDIAN_NORM_3D,
    NOMINAL_RANGE_M,
    NoisyOracleGrounder,
    grounding_error_preset,
    look_alikes,
)
from vitalskills.perception.sim_grounder import SimGrounder
from vitalskills.robot import SceneFrame

QUERY = "power strip"


@pytest.fixture(scope="module")
def frames() -> list[SceneFrame]:
    from vitalskills.sim import SimRobot

    robot = SimRobot("plug_in_socket", "scene", seed=0)
    try:
        out = []
        for seed in range(3):
            robot.reset(seed=seed)
            out.append(robot.scene())
        return out
    finally:
        robot.close()


def grounder(seed: int, **params: float) -> NoisyOracleGrounder:
    return NoisyOracleGrounder("noisy", NoisyOracleOptions(seed=seed, **params))


def errors_mm(frames: list[SceneFrame], runs: int, **params: float) -> np.ndarray:
    """(runs, 3) base-frame errors in mm: one grounder (one run) per row, frames in turn."""
    truth = [SimGrounder().locate(frame, QUERY).point for frame in frames]
    rows = []
    for k in range(runs):
        i = k % len(frames)
        result = grounder(k, **params).locate(frames[i], QUERY)
        assert result.found and result.point is not None, result.detail
        rows.append(1000.0 * (result.point - truth[i]))
    return np.array(rows)


def test_without_errors_it_is_the_oracle(frames: list[SceneFrame]) -> None:
    result = grounder(3).locate(frames[0], QUERY)
    oracle = SimGrounder().locate(frames[0], QUERY)
    assert result.found and result.privileged and result.grounder == "noisy"
    assert np.allclose(result.point, oracle.point, atol=1e-9)
    assert result.yaw == oracle.yaw


@pytest.mark.parametrize("mm", [10.0, 30.0])
def test_the_preset_gives_its_median_3d_error(frames: list[SceneFrame], mm: float) -> None:
    errors = errors_mm(frames, 240, **grounding_error_preset(mm))
    median = float(np.median(np.linalg.norm(errors, axis=1)))
    assert abs(median - mm) < 0.15 * mm, median
    # No bias: a grounder errs around the object, not to one side of it.
    assert np.all(np.abs(errors.mean(axis=0)) < 0.25 * mm), errors.mean(axis=0)


def test_zero_grounding_error_sets_every_error_to_zero() -> None:
    assert set(grounding_error_preset(0).values()) == {0.0}


def test_pixel_error_moves_the_point_in_the_image_only(frames: list[SceneFrame]) -> None:
    frame = frames[0]
    oracle = SimGrounder().locate(frame, QUERY).point
    cam0 = to_camera(oracle, frame.extrinsics)
    pixels, depths = [], []
    for k in range(200):
        cam = to_camera(grounder(k, point_px=4.0).locate(frame, QUERY).point, frame.extrinsics)
        pixels.append(project(cam, frame.intrinsics)[0] - project(cam0, frame.intrinsics)[0])
        depths.append(cam[2] - cam0[2])
    assert np.allclose(np.std(pixels, axis=0), 4.0, rtol=0.15), np.std(pixels, axis=0)
    assert np.allclose(depths, 0.0, atol=1e-9)


def test_depth_noise_moves_the_point_along_the_camera_axis(frames: list[SceneFrame]) -> None:
    frame = frames[0]
    oracle = to_camera(SimGrounder().locate(frame, QUERY).point, frame.extrinsics)
    shifts = np.array(
        [
            1000.0 * (to_camera(grounder(k, depth_mm=8.0).locate(frame, QUERY).point,
                                frame.extrinsics) - oracle)
            for k in range(200)
        ]
    )  # fmt: skip
    assert abs(np.std(shifts[:, 2]) - 8.0) < 1.2, np.std(shifts[:, 2])
    # The same pixel at another depth: the point slides along its ray.
    ray = oracle / oracle[2]
    assert np.allclose(shifts[:, :2], shifts[:, 2:3] * ray[:2], atol=1e-6)


def test_calibration_error_is_drawn_once_per_run_and_has_its_size(
    frames: list[SceneFrame],
) -> None:
    one_run = grounder(5, extrinsics_mm=6.0, extrinsics_deg=0.5)
    first, second = (one_run.locate(frames[0], QUERY).point for _ in range(2))
    assert np.allclose(first, second)  # every locate of a run shares the calibration
    moved = errors_mm(frames, 240, extrinsics_mm=6.0)
    assert abs(np.median(np.linalg.norm(moved, axis=1)) - MEDIAN_NORM_3D * 6.0) < 1.2
    turned = errors_mm(frames, 240, extrinsics_deg=0.5)
    across = np.deg2rad(0.5) * NOMINAL_RANGE_M * 1000.0  # per axis across the line of sight
    assert 0.8 * across < np.median(np.linalg.norm(turned, axis=1)) / 1.18 < 1.25 * across


def test_misses_come_at_their_rate_and_say_so(frames: list[SceneFrame]) -> None:
    one_run = grounder(11, miss=0.3)
    results = [one_run.locate(frames[0], QUERY) for _ in range(400)]
    rate = np.mean([not r.found for r in results])
    assert abs(rate - 0.3) < 0.07, rate  # about three binomial standard deviations
    missed = next(r for r in results if not r.found)
    assert missed.point is None and "simulated miss" in missed.detail


def test_a_wrong_pick_answers_a_look_alike(frames: list[SceneFrame]) -> None:
    frame = frames[0]
    decoys = look_alikes(frame, "power_strip")
    assert decoys and all("power strip" in frame.labels[d][0] for d in decoys)
    result = grounder(2, wrong_pick=1.0).locate(frame, QUERY)
    points = {d: SimGrounder().locate(frame, d).point for d in decoys}
    assert any(np.allclose(result.point, p) for p in points.values()), result.detail
    assert "wrong pick" in result.detail and result.query == QUERY


def test_no_wrong_pick_without_a_look_alike_in_view(frames: list[SceneFrame]) -> None:
    frame = frames[0]
    plain = dataclasses.replace(
        frame, labels={k: v for k, v in frame.labels.items() if not k.startswith("distractor")}
    )
    assert look_alikes(plain, "power_strip") == []
    result = grounder(2, wrong_pick=1.0).locate(plain, QUERY)
    assert np.allclose(result.point, SimGrounder().locate(frame, QUERY).point)


def test_the_same_seed_gives_the_same_answers(frames: list[SceneFrame]) -> None:
    params = {**grounding_error_preset(20.0), "miss": 0.3, "wrong_pick": 0.3}

    def answers(seed: int) -> list[object]:
        run = grounder(seed, **params)
        out = [run.locate(frame, QUERY) for frame in frames * 3]
        return [None if r.point is None else r.point.round(9).tolist() for r in out]

    assert answers(7) == answers(7)
    assert answers(7) != answers(8)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"miss": 1.5}, "miss"),
        ({"wrong_pick": -0.1}, "wrong_pick"),
        ({"point_px": -1.0}, "point_px"),
        ({"extrinsics_deg": 90.0}, "extrinsics_deg"),
        ({"seed": -3}, "seed"),
    ],
)
def test_a_bad_parameter_is_named(overrides: dict[str, float], field: str) -> None:
    with pytest.raises(BadConfig, match=f"grounder `noisy-oracle`.*{field}"):
        grounder_options("noisy-oracle", PerceptionConfig(), overrides)


def test_a_foreign_parameter_lists_the_known_ones() -> None:
    with pytest.raises(BadConfig) as caught:
        grounder_options("noisy-oracle", PerceptionConfig(), {"pixel_error": 3.0})
    assert "`pixel_error` does not apply" in caught.value.message
    assert "point_px" in (caught.value.hint or "")


def test_a_negative_grounding_error_is_refused() -> None:
    with pytest.raises(BadConfig, match=r"grounding error must be .* >= 0, got -1"):
        grounding_error_preset(-1.0)


def test_a_config_file_names_a_noisy_grounder(tmp_path, monkeypatch) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "grounders:\n  shaky:\n    backend: noisy-oracle\n    point_px: 3\n    miss: 0.1\n"
    )
    monkeypatch.setenv("VITALSKILLS_CONFIG", str(path))
    built = make_grounder("shaky", load_config())
    assert isinstance(built, NoisyOracleGrounder) and built.options.point_px == 3.0
    # A run's generator is its own: the grounder is built anew, never shared.
    assert make_grounder("shaky", load_config()) is not built
    path.write_text("grounders:\n  shaky:\n    backend: noisy-oracle\n    miss: 2\n")
    with pytest.raises(BadConfig, match=r"config file .*config\.yaml.*miss"):
        load_config()
