"""Open-vocabulary box detection through transformers' zero-shot object detection models.

One path serves OWLv2 (the default), OWL-ViT and Grounding DINO: `AutoProcessor` plus
`AutoModelForZeroShotObjectDetection`, always with `local_files_only=True` so that a
missing model is an error here, never a download. The families differ only in how the
query is written and how boxes map back to the image, which `Detection` hides.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from transformers import AutoModelForZeroShotObjectDetection, AutoProcessor

from vitalskills.perception.config import DEFAULT_DETECTOR
from vitalskills.perception.errors import PerceptionError, WeightsNotFound

SUPPORTED = ("owlv2", "owlvit", "grounding-dino", "mm-grounding-dino")


@dataclass
class Detection:
    """The best box for a query: (x0, y0, x1, y1) in image pixels, with its score."""

    box: tuple[float, float, float, float]
    score: float


def _looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or Path(name).expanduser().exists()


def resolve_model(name: str, what: str) -> str:
    """Return a local directory or a Hugging Face id to load with `local_files_only`.

    Raises `WeightsNotFound` for a path that does not exist, naming it and saying how to
    fetch the weights.
    """
    if _looks_like_path(name):
        path = Path(name).expanduser()
        if not path.is_dir():
            raise WeightsNotFound(
                f"{what} directory `{path}` does not exist",
                hint=f"download it once with `hf download {DEFAULT_DETECTOR} --local-dir {path}` "
                "(any supported model id works) or point the config at another directory",
            )
        return str(path)
    return name


def load_pretrained(name: str, what: str, loader: type, **kwargs: object) -> object:
    """Call `loader.from_pretrained(name, local_files_only=True)` with a clear error."""
    source = resolve_model(name, what)
    try:
        return loader.from_pretrained(source, local_files_only=True, **kwargs)
    except (OSError, ValueError) as error:
        raise WeightsNotFound(
            f"cannot load {what} `{name}` from disk: {str(error).splitlines()[0]}",
            hint=f"download it while online with `hf download {name}` (it lands in the local "
            "Hugging Face cache) or with `--local-dir DIR` and give DIR instead",
        ) from None


class ZeroShotDetector:
    """Find the highest-scoring box for a text query with a zero-shot detection model."""

    def __init__(self, model: str = DEFAULT_DETECTOR, device: str = "cpu") -> None:
        self.processor = load_pretrained(model, "detector", AutoProcessor)
        self.model = load_pretrained(model, "detector", AutoModelForZeroShotObjectDetection)
        self.model_type = self.model.config.model_type
        if self.model_type not in SUPPORTED:
            raise PerceptionError(
                f"`{model}` is a `{self.model_type}` model, not a supported zero-shot detector",
                hint=f"use one of these model families: {', '.join(SUPPORTED)}",
            )
        self.device = device
        self.model.to(device).eval()

    @torch.no_grad()
    def detect(self, rgb: np.ndarray, query: str) -> Detection | None:
        """Return the best box for `query` in an (H, W, 3) uint8 image, or None if none."""
        h, w = rgb.shape[:2]
        image = Image.fromarray(rgb)
        grounding = "grounding-dino" in self.model_type
        text = query.strip().lower() + "." if grounding else [[query]]
        inputs = self.processor(images=image, text=text, return_tensors="pt").to(self.device)
        outputs = self.model(**inputs)
        if grounding:
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
