"""A tiny random SAM2 video model saved exactly like a real checkpoint directory.

Weights cannot be downloaded here, so tests build a SAM2 video model from a small
config, `save_pretrained` it with its processor, and load it through
`load_video_segmenter`, the path real checkpoints take. Its masks are meaningless;
its inputs, outputs and files are the real ones.

The sizes respect what the transformers implementation assumes of real checkpoints:
the memory encoder's output is 64 channels (the memory attention's cross-attention
takes 64 inputs), the model width is a multiple of it and larger (object pointers are
split into 64-wide tokens), and no global-attention block starts a Hiera stage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch


def tiny_hiera_backbone(side: int) -> dict[str, Any]:
    """A four-stage Hiera backbone config (16 to 128 channels) for `side`-pixel images."""
    return dict(
        model_type="sam2_hiera_det_model", hidden_size=16, num_attention_heads=1,
        image_size=[side, side], blocks_per_stage=[1, 1, 2, 1],
        embed_dim_per_stage=[16, 32, 64, 128], num_attention_heads_per_stage=[1, 1, 1, 1],
        window_size_per_stage=[4, 4, 4, 4], global_attention_blocks=[3],
        window_positional_embedding_background_size=[2, 2],
    )  # fmt: skip


def save_random_sam2_video(directory: Path, image_size: int = 128, seed: int = 0) -> Path:
    """Save a random ~1.3 M-parameter `sam2_video` model and its processor; return the folder."""
    from transformers import (
        Sam2ImageProcessor,
        Sam2VideoConfig,
        Sam2VideoModel,
        Sam2VideoProcessor,
        Sam2VideoVideoProcessor,
    )

    torch.manual_seed(seed)
    size = image_size
    width = 128  # fpn / prompt / decoder / memory width: a multiple of the 64-wide memory
    backbone = tiny_hiera_backbone(size)
    vision = dict(
        backbone_config=backbone, backbone_channel_list=[128, 64, 32, 16],
        backbone_feature_sizes=[[size // 4] * 2, [size // 8] * 2, [size // 16] * 2],
        fpn_hidden_size=width,
    )  # fmt: skip
    config = Sam2VideoConfig(
        vision_config=vision, image_size=size,
        prompt_encoder_config=dict(hidden_size=width, image_size=size, patch_size=16),
        mask_decoder_config=dict(
            hidden_size=width, mlp_dim=64, num_attention_heads=2, iou_head_hidden_dim=32
        ),
        memory_attention_hidden_size=width, memory_attention_num_layers=1,
        memory_attention_feed_forward_hidden_size=64,
        memory_attention_rope_feat_sizes=[size // 16, size // 16],
        memory_encoder_hidden_size=width, memory_encoder_output_channels=64,
        mask_downsampler_embed_dim=width, memory_fuser_embed_dim=width,
        memory_fuser_intermediate_dim=64,
    )  # fmt: skip
    model = Sam2VideoModel(config)
    resolution = {"height": size, "width": size}
    processor = Sam2VideoProcessor(
        image_processor=Sam2ImageProcessor(size=resolution),
        video_processor=Sam2VideoVideoProcessor(size=resolution),
    )
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory
