"""vlm-point: the point parser on realistic answers, and a tiny VLM through the real load path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vitalskills.perception.config import PerceptionConfig, VlmPointOptions
from vitalskills.perception.errors import PerceptionError, WeightsNotFound
from vitalskills.perception.factory import make_grounder
from vitalskills.perception.random_models import save_random_vlm
from vitalskills.perception.vlm_point import VlmPointGrounder, parse_points
from vitalskills.robot import SceneFrame

W, H = 640, 480


@pytest.mark.parametrize(
    ("answer", "units", "expected"),
    [
        # Molmo, one point: percent of width and height.
        (' <point x="61.5" y="40.2" alt="power strip">power strip</point>', "pixels",
         [(393.6, 192.96)]),
        # Molmo, several points, in index order.
        ('<points x1="10.0" y1="20.0" x2="50" y2="50" alt="sockets">sockets</points>', "pixels",
         [(64.0, 96.0), (320.0, 240.0)]),
        # Single-quoted attributes and upper case tags.
        ("<POINT X='25' Y='75'>plug</POINT>", "pixels", [(160.0, 360.0)]),
        # Molmo tags win over other numbers in the text.
        ('There are 2 of them. <point x="50.0" y="50.0" alt="a">a</point>', "pixels",
         [(320.0, 240.0)]),
        # Qwen-style JSON in absolute pixels.
        ('```json\n[{"point_2d": [412, 230], "label": "power strip"}]\n```', "pixels",
         [(412.0, 230.0)]),
        # Plain pairs in other units.
        ("The strip is at (0.25, 0.5).", "unit", [(160.0, 240.0)]),
        ("[500, 250]", "permille", [(320.0, 120.0)]),
        ("at 50.0, 10.0", "percent", [(320.0, 48.0)]),
        # Outside the image, or no point at all.
        ('<point x="120.0" y="40.0" alt="x">x</point>', "pixels", []),
        ("I cannot see a power strip in this image.", "pixels", []),
    ],
)  # fmt: skip
def test_parse_points(answer: str, units: str, expected: list[tuple[float, float]]) -> None:
    got = parse_points(answer, W, H, units)
    assert len(got) == len(expected)
    for (u, v), (eu, ev) in zip(got, expected, strict=True):
        assert u == pytest.approx(eu) and v == pytest.approx(ev)


@pytest.fixture(scope="module")
def vlm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_random_vlm(tmp_path_factory.mktemp("models") / "llava-tiny")


def vlm_config(model: Path, **extra: object) -> PerceptionConfig:
    options = VlmPointOptions(model=str(model), max_new_tokens=8, **extra)
    return PerceptionConfig(grounders={"pointer": options})


def test_tiny_vlm_loads_and_answers_through_the_real_path(
    vlm_dir: Path, scene: tuple[SceneFrame, np.ndarray]
) -> None:
    frame, _ = scene
    grounder = make_grounder("pointer", vlm_config(vlm_dir))
    assert isinstance(grounder, VlmPointGrounder)
    answer = grounder.answer(frame.rgb, "grey box")
    assert isinstance(answer, str) and answer
    result = grounder.locate(frame, "grey box")
    # Random weights name no point; the result says so and quotes the answer.
    assert result.grounder == "pointer" and "vlm" in result.timings
    if not result.found:
        assert "the VLM named no point" in result.detail


class ScriptedVlm(VlmPointGrounder):
    """A pointing VLM whose answer is fixed: no trained VLM's weights exist here (a mock)."""

    reply = ""

    def answer(self, rgb: np.ndarray, query: str) -> str:
        return self.reply


def scripted(vlm_dir: Path, reply: str, **extra: object) -> ScriptedVlm:
    base = make_grounder("pointer", vlm_config(vlm_dir, **extra))
    grounder = ScriptedVlm(base.model, base.processor, base.options, name="pointer", sam=base.sam)
    grounder.reply = reply
    return grounder


def test_a_molmo_point_becomes_the_3d_point_under_it(
    vlm_dir: Path, scene: tuple[SceneFrame, np.ndarray]
) -> None:
    frame, truth = scene
    # Pixel (80, 60) is the box-top centre: 50% / 50% of the 160x120 image.
    reply = '<point x="50.0" y="50.0" alt="grey box">grey box</point>'
    result = scripted(vlm_dir, reply).locate(frame, "grey box")
    assert result.found and result.frame == "base" and result.box == (80.0, 60.0, 80.0, 60.0)
    assert np.linalg.norm(result.point - truth) < 0.002


def test_sam_turns_the_point_into_a_mask(
    vlm_dir: Path, sam_checkpoint: Path, scene: tuple[SceneFrame, np.ndarray]
) -> None:
    frame, _ = scene
    reply = '<point x="50.0" y="50.0" alt="grey box">grey box</point>'
    grounder = scripted(vlm_dir, reply, sam_checkpoint=sam_checkpoint)
    result = grounder.locate(frame, "grey box")
    assert result.mask is not None and result.mask.shape == frame.depth.shape
    assert "sam" in result.timings and result.found


def test_vlm_configuration_errors(tmp_path: Path, vlm_dir: Path) -> None:
    with pytest.raises(WeightsNotFound, match="VLM processor directory"):
        make_grounder("pointer", vlm_config(tmp_path / "missing"))
    with pytest.raises(PerceptionError, match=r"no `\{query\}` placeholder"):
        make_grounder("pointer", vlm_config(vlm_dir, prompt="Point at it."))
