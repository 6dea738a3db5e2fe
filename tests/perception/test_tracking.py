"""Tracking: a query found once is re-located on later frames by SAM 2 video propagation.

Tiny random models in the real formats (a `sam2_video` folder for the tracker, as
`vitalskills masks` uses). Random weights make the masks and the presence score
meaningless, so the detector is scripted to propose the grey box (a stand-in for a trained
detector, which cannot exist here) and the tests set `min_score` to force each branch
(follow, or lose the object and ask the detector again), checking which path answered.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.perception.conftest import table_scene
from vitalskills.perception.config import OwlSamOptions, PerceptionConfig
from vitalskills.perception.detector import Detection, ZeroShotDetector
from vitalskills.perception.factory import make_grounder
from vitalskills.perception.maskers import load_masker
from vitalskills.perception.owl_sam import OwlSamGrounder
from vitalskills.perception.random_maskers import save_random_masker
from vitalskills.perception.random_video_models import save_random_sam2_video
from vitalskills.perception.tracking import ObjectTracker
from vitalskills.perception.video_segment import load_video_segmenter
from vitalskills.robot import SceneFrame


class ScriptedDetector(ZeroShotDetector):
    """Proposes the grey box of `table_scene` for any query (a mock of a trained detector)."""

    def detect(self, rgb: np.ndarray, query: str) -> Detection | None:
        return Detection(box=(60.0, 40.0, 100.0, 80.0), score=0.9)


@pytest.fixture(scope="module")
def track_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("tracking")
    masker = save_random_masker(root / "sam2", "sam2")
    return masker, save_random_sam2_video(root / "sam2-video", image_size=64)


@pytest.fixture(scope="module")
def tracked(track_dirs: tuple[Path, Path], owlvit_dir: Path) -> OwlSamGrounder:
    masker, video = track_dirs
    tracker = ObjectTracker(load_video_segmenter(video, "cpu"))
    return OwlSamGrounder(
        ScriptedDetector(str(owlvit_dir)), load_masker(str(masker)), name="tracked",
        threshold=0.0, tracker=tracker,
    )  # fmt: skip


def test_the_grounder_config_turns_tracking_on(
    track_dirs: tuple[Path, Path], owlvit_dir: Path
) -> None:
    masker, video = track_dirs
    options = OwlSamOptions(
        detector=str(owlvit_dir), masker=str(masker), track=str(video), track_max_age_s=5
    )
    grounder = make_grounder("t", PerceptionConfig(grounders={"t": options}))
    assert isinstance(grounder.tracker, ObjectTracker) and grounder.tracker.max_age_s == 5
    assert grounder.tracker.segmenter.model_type == "sam2_video"


def moved(frame: SceneFrame, shift: int) -> SceneFrame:
    """The same scene a few pixels to the right: the next camera frame after a motion."""
    return SceneFrame(
        rgb=np.roll(frame.rgb, shift, axis=1), depth=np.roll(frame.depth, shift, axis=1),
        intrinsics=frame.intrinsics, extrinsics=frame.extrinsics,
    )  # fmt: skip


def test_a_found_query_is_followed_on_the_next_frame(tracked: OwlSamGrounder) -> None:
    tracked.tracker.forget()
    tracked.tracker.min_score = 0.0  # random weights: keep whatever the model says
    frame, _ = table_scene()
    first = tracked.locate(frame, "grey box")
    assert first.found and {"detector", "sam", "track"} <= set(first.timings)
    assert "grey box" in tracked.tracker.tracks
    for shift in (3, 6):
        again = tracked.locate(moved(frame, shift), "grey box")
        assert "detector" not in again.timings and "track" in again.timings
        assert again.detail.startswith("followed from the previous locate")
        assert again.found and again.mask is not None and again.mask.shape == (120, 160)
    assert tracked.tracker.tracks["grey box"].frames == 3
    # Another query has no track: it asks the detector.
    other = tracked.locate(frame, "table")
    assert "detector" in other.timings


def test_a_lost_object_is_found_again_by_text(tracked: OwlSamGrounder) -> None:
    tracked.tracker.forget()
    frame, _ = table_scene()
    tracked.tracker.min_score = 0.0
    assert tracked.locate(frame, "grey box").found
    tracked.tracker.min_score = 1.01  # no presence probability reaches it: always lost
    again = tracked.locate(moved(frame, 4), "grey box")
    assert "detector" in again.timings and not again.detail.startswith("followed")
    # The fresh text query started a new track.
    assert tracked.tracker.tracks["grey box"].frames == 1


def test_old_tracks_and_other_image_sizes_are_not_followed(tracked: OwlSamGrounder) -> None:
    tracked.tracker.forget()
    tracked.tracker.min_score = 0.0
    frame, _ = table_scene()
    tracked.locate(frame, "grey box")
    tracked.tracker.tracks["grey box"].updated -= tracked.tracker.max_age_s + 1
    assert "detector" in tracked.locate(frame, "grey box").timings
    small = SceneFrame(
        rgb=frame.rgb[:100], depth=frame.depth[:100], intrinsics=frame.intrinsics,
        extrinsics=frame.extrinsics,
    )  # fmt: skip
    assert "detector" in tracked.locate(small, "grey box").timings
