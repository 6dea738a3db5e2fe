"""Random SAM, SAM-HQ, SAM 2 and EdgeTAM masker folders, saved exactly like real checkpoints.

Weights cannot be downloaded here, so tests and the latency benchmark build maskers
from configs with transformers' own classes, `save_pretrained` them with their
processors, and load them through `maskers.load_masker`, the path real folders take.
`size="real"` is the published architecture at its input size (SAM ViT-B and SAM-HQ
ViT-B at 1024 px, SAM 2.1 hiera-tiny at 1024 px, EdgeTAM's RepViT-M1 at 1024 px): the
same compute as the real checkpoints, meaningless masks. `size="tiny"` is for tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import torch

from vitalskills.perception.random_video_models import tiny_hiera_backbone

MaskerType = Literal["sam", "sam_hq", "sam2", "edgetam"]
Size = Literal["tiny", "real"]

#: EdgeTAM's image encoder as its checkpoint names it (transformers' own default names
#: no architecture, so its config would fall back to a ResNet-50).
EDGETAM_BACKBONE = {
    "architecture": "repvit_m1",
    "model_args": {"in_chans": 3, "features_only": True, "out_indices": [0, 1, 2, 3]},
}


def _decoder(width: int) -> dict[str, Any]:
    return dict(hidden_size=width, mlp_dim=64, num_attention_heads=2, iou_head_hidden_dim=32)


def _sam(model_type: str, size: Size) -> tuple[Any, Any]:
    import transformers as tf

    side = 1024 if size == "real" else 64
    hq = model_type == "sam_hq"
    config_class = tf.SamHQConfig if hq else tf.SamConfig
    if size == "real":
        config = config_class()  # ViT-B, as published (sam-vit-base, sam-hq-vit-base)
    else:
        vision = dict(
            hidden_size=32, num_hidden_layers=2, num_attention_heads=2, output_channels=32,
            image_size=side, patch_size=16, global_attn_indexes=[1], mlp_dim=64,
            num_pos_feats=16,
        )  # fmt: skip
        prompt = dict(hidden_size=32, image_size=side, patch_size=16, image_embedding_size=4)
        decoder = _decoder(32) | ({"vit_dim": 32} if hq else {})
        config = config_class(
            vision_config=vision, prompt_encoder_config=prompt, mask_decoder_config=decoder
        )
    model = (tf.SamHQModel if hq else tf.SamModel)(config)
    images = tf.SamImageProcessor(
        size={"longest_edge": side}, pad_size={"height": side, "width": side}
    )
    processor = (tf.SamHQProcessor if hq else tf.SamProcessor)(image_processor=images)
    return model, processor


def _sam2_family(model_type: str, size: Size) -> tuple[Any, Any]:
    import transformers as tf

    edgetam = model_type == "edgetam"
    config_class = tf.EdgeTamConfig if edgetam else tf.Sam2Config
    backbone: Any = tf.TimmWrapperConfig(**EDGETAM_BACKBONE) if edgetam else None
    if size == "real":
        side = 1024
        # Sam2Config's defaults are SAM 2.1 hiera-tiny; EdgeTAM's only lack the backbone.
        config = config_class(vision_config={"backbone_config": backbone} if edgetam else None)
    else:
        side = 256 if edgetam else 64  # RepViT downsamples 32x: 256 px keeps 8x8 features
        width = 32
        if not edgetam:
            backbone = tiny_hiera_backbone(side)
        channels = [384, 192, 96, 48] if edgetam else [128, 64, 32, 16]
        vision = dict(
            backbone_config=backbone, backbone_channel_list=channels, fpn_hidden_size=width,
            backbone_feature_sizes=[[side // 4] * 2, [side // 8] * 2, [side // 16] * 2],
        )  # fmt: skip
        config = config_class(
            vision_config=vision,
            prompt_encoder_config=dict(hidden_size=width, image_size=side, patch_size=16),
            mask_decoder_config=_decoder(width),
        )
    model = (tf.EdgeTamModel if edgetam else tf.Sam2Model)(config)
    images = tf.Sam2ImageProcessor(size={"height": side, "width": side})
    return model, tf.Sam2Processor(image_processor=images)


def save_random_masker(
    directory: Path, model_type: MaskerType = "edgetam", size: Size = "tiny", seed: int = 0
) -> Path:
    """Save a random masker of `model_type` and its processor in `directory`; return it."""
    torch.manual_seed(seed)
    if model_type in ("sam", "sam_hq"):
        model, processor = _sam(model_type, size)
    else:
        model, processor = _sam2_family(model_type, size)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory


def save_random_edgetam_video(directory: Path, seed: int = 0) -> Path:
    """Save a random EdgeTAM video model at the published size (1024 px) with its processor.

    The tracker `tracking.ObjectTracker` loads it through `load_video_segmenter`; tests use
    the tiny SAM 2 video model of `random_video_models` instead.
    """
    import transformers as tf

    torch.manual_seed(seed)
    # EdgeTamVideoConfig reads a vision dict without a model_type as SAM 2's (Hiera):
    # name EdgeTAM's vision model, as the published config.json does.
    vision = {"model_type": "edgetam_vision_model"}
    vision["backbone_config"] = tf.TimmWrapperConfig(**EDGETAM_BACKBONE)
    model = tf.EdgeTamVideoModel(tf.EdgeTamVideoConfig(vision_config=vision))
    size = {"height": 1024, "width": 1024}
    processor = tf.Sam2VideoProcessor(
        image_processor=tf.Sam2ImageProcessor(size=size),
        video_processor=tf.Sam2VideoVideoProcessor(size=size),
    )
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory
