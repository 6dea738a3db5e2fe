"""`signals.png`: tactile readings and the actions sent, over the run, skills shaded."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_signals(
    path: Path,
    tactile: np.ndarray,
    actions: np.ndarray,
    control_hz: float,
    spans: list[tuple[str, int, int | None]],
    *,
    title: str = "",
) -> None:
    """Draw tactile channels with their magnitude, and translation/gripper actions.

    Args:
        tactile: (steps, channels) readings after each action.
        actions: (steps, 7) applied actions (robot.py's convention).
        spans: (label, first step, last step) of each skill rollout, shaded.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = len(actions)
    t = np.arange(1, steps + 1) / control_hz
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True)
    if steps and tactile.size:
        top.plot(t, tactile, linewidth=0.6, alpha=0.5)
        top.plot(
            t, np.linalg.norm(tactile, axis=1), color="black", linewidth=1.6, label="|tactile|"
        )
        top.legend(loc="upper left")
    top.set_ylabel("tactile (baseline-subtracted)")
    if steps:
        for index, name in enumerate(("dx", "dy", "dz")):
            bottom.plot(t, actions[:, index] * 1000, label=f"{name} (mm)", linewidth=1.0)
        twin = bottom.twinx()
        twin.plot(t, actions[:, 6], color="grey", linestyle="--", linewidth=1.0)
        twin.set_ylabel("gripper (-1 open .. 1 close)")
        twin.set_ylim(-1.2, 1.2)
        bottom.legend(loc="upper left")
    else:
        bottom.text(0.5, 0.5, "no actions were sent", ha="center", transform=bottom.transAxes)
    bottom.set_ylabel("translation action")
    bottom.set_xlabel(f"time (s), one action per {1000 / control_hz:g} ms control period")
    for label, first, last in spans:
        end = (last if last is not None else steps) / control_hz
        for axis in (top, bottom):
            axis.axvspan(first / control_hz, end, color="tab:green", alpha=0.08)
        top.annotate(
            label,
            (first / control_hz, 1.0),
            xycoords=("data", "axes fraction"),
            fontsize=7,
            va="top",
        )
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
