"""`vitalskills` commands for learning."""

from vitalskills.cli.app import app  # noqa: F401
