"""The BC policy at run time: one action per observation, temporally ensembled.

Every step the network predicts a chunk of the next `chunk` actions. The action sent
is a weighted mean of every still-valid prediction for the current step, weight
exp(-k * i) for the i-th oldest (ACT's temporal ensembling); it is then clipped to the
skill's action limits. Inference runs under `torch.inference_mode` on CPU.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import torch

from vitalskills.learning.bc.model import VitalBC
from vitalskills.learning.errors import PolicyPackageError
from vitalskills.robot import Observation


class BCPolicy:
    """A `Policy` (reset/act) around a loaded `VitalBC`.

    Args:
        model: the network, in eval mode.
        low, high: action limits; actions are clipped to them.
    """

    def __init__(self, model: VitalBC, low: np.ndarray, high: np.ndarray) -> None:
        self.model = model.eval()
        self.config = model.config
        self.low = np.asarray(low, np.float32)
        self.high = np.asarray(high, np.float32)
        self.reset()

    def reset(self) -> None:
        """Forget the observation history and the pending action chunks."""
        self.images: deque[torch.Tensor] = deque(maxlen=self.config.history)
        self.tactile: deque[torch.Tensor] = deque(maxlen=self.config.history)
        self.chunks: deque[np.ndarray] = deque(maxlen=self.config.chunk)
        #: The newest image's features, kept for a residual actor (no second encoder pass).
        self.features: torch.Tensor | None = None

    def _image(self, observation: Observation) -> torch.Tensor:
        key = self.config.image_key
        if key not in observation:
            raise PolicyPackageError(
                f"the policy needs observation `{key}`, the robot gave {sorted(observation)}"
            )
        image = torch.from_numpy(np.ascontiguousarray(observation[key]))
        pixels = image.permute(2, 0, 1).float().div_(255.0)
        size = self.config.image_size
        if pixels.shape[-2:] != (size, size):
            pixels = torch.nn.functional.interpolate(
                pixels[None], size=(size, size), mode="bilinear", antialias=True
            )[0]
        return pixels

    @torch.inference_mode()
    def predict_chunk(self, observation: Observation) -> np.ndarray:
        """Add `observation` to the history and return the (chunk, A) actions predicted."""
        self.images.append(self._image(observation))
        tactile = None
        if self.config.uses_tactile:
            reading = np.asarray(observation["tactile"], np.float32).reshape(-1)
            self.tactile.append(torch.from_numpy(reading))
            tactile = torch.stack(list(self.tactile))[None]
        features = self.model.encode(torch.stack(list(self.images))[None])
        self.features = features[0, -1]
        normalized = self.model.decode(features, tactile)[0, -1]
        return self.model.unnormalize_actions(normalized).numpy()

    def act(self, observation: Observation) -> np.ndarray:
        """Return the next action for `observation`, ensembled over recent chunks, clipped."""
        self.chunks.append(self.predict_chunk(observation))
        # chunks[0] is the oldest; it predicted this step at offset len(chunks) - 1.
        count = len(self.chunks)
        candidates = np.stack([chunk[count - 1 - i] for i, chunk in enumerate(self.chunks)])
        weights = np.exp(-self.config.ensemble_k * np.arange(count))
        action = (weights[:, None] * candidates).sum(0) / weights.sum()
        return np.clip(action, self.low, self.high).astype(np.float32)
