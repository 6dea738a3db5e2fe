"""Find and build the robot-side driver a bridge server serves.

A driver is any object with `capabilities`, `reset`, `observe`, `act` and `stop`
(the `Robot` methods; `scene`, `close`, `commanded_pose`, `operator` and
`operator_state` are optional). `--driver` names one: `sim:TASK` is the MuJoCo
simulator (`--hardware`: served as a real robot), `module.path:ClassName` a user's class.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np

from vitalskills.errors import VitalskillsError
from vitalskills.robot import Observation, RobotCapabilities

REQUIRED_METHODS = ("capabilities", "reset", "observe", "act", "stop")


class DriverError(VitalskillsError):
    """A driver could not be found, built or used."""

    code = "R020"


@runtime_checkable
class Driver(Protocol):
    """The robot side of the bridge; see docs/drivers.md and `driver_template.py`."""

    def capabilities(self) -> RobotCapabilities: ...

    def reset(self, seed: int | None = None) -> Observation: ...

    def observe(self) -> Observation: ...

    def act(self, action: np.ndarray) -> np.ndarray: ...

    def stop(self) -> None: ...


def load_driver(
    spec: str,
    *,
    condition: str = "canonical",
    seed: int | None = None,
    distractors: int | None = None,
    options: Mapping[str, Any] | None = None,
    hardware: bool = False,
    green_screen: bool = False,
) -> Driver:
    """Build the driver named by `spec` (`sim:TASK` or `module.path:ClassName`).

    Args:
        spec: which driver.
        condition, seed, distractors: simulator settings (`sim:` only).
        options: keyword arguments for a user driver's constructor.
        hardware: serve the simulator as a real robot (`HardwareSim`: nothing
            privileged, one scene per session, no teleporting resets; `sim:` only).
        green_screen: a chroma-green table and wall (`sim:` with `hardware` only).

    Raises:
        DriverError: the spec is malformed, the class is missing or incomplete, or
            its constructor failed.
    """
    kind, sep, name = spec.partition(":")
    if not sep or not kind or not name:
        raise DriverError(
            f"driver `{spec}` is not `sim:TASK` or `module.path:ClassName`",
            hint="e.g. `--driver sim:plug_in_socket` or `--driver my_arm.driver:XArmDriver`",
        )
    if kind == "sim":
        if green_screen and not hardware:
            raise DriverError(
                "--green-screen needs --hardware",
                hint="the green backdrop is for demonstration scenes: "
                f"`--driver {spec} --hardware --green-screen`",
            )
        if hardware:
            from vitalskills.sim import HardwareSim

            driver: Any = HardwareSim(
                name,
                condition=condition,
                seed=seed,
                distractors=distractors,
                green_screen=green_screen,
            )
        else:
            from vitalskills.sim import SimRobot

            driver = SimRobot(name, condition=condition, seed=seed, distractors=distractors)
    else:
        if condition != "canonical" or seed is not None or distractors is not None:
            raise DriverError(
                "--condition, --seed and --distractors apply only to `sim:` drivers",
                hint="pass settings to your driver with `--option KEY=VALUE`",
            )
        if hardware or green_screen:
            raise DriverError(
                "--hardware and --green-screen apply only to `sim:` drivers",
                hint="a real robot is hardware already: leave them out",
            )
        driver = _build_user_driver(kind, name, dict(options or {}))
    check_driver(driver, spec)
    return driver


def _build_user_driver(module_name: str, class_name: str, options: dict[str, Any]) -> Any:
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise DriverError(
            f"cannot import driver module `{module_name}`: {error}",
            hint="check the module path and that it is importable (on PYTHONPATH or installed)",
        ) from None
    cls = getattr(module, class_name, None)
    if cls is None or not callable(cls):
        raise DriverError(
            f"module `{module_name}` has no class `{class_name}`",
            hint="the part after `:` must name a class defined in that module",
        )
    try:
        return cls(**options)
    except TypeError as error:
        raise DriverError(
            f"driver `{module_name}:{class_name}` rejected its options {sorted(options)}: {error}",
            hint="pass only the constructor's keyword arguments with `--option KEY=VALUE`",
        ) from None


def check_driver(driver: object, spec: str) -> None:
    """Raise `DriverError` when `driver` lacks one of the required methods."""
    missing = [m for m in REQUIRED_METHODS if not callable(getattr(driver, m, None))]
    if missing:
        raise DriverError(
            f"driver `{spec}` lacks method(s) {', '.join(missing)}",
            hint="a driver needs capabilities, reset, observe, act and stop; see docs/drivers.md",
        )
