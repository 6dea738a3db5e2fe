"""Compile a checked IR `Task` into an executable plan: a tree of runtime nodes.

Params (with overrides) are resolved here, includes are inlined as sequences, skills
are looked up once, and every node gets a pre-order id and a label that reads like the
task language. Located names stay names: they are resolved at run time on the
blackboard, because what `locate` finds is only known then.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from vitalskills.errors import VitalskillsError
from vitalskills.lang import ir
from vitalskills.robot import SkillSpec
from vitalskills.runtime.composites import IfFound, Sequence, TryElse
from vitalskills.runtime.decorators import Repeat, Retry, Timeout
from vitalskills.runtime.leaves import Fail, Gripper, Locate, Wait
from vitalskills.runtime.motion import Move, Reach
from vitalskills.runtime.nodes import Node
from vitalskills.runtime.skill import RunSkill

#: Look a skill up by name and optional version constraint.
SkillResolver = Callable[[str, str | None], SkillSpec]
ParamValue = ir.Text | ir.Number | ir.Quantity | ir.Vector


class PlanError(VitalskillsError):
    """The task cannot be turned into a plan (a reference the checks should have caught)."""

    code = "X002"


@dataclass
class Plan:
    """An executable plan: the root node, the task it came from, its resolved params."""

    task: str
    root: Node
    params: dict[str, ParamValue]

    @property
    def nodes(self) -> list[Node]:
        """Every node in pre-order (ids are indexes into this list)."""
        return list(self.root.walk())

    def describe(self) -> list[dict[str, object]]:
        """The plan's shape for `task_started`: id, parent, kind, label, line, file per node."""
        return [
            {
                "id": node.id,
                "parent": node.parent.id if node.parent else None,
                "kind": node.kind,
                "label": node.label,
                "line": node.span.line if node.span else None,
                "file": node.span.file if node.span else None,
            }
            for node in self.root.walk()
        ]


def fmt_quantity(quantity: ir.Quantity) -> str:
    """A quantity the way its author wrote it (`30 s`, `500 ms`)."""
    factor = ir.UNITS[quantity.unit][1] if quantity.unit in ir.UNITS else 1.0
    return f"{quantity.value / factor:g} {quantity.unit}"


def fmt_vector(vector: ir.Vector) -> str:
    """A vector the way its author wrote it (`[0, 0, 40] mm`)."""
    factor = ir.UNITS[vector.unit][1] if vector.unit in ir.UNITS else 1.0
    return "[" + ", ".join(f"{v / factor:g}" for v in vector.values) + f"] {vector.unit}"


class _Compiler:
    def __init__(self, params: dict[str, ParamValue], skills: SkillResolver) -> None:
        self.params = params
        self.skills = skills

    def error(self, message: str, node: ir.IRNode, hint: str | None = None) -> PlanError:
        location = node.span.location() if node.span else None
        return PlanError(message, location=location, hint=hint)

    def text(self, value: ir.Text | ir.Ref) -> str:
        if isinstance(value, ir.Text):
            return value.value
        param = self.params.get(value.name)
        if not isinstance(param, ir.Text):
            raise self.error(
                f"`{value.name}` is not a text param", value, 'declare `param NAME = "text"`'
            )
        return param.value

    def point(self, target: ir.Ref) -> np.ndarray | None:
        """A fixed base-frame point when `target` names a point param; None for located names."""
        param = self.params.get(target.name)
        if param is None:
            return None
        if not isinstance(param, ir.Vector) or param.dimension != "length":
            raise self.error(f"param `{target.name}` is not a point", target)
        return np.asarray(param.values)

    def block(self, label: str, statements: list[ir.Statement], span: ir.Span | None) -> Node:
        """One node for a block: the statement itself when it is alone, else a sequence."""
        nodes = [self.statement(s) for s in statements]
        if len(nodes) == 1:
            return nodes[0]
        return Sequence(label, nodes, span=span)

    def statement(self, s: ir.Statement) -> Node:
        span = s.span
        match s:
            case ir.Locate():
                query = self.text(s.query)
                label = f'locate "{query}"' + (f" as {s.name}" if s.name else "")
                if s.min_score is not None:
                    label += f" min_score {s.min_score:g}"
                return Locate(
                    label,
                    query,
                    name=s.name,
                    min_score=s.min_score,
                    grounder=s.grounder,
                    span=span,
                )
            case ir.Reach():
                offset = np.asarray(s.offset.values) if s.offset else None
                label = f"reach {s.target.name}" + (
                    f" offset {fmt_vector(s.offset)}" if s.offset else ""
                )
                point = self.point(s.target)
                name = None if point is not None else s.target.name
                return Reach(label, name=name, point=point, offset=offset, span=span)
            case ir.Move():
                label = f"move {fmt_vector(s.delta)} in {s.frame}"
                return Move(label, np.asarray(s.delta.values), s.frame, span=span)
            case ir.RunSkill():
                skill = self.skills(s.skill, s.version)
                label = f"run skill {s.skill}" + (f" at {s.at.name}" if s.at else "")
                if s.retries:
                    label += f" retries {s.retries}"
                if s.timeout:
                    label += f" timeout {fmt_quantity(s.timeout)}"
                point = self.point(s.at) if s.at else None
                return RunSkill(
                    label,
                    skill,
                    at=s.at.name if s.at and point is None else None,
                    point=point,
                    retries=s.retries,
                    timeout=s.timeout.value if s.timeout else None,
                    span=span,
                )
            case ir.Gripper():
                return Gripper(f"gripper {s.action}", s.action, span=span)
            case ir.Wait():
                return Wait(f"wait {fmt_quantity(s.duration)}", s.duration.value, span=span)
            case ir.Fail():
                return Fail(f'fail "{s.message}"', s.message, span=span)
            case ir.IfFound():
                then = self.block("then", s.then, span)
                orelse = self.block("else", s.orelse, span) if s.orelse else None
                return IfFound(f"if found {s.name}", s.name, then, orelse, span=span)
            case ir.Try():
                body = self.block("try body", s.body, span)
                orelse = self.block("else", s.orelse, span) if s.orelse else None
                return TryElse("try", body, orelse, span=span)
            case ir.Retry():
                body = self.block("body", s.body, span)
                return Retry(f"retry {s.times}", s.times, body, span=span)
            case ir.Timeout():
                body = self.block("body", s.body, span)
                label = f"timeout {fmt_quantity(s.duration)}"
                return Timeout(label, s.duration.value, body, span=span)
            case ir.Repeat():
                body = self.block("body", s.body, span)
                return Repeat(f"repeat {s.times}", s.times, body, span=span)
            case ir.Include():
                return Sequence(
                    f'include "{s.path}"', [self.statement(x) for x in s.body], span=span
                )
        raise self.error(f"cannot execute a `{s.kind}` statement", s)


def resolve_params(
    task: ir.Task, overrides: Mapping[str, ParamValue] | None = None
) -> dict[str, ParamValue]:
    """The task's params with `overrides` applied; an unknown override is an error."""
    params: dict[str, ParamValue] = {p.name: p.default for p in task.params}
    for name, value in (overrides or {}).items():
        if name not in params:
            known = ", ".join(f"`{p}`" for p in params) or "none"
            raise PlanError(
                f"task `{task.name}` has no param `{name}` (params: {known})",
                hint="override only params the task declares",
            )
        params[name] = value
    return params


def build_plan(
    task: ir.Task,
    skills: SkillResolver,
    overrides: Mapping[str, ParamValue] | None = None,
) -> Plan:
    """Compile `task` into a plan whose root is a sequence named after the task.

    Args:
        task: a checked task (includes already loaded into `Include.body`).
        skills: looks up the manifest of each `run skill`.
        overrides: param values replacing the declared defaults.

    Raises:
        PlanError: a reference that does not resolve, or an unknown override.
    """
    params = resolve_params(task, overrides)
    compiler = _Compiler(params, skills)
    root = Sequence(f"task {task.name}", [compiler.statement(s) for s in task.body])
    for index, node in enumerate(root.walk()):
        node.id = index
        for child in node.children:
            child.parent = node
    return Plan(task=task.name, root=root, params=params)
