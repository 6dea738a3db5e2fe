"""The `vitalskills` command line: thin commands over library code, one module per area."""

from vitalskills.cli import (
    bridge,
    collect,
    dataset,
    goal,
    lang,
    learning,
    lsp,
    masks,
    perception,
    runtime,
    sim,
    skills,
)
from vitalskills.cli.app import app

# Command groups, in the order `vitalskills --help` lists them (after the plain commands).
app.add_typer(bridge.bridge_app)
app.add_typer(sim.sim_app, name="sim")
app.add_typer(skills.skills_app)
app.add_typer(learning.train_app)
app.add_typer(goal.goal_app)
app.add_typer(dataset.dataset_app)
app.add_typer(lang.tasks_app)

__all__ = [
    "app",
    "bridge",
    "collect",
    "dataset",
    "goal",
    "lang",
    "learning",
    "lsp",
    "main",
    "masks",
    "perception",
    "runtime",
    "sim",
    "skills",
]


def main() -> None:
    """Entry point of the `vitalskills` console script."""
    app()
