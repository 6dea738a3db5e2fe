"""`vitalskills` commands for skills."""

from vitalskills.cli.app import app  # noqa: F401
