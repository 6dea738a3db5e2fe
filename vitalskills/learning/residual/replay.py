"""A fixed-size replay buffer of residual-RL transitions, saved as safetensors for resuming.

Transitions store the frozen encoders' features rather than images: the encoders never
change during residual RL, so this is exact, and it keeps a high update-to-data ratio
cheap on a CPU (no image is re-encoded per update).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file, save_file

EMPTY = np.zeros(0, np.float32)
FIELDS = ("obs", "action", "reward", "next_obs", "discount", "state", "next_state")


class ReplayBuffer:
    """Circular storage of (obs, action, reward, next_obs, discount); discount is 0 at success.

    `state` and `next_state` hold what only the critic sees (`state_dim` numbers of
    privileged simulator state; none by default).
    """

    def __init__(self, capacity: int, obs_dim: int, action_dim: int, state_dim: int = 0) -> None:
        self.capacity = capacity
        self.data = {
            "obs": np.zeros((capacity, obs_dim), np.float32),
            "action": np.zeros((capacity, action_dim), np.float32),
            "reward": np.zeros(capacity, np.float32),
            "next_obs": np.zeros((capacity, obs_dim), np.float32),
            "discount": np.zeros(capacity, np.float32),
            "state": np.zeros((capacity, state_dim), np.float32),
            "next_state": np.zeros((capacity, state_dim), np.float32),
        }
        self.size = 0
        self.position = 0

    def __len__(self) -> int:
        return self.size

    def add(
        self, obs: np.ndarray, action: np.ndarray, reward: float, next_obs: np.ndarray,
        discount: float, state: np.ndarray = EMPTY, next_state: np.ndarray = EMPTY,
    ) -> None:  # fmt: skip
        """Store one transition, overwriting the oldest when full."""
        i = self.position
        values = (obs, action, reward, next_obs, discount, state, next_state)
        for name, value in zip(FIELDS, values, strict=True):
            self.data[name][i] = value
        self.position = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        """Return a uniformly drawn batch as tensors."""
        picks = rng.integers(0, self.size, batch_size)
        return {name: torch.from_numpy(array[picks]) for name, array in self.data.items()}

    def save(self, path: Path) -> None:
        """Write the filled part and the write position to a safetensors file."""
        arrays = {name: np.ascontiguousarray(a[: self.size]) for name, a in self.data.items()}
        save_file(arrays, str(path), metadata={"position": str(self.position)})

    def load(self, path: Path) -> None:
        """Restore what `save` wrote (same capacity and shapes; checked by the caller)."""
        from safetensors import safe_open

        with safe_open(str(path), framework="numpy") as handle:
            position = int((handle.metadata() or {}).get("position", 0))
        arrays = load_file(str(path))
        self.size = len(arrays["reward"])
        for name, array in arrays.items():
            self.data[name][: self.size] = array
        self.position = position
