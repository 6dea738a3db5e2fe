"""The `vitalskills` command line: thin commands over library code, one module per area."""

from vitalskills.cli import bridge, lang, learning, perception, sim, skills
from vitalskills.cli.app import app

__all__ = ["app", "bridge", "lang", "learning", "main", "perception", "sim", "skills"]


def main() -> None:
    """Entry point of the `vitalskills` console script."""
    app()
