"""`sam3`: SAM 3 turns the text query into scored instance masks in one model.

One model replaces the detector + masker pair: it reads the query, proposes instances
and cuts their masks together. The best-scoring instance goes through the same
mask-depth geometry as `owlv2-sam`. Its 840 M parameters want a GPU (`device: auto`),
where `dtype: auto` holds them in float16; scores and masks come back as float32 and
bool. The scene image is encoded once for several queries on the same frame.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vitalskills.perception.config import Sam3Options
from vitalskills.perception.errors import PerceptionError
from vitalskills.perception.geometry import check_camera, check_frame
from vitalskills.perception.grounder import LocateResult, image_key, point_from_mask, stage
from vitalskills.perception.hub import (
    load_model_config,
    load_pretrained,
    resolve_device,
    resolve_dtype,
)
from vitalskills.robot import SceneFrame

SAM3_HINT = (
    "give `model:` a SAM 3 folder, e.g. `hf download facebook/sam3 --local-dir ~/models/sam3` "
    "on a machine with internet access (the model is gated: accept its licence first)"
)


class Sam3Grounder:
    """Text query -> SAM 3 instances -> best-scoring mask -> 3D point and heading."""

    def __init__(
        self,
        model: Any,
        processor: Any,
        device: str,
        *,
        name: str = "sam3",
        threshold: float = 0.3,
        mask_threshold: float = 0.5,
        point: str = "top",
        erode_px: int = 2,
    ) -> None:
        self.name = name
        self.model = model.to(device).eval()
        self.processor = processor
        self.device = device
        self.threshold = threshold
        self.mask_threshold = mask_threshold
        self.point = point
        self.erode_px = erode_px
        self._key: tuple[tuple[int, ...], bytes] | None = None
        self._vision: Any = None

    @classmethod
    def from_options(cls, name: str, options: Sam3Options) -> Sam3Grounder:
        """Load the SAM 3 model and processor from local files only.

        Raises:
            WeightsNotFound: the folder, its config.json or its weights are missing.
            PerceptionError: the folder holds another kind of model.
        """
        device = resolve_device(options.device)
        model, processor = load_sam3(options.model, resolve_dtype(options.dtype, device))
        return cls(
            model,
            processor,
            device,
            name=name,
            threshold=options.threshold,
            mask_threshold=options.mask_threshold,
            point=options.point,
            erode_px=options.erode_px,
        )

    def _encode(self, rgb: np.ndarray, timings: dict[str, float]) -> tuple[int, int]:
        """Encode the image unless it is the one encoded last; return its (h, w)."""
        import torch

        key = image_key(rgb)
        if key != self._key:
            with stage(timings, "encode"):
                pixels = self.processor(images=rgb, return_tensors="pt")["pixel_values"]
                with torch.inference_mode():
                    self._vision = self.model.get_vision_features(
                        pixel_values=pixels.to(self.device, self.model.dtype)
                    )
            self._key = key
        return rgb.shape[0], rgb.shape[1]

    def locate(self, frame: SceneFrame, query: str) -> LocateResult:
        """Return the best instance's 3D point in the base frame, or why there is none."""
        import torch

        check_frame(frame.rgb, frame.depth)
        check_camera(frame.intrinsics, frame.extrinsics)
        timings: dict[str, float] = {}
        result = LocateResult(query=query, grounder=self.name, found=False, timings=timings)
        size = self._encode(frame.rgb, timings)
        with stage(timings, "sam3"):
            text = self.processor(text=query, return_tensors="pt").to(self.device)
            with torch.inference_mode():
                outputs = self.model(vision_embeds=self._vision, **text)
            # Post-processing (sigmoid, resize to the image, mask cut) in float32 whatever
            # the model's precision, so half and full precision cut masks alike.
            for key in ("pred_logits", "pred_boxes", "pred_masks", "presence_logits"):
                if getattr(outputs, key, None) is not None:
                    setattr(outputs, key, getattr(outputs, key).float())
            instances = self.processor.post_process_instance_segmentation(
                outputs, threshold=0.0, mask_threshold=self.mask_threshold, target_sizes=[size]
            )[0]
        scores = instances["scores"].float().cpu().numpy()
        if scores.size == 0:
            result.detail = "SAM 3 proposed no instance"
            return result
        best = int(np.argmax(scores))
        result.score = float(scores[best])
        x0, y0, x1, y1 = (float(v) for v in instances["boxes"][best].cpu())
        result.box = (x0, y0, x1, y1)
        if result.score < self.threshold:
            result.detail = f"best instance scores {result.score:.3f}, below {self.threshold}"
            return result
        result.mask = instances["masks"][best].cpu().numpy().astype(bool)
        if not point_from_mask(result, frame, self.point, self.erode_px):
            result.detail = "the instance's mask has no valid depth readings"
            return result
        result.detail = (
            f"instance scored {result.score:.3f} of {scores.size}; "
            f"point from {int(result.mask.sum())} mask pixels"
        )
        return result


def load_sam3(source: str, dtype: Any = None) -> tuple[Any, Any]:
    """Load a SAM 3 model and its processor from a folder or cached id, local files only.

    `dtype` is the torch dtype to hold the model in (None: float32).

    Raises:
        WeightsNotFound: the folder, its config.json or its weights are missing.
        PerceptionError: the folder holds another kind of model.
    """
    import torch
    from transformers import Sam3Model, Sam3Processor

    config = load_model_config(source, "SAM 3 model", SAM3_HINT)
    if config.model_type != "sam3":
        raise PerceptionError(
            f"`{source}` is a `{config.model_type}` model, not SAM 3 (model_type `sam3`)",
            hint=SAM3_HINT,
        )
    model = load_pretrained(source, "SAM 3 model", Sam3Model, dtype=dtype or torch.float32)
    processor = load_pretrained(source, "SAM 3 processor", Sam3Processor)
    return model, processor
