"""`vitalskills` commands for perception."""

from vitalskills.cli.app import app  # noqa: F401
