"""`vitalskills` commands for sim."""

from vitalskills.cli.app import app  # noqa: F401
