"""Semantic augmentation keeps exactly the masked pixels; masks come from labels or SAM."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.learning.test_dataset import toy_info
from tests.learning.toy import LABELS, ToyExpert, ToyRobot
from vitalskills.app.collect import collect
from vitalskills.learning.augment import (
    TEXTURES,
    background_pool,
    colour_jitter,
    composite,
    make_background,
    random_shift,
    relight,
    relight_image,
)
from vitalskills.learning.dataset import DemoDataset
from vitalskills.learning.errors import DatasetError
from vitalskills.learning.masks import LabelMasks, SamMasks, SamPrompt, mask_box


@pytest.fixture(scope="module")
def episode(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("ds")
    collect(ToyRobot(), ToyExpert(), root, toy_info(), episodes=1, seed=3, max_steps=60)
    return DemoDataset(root).episode(0)


def test_composite_keeps_exactly_the_masked_pixels(episode) -> None:
    images = episode.frames["observation.wrist_rgb"]
    keep = LabelMasks(LABELS).keep(episode)
    labels = episode.frames["privileged.wrist_mask"]
    assert np.array_equal(keep, labels > 0)
    pool = background_pool(32, count=8, seed=0)
    backgrounds = pool[np.arange(len(images)) % len(pool)]
    out = composite(images, keep, backgrounds)
    assert out.dtype == np.uint8 and out.shape == images.shape
    assert np.array_equal(out[keep], images[keep])
    assert np.array_equal(out[~keep], backgrounds[~keep])
    # The replaced pixels really changed: backgrounds are not the original scene.
    assert (out[~keep] != images[~keep]).mean() > 0.9


def test_label_masks_need_the_parts_and_the_segmentation(episode) -> None:
    with pytest.raises(DatasetError, match="have no `held`"):
        LabelMasks({"target": 1, "gripper": 2}).keep(episode)
    with pytest.raises(DatasetError, match=r"no `privileged\.other`"):
        LabelMasks(LABELS, key="privileged.other").keep(episode)
    only_target = LabelMasks(LABELS, parts=("target",)).keep(episode)
    assert only_target.sum() < LabelMasks(LABELS).keep(episode).sum()


def test_backgrounds_are_seeded_varied_textures(tmp_path: Path) -> None:
    assert np.array_equal(background_pool(24, 6, seed=1), background_pool(24, 6, seed=1))
    rng = np.random.default_rng(0)
    for kind in TEXTURES:
        image = make_background(rng, 48, kind)
        assert image.shape == (48, 48, 3) and image.dtype == np.uint8
        assert image.std() > 3, kind
    Image.fromarray(np.full((10, 20, 3), 7, np.uint8)).save(tmp_path / "wall.png")
    pool = background_pool(16, 2, seed=0, image_dir=tmp_path)
    assert pool.shape == (3, 16, 16, 3) and (pool[2] == 7).all()
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"holds no \.png/\.jpg images"):
        background_pool(16, 2, seed=0, image_dir=tmp_path / "empty")


def test_random_shift_moves_each_image_within_the_pad() -> None:
    images = torch.zeros(16, 1, 12, 12)
    images[:, :, 6, 6] = 1.0
    shifted = random_shift(images, pad=3, generator=torch.Generator().manual_seed(0))
    positions = {tuple(torch.nonzero(s[0])[0].tolist()) for s in shifted}
    assert len(positions) > 3
    assert all(3 <= r <= 9 and 3 <= c <= 9 for r, c in positions)
    assert torch.equal(random_shift(images, 0, torch.Generator()), images)


def test_colour_jitter_stays_in_range_and_varies() -> None:
    images = torch.rand(8, 3, 8, 8)
    out = colour_jitter(images, torch.Generator().manual_seed(0))
    assert out.min() >= 0 and out.max() <= 1
    assert not torch.allclose(out, images)


def test_colour_jitter_strength_sets_the_brightness_range() -> None:
    grey = torch.full((256, 3, 4, 4), 0.5)
    generator = torch.Generator().manual_seed(0)
    assert torch.equal(colour_jitter(grey, generator, 0.0, 0.0, 0.0), grey)
    factors = colour_jitter(grey, generator, 0.5, 0.0, 0.0)[:, 0, 0, 0] / 0.5
    assert factors.min() >= 0.5 and factors.max() <= 1.5
    assert factors.min() < 0.7 and factors.max() > 1.3  # wider than the default 0.3


def test_relight_reshades_only_the_kept_pixels() -> None:
    images = torch.rand(16, 3, 12, 12) * 0.8 + 0.1
    keep = torch.zeros(16, 12, 12, dtype=torch.bool)
    keep[:, 3:9, 4:10] = True
    out = relight(images, keep, torch.Generator().manual_seed(0), 0.5)
    assert torch.equal(out.permute(0, 2, 3, 1)[~keep], images.permute(0, 2, 3, 1)[~keep])
    assert out.min() >= 0 and out.max() <= 1
    kept_ratio = out.permute(0, 2, 3, 1)[keep] / images.permute(0, 2, 3, 1)[keep]
    assert kept_ratio.min() < 0.8 and kept_ratio.max() > 1.2
    assert torch.equal(relight(images, keep, torch.Generator(), 0.0), images)


def test_relight_image_reshades_one_uint8_image_as_the_batch_does() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(30, 220, (12, 12, 3), dtype=np.uint8)
    keep = np.zeros((12, 12), dtype=bool)
    keep[3:9, 4:10] = True
    out = relight_image(image, keep, torch.Generator().manual_seed(3), 0.5)
    assert out.dtype == np.uint8 and out.shape == image.shape
    assert np.array_equal(out[~keep], image[~keep])
    batch = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    same = relight(batch, torch.from_numpy(keep)[None], torch.Generator().manual_seed(3), 0.5)
    expected = (same[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
    assert np.array_equal(out, expected) and not np.array_equal(out[keep], image[keep])


class RecordingSam:
    """Wraps a real (tiny, random) SAM and records the prompts propagation sends it."""

    def __init__(self, masker) -> None:
        self.masker = masker
        self.calls: list[tuple] = []

    def mask(self, rgb, box):
        self.calls.append(("box", tuple(box)))
        return self.masker.mask(rgb, box)

    def mask_at_point(self, rgb, u, v):
        self.calls.append(("point", (u, v)))
        return self.masker.mask_at_point(rgb, u, v)


def test_sam_masks_track_through_the_episode(tmp_path: Path, episode) -> None:
    from vitalskills.perception.random_models import save_random_sam
    from vitalskills.perception.sam import SamMasker, load_sam

    checkpoint = save_random_sam(tmp_path / "sam_vit_tiny_test.pth")
    sam = RecordingSam(SamMasker(load_sam(checkpoint)))
    short = type(episode)(meta=episode.meta, frames={k: v[:3] for k, v in episode.frames.items()})
    keep = SamMasks(sam, [SamPrompt(point=(10.0, 12.0))]).keep(short)
    assert keep.shape == (3, 32, 32) and keep.dtype == bool
    assert sam.calls[0] == ("point", (10.0, 12.0))
    # Later frames are prompted with the box around the previous frame's mask (or keep it).
    assert all(kind == "box" for kind, _ in sam.calls[1:])
    with pytest.raises(DatasetError, match="exactly one of"):
        SamPrompt()


def test_mask_box_grows_and_clips() -> None:
    mask = np.zeros((10, 10), bool)
    mask[2:4, 5:9] = True
    assert mask_box(mask, 2) == (3.0, 0.0, 9.0, 5.0)
    assert mask_box(np.zeros((4, 4), bool), 1) is None
