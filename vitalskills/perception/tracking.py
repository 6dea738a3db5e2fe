"""Re-locate an object found once by propagating its mask to the next frame (SAM 2, EdgeTAM).

After a text query has found an object, a later `locate` of the same query in the same
run need not ask the detector again: a video model (SAM 2 or EdgeTAM, the same
`load_video_segmenter` folders that make demonstration masks) carries the object's mask
from the frames it has seen to the new one, in streaming mode, one frame at a time.
That follows the object where it moved, costs one memory-conditioned mask decode
instead of two image encoders, and keeps the same instance among look-alikes.

A track is dropped, and the grounder falls back to a fresh text query, when the model
says the object is gone (its object score), when the mask comes back empty, when the
image size changes, or when the track has not been updated for `max_age_s` (a later run
in a long-lived process starts afresh).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vitalskills.perception.video_segment import VideoSegmenter


@dataclass
class _Track:
    session: Any
    shape: tuple[int, ...]
    updated: float
    frames: int = 1


@dataclass
class ObjectTracker:
    """Follow located objects, one streaming video session per query.

    Args:
        segmenter: a loaded SAM 2 / EdgeTAM video model (`load_video_segmenter`).
        max_age_s: a track not updated for this long is forgotten.
        min_score: the model's object-presence probability below which it is lost.
        max_frames: a session that saw this many frames is restarted from its last
            mask, so a long run's memory stays bounded.
    """

    segmenter: VideoSegmenter
    max_age_s: float = 60.0
    min_score: float = 0.5
    max_frames: int = 100
    tracks: dict[str, _Track] = field(default_factory=dict)

    def start(self, query: str, rgb: np.ndarray, mask: np.ndarray) -> None:
        """Begin tracking `query` from its mask on this frame (replaces an older track)."""
        import torch

        processor, device = self.segmenter.processor, self.segmenter.device
        with torch.inference_mode():
            session = processor.init_video_session(
                inference_device=device, processing_device="cpu", dtype=self.segmenter.dtype
            )
            inputs = processor(images=rgb, device=device, return_tensors="pt")
            processor.add_inputs_to_inference_session(
                inference_session=session, frame_idx=0, obj_ids=1,
                input_masks=mask.astype(bool), original_size=inputs.original_sizes[0],
            )  # fmt: skip
            self.segmenter.model(inference_session=session, frame=inputs.pixel_values[0])
        self.tracks[query] = _Track(session, rgb.shape, time.monotonic())

    def follow(self, query: str, rgb: np.ndarray) -> tuple[np.ndarray, float] | None:
        """Return `query`'s mask on this new frame and the model's presence score.

        None when there is no live track for `query`, or the object was lost; a lost
        track is forgotten.
        """
        import torch

        track = self.tracks.get(query)
        if track is None:
            return None
        if track.shape != rgb.shape or time.monotonic() - track.updated > self.max_age_s:
            del self.tracks[query]
            return None
        processor, model = self.segmenter.processor, self.segmenter.model
        with torch.inference_mode():
            inputs = processor(images=rgb, device=self.segmenter.device, return_tensors="pt")
            output = model(inference_session=track.session, frame=inputs.pixel_values[0])
            mask = (
                processor.post_process_masks(
                    [output.pred_masks.float()],
                    original_sizes=inputs.original_sizes,
                    binarize=True,
                )[0][0, 0]
                .cpu()
                .numpy()
                .astype(bool)
            )
            logit = float(output.object_score_logits.reshape(-1)[0])
        score = 1.0 / (1.0 + math.exp(-logit))
        if score < self.min_score or not mask.any():
            del self.tracks[query]
            return None
        track.updated, track.frames = time.monotonic(), track.frames + 1
        if track.frames >= self.max_frames:
            self.start(query, rgb, mask)
        return mask, score

    def forget(self, query: str | None = None) -> None:
        """Drop the track of `query`, or every track."""
        if query is None:
            self.tracks.clear()
        else:
            self.tracks.pop(query, None)
