"""Compile a task file: parse, apply `--set` overrides, run every check.

`compile_task` is what the runtime and every command call; it either returns a checked
Task or raises `CheckFailed` holding all diagnostics (a usage mistake such as a missing
file or a bad `--set` raises its own `UsageError` instead, which exits 2).
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from pathlib import Path

from vitalskills.errors import VitalskillsError
from vitalskills.lang import ir
from vitalskills.lang.checks import check_task, unused_params
from vitalskills.lang.errors import CheckFailed, LangError, OverrideError
from vitalskills.lang.loader import parse_file
from vitalskills.lang.skill_lookup import SkillLookup
from vitalskills.robot import RobotCapabilities

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_QUANTITY = re.compile(rf"\s*({_NUMBER})\s*([A-Za-z]+)\s*")
_VECTOR = re.compile(
    rf"\s*\[\s*({_NUMBER})\s*,\s*({_NUMBER})\s*,\s*({_NUMBER})\s*\]\s*([A-Za-z]+)\s*"
)


def parse_override(text: str) -> tuple[str, str]:
    """Split `name=value` from the command line, or raise `OverrideError`."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise OverrideError(
            f"`--set {text}` is not `name=value`", hint='write e.g. `--set target="wall socket"`'
        )
    return name.strip(), value


def _bad(name: str, value: str, kind: str, example: str) -> OverrideError:
    return OverrideError(
        f"`--set {name}={value}`: param `{name}` is {kind}",
        hint=f"write e.g. `--set {name}={example}`",
    )


def _override_value(param: ir.Param, value: str) -> ir.Text | ir.Number | ir.Quantity | ir.Vector:
    default = param.default
    name = param.name
    if isinstance(default, ir.Text):
        return ir.Text(value=value)
    if isinstance(default, ir.Number):
        try:
            number = float(value)
        except ValueError:
            raise _bad(name, value, "a number", "0.5") from None
        if not math.isfinite(number):
            raise _bad(name, value, "a finite number", "0.5")
        return ir.Number(value=number)
    unit_example = {"length": "mm", "time": "s", "angle": "deg"}[default.dimension]
    if isinstance(default, ir.Quantity):
        match = _QUANTITY.fullmatch(value)
        unit = match.group(2) if match else ""
        if not match or ir.UNITS.get(unit, ("",))[0] != default.dimension:
            raise _bad(name, value, f"a {default.dimension}", f"'10 {unit_example}'")
        kind, factor = ir.UNITS[unit]
        return ir.Quantity(value=float(match.group(1)) * factor, unit=unit, dimension=kind)
    match = _VECTOR.fullmatch(value)
    unit = match.group(4) if match else ""
    if not match or ir.UNITS.get(unit, ("",))[0] != default.dimension:
        raise _bad(name, value, f"a {default.dimension} vector", f"'[0, 0, 10] {unit_example}'")
    kind, factor = ir.UNITS[unit]
    values = [float(match.group(i)) * factor for i in (1, 2, 3)]
    return ir.Vector(values=values, unit=unit, dimension=kind)


def apply_overrides(task: ir.Task, overrides: Mapping[str, str]) -> ir.Task:
    """Replace params' defaults with `--set` values, parsed as the default's kind."""
    params = {param.name: param for param in task.params}
    for name, value in overrides.items():
        param = params.get(name)
        if param is None:
            close = difflib.get_close_matches(name, list(params), n=1, cutoff=0.6)
            known = ", ".join(f"`{p}`" for p in params) or "none"
            raise OverrideError(
                f"`--set {name}=...`: task `{task.name}` has no param `{name}`",
                hint=f"did you mean `{close[0]}`?" if close else f"params: {known}",
            )
        new = _override_value(param, value)
        new.span = param.default.span
        param.default = new
    return task


def compile_task(
    path: Path,
    *,
    library: SkillLookup | None,
    robot: RobotCapabilities | None = None,
    overrides: Mapping[str, str] | None = None,
    warnings: list[VitalskillsError] | None = None,
    source: str | None = None,
) -> ir.Task:
    """Parse `path`, apply overrides and check it against the library and robot.

    Args:
        path: a `.vtl` or `.yaml`/`.yml` task file.
        library: the skills to resolve `run skill` against, usually
            `vitalskills.skills.default_library(...)`; None skips skill checks.
        robot: the robot's capabilities, for sensor checks; None skips them.
        overrides: `--set` values by param name, as written on the command line.
        warnings: when given, diagnostics that do not stop the task (`W1xx`, such as an
            unused param) are appended to it.
        source: the file's text, when an editor holds a newer one than the disk.

    Raises:
        CheckFailed: every diagnostic, parse errors included.
        UsageError: the file does not exist, or an override is wrong.
    """
    try:
        task = parse_file(Path(path), source=source)
    except LangError as error:
        raise CheckFailed([error]) from None
    if overrides:
        apply_overrides(task, overrides)
    errors = check_task(task, library=library, robot=robot)
    if errors:
        raise CheckFailed(errors)
    if warnings is not None:
        warnings.extend(unused_params(task))
    return task
