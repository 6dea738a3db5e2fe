"""SAM (the `segment-anything` package): official checkpoints in, a mask for a box out.

Checkpoints are the official `sam_vit_b_01ec64.pth`, `sam_vit_l_0b3195.pth` and
`sam_vit_h_4b8939.pth` state dicts. We build the network with segment-anything's own
builder and load the state dict with `torch.load(weights_only=True)`, so a checkpoint
can never run code. `vit_tiny` is a test-only size built by the same builder.

`dtype` (half precision) applies to the image encoder only; see `encode_in`.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from segment_anything import SamPredictor
from segment_anything.build_sam import _build_sam
from segment_anything.modeling import Sam

from vitalskills.perception.errors import PerceptionError, WeightsNotFound
from vitalskills.perception.grounder import image_key
from vitalskills.perception.hub import resolve_dtype

#: Model type -> image-encoder dimensions for segment-anything's builder.
SAM_TYPES: dict[str, dict[str, Any]] = {
    "vit_h": dict(
        encoder_embed_dim=1280,
        encoder_depth=32,
        encoder_num_heads=16,
        encoder_global_attn_indexes=[7, 15, 23, 31],
    ),
    "vit_l": dict(
        encoder_embed_dim=1024,
        encoder_depth=24,
        encoder_num_heads=16,
        encoder_global_attn_indexes=[5, 11, 17, 23],
    ),
    "vit_b": dict(
        encoder_embed_dim=768,
        encoder_depth=12,
        encoder_num_heads=12,
        encoder_global_attn_indexes=[2, 5, 8, 11],
    ),
    # Test-only: the same architecture with a tiny image encoder.
    "vit_tiny": dict(
        encoder_embed_dim=32,
        encoder_depth=2,
        encoder_num_heads=2,
        encoder_global_attn_indexes=[1],
    ),
}

SAM_DOWNLOAD_HINT = (
    "download an official checkpoint from the segment-anything README, e.g. "
    "sam_vit_b_01ec64.pth, and give its path with --sam-checkpoint or `sam_checkpoint:` "
    "in the grounders config"
)


def sam_type_for(checkpoint: Path, sam_type: str | None) -> str:
    """Return the model type to build: the one given, or the one in an official file name."""
    if sam_type is None:
        found = re.search(r"sam_(vit_[a-z]+)", checkpoint.name)
        if found is None:
            raise PerceptionError(
                f"cannot tell the SAM model type of `{checkpoint}` from its name",
                hint=f"pass --sam-type (one of {', '.join(SAM_TYPES)})",
            )
        sam_type = found.group(1)
    if sam_type not in SAM_TYPES:
        raise PerceptionError(
            f"unknown SAM model type `{sam_type}`",
            hint=f"use one of {', '.join(SAM_TYPES)}",
        )
    return sam_type


def build_sam(sam_type: str) -> Sam:
    """Build an untrained SAM of the given type with segment-anything's builder."""
    return _build_sam(**SAM_TYPES[sam_type], checkpoint=None)


def load_sam(
    checkpoint: Path | str, sam_type: str | None = None, device: str = "cpu", dtype: str = "auto"
) -> Sam:
    """Load an official SAM checkpoint (a state dict `.pth`) without running pickled code.

    `device` is a torch device name (already resolved); `dtype` (`auto`: float16 on CUDA,
    float32 on the CPU) is the image encoder's precision, see `encode_in`.
    """
    path = Path(checkpoint).expanduser()
    if not path.is_file():
        raise WeightsNotFound(f"SAM checkpoint `{path}` does not exist", hint=SAM_DOWNLOAD_HINT)
    kind = sam_type_for(path, sam_type)
    model = build_sam(kind)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except (RuntimeError, EOFError, KeyError, pickle.UnpicklingError) as error:
        raise PerceptionError(
            f"SAM checkpoint `{path}` does not load as model type `{kind}`: "
            f"{str(error).splitlines()[0]}",
            hint="check --sam-type matches the file (vit_b/vit_l/vit_h), or re-download it",
        ) from None
    return encode_in(model.to(device).eval(), resolve_dtype(dtype, device))


def encode_in(model: Sam, dtype: torch.dtype) -> Sam:
    """Hold `model`'s image encoder in `dtype`, taking and giving float32; return `model`.

    The image encoder (a ViT) holds nearly all of SAM's weights and compute, so it is
    where half precision saves GPU memory and time. The prompt encoder and mask decoder
    stay float32: segment-anything's `PositionEmbeddingRandom` casts prompt coordinates
    to float32 before multiplying them with its Gaussian matrix, so a half-precision
    prompt encoder fails, and the decoder is light (about 4 M parameters) anyway. Hooks
    cast the encoder's input to `dtype` and its embedding back to float32, so
    `SamPredictor` (which normalises pixels with float32 buffers and reads the
    encoder's `img_size`) runs unchanged.
    """
    if dtype == torch.float32:
        return model
    encoder = model.image_encoder.to(dtype)
    encoder.register_forward_pre_hook(lambda _, args: (args[0].to(dtype), *args[1:]))
    encoder.register_forward_hook(lambda _, __, output: output.float())
    return model


class SamMasker:
    """Turn a box or a click into a mask with `SamPredictor`, encoding each image once."""

    def __init__(self, model: Sam) -> None:
        self.predictor = SamPredictor(model)
        self._key: tuple[tuple[int, ...], bytes] | None = None

    def _set_image(self, rgb: np.ndarray) -> None:
        key = image_key(rgb)
        if key != self._key:
            self.predictor.set_image(rgb, image_format="RGB")
            self._key = key

    @torch.no_grad()
    def mask(
        self, rgb: np.ndarray, box: tuple[float, float, float, float]
    ) -> tuple[np.ndarray, float]:
        """Return the (H, W) bool mask SAM predicts inside `box` (x0, y0, x1, y1) and its score."""
        self._set_image(rgb)
        masks, scores, _ = self.predictor.predict(box=np.asarray(box), multimask_output=False)
        return masks[0].astype(bool), float(scores[0])

    @torch.no_grad()
    def mask_at_point(self, rgb: np.ndarray, u: float, v: float) -> tuple[np.ndarray, float]:
        """Return the mask SAM predicts for a single foreground click at pixel (u, v)."""
        self._set_image(rgb)
        masks, scores, _ = self.predictor.predict(
            point_coords=np.array([[u, v]]), point_labels=np.array([1]), multimask_output=True
        )
        best = int(np.argmax(scores))
        return masks[best].astype(bool), float(scores[best])
