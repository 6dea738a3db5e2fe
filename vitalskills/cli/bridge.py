"""`vitalskills` commands for bridge."""

from vitalskills.cli.app import app  # noqa: F401
