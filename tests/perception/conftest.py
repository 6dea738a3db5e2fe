"""Tiny random models saved in the real formats, and a synthetic RGB-D scene."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vitalskills.perception.geometry import intrinsics_matrix
from vitalskills.perception.random_models import save_random_detector, save_random_sam
from vitalskills.robot import SceneFrame


@pytest.fixture(scope="session")
def owlv2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_random_detector(tmp_path_factory.mktemp("models") / "owlv2-tiny", "owlv2")


@pytest.fixture(scope="session")
def owlvit_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_random_detector(tmp_path_factory.mktemp("models") / "owlvit-tiny", "owlvit")


@pytest.fixture(scope="session")
def grounding_dino_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_random_detector(tmp_path_factory.mktemp("models") / "gdino-tiny", "grounding-dino")


@pytest.fixture(scope="session")
def omdet_turbo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_random_detector(tmp_path_factory.mktemp("models") / "omdet-tiny", "omdet-turbo")


@pytest.fixture(scope="session")
def sam_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Named like the official files so the model type is read from the name.
    return save_random_sam(tmp_path_factory.mktemp("models") / "sam_vit_tiny_test.pth")


def table_scene(height: float = 0.8) -> tuple[SceneFrame, np.ndarray]:
    """A camera looking straight down at a table with one grey box on it.

    Returns the frame and the true centre of the box's top face in the base frame.
    """
    h, w = 120, 160
    k = intrinsics_matrix(150.0, 150.0, 79.5, 59.5)
    ext = np.eye(4)
    ext[:3, :3] = np.diag([1.0, -1.0, -1.0])
    ext[:3, 3] = [0.5, 0.0, height]
    depth = np.full((h, w), height, dtype=np.float32)
    rgb = np.full((h, w, 3), (200, 180, 150), dtype=np.uint8)
    top = 0.05  # the box is 5 cm tall: its top face is 5 cm nearer the camera
    box = (slice(40, 81), slice(60, 101))  # rows 40..80, cols 60..100, centre (80, 60)
    depth[box] = height - top
    rgb[box] = (60, 60, 70)
    mask = np.zeros((h, w), bool)
    mask[box] = True
    depth[::17, ::13] = 0.0  # sensor holes everywhere
    centre_cam = np.array([(80 - 79.5) / 150.0, (60 - 59.5) / 150.0, 1.0]) * (height - top)
    centre_base = ext[:3, :3] @ centre_cam + ext[:3, 3]
    frame = SceneFrame(
        rgb=rgb,
        depth=depth,
        intrinsics=k,
        extrinsics=ext,
        segmentation={"grey_box": mask, "table": ~mask},
        objects={"grey_box": centre_base},
        labels={"grey_box": ["grey box", "box"], "table": ["table"]},
    )
    return frame, centre_base


@pytest.fixture()
def scene() -> tuple[SceneFrame, np.ndarray]:
    return table_scene()


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, str]:
    """`table_scene` as the files `vitalskills locate` reads, and its intrinsics option."""
    frame, _ = table_scene()
    Image.fromarray(frame.rgb).save(tmp_path / "scene.png")
    np.save(tmp_path / "depth.npy", frame.depth)
    np.save(tmp_path / "depth_mm.npy", (frame.depth * 1000).astype(np.uint16))
    (tmp_path / "ext.json").write_text(json.dumps(frame.extrinsics.tolist()))
    k = frame.intrinsics
    return {
        "image": str(tmp_path / "scene.png"),
        "depth": str(tmp_path / "depth.npy"),
        "depth_mm": str(tmp_path / "depth_mm.npy"),
        "ext": str(tmp_path / "ext.json"),
        "intrinsics": f"{k[0, 0]},{k[1, 1]},{k[0, 2]},{k[1, 2]}",
    }
