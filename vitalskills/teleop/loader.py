"""Find and build the teleoperation device `--teleop` names.

`keyboard`, `spacemouse` and `gamepad` are built in; `module.path:ClassName` builds any
class that meets `TeleopDevice` (a `name`, and `open`, `reset`, `command`, `mark` and
`close`), with the options given as keyword arguments. Nothing is opened here: the
collector opens the device, so that building one never grabs a terminal or a USB port.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from vitalskills.teleop.device import TeleopDevice
from vitalskills.teleop.errors import DeviceSpecError
from vitalskills.teleop.jog import JogScale

#: The built-in devices by name: module and class.
BUILTIN: dict[str, tuple[str, str]] = {
    "keyboard": ("vitalskills.teleop.keyboard", "KeyboardDevice"),
    "spacemouse": ("vitalskills.teleop.spacemouse", "SpaceMouseDevice"),
    "gamepad": ("vitalskills.teleop.gamepad", "GamepadDevice"),
}
REQUIRED = ("name", "open", "reset", "command", "mark", "close")


def _class(module_name: str, class_name: str) -> type:
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise DeviceSpecError(
            f"cannot import teleop device module `{module_name}`: {error}",
            hint="check the module path and that it is importable (on PYTHONPATH or installed)",
        ) from None
    cls = getattr(module, class_name, None)
    if not isinstance(cls, type):
        raise DeviceSpecError(
            f"module `{module_name}` has no class `{class_name}`",
            hint="the part after `:` must name a class defined in that module",
        )
    return cls


def check_device(device: object, spec: str) -> TeleopDevice:
    """Return `device` if it meets `TeleopDevice`, else raise naming what it lacks."""
    missing = [
        member
        for member in REQUIRED
        if not hasattr(device, member)
        or (member != "name" and not callable(getattr(device, member)))
    ]
    if missing or not isinstance(device, TeleopDevice):
        raise DeviceSpecError(
            f"teleop device `{spec}` lacks {', '.join(f'`{m}`' for m in missing)}",
            hint="a device needs a `name` and the methods open, reset, command, mark and "
            "close; see vitalskills/teleop/device.py and docs/teleop.md",
        )
    return device


def load_device(
    spec: str,
    *,
    scale: JogScale | None = None,
    options: Mapping[str, Any] | None = None,
) -> TeleopDevice:
    """Build (not open) the device `spec` names.

    Args:
        spec: `keyboard`, `spacemouse`, `gamepad` or `module.path:ClassName`.
        scale: the jog step of the built-in devices (default 0.01 m, 0.1 rad per step);
            `module:Class` devices choose their own.
        options: keyword arguments for the device's constructor (strings from the
            command line's `--device-option KEY=VALUE`).

    Raises:
        TeleopError: the spec is malformed or unknown, the class is missing, its
            constructor refused the options, or the object is not a device.
    """
    kwargs = dict(options or {})
    if spec in BUILTIN:
        cls = _class(*BUILTIN[spec])
        if scale is not None:
            kwargs["scale"] = scale
    else:
        module_name, sep, class_name = spec.partition(":")
        if not sep or not module_name or not class_name:
            raise DeviceSpecError(
                f"unknown teleop device `{spec}`",
                hint=f"use one of {', '.join(BUILTIN)}, or `module.path:ClassName` for your own",
            )
        cls = _class(module_name, class_name)
    try:
        device = cls(**kwargs)
    except TypeError as error:
        raise DeviceSpecError(
            f"teleop device `{spec}` rejected its options {sorted(kwargs)}: {error}",
            hint="pass only the constructor's keyword arguments with --device-option KEY=VALUE",
        ) from None
    return check_device(device, spec)
