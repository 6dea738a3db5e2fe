"""`vitalskills` commands for lang."""

from vitalskills.cli.app import app  # noqa: F401
