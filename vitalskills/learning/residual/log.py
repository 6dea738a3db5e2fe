"""The residual run's record: rows as CSV and JSON, and a plot of success over steps.

On a robot there is no evaluation on fixed seeds (it would cost robot time and need the
target moved): its rows have no evaluation figures and the plot shows training success.
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path


@dataclass
class LogRow:
    """The run's figures at one point (every `eval_every` steps, and at the end)."""

    step: int
    episodes: int
    eval_successes: int | None  # None: no evaluation (a robot's bench)
    eval_episodes: int
    eval_success_rate: float | None
    train_success_rate: float
    mean_return: float
    critic_loss: float
    alpha: float
    seconds: float
    interventions: int = 0
    skipped: int = 0  # unreachable starts


def write_log(rows: list[LogRow], folder: Path, title: str) -> list[Path]:
    """Write `log.csv`, `log.json` and `success.png` into `folder`; return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    names = [field.name for field in fields(LogRow)]
    with (folder / "log.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=names)
        writer.writeheader()
        writer.writerows(asdict(row) for row in rows)
    data = {"title": title, "rows": [asdict(row) for row in rows]}
    (folder / "log.json").write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    plot_success(rows, folder / "success.png", title)
    return [folder / "log.csv", folder / "log.json", folder / "success.png"]


def plot_success(rows: list[LogRow], path: Path, title: str) -> None:
    """Plot evaluation and training success rate (%) against environment steps."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    steps = [row.step for row in rows]
    figure, axes = plt.subplots(figsize=(6, 3.5), dpi=100)
    evaluated = [r for r in rows if r.eval_success_rate is not None]
    if evaluated:
        rates = [100 * r.eval_success_rate for r in evaluated if r.eval_success_rate is not None]
        axes.plot([r.step for r in evaluated], rates, "o-", label="evaluation")
    axes.plot(steps, [100 * r.train_success_rate for r in rows], ".--", label="training (recent)")
    axes.set_xlabel("environment steps")
    axes.set_ylabel("success rate (%)")
    axes.set_ylim(-3, 103)
    axes.set_title(title, fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
