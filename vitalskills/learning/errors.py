"""Errors a user can cause while collecting, training, packaging or evaluating skills."""

from __future__ import annotations

from vitalskills.errors import VitalskillsError


class LearningError(VitalskillsError):
    """Base of the learning pipeline's errors."""

    code = "L001"


class DatasetError(LearningError):
    """A demonstration dataset is missing, corrupt, or does not match what was asked."""

    code = "L002"


class PolicyConfigError(LearningError):
    """A policy configuration has a bad value (the field and value are named)."""

    code = "L003"


class PolicyPackageError(LearningError):
    """A packaged policy folder is incomplete, corrupt, or does not match its config."""

    code = "L004"


class TrainingError(LearningError):
    """Training cannot start or resume (bad data, mismatched checkpoint, bad options)."""

    code = "L005"
