"""Errors a user can cause while locating: missing weights, unknown grounders, bad frames."""

from __future__ import annotations

from vitalskills.errors import VitalskillsError


class PerceptionError(VitalskillsError):
    """A grounder could not be built or run because of its inputs or configuration."""

    code = "P001"


class WeightsNotFound(PerceptionError):
    """A model file or directory named in the configuration is not on this machine."""

    code = "P002"


class UnknownGrounder(PerceptionError):
    """A task or command named a grounder that is neither configured nor built in."""

    code = "P003"


class BadFrame(PerceptionError):
    """An RGB-D frame or camera model has the wrong shape, type or values."""

    code = "P004"


class BadConfig(PerceptionError):
    """The grounders section of the user config file does not validate."""

    code = "P005"
