"""Randomly initialised detectors, SAM and a VLM saved exactly like real checkpoints.

Model weights cannot be downloaded here, so tests and the latency benchmark build
models from configs, save them in the real formats (`save_pretrained` directories with
a processor; SAM state-dict `.pth` files) and load them through the same code paths
as real weights. Their outputs are meaningless; their shapes and compute are real.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import (
    BertConfig,
    BertTokenizer,
    CLIPImageProcessor,
    CLIPTokenizer,
    CLIPVisionConfig,
    GroundingDinoConfig,
    GroundingDinoForObjectDetection,
    GroundingDinoImageProcessor,
    GroundingDinoProcessor,
    LlamaConfig,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaProcessor,
    Owlv2Config,
    Owlv2ForObjectDetection,
    Owlv2ImageProcessor,
    Owlv2Processor,
    OwlViTConfig,
    OwlViTForObjectDetection,
    OwlViTImageProcessor,
    OwlViTProcessor,
    PreTrainedTokenizerFast,
    Sam3Config,
    Sam3ImageProcessor,
    Sam3Model,
    Sam3Processor,
    SwinConfig,
)

from vitalskills.perception.sam import build_sam

Size = Literal["tiny", "base"]


def byte_level_clip_tokenizer(max_length: int = 16) -> CLIPTokenizer:
    """Return a CLIP tokenizer whose vocabulary is just the 256 byte symbols (no merges).

    Every string tokenizes (one token per character), which is all a random model needs.
    As in OWL's real tokenizer, id 0 is the pad symbol `!` and the special tokens come
    last: OWL treats a query whose first id is 0 as padding.
    """
    symbols = [chr(c) for c in range(33, 127)] + [chr(c) for c in range(161, 173)]
    symbols += [chr(c) for c in range(174, 256)] + [chr(256 + n) for n in range(68)]
    vocab: dict[str, int] = {}
    for symbol in symbols:
        vocab[symbol] = len(vocab)
        vocab[symbol + "</w>"] = len(vocab)
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], pad_token="!", model_max_length=max_length)


def _dims(size: Size) -> tuple[dict, dict, int]:
    if size == "base":  # OWLv2-base-patch16 / OWL-ViT-base-patch32 as published
        return {}, {}, 512
    text = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2)
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2)
    return text, vision, 32


def save_random_detector(
    directory: Path,
    kind: Literal["owlv2", "owlvit", "grounding-dino", "omdet-turbo"] = "owlv2",
    size: Size = "tiny",
    seed: int = 0,
) -> Path:
    """Save a random OWLv2, OWL-ViT, OmDet-Turbo or (tiny only) Grounding DINO detector."""
    torch.manual_seed(seed)
    if kind == "grounding-dino":
        return _save_tiny_grounding_dino(directory)
    if kind == "omdet-turbo":
        return _save_omdet_turbo(directory, size)
    text, vision, projection = _dims(size)
    tokenizer = byte_level_clip_tokenizer()
    text.update(
        vocab_size=len(tokenizer),
        max_position_embeddings=16,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=0,
    )
    if kind == "owlv2":
        image = 960 if size == "base" else 64
        vision.update(image_size=image, patch_size=16)
        config = Owlv2Config(text_config=text, vision_config=vision, projection_dim=projection)
        model = Owlv2ForObjectDetection(config)
        images = Owlv2ImageProcessor(size={"height": image, "width": image})
        processor = Owlv2Processor(image_processor=images, tokenizer=tokenizer)
    else:
        image = 768 if size == "base" else 64
        vision.update(image_size=image, patch_size=32)
        config = OwlViTConfig(text_config=text, vision_config=vision, projection_dim=projection)
        model = OwlViTForObjectDetection(config)
        images = OwlViTImageProcessor(
            size={"height": image, "width": image}, crop_size={"height": image, "width": image}
        )
        processor = OwlViTProcessor(image_processor=images, tokenizer=tokenizer)
    # Random shift/scale heads saturate every score at 0 or 1; start them neutral so
    # scores are sigmoid(cosine similarity), spread around 0.5 like a real model's.
    with torch.no_grad():
        for head in (model.class_head.logit_shift, model.class_head.logit_scale):
            head.weight.zero_()
            head.bias.zero_()
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory


def save_random_sam(path: Path, sam_type: str = "vit_tiny", seed: int = 0) -> Path:
    """Save a random SAM of `sam_type` as a state-dict `.pth`, like the official files."""
    torch.manual_seed(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(build_sam(sam_type).state_dict(), path)
    return path


def _save_tiny_grounding_dino(directory: Path) -> Path:
    """Save a tiny Grounding DINO (Swin backbone, BERT text encoder) with its processor."""
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", *"abcdefghijklmnopqrstuvwxyz"]
    words += ["##" + c for c in "abcdefghijklmnopqrstuvwxyz"]
    tokenizer = BertTokenizer(vocab={w: i for i, w in enumerate(words)})
    backbone = SwinConfig(
        embed_dim=16, depths=[1, 1, 1, 1], num_heads=[1, 1, 1, 1], window_size=7,
        image_size=64, out_features=["stage2", "stage3", "stage4"],
    )  # fmt: skip
    text = BertConfig(
        vocab_size=len(words), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=64,
    )  # fmt: skip
    config = GroundingDinoConfig(
        backbone_config=backbone, text_config=text, d_model=32, encoder_layers=1,
        decoder_layers=2, encoder_ffn_dim=64, decoder_ffn_dim=64, encoder_attention_heads=2,
        decoder_attention_heads=2, num_queries=20, max_text_len=32,
    )  # fmt: skip
    model = GroundingDinoForObjectDetection(config)
    images = GroundingDinoImageProcessor(size={"shortest_edge": 64, "longest_edge": 96})
    processor = GroundingDinoProcessor(image_processor=images, tokenizer=tokenizer)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory


def _save_omdet_turbo(directory: Path, size: Size) -> Path:
    """Save an OmDet-Turbo: as published (Swin-T through timm, CLIP text, 640 px) or tiny."""
    from transformers import (
        DetrImageProcessor,
        OmDetTurboConfig,
        OmDetTurboForObjectDetection,
        OmDetTurboProcessor,
    )

    tokenizer = byte_level_clip_tokenizer(max_length=77)
    ids = dict(
        vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=0,
    )  # fmt: skip
    if size == "base":  # omlab/omdet-turbo-swin-tiny-hf's architecture
        image = 640
        config = OmDetTurboConfig(text_config=ids)
    else:
        image = 64
        # As published, the text width is the class embedding width and differs from the
        # decoder's (transformers builds the task projection only then).
        text = dict(hidden_size=64, intermediate_size=64, num_hidden_layers=1,
                    num_attention_heads=2, projection_dim=64, **ids)  # fmt: skip
        # timm's own test network stands in for Swin-T: features at strides 8, 16, 32.
        backbone = {"model_type": "timm_backbone", "backbone": "test_convnext",
                    "out_indices": [1, 2, 3]}  # fmt: skip
        config = OmDetTurboConfig(
            text_config=text, backbone_config=backbone, image_size=image,
            text_projection_in_dim=64, text_projection_out_dim=64, task_encoder_hidden_dim=64,
            class_embed_dim=64, encoder_hidden_dim=32, vision_features_channels=[32, 32, 32],
            encoder_in_channels=[32, 48, 64], encoder_attention_heads=2,
            encoder_dim_feedforward=64, decoder_hidden_dim=32, decoder_num_heads=2,
            decoder_num_layers=1, decoder_dim_feedforward=64, num_queries=20, cache_size=4,
            apply_layernorm_after_vision_backbone=False,  # Swin-T output is channels-last
        )  # fmt: skip
    model = OmDetTurboForObjectDetection(config)
    images = DetrImageProcessor(size={"height": image, "width": image}, do_pad=False)
    processor = OmDetTurboProcessor(image_processor=images, tokenizer=tokenizer)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory


#: A minimal chat template: the image, then the prompt, then the answer.
CHAT_TEMPLATE = (
    "{% for m in messages %}USER: {% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<image>{% else %}{{ c['text'] }}{% endif %}"
    "{% endfor %} {% endfor %}{% if add_generation_prompt %}ASSISTANT: {% endif %}"
)


def character_tokenizer(
    named: dict[str, str] | None = None, eos: str = "</s>", newline: bool = False
) -> PreTrainedTokenizerFast:
    """Return a one-token-per-character tokenizer over printable ASCII plus special tokens.

    `named` maps a tokenizer attribute (`image_token`, ...) to its special token
    (default: LLaVA's `<image>`); `eos` is added as a special token when it is not `</s>`.
    """
    named = named if named is not None else {"image_token": "<image>"}
    specials = ["<unk>", "<s>", "</s>", "<pad>", *([eos] if eos != "</s>" else [])]
    words = specials + list(named.values()) + [chr(c) for c in range(32, 127)]
    words += ["\n"] if newline else []
    backend = Tokenizer(
        models.WordLevel(vocab={w: i for i, w in enumerate(words)}, unk_token="<unk>")
    )
    backend.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    backend.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token=eos,
        pad_token="<pad>",
        extra_special_tokens=named,
    )


def save_random_vlm(directory: Path, seed: int = 0) -> Path:
    """Save a tiny random LLaVA-architecture VLM with its processor; return the directory."""
    torch.manual_seed(seed)
    tokenizer = character_tokenizer()
    vision = CLIPVisionConfig(
        hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
        image_size=32, patch_size=8,
    )  # fmt: skip
    text = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=2, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    config = LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        vision_feature_layer=-1,
    )
    model = LlavaForConditionalGeneration(config)
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessor(
            size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
        ),
        tokenizer=tokenizer,
        patch_size=8,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=CHAT_TEMPLATE,
    )
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory


#: Qwen3-VL's chat markup, reduced to the parts a single image and prompt use.
QWEN3_VL_CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% else %}{{ c['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def save_random_qwen3_vl(directory: Path, seed: int = 0) -> Path:
    """Save a tiny random Qwen3-VL (its native transformers classes) with its processor.

    The processor is the real `Qwen3VLProcessor` with Qwen2-VL image patching (16 px
    patches merged 2x2); only the tokenizer is a character-level stand-in for Qwen's BPE.
    """
    from transformers import (
        Qwen2VLImageProcessor,
        Qwen3VLConfig,
        Qwen3VLForConditionalGeneration,
        Qwen3VLProcessor,
        Qwen3VLVideoProcessor,
    )

    torch.manual_seed(seed)
    names = ("image_token", "video_token", "vision_start_token", "vision_end_token")
    vision_tokens = ("<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>")
    # <|im_start|> is written as characters: a random model never needs it as one token.
    tokenizer = character_tokenizer(
        dict(zip(names, vision_tokens, strict=True)), eos="<|im_end|>", newline=True
    )
    ids = tokenizer.get_vocab()
    text = dict(
        vocab_size=len(ids), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=2, head_dim=16, pad_token_id=ids["<pad>"],
        bos_token_id=ids["<s>"], eos_token_id=ids["<|im_end|>"],
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                         "mrope_section": [2, 3, 3], "mrope_interleaved": True},
    )  # fmt: skip
    vision = dict(
        depth=1, hidden_size=32, intermediate_size=64, num_heads=2, patch_size=16,
        spatial_merge_size=2, temporal_patch_size=2, out_hidden_size=32,
        num_position_embeddings=16, deepstack_visual_indexes=[0],
    )  # fmt: skip
    config = Qwen3VLConfig(
        text_config=text, vision_config=vision, image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"], vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )  # fmt: skip
    model = Qwen3VLForConditionalGeneration(config)
    pixels = {"shortest_edge": 32 * 32 * 4, "longest_edge": 64 * 64 * 4}
    patching = dict(patch_size=16, merge_size=2, temporal_patch_size=2)
    processor = Qwen3VLProcessor(
        image_processor=Qwen2VLImageProcessor(size=pixels, **patching),
        video_processor=Qwen3VLVideoProcessor(**patching),
        tokenizer=tokenizer,
        chat_template=QWEN3_VL_CHAT_TEMPLATE,
    )
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory


def save_random_sam3(directory: Path, seed: int = 0) -> Path:
    """Save a tiny random SAM 3 (text -> instance masks) with its processor, as published.

    The sizes keep the real structure (ViT with windowed and global attention, FPN, CLIP
    text encoder, DETR encoder/decoder, mask decoder) at 56 px input and 8 queries.
    """
    tokenizer = byte_level_clip_tokenizer(max_length=32)
    small = {"hidden_size": 32, "num_attention_heads": 2, "intermediate_size": 64}
    config = Sam3Config(
        vision_config={
            "backbone_config": {
                "model_type": "sam3_vit_model", **small, "num_hidden_layers": 2,
                "image_size": 56, "patch_size": 14, "window_size": 2,
                "global_attn_indexes": [1], "pretrain_image_size": 28,
            },
            "fpn_hidden_size": 32,
            "backbone_feature_sizes": [[16, 16], [8, 8], [4, 4]],
        },
        text_config={
            "model_type": "clip_text_model", **small, "vocab_size": len(tokenizer),
            "projection_dim": 32, "num_hidden_layers": 1, "max_position_embeddings": 32,
            "bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id,
        },
        geometry_encoder_config={**small, "num_layers": 1},
        detr_encoder_config={**small, "num_layers": 1},
        detr_decoder_config={**small, "num_layers": 1, "num_queries": 8},
        mask_decoder_config={"hidden_size": 32, "num_attention_heads": 2},
    )  # fmt: skip
    torch.manual_seed(seed)
    directory.mkdir(parents=True, exist_ok=True)
    Sam3Model(config).eval().save_pretrained(directory)
    image_processor = Sam3ImageProcessor(
        size={"height": 56, "width": 56}, mask_size={"height": 16, "width": 16}
    )
    Sam3Processor(image_processor, tokenizer).save_pretrained(directory)
    return directory
