"""Open-vocabulary box detection through transformers' zero-shot object detection models.

One path serves OWLv2 (the default), OWL-ViT, Grounding DINO and OmDet-Turbo: `AutoProcessor` plus
`AutoModelForZeroShotObjectDetection`, always with `local_files_only=True` so that a
missing model is an error here, never a download. The families differ only in how the
query is written and how boxes map back to the image, which `Detection` hides.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
from PIL import Image
from transformers import AutoModelForZeroShotObjectDetection, AutoProcessor

from vitalskills.perception.config import DEFAULT_DETECTOR
from vitalskills.perception.errors import PerceptionError
from vitalskills.perception.grounder import image_key
from vitalskills.perception.hub import load_pretrained, resolve_device, resolve_dtype

SUPPORTED = ("owlv2", "owlvit", "grounding-dino", "mm-grounding-dino", "omdet-turbo")


@dataclass
class Detection:
    """The best box for a query: (x0, y0, x1, y1) in image pixels, with its score."""

    box: tuple[float, float, float, float]
    score: float


class ZeroShotDetector:
    """Find the highest-scoring box for a text query with a zero-shot detection model."""

    def __init__(
        self, model: str = DEFAULT_DETECTOR, device: str = "cpu", dtype: str = "auto"
    ) -> None:
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        self.processor = load_pretrained(model, "detector", AutoProcessor)
        self.model = load_pretrained(
            model, "detector", AutoModelForZeroShotObjectDetection, dtype=self.dtype
        )
        self.model_type = self.model.config.model_type
        if self.model_type not in SUPPORTED:
            raise PerceptionError(
                f"`{model}` is a `{self.model_type}` model, not a supported zero-shot detector",
                hint=f"use one of these model families: {', '.join(SUPPORTED)}",
            )
        self.model.to(self.device).eval()
        self._key: tuple[tuple[int, ...], bytes] | None = None
        self._image: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    def _owl_outputs(self, rgb: np.ndarray, query: str) -> SimpleNamespace:
        """Run OWL-ViT / OWLv2 with the image half computed once per image.

        The image encoder is nearly all of the cost and does not depend on the query, so
        several queries on one image encode it once; only the text encoder and the
        class head run per query. Same results as the model's own forward.
        """
        key = image_key(rgb)
        if key != self._key:
            pixels = self.processor(images=Image.fromarray(rgb), return_tensors="pt")
            feature_map = self.model.image_embedder(
                pixels["pixel_values"].to(self.device, self.dtype)
            )[0]
            b, h, w, d = feature_map.shape
            features = feature_map.reshape(b, h * w, d)
            self._image = (features, self.model.box_predictor(features, feature_map), feature_map)
            self._key = key
        assert self._image is not None
        features, boxes, _ = self._image
        text = self.processor(text=[[query]], return_tensors="pt").to(self.device)
        encoder = getattr(self.model, self.model_type)  # .owlvit or .owlv2
        queries = encoder.get_text_features(**text).pooler_output
        query_mask = text["input_ids"][None, :, 0] > 0
        logits, _ = self.model.class_predictor(features, queries[None], query_mask)
        return SimpleNamespace(logits=logits, pred_boxes=boxes)

    @torch.no_grad()
    def detect(self, rgb: np.ndarray, query: str) -> Detection | None:
        """Return the best box for `query` in an (H, W, 3) uint8 image, or None if none."""
        h, w = rgb.shape[:2]
        image = Image.fromarray(rgb)
        grounding = "grounding-dino" in self.model_type
        omdet = self.model_type == "omdet-turbo"
        if self.model_type in ("owlv2", "owlvit"):
            outputs: Any = self._owl_outputs(rgb, query)
        else:
            text = query.strip().lower() + "." if grounding else [query]
            inputs = self.processor(images=image, text=text, return_tensors="pt")
            inputs = inputs.to(self.device, dtype=self.dtype)
            outputs = self.model(**inputs)
        if omdet:
            results = self.processor.post_process_grounded_object_detection(
                outputs, text_labels=[[query]], threshold=0.0, target_sizes=[(h, w)]
            )
        elif grounding:
            results = self.processor.post_process_grounded_object_detection(
                outputs, inputs.input_ids, threshold=0.0, text_threshold=0.0, target_sizes=[(h, w)]
            )
        else:
            # OWLv2 pads the image to a square at the bottom/right before resizing, so its
            # boxes are relative to the padded square.
            side = (max(h, w), max(h, w)) if self.model_type == "owlv2" else (h, w)
            results = self.processor.post_process_grounded_object_detection(
                outputs, threshold=-1.0, target_sizes=[side]
            )
        scores, boxes = results[0]["scores"], results[0]["boxes"]
        if len(scores) == 0:
            return None
        best = int(torch.argmax(scores))
        x0, y0, x1, y1 = boxes[best].tolist()
        x0, x1 = float(np.clip(x0, 0, w - 1)), float(np.clip(x1, 0, w - 1))
        y0, y1 = float(np.clip(y0, 0, h - 1)), float(np.clip(y1, 0, h - 1))
        return Detection(
            box=(x0, y0, max(x1, x0 + 1.0), max(y1, y0 + 1.0)), score=float(scores[best])
        )
