"""A simulated AnySkin: 5 magnetometers x 3 axes under a magnetised elastomer.

The wrench that the held object exerts on the fingertip skin (force and torque in the
end-effector frame, about the grasp point) is spread over the five taxels; each
taxel's elastomer patch moves with a saturating (tanh) compliance, which moves the
magnetic dipole above its magnetometer; the magnetometer reads the change of the
dipole's field (a fixed, strongly nonlinear map), plus a constant offset, white noise,
a slow per-episode drift and ADC saturation. As on the real sensor, the output is
baseline-subtracted: the median of the first 5 raw readings of the episode.
"""

from __future__ import annotations

import numpy as np

#: Taxel positions (m) in the end-effector frame: a cross on the finger pad.
TAXELS = np.array(
    [[0.0, 0.0, 0.0], [0.006, 0.0, 0.0], [-0.006, 0.0, 0.0], [0.0, 0.0, 0.006], [0.0, 0.0, -0.006]]
)
#: Height (m) of each magnet above its magnetometer at rest.
MAGNET_HEIGHT = 0.003
#: Elastomer compliance (m/N) in shear (x, y) and normal (z) direction of the pad.
COMPLIANCE = np.array([1.0e-3, 1.0e-3, 5.0e-4])
#: Largest elastomer displacement (m): the skin stiffens past it.
MAX_DISPLACEMENT = 0.0015
#: Lever arm (m) over which the grasp resists torque: both fingers' whole contact patch.
TORQUE_ARM = 0.02
#: Readings are scaled so one newton of shear gives about one unit.
GAIN = 3.0
#: ADC range of the raw readings (before baseline subtraction).
SATURATION = 25.0
NOISE_STD = 0.01
DRIFT_STD = 0.01
BASELINE_READINGS = 5


def _dipole_field(offset: np.ndarray) -> np.ndarray:
    """Field of a unit dipole pointing along z, at the sensor, magnet at `offset` (mm)."""
    r = np.linalg.norm(offset, axis=-1, keepdims=True)
    unit = offset / r
    moment = np.array([0.0, 0.0, 1.0])
    dot = unit @ moment
    return (3.0 * dot[..., None] * unit - moment) / r**3


def skin_field(force: np.ndarray, torque: np.ndarray) -> np.ndarray:
    """Return the noiseless (5, 3) field change for a wrench on the pad (N, N m).

    The wrench is shared among the taxels as point loads (equal share of the force,
    plus the torque as opposing loads over the pad), each patch deflects with a saturating
    compliance, and the sensor sees the dipole move.
    """
    arms = TAXELS - TAXELS.mean(axis=0)
    loads = (force + np.cross(torque, arms) / TORQUE_ARM**2) / len(TAXELS)
    shift = MAX_DISPLACEMENT * np.tanh(loads * COMPLIANCE / MAX_DISPLACEMENT)
    rest = np.array([0.0, 0.0, MAGNET_HEIGHT]) * 1e3
    # Mapped from the pad frame to the magnet frame: the pad normal is the EE y axis.
    moved = rest + shift[:, [0, 2, 1]] * 1e3
    return GAIN * 27.0 * (_dipole_field(moved) - _dipole_field(rest))


class TactileSkin:
    """One sensor's state over an episode: offsets, drift, noise and its baseline."""

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self._offset = rng.normal(0.0, 2.0, size=15)
        self._drift_rate = rng.normal(0.0, DRIFT_STD, size=15)
        self._steps = 0
        self._first: list[np.ndarray] = []
        self._baseline: np.ndarray | None = None

    def raw(self, force: np.ndarray, torque: np.ndarray) -> np.ndarray:
        """Return one raw 15-D reading (what the magnetometers put out) for a wrench."""
        field = skin_field(force, torque).reshape(15)
        drift = self._drift_rate * np.sin(self._steps / 200.0) * 5.0
        noise = self._rng.normal(0.0, NOISE_STD, size=15)
        self._steps += 1
        return np.clip(self._offset + field + drift + noise, -SATURATION, SATURATION)

    def read(self, force: np.ndarray, torque: np.ndarray) -> np.ndarray:
        """Return one baseline-subtracted reading (float32, 15-D) for a wrench."""
        raw = self.raw(force, torque)
        if self._baseline is None:
            self._first.append(raw)
            if len(self._first) < BASELINE_READINGS:
                return (raw - np.median(self._first, axis=0)).astype(np.float32)
            self._baseline = np.median(self._first, axis=0)
        return (raw - self._baseline).astype(np.float32)
