"""vlm-point: the point parser on realistic answers, and a tiny VLM through the real load path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vitalskills.perception.config import PerceptionConfig, VlmPointOptions
from vitalskills.perception.errors import PerceptionError, WeightsNotFound
from vitalskills.perception.factory import make_grounder
from vitalskills.perception.random_models import save_random_qwen3_vl, save_random_vlm
from vitalskills.perception.vlm_point import (
    FORMAT_PROMPTS,
    VlmPointGrounder,
    parse_points,
    resolve_point_format,
)
from vitalskills.robot import SceneFrame

W, H = 640, 480

# Answers as each family writes them. Molmo: its model card's `<point>` tags (percent).
# Molmo2: the `<points coords="IMAGE INDEX X Y ...">` grammar its model card's
# `extract_multi_image_points` reads (x, y per mille, 3-4 digits). Qwen3-VL: the JSON
# its cookbook's pointing prompt asks for ("... in JSON format like this:
# {"point_2d": [x, y], "label": ...}"), on a 0-1000 scale.
MOLMO = ' <point x="61.5" y="40.2" alt="power strip">power strip</point>'
MOLMO2 = '<points coords="1 1 615 402">power strip</points>'
QWEN3 = '```json\n[\n\t{"point_2d": [615, 402], "label": "power strip"}\n]\n```'
# All three name the same pixel of a 640x480 image.
SAME = [(393.6, 192.96)]


@pytest.mark.parametrize(
    ("answer", "point_format", "expected"),
    [
        (MOLMO, "molmo", SAME),
        (MOLMO2, "molmo2", SAME),
        (QWEN3, "qwen3", SAME),
        # Molmo, several points, in index order.
        ('<points x1="10.0" y1="20.0" x2="50" y2="50" alt="sockets">sockets</points>', "molmo",
         [(64.0, 96.0), (320.0, 240.0)]),
        # Single-quoted attributes and upper case tags.
        ("<POINT X='25' Y='75'>plug</POINT>", "molmo", [(160.0, 360.0)]),
        # Molmo2 counting several objects, with zero-padded coordinates, inside a sentence.
        ('Counting the <points coords="1 1 073 160 2 173 600 3 258 725" alt="boats">the boats'
         "</points> shows a total of 3.", "molmo2",
         [(46.72, 76.8), (110.72, 288.0), (165.12, 348.0)]),
        # Molmo2's video grammar: a time, then the points of that frame; groups split by `;`.
        ('<tracks coords="0.0 1 500 500;0.5 1 510 505">plug</tracks>', "molmo2",
         [(320.0, 240.0), (326.4, 242.4)]),
        ("There are none.", "molmo2", []),
        # Qwen3-VL answering with a box: its centre.
        ('[{"bbox_2d": [100, 200, 300, 400], "label": "power strip"}]', "qwen3",
         [(128.0, 144.0)]),
        # Qwen3-VL without JSON: a bare pair, still per mille.
        ("The power strip is at (500, 250).", "qwen3", [(320.0, 120.0)]),
        # Bare pairs in a named unit.
        ('[{"point_2d": [412, 230]}]', "pixels", [(412.0, 230.0)]),
        ("The strip is at (0.25, 0.5).", "unit", [(160.0, 240.0)]),
        ("[500, 250]", "permille", [(320.0, 120.0)]),
        ("at 50.0, 10.0", "percent", [(320.0, 48.0)]),
        # Outside the image, or no point at all.
        ('<point x="120.0" y="40.0" alt="x">x</point>', "molmo", []),
        ("I cannot see a power strip in this image.", "pixels", []),
    ],
)  # fmt: skip
def test_parse_points(answer: str, point_format: str, expected: list[tuple[float, float]]) -> None:
    got = parse_points(answer, W, H, point_format)
    assert len(got) == len(expected)
    for (u, v), (eu, ev) in zip(got, expected, strict=True):
        assert u == pytest.approx(eu) and v == pytest.approx(ev)


@pytest.mark.parametrize(
    ("answer", "wrong_format", "expected"),
    [
        # Another family's tags are not read: a wrong family is "not found", never a point.
        (MOLMO2, "molmo", []),
        (MOLMO, "molmo2", []),
        # Qwen3-VL's per-mille answer read as pixels lands somewhere else entirely.
        (QWEN3, "pixels", [(615.0, 402.0)]),
    ],
)
def test_reading_with_the_wrong_family_is_wrong(
    answer: str, wrong_format: str, expected: list[tuple[float, float]]
) -> None:
    assert parse_points(answer, W, H, wrong_format) == expected


@pytest.mark.parametrize(
    ("model_type", "point_format"),
    [("molmo", "molmo"), ("molmo2", "molmo2"), ("qwen3_vl", "qwen3"), ("qwen3_vl_moe", "qwen3")],
)
def test_auto_reads_the_family_from_the_model_type(model_type: str, point_format: str) -> None:
    assert resolve_point_format(model_type, "auto", "m") == point_format
    assert resolve_point_format(model_type, "pixels", "m") == "pixels"


def test_molmo2_is_recognised_from_its_real_config_json(tmp_path: Path) -> None:
    """Molmo2's family comes from the config.json a real checkpoint directory holds."""
    from transformers import AutoConfig, Molmo2Config

    Molmo2Config().save_pretrained(tmp_path / "molmo2")
    config = AutoConfig.from_pretrained(tmp_path / "molmo2", local_files_only=True)
    assert resolve_point_format(config.model_type, "auto", "molmo2") == "molmo2"


@pytest.fixture(scope="module")
def vlm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_random_vlm(tmp_path_factory.mktemp("models") / "llava-tiny")


def vlm_config(model: Path, **extra: object) -> PerceptionConfig:
    # The tiny LLaVA's family has no pointing syntax of its own: name one.
    extra.setdefault("point_format", "molmo")
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


def test_auto_refuses_a_family_it_cannot_read(vlm_dir: Path) -> None:
    with pytest.raises(PerceptionError, match=r"cannot tell how `.*` \(a `llava` model\)") as error:
        make_grounder("pointer", vlm_config(vlm_dir, point_format="auto"))
    assert "point_format" in error.value.hint and "--point-format" in error.value.hint


@pytest.fixture(scope="module")
def qwen3_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_random_qwen3_vl(tmp_path_factory.mktemp("models") / "qwen3-vl-tiny")


def test_tiny_qwen3_vl_reads_per_mille_json_and_asks_for_it(
    qwen3_dir: Path, scene: tuple[SceneFrame, np.ndarray]
) -> None:
    frame, truth = scene
    base = make_grounder("q", PerceptionConfig(grounders={"q": VlmPointOptions(
        model=str(qwen3_dir), max_new_tokens=6)}))  # fmt: skip
    assert type(base.model).__name__ == "Qwen3VLForConditionalGeneration"
    assert base.point_format == "qwen3" and base.prompt == FORMAT_PROMPTS["qwen3"]
    assert isinstance(base.answer(frame.rgb, "grey box"), str)  # the real processor and generate
    grounder = ScriptedVlm(base.model, base.processor, base.options, name="q")
    # 500/1000 of 160x120 is pixel (80, 60): the box-top centre.
    grounder.reply = '```json\n[{"point_2d": [500, 500], "label": "grey box"}]\n```'
    result = grounder.locate(frame, "grey box")
    assert result.found and result.box == (80.0, 60.0, 80.0, 60.0)
    assert np.linalg.norm(result.point - truth) < 0.002
