"""Static checks over the IR, shared by both surfaces: each returns located diagnostics.

One walk in document order tracks which names `locate` has defined so far, so a name
used before its `locate` is told apart from a name nothing defines. Skills are looked
up in the library; their sensors are compared with the robot's when one is given.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator

from vitalskills.errors import Location, VitalskillsError
from vitalskills.lang import ir
from vitalskills.lang.errors import (
    HeaderError,
    MissingSensorError,
    NoTargetError,
    ReferenceKindError,
    SkillVersionError,
    UndefinedReferenceError,
    UnitError,
    UnknownSkillError,
    UnusedParamWarning,
    UsedBeforeLocateError,
    ValueRangeError,
    VersionSyntaxError,
)
from vitalskills.lang.skill_lookup import SkillLookup, SkillNeeds
from vitalskills.lang.visit import StatementWalker
from vitalskills.robot import RobotCapabilities


def _where(node: ir.IRNode, field: str | None = None) -> Location | None:
    span = node.field_spans.get(field) if field else None
    span = span or node.span
    return span.location() if span else None


class _LocatedNames(StatementWalker):
    def __init__(self) -> None:
        self.names: set[str] = set()

    def visit_locate(self, statement: ir.Locate) -> None:
        if statement.name:
            self.names.add(statement.name)


def located_names(body: list[ir.Statement]) -> set[str]:
    """Return every name any `locate ... as NAME` in `body` (at any depth) defines."""
    walker = _LocatedNames()
    walker.walk(body)
    return walker.names


class _Checker(StatementWalker):
    """Check each statement in document order; kinds without checks of their own are walked."""

    def __init__(
        self, task: ir.Task, library: SkillLookup | None, robot: RobotCapabilities | None
    ) -> None:
        self.task = task
        self.library = library
        self.robot = robot
        self.errors: list[VitalskillsError] = []
        self.params = {param.name: param for param in task.params}
        self.all_located = located_names(task.body)
        self.defined: set[str] = set()
        self.any_locate = False

    def error(self, error: VitalskillsError) -> None:
        self.errors.append(error)

    # ------------------------------------------------------------ values

    def unit(self, value: ir.Quantity | ir.Vector, want: ir.UnitKind, what: str) -> None:
        if value.dimension != want:
            examples = {
                "time": "`ms` or `s`",
                "length": "`mm`, `cm` or `m`",
                "angle": "`deg` or `rad`",
            }
            self.error(
                UnitError(
                    f"{what} needs a {want}, but `{value.unit}` is a {value.dimension} unit",
                    location=_where(value),
                    hint=f"use {examples[want]}",
                )
            )

    def positive_time(self, value: ir.Quantity, what: str) -> None:
        self.unit(value, "time", what)
        if value.dimension == "time" and value.value <= 0:
            self.error(
                ValueRangeError(
                    f"{what} must be positive",
                    location=_where(value),
                    hint="use a duration above zero",
                )
            )

    def count(self, node: ir.IRNode, value: int, what: str, minimum: int) -> None:
        if value < minimum:
            self.error(
                ValueRangeError(
                    f"{what} must be at least {minimum}, got {value}",
                    location=_where(node, "times"),
                )
            )

    # ------------------------------------------------------------ names

    def target(self, ref: ir.Ref, what: str) -> None:
        """A motion target: a located name, or a param holding a fixed base-frame point."""
        param = self.params.get(ref.name)
        if param is None or ref.name in self.all_located:
            self.located(ref, what)
            return
        default = param.default
        if not (isinstance(default, ir.Vector) and default.dimension == "length"):
            self.error(
                ReferenceKindError(
                    f"{what} needs a located name or a point param, "
                    f"but param `{ref.name}` is a {_kind_of(default)}",
                    location=_where(ref),
                    hint=f"locate it first: `locate {ref.name} as NAME`, then use NAME",
                )
            )

    def located(self, ref: ir.Ref, what: str) -> None:
        name = ref.name
        if name in self.params and name not in self.all_located:
            self.error(
                ReferenceKindError(
                    f"{what} needs a located name, but `{name}` is a param",
                    location=_where(ref),
                    hint=f"locate it first: `locate {name} as NAME`, then use NAME",
                )
            )
        elif name in self.defined:
            return
        elif name in self.all_located:
            self.error(
                UsedBeforeLocateError(
                    f"`{name}` is used before any `locate` defines it",
                    location=_where(ref),
                    hint=f"move the `locate ... as {name}` step above this line",
                )
            )
        else:
            self.undefined(name, _where(ref))

    def undefined(self, name: str, where: Location | None) -> None:
        choices = sorted(self.all_located | set(self.params))
        close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
        self.error(
            UndefinedReferenceError(
                f"undefined name `{name}`",
                location=where,
                hint=f"did you mean `{close[0]}`?"
                if close
                else f'define it with `locate "..." as {name}`',
            )
        )

    # ------------------------------------------------------------ statements

    def task_level(self) -> None:
        seen: dict[str, ir.Param] = {}
        for param in self.task.params:
            if param.name in seen:
                self.error(
                    HeaderError(
                        f"param `{param.name}` is declared twice",
                        location=_where(param, "name"),
                        hint="keep one declaration",
                    )
                )
            seen[param.name] = param
            if param.name in self.all_located:
                self.error(
                    ReferenceKindError(
                        f"`{param.name}` is both a param and a located name",
                        location=_where(param, "name"),
                        hint="rename one of them",
                    )
                )

    def visit_locate(self, node: ir.Locate) -> None:
        if isinstance(node.query, ir.Ref):
            name = node.query.name
            param = self.params.get(name)
            if param is None:
                if name in self.all_located:
                    self.error(
                        ReferenceKindError(
                            f"`locate` needs text or a text param, but `{name}` is a located name",
                            location=_where(node.query),
                            hint='write the query in double quotes, e.g. `locate "power strip"`',
                        )
                    )
                else:
                    self.undefined(name, _where(node.query))
            elif not isinstance(param.default, ir.Text):
                self.error(
                    ReferenceKindError(
                        f"`locate` needs text, but param `{name}` is a {_kind_of(param.default)}",
                        location=_where(node.query),
                        hint=f'declare it as text: `param {name} = "..."`',
                    )
                )
        if node.min_score is not None and not 0.0 <= node.min_score <= 1.0:
            self.error(
                ValueRangeError(
                    f"`min_score` must be between 0 and 1, got {node.min_score:g}",
                    location=_where(node, "min_score"),
                )
            )
        if node.name:
            self.defined.add(node.name)
        self.any_locate = True

    def visit_reach(self, node: ir.Reach) -> None:
        self.target(node.target, "`reach`")
        if node.offset is not None:
            self.unit(node.offset, "length", "`offset`")

    def visit_move(self, node: ir.Move) -> None:
        self.unit(node.delta, "length", "`move`")

    def visit_run_skill(self, node: ir.RunSkill) -> None:
        if node.at is not None:
            self.target(node.at, "`run skill ... at`")
        elif not self.any_locate:
            self.error(
                NoTargetError(
                    f"`run skill {node.skill}` has no target: no `locate` comes before it",
                    location=_where(node, "skill"),
                    hint="add a `locate` step above it, or `at NAME`",
                )
            )
        if node.retries < 0:
            self.error(
                ValueRangeError(
                    f"`retries` must be 0 or more, got {node.retries}",
                    location=_where(node, "retries"),
                )
            )
        if node.timeout is not None:
            self.positive_time(node.timeout, "`timeout`")
        manifest = self.skill(node)
        if manifest is not None and self.robot is not None:
            self.sensors(node, manifest)

    def skill(self, node: ir.RunSkill) -> SkillNeeds | None:
        if self.library is None:
            return None
        try:
            manifest = self.library.get(node.skill, node.version)
        except (UnknownSkillError, SkillVersionError, VersionSyntaxError) as error:
            field = "version" if error.code in ("E201", "E202") else "skill"
            self.error(error.at(_where(node, field)))
            return None
        try:
            manifest.check_weights()
        except VitalskillsError as error:  # weights missing or changed: fail now, not mid-run
            where = _where(node, "skill")
            self.error(type(error)(error.message, location=where, hint=error.hint, code=error.code))
        return manifest

    def sensors(self, node: ir.RunSkill, manifest: SkillNeeds) -> None:
        robot = self.robot
        assert robot is not None
        where = _where(node, "skill")
        has = ", ".join(robot.sensors) or "no sensors"
        for sensor in manifest.sensors:
            if sensor not in robot.sensors:
                self.error(
                    MissingSensorError(
                        f"skill `{manifest.name}` needs sensor `{sensor}`, "
                        f"which robot `{robot.name}` lacks",
                        location=where,
                        hint=f"robot `{robot.name}` has: {has}",
                    )
                )
        tactile = manifest.observation.tactile_dim
        if tactile and robot.tactile_dim not in (None, tactile) and "tactile" in robot.sensors:
            self.error(
                MissingSensorError(
                    f"skill `{manifest.name}` needs {tactile} tactile values, "
                    f"robot `{robot.name}` gives {robot.tactile_dim}",
                    location=where,
                )
            )
        if manifest.action.dim != robot.action_dim:
            self.error(
                MissingSensorError(
                    f"skill `{manifest.name}` acts in {manifest.action.dim} dimensions, "
                    f"robot `{robot.name}` takes {robot.action_dim}",
                    location=where,
                )
            )

    def visit_wait(self, node: ir.Wait) -> None:
        self.unit(node.duration, "time", "`wait`")
        if node.duration.dimension == "time" and node.duration.value < 0:
            self.error(
                ValueRangeError("`wait` must not be negative", location=_where(node.duration))
            )

    def visit_if_found(self, node: ir.IfFound) -> None:
        self.located(
            ir.Ref(name=node.name, span=node.field_spans.get("name") or node.span), "`if found`"
        )
        super().visit_if_found(node)

    def visit_retry(self, node: ir.Retry) -> None:
        self.count(node, node.times, "`retry`", 1)
        super().visit_retry(node)

    def visit_repeat(self, node: ir.Repeat) -> None:
        self.count(node, node.times, "`repeat`", 1)
        super().visit_repeat(node)

    def visit_timeout(self, node: ir.Timeout) -> None:
        self.positive_time(node.duration, "`timeout`")
        super().visit_timeout(node)


def _kind_of(value: ir.IRNode) -> str:
    """Describe a param's value kind: `text`, `number`, `time quantity`, `angle vector`."""
    if isinstance(value, ir.Quantity | ir.Vector):
        return f"{value.dimension} {value.kind}"
    return str(getattr(value, "kind", "value"))


def check_task(
    task: ir.Task,
    *,
    library: SkillLookup | None,
    robot: RobotCapabilities | None = None,
) -> list[VitalskillsError]:
    """Return every problem in `task` in document order (empty when it is fine).

    Args:
        task: a parsed task, includes resolved.
        library: skills to resolve `run skill` against; None skips skill checks.
        robot: the robot to run on; None skips sensor checks.
    """
    checker = _Checker(task, library, robot)
    checker.task_level()
    checker.walk(task.body)
    files: dict[str, int] = {}
    for error in checker.errors:
        files.setdefault(error.location.file if error.location else "", len(files))
    return sorted(checker.errors, key=lambda e: _order(e, files))


def _order(error: VitalskillsError, files: dict[str, int]) -> tuple[int, int, int]:
    """Sort by file (in order of first appearance), then line and column."""
    loc = error.location
    return (files[loc.file], loc.line, loc.column) if loc else (files[""], 0, 0)


def _refs(node: object) -> Iterator[str]:
    """Every name an IR node refers to (`ir.Ref`), at any depth."""
    if isinstance(node, ir.Ref):
        yield node.name
    elif isinstance(node, ir.IRNode):
        for field in type(node).model_fields:
            yield from _refs(getattr(node, field))
    elif isinstance(node, list | tuple):
        for item in node:
            yield from _refs(item)


def unused_params(task: ir.Task) -> list[VitalskillsError]:
    """A warning for each param the task never uses (`W100`), at its declaration."""
    used = set(_refs(task.body))
    return [
        UnusedParamWarning(
            f"param `{param.name}` is declared but never used",
            location=param.span.location() if param.span else None,
            hint="use it, or remove the declaration: a `--set` on it changes nothing",
        )
        for param in task.params
        if param.name not in used
    ]
