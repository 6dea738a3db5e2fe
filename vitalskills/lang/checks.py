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
    IncludeArgumentError,
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
from vitalskills.lang.scope import Bound, Scope, kind_of, same_kind
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
        self.scope = Scope.of_task(task)
        self.all_located = located_names(task.body)
        self.defined: set[str] = set()
        self.any_locate = False
        #: The includes being checked, outermost first: each error inside one names them.
        self.chain: list[ir.Include] = []

    def error(self, error: VitalskillsError) -> None:
        if self.chain and not error.notes:
            error.notes = tuple(
                f"in `{include.path}`, included at {where}"
                for include in reversed(self.chain)
                if (where := _where(include)) is not None
            )
        self.errors.append(error)

    # ------------------------------------------------------------ params in values

    def value(
        self, value: object, want: type[ir.ParamValue], what: str, dimension: str | None = None
    ) -> object:
        """`value` as written, or the value of the param it names, located at the use.

        A name that is no param, or a param of another kind, is an error at the use (its
        hint shows the declaration); then None is returned and checks of the value skip.
        """
        if not isinstance(value, ir.Ref):
            return value
        bound = self.scope.get(value.name)
        need = f"a {dimension} {want.__name__.lower()}" if dimension else _a(want)
        if bound is None:
            if value.name in self.all_located:
                self.error(
                    ReferenceKindError(
                        f"{what} needs {need}, but `{value.name}` is a located name",
                        location=_where(value),
                        hint=f"declare a param: `param NAME = ...`, then use it in {what}",
                    )
                )
            else:
                self.undefined(value.name, _where(value), _meant(value.name, want))
            return None
        found = bound.value
        wrong_dimension = dimension and getattr(found, "dimension", dimension) != dimension
        if not isinstance(found, want) or wrong_dimension:
            self.error(
                ReferenceKindError(
                    f"{what} needs {need}, but param `{value.name}` is a {kind_of(found)}",
                    location=_where(value),
                    hint=self.declared(value.name, bound),
                )
            )
            return None
        return found.model_copy(update={"span": value.span})

    def declared(self, name: str, bound: Bound) -> str:
        return _declared(name, bound, top_level=any(bound.param is p for p in self.task.params))

    def whole(self, value: object, what: str) -> int | None:
        """A count: an int as written, or a param's number that must be whole."""
        if isinstance(value, int):
            return value
        resolved = self.value(value, ir.Number, what)
        if not isinstance(resolved, ir.Number):
            return None
        if resolved.value != int(resolved.value):
            assert isinstance(value, ir.Ref)
            self.error(
                ValueRangeError(
                    f"{what} needs a whole number, but param `{value.name}` is {resolved.value:g}",
                    location=_where(value),
                    hint=self.declared(value.name, self.scope[value.name]),
                )
            )
            return None
        return int(resolved.value)

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

    def count(self, node: ir.IRNode, field: str, what: str, minimum: int) -> None:
        written = getattr(node, field)
        value = self.whole(written, what)
        if value is not None and value < minimum:
            where = _where(written) if isinstance(written, ir.Ref) else _where(node, field)
            message = f"{what} must be at least {minimum}, got {value}"
            self.error(ValueRangeError(message, location=where))

    # ------------------------------------------------------------ names

    def target(self, ref: ir.Ref, what: str) -> None:
        """A motion target: a located name, or a param holding a fixed base-frame point."""
        bound = self.scope.get(ref.name)
        if bound is None or ref.name in self.all_located:
            self.located(ref, what)
            return
        default = bound.value
        if not (isinstance(default, ir.Vector) and default.dimension == "length"):
            self.error(
                ReferenceKindError(
                    f"{what} needs a located name or a point param, "
                    f"but param `{ref.name}` is a {kind_of(default)}",
                    location=_where(ref),
                    hint=f"locate it first: `locate {ref.name} as NAME`, then use NAME",
                )
            )

    def located(self, ref: ir.Ref, what: str) -> None:
        name = ref.name
        if name in self.scope and name not in self.all_located:
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

    def undefined(self, name: str, where: Location | None, meant: str | None = None) -> None:
        """A name nothing defines; `meant` is a hint for what was probably written instead."""
        choices = sorted(self.all_located | set(self.scope))
        close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
        if name in ir.UNITS or not close:
            hint = meant or f'define it with `locate "..." as {name}`'
        else:
            hint = f"did you mean `{close[0]}`?"
        self.error(UndefinedReferenceError(f"undefined name `{name}`", location=where, hint=hint))

    # ------------------------------------------------------------ statements

    def task_level(self) -> None:
        self.declarations(self.task.params)

    def declarations(self, params: list[ir.Param]) -> None:
        """Each param declared once, and not also a located name."""
        seen: dict[str, ir.Param] = {}
        for param in params:
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
            bound = self.scope.get(name)
            if bound is None:
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
            elif not isinstance(bound.value, ir.Text):
                self.error(
                    ReferenceKindError(
                        f"`locate` needs text, but param `{name}` is a {kind_of(bound.value)}",
                        location=_where(node.query),
                        hint=f'declare it as text: `param {name} = "..."`',
                    )
                )
        score = node.min_score
        if isinstance(score, ir.Ref):
            resolved = self.value(score, ir.Number, "`min_score`")
            score = resolved.value if isinstance(resolved, ir.Number) else None
        if score is not None and not 0.0 <= score <= 1.0:
            self.error(
                ValueRangeError(
                    f"`min_score` must be between 0 and 1, got {score:g}",
                    location=_where(node, "min_score"),
                )
            )
        if node.name:
            self.defined.add(node.name)
        self.any_locate = True

    def visit_reach(self, node: ir.Reach) -> None:
        self.target(node.target, "`reach`")
        offset = self.value(node.offset, ir.Vector, "`offset`", "length")
        if isinstance(offset, ir.Vector):
            self.unit(offset, "length", "`offset`")

    def visit_move(self, node: ir.Move) -> None:
        delta = self.value(node.delta, ir.Vector, "`move`", "length")
        if isinstance(delta, ir.Vector):
            self.unit(delta, "length", "`move`")

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
        self.count(node, "retries", "`retries`", 0)
        timeout = self.value(node.timeout, ir.Quantity, "`timeout`", "time")
        if isinstance(timeout, ir.Quantity):
            self.positive_time(timeout, "`timeout`")
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
        duration = self.value(node.duration, ir.Quantity, "`wait`", "time")
        if not isinstance(duration, ir.Quantity):
            return
        self.unit(duration, "time", "`wait`")
        if duration.dimension == "time" and duration.value < 0:
            self.error(ValueRangeError("`wait` must not be negative", location=_where(duration)))

    def visit_fail(self, node: ir.Fail) -> None:
        self.value(node.message, ir.Text, "`fail`")

    def visit_if_found(self, node: ir.IfFound) -> None:
        self.located(
            ir.Ref(name=node.name, span=node.field_spans.get("name") or node.span), "`if found`"
        )
        super().visit_if_found(node)

    def visit_retry(self, node: ir.Retry) -> None:
        self.count(node, "times", "`retry`", 1)
        super().visit_retry(node)

    def visit_repeat(self, node: ir.Repeat) -> None:
        self.count(node, "times", "`repeat`", 1)
        super().visit_repeat(node)

    def visit_timeout(self, node: ir.Timeout) -> None:
        duration = self.value(node.duration, ir.Quantity, "`timeout`", "time")
        if isinstance(duration, ir.Quantity):
            self.positive_time(duration, "`timeout`")
        super().visit_timeout(node)

    def visit_include(self, node: ir.Include) -> None:
        self.arguments(node)
        outer = self.scope
        self.chain.append(node)
        self.declarations(node.params)
        self.scope = outer.enter(node)
        super().visit_include(node)
        self.scope = outer
        self.chain.pop()

    def arguments(self, node: ir.Include) -> None:
        """Each argument names a param of the included file and has its kind."""
        declared = {param.name: param for param in node.params}
        for arg in node.args:
            param = declared.get(arg.name)
            if param is None:
                close = difflib.get_close_matches(arg.name, list(declared), n=1, cutoff=0.6)
                known = ", ".join(f"`{name}`" for name in declared)
                self.error(
                    IncludeArgumentError(
                        f"`{node.path}` has no param `{arg.name}`",
                        location=_where(arg, "name"),
                        hint=f"did you mean `{close[0]}`?"
                        if close
                        else (f"its params: {known}" if known else "it declares no params"),
                    )
                )
                continue
            value = self.value(arg.value, type(param.default), f"argument `{arg.name}`")
            if isinstance(value, ir.IRNode) and not same_kind(value, param.default):
                self.error(
                    IncludeArgumentError(
                        f"argument `{arg.name}` needs a {kind_of(param.default)}, "
                        f"like its default in `{node.path}`, but got a {kind_of(value)}",
                        location=_where(arg.value),
                        hint=_declared(arg.name, Bound(param.default, param), top_level=False),
                    )
                )


def _meant(name: str, want: type[ir.ParamValue]) -> str | None:
    """What an undefined name in a value's place probably meant."""
    if name in ir.UNITS:
        return f"a number goes before the unit, e.g. `500 {name}`"
    if want is ir.Text:
        return f'write text in double quotes: `"{name}"`, or declare `param {name} = "..."`'
    return f"declare it: `param {name} = ...`, or write the value in its place"


def _a(want: type[ir.ParamValue]) -> str:
    """`a number`, `a text`, ... for a value class."""
    return {ir.Text: "text", ir.Number: "a number"}.get(want, f"a {want.__name__.lower()}")


def _declared(name: str, bound: Bound, top_level: bool) -> str:
    """Where a param is declared and how to change it, for a hint."""
    where = _where(bound.param)
    at = f" at {where.file}:{where.line}" if where else ""
    how = "there or with `--set`" if top_level else f"there or with `include ... with {name} = ...`"
    return f"param `{name}` is declared{at} as a {kind_of(bound.value)}: change it {how}"


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


class _Includes(StatementWalker):
    def __init__(self) -> None:
        self.includes: list[ir.Include] = []

    def visit_include(self, statement: ir.Include) -> None:
        self.includes.append(statement)
        super().visit_include(statement)


def unused_params(task: ir.Task) -> list[VitalskillsError]:
    """A warning for each param never used (`W100`), at its declaration: the task's
    anywhere in it, an included file's inside that file."""
    walker = _Includes()
    walker.walk(task.body)
    declared = [(param, set(_refs(task.body))) for param in task.params]
    for include in walker.includes:
        used = set(_refs(include.body))
        declared.extend((param, used) for param in include.params)
    warnings: dict[Location | None, VitalskillsError] = {}
    for param, used in declared:
        where = param.span.location() if param.span else None
        if param.name not in used and where not in warnings:
            warnings[where] = UnusedParamWarning(
                f"param `{param.name}` is declared but never used",
                location=where,
                hint="use it, or remove the declaration: a `--set` on it changes nothing",
            )
    return list(warnings.values())
