"""The teleoperation layer's errors: a device that is missing, unusable or misnamed."""

from __future__ import annotations

from vitalskills.errors import UsageError, VitalskillsError


class TeleopError(VitalskillsError):
    """A teleoperation device cannot be found, opened or used; the hint says what to do.

    `T001`: the device or its driver package is missing, or it cannot be opened.
    """

    code = "T001"


class DeviceSpecError(TeleopError, UsageError):
    """`--teleop` or a device setting names nothing usable (a usage error: nothing ran).

    `T002`: the spec names no usable device; `T003`: a bad device setting.
    """

    code = "T002"
