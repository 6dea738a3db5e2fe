"""Per-feature statistics, as LeRobot keeps them: for the dataset and for each episode.

`meta/stats.json` holds them over the whole dataset (LeRobot normalizes policies with
them); the episode table holds each episode's own as `stats/KEY/NAME` columns (LeRobot's
dataset tools aggregate those when they merge datasets or drop episodes).

Numbers get min, max, mean, std, count and the 1/10/50/90/99 % quantiles over every
frame; min and max keep the feature's kind (integers for indices, booleans for flags).
Images, as LeRobot computes them, get the same per channel on values scaled to [0, 1],
shaped (3, 1, 1); their quantiles come from a few frames of each episode. LeRobot reads
every image as RGB, a 1-channel mask as three equal channels, and its statistics (and
its dataset tools) expect three: a mask's one channel is counted three times.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vitalskills.learning.lerobot_io.mapping import Column

QUANTILES = (0.01, 0.10, 0.50, 0.90, 0.99)
_IMAGE_SAMPLES = 4  # frames per episode whose pixels feed the image quantiles


class _Moments:
    def __init__(self) -> None:
        self.count = 0
        self.total: np.ndarray | float = 0.0
        self.squares: np.ndarray | float = 0.0
        self.low: np.ndarray | None = None
        self.high: np.ndarray | None = None
        self.samples: list[np.ndarray] = []
        self.kind = np.dtype(np.float64)

    def add(self, rows: np.ndarray, sample: np.ndarray) -> None:
        """Add (N, C) values; `sample` (M, C) of them feed the quantiles."""
        self.kind = rows.dtype if rows.dtype.kind in "biu" else np.dtype(np.float64)
        self.count += len(rows)
        values = rows.astype(np.float64)
        self.total = self.total + values.sum(axis=0)
        self.squares = self.squares + np.square(values).sum(axis=0)
        low, high = rows.min(axis=0), rows.max(axis=0)
        self.low = low if self.low is None else np.minimum(self.low, low)
        self.high = high if self.high is None else np.maximum(self.high, high)
        self.samples.append(sample)

    def merge(self, other: _Moments) -> None:
        """Add `other`'s values, as if they had been added here after these."""
        self.kind = other.kind
        self.count += other.count
        self.total = self.total + other.total
        self.squares = self.squares + other.squares
        for name, pick in (("low", np.minimum), ("high", np.maximum)):
            mine, theirs = getattr(self, name), getattr(other, name)
            setattr(self, name, theirs if mine is None else pick(mine, theirs))
        self.samples.extend(other.samples)

    def result(self, image: bool, frames: int) -> dict[str, Any]:
        mean = np.asarray(self.total) / self.count
        std = np.sqrt(np.maximum(np.asarray(self.squares) / self.count - mean**2, 0.0))
        samples = np.concatenate(self.samples).astype(np.float64)
        quantiles = np.quantile(samples, QUANTILES, axis=0)
        values = {"min": self.low, "max": self.high, "mean": mean, "std": std}
        values |= {f"q{round(q * 100):02d}": quantiles[i] for i, q in enumerate(QUANTILES)}
        shape = (-1, 1, 1) if image else (-1,)
        stats = {
            key: np.asarray(value, self.kind if key in ("min", "max") else np.float64)
            .reshape(shape)
            .tolist()
            for key, value in values.items()
        }
        stats["count"] = [frames]
        return stats


class StatsAccumulator:
    """Collect statistics episode by episode; `result()` is the `stats.json` content."""

    def __init__(self) -> None:
        self._moments: dict[str, _Moments] = {}
        self._images: set[str] = set()
        self._frames: dict[str, int] = {}

    def _add(self, key: str, rows: np.ndarray, sample: np.ndarray, frames: int) -> None:
        self._moments.setdefault(key, _Moments()).add(rows, sample)
        self._frames[key] = self._frames.get(key, 0) + frames

    def add(self, column: Column, values: np.ndarray) -> None:
        """Add one episode's values of `column` (images (T, H, W, C), numbers (T, n))."""
        frames = len(values)
        if column.dtype in ("image", "video"):
            self._images.add(column.key)
            if values.shape[-1] == 1:  # as LeRobot reads it: RGB
                values = np.repeat(values, 3, axis=-1)
            pixels = values.reshape(frames, -1, values.shape[-1]).astype(np.float64) / 255.0
            picked = np.linspace(0, frames - 1, min(frames, _IMAGE_SAMPLES)).round().astype(int)
            rows = pixels.reshape(-1, pixels.shape[-1])
            self._add(column.key, rows, pixels[picked].reshape(-1, pixels.shape[-1]), frames)
        else:
            rows = values.reshape(frames, -1)
            self._add(column.key, rows, rows, frames)

    def add_index(self, key: str, values: np.ndarray) -> None:
        """Add one episode's values of an index column (`timestamp`, `frame_index`, ...)."""
        rows = values.reshape(-1, 1)
        self._add(key, rows, rows, len(values))

    def merge(self, other: StatsAccumulator) -> None:
        """Add `other`'s values (an episode's) to these, as if added here."""
        self._images |= other._images
        for key, moments in other._moments.items():
            self._moments.setdefault(key, _Moments()).merge(moments)
            self._frames[key] = self._frames.get(key, 0) + other._frames[key]

    def result(self) -> dict[str, dict[str, Any]]:
        """Every feature's statistics, as LeRobot's `stats.json` holds them."""
        return {
            key: moments.result(key in self._images, self._frames[key])
            for key, moments in self._moments.items()
        }

    def columns(self) -> dict[str, Any]:
        """The statistics as episode-table columns: `stats/KEY/NAME`."""
        return {
            f"stats/{key}/{name}": value
            for key, stats in self.result().items()
            for name, value in stats.items()
        }
