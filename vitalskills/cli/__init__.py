"""The `vitalskills` command line: thin commands over library code, one module per area."""

from vitalskills.cli import bridge, lang, learning, perception, runtime, sim, skills
from vitalskills.cli.app import app

__all__ = ["app", "bridge", "lang", "learning", "main", "perception", "runtime", "sim", "skills"]


def main() -> None:
    """Entry point of the `vitalskills` console script."""
    app()
