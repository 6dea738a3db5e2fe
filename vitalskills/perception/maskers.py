"""Maskers: a box or a click on an image in, the object's mask out, each image encoded once.

Two sources of masker weights:

- a segment-anything `.pth` checkpoint (`sam_vit_b_01ec64.pth`, ...): `sam.SamMasker`;
- a transformers model folder (or a cached model id) whose `config.json` names one of
  `MASKER_TYPES`: SAM, SAM-HQ, SAM 2 / 2.1 and EdgeTAM, image or video checkpoints
  (a video checkpoint holds the image model's weights). `TransformersMasker` runs it.

Both keep the last image's embedding, so several queries on one scene image run the
image encoder (nearly all of the cost) once; only the light prompt decoder runs per query.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from vitalskills.perception.errors import PerceptionError
from vitalskills.perception.grounder import image_key
from vitalskills.perception.hub import (
    load_model_config,
    load_pretrained,
    require_packages,
    resolve_device,
    resolve_dtype,
)
from vitalskills.perception.sam import SamMasker, load_sam

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class MaskerKind:
    """One transformers masker family: its name for people and the packages it needs."""

    title: str
    needs: tuple[str, ...] = ()


#: `model_type` in config.json -> the family; transformers' AutoModelForMaskGeneration
#: builds the image model for each (a video checkpoint's image part for the video types).
MASKER_TYPES = {
    "sam": MaskerKind("SAM"),
    "sam_hq": MaskerKind("SAM-HQ"),
    "sam2": MaskerKind("SAM 2"),
    "sam2_video": MaskerKind("SAM 2"),
    # EdgeTAM's image encoder is a timm RepViT; transformers builds it through timm.
    "edgetam": MaskerKind("EdgeTAM", needs=("timm",)),
    "edgetam_video": MaskerKind("EdgeTAM", needs=("timm",)),
}

MASKER_HINT = (
    "give a segment-anything checkpoint (sam_vit_b_01ec64.pth) or a transformers model "
    "folder, e.g. `hf download yonigozlan/EdgeTAM-hf --local-dir ~/models/edgetam` "
    "(or facebook/sam2.1-hiera-tiny, facebook/sam-vit-base, syscv-community/sam-hq-vit-base)"
)


class Masker(Protocol):
    """What a grounder asks of a masker."""

    def mask(self, rgb: np.ndarray, box: Box) -> tuple[np.ndarray, float]:
        """Return the (H, W) bool mask inside `box` (x0, y0, x1, y1) and its score."""
        ...

    def mask_at_point(self, rgb: np.ndarray, u: float, v: float) -> tuple[np.ndarray, float]:
        """Return the mask for one foreground click at pixel (u, v) and its score."""
        ...


class TransformersMasker:
    """SAM, SAM-HQ, SAM 2 or EdgeTAM through transformers: encode once, decode per prompt."""

    def __init__(self, model: Any, processor: Any, model_type: str, device: str) -> None:
        self.model = model.to(device).eval()
        self.dtype = model.dtype
        self.processor = processor
        self.model_type = model_type
        self.device = device
        self._key: tuple[tuple[int, ...], bytes] | None = None
        self._embeddings: Any = None
        # SAM and SAM-HQ normalise prompts with the processed image's size; SAM 2's
        # processor needs only the original size.
        self._sam1 = model_type in ("sam", "sam_hq")

    def _encode(self, rgb: np.ndarray) -> None:
        import torch
        from PIL import Image

        key = image_key(rgb)
        if key == self._key:
            return
        inputs = self.processor(images=Image.fromarray(rgb), return_tensors="pt")
        with torch.inference_mode():
            self._embeddings = self.model.get_image_embeddings(
                inputs["pixel_values"].to(self.device, self.dtype)
            )
        self._key = key

    def _predict(self, rgb: np.ndarray, multimask: bool, **prompt: Any) -> tuple[np.ndarray, float]:
        import torch
        from PIL import Image

        self._encode(rgb)
        h, w = rgb.shape[:2]
        if self._sam1:
            inputs = self.processor(images=Image.fromarray(rgb), return_tensors="pt", **prompt)
            sizes = {"reshaped_input_sizes": inputs["reshaped_input_sizes"]}
        else:
            inputs = self.processor(original_sizes=[[h, w]], return_tensors="pt", **prompt)
            sizes = {}
        prompts = {
            k: v.to(self.device, self.dtype) if v.is_floating_point() else v.to(self.device)
            for k, v in inputs.items()
            if k.startswith("input_")
        }
        if self.model_type == "sam_hq":
            embeddings, intermediate = self._embeddings
            extra = {
                "image_embeddings": embeddings,
                "intermediate_embeddings": intermediate,
                "hq_token_only": True,
            }
        else:
            extra = {"image_embeddings": self._embeddings}
        with torch.inference_mode():
            outputs = self.model(multimask_output=multimask, **prompts, **extra)
        masks = self.processor.post_process_masks(
            outputs.pred_masks.float().cpu(), inputs["original_sizes"], **sizes
        )[0][0]
        scores = outputs.iou_scores[0, 0].float().cpu()
        best = int(torch.argmax(scores))
        return masks[best].numpy().astype(bool), float(scores[best])

    def mask(self, rgb: np.ndarray, box: Box) -> tuple[np.ndarray, float]:
        """Return the mask predicted inside `box` (x0, y0, x1, y1) and its score."""
        return self._predict(rgb, False, input_boxes=[[[float(v) for v in box]]])

    def mask_at_point(self, rgb: np.ndarray, u: float, v: float) -> tuple[np.ndarray, float]:
        """Return the best of the masks predicted for one foreground click at (u, v)."""
        return self._predict(
            rgb, True, input_points=[[[[float(u), float(v)]]]], input_labels=[[[1]]]
        )


def load_transformers_masker(
    source: str, device: str = "cpu", dtype: str = "auto"
) -> TransformersMasker:
    """Load a SAM / SAM-HQ / SAM 2 / EdgeTAM folder or cached id, from local files only.

    Raises:
        WeightsNotFound: the folder, its config.json or its weights are missing.
        PerceptionError: not a masker model, or a package it needs is missing.
    """
    from transformers import AutoModelForMaskGeneration, AutoProcessor

    model_type = load_model_config(source, "masker", MASKER_HINT).model_type
    if model_type not in MASKER_TYPES:
        raise PerceptionError(
            f"masker `{source}` is a `{model_type}` model, not a SAM-family masker",
            hint=f"supported model types: {', '.join(MASKER_TYPES)}; {MASKER_HINT}",
        )
    kind = MASKER_TYPES[model_type]
    require_packages(kind.needs, f"{kind.title} models", "use a SAM 2 checkpoint")
    target = resolve_device(device)
    model = load_pretrained(
        source,
        f"{kind.title} masker",
        AutoModelForMaskGeneration,
        dtype=resolve_dtype(dtype, target),
    )
    processor = load_pretrained(source, f"{kind.title} masker processor", AutoProcessor)
    return TransformersMasker(model, processor, model_type, target)


def load_masker(
    source: Path | str, sam_type: str | None = None, device: str = "cpu", dtype: str = "auto"
) -> Masker:
    """Load a masker from a segment-anything `.pth` file or a transformers folder / id.

    `dtype` (`auto`: float16 on CUDA, float32 on the CPU) is the precision of a
    transformers masker's whole model, and of a segment-anything masker's image encoder
    (its prompt encoder and mask decoder stay float32: `sam.encode_in` says why).

    Raises:
        WeightsNotFound: the file or folder is missing.
        PerceptionError: it is neither kind, or does not load.
    """
    path = Path(source).expanduser()
    if path.suffix == ".pth" or path.is_file():
        return SamMasker(load_sam(path, sam_type, resolve_device(device), dtype))
    if sam_type is not None:
        raise PerceptionError(
            f"`sam_type` applies to segment-anything .pth checkpoints, not to `{source}`",
            hint="leave sam_type out: a model folder's config.json says what it is",
        )
    return load_transformers_masker(str(source), device, dtype)
