"""Compile a checked IR `Task` into an executable plan: a tree of runtime nodes.

Params are resolved here, wherever a value names one (`--set` overrides were applied to
the task when it compiled; an included file's params take its include's arguments),
includes are inlined as sequences, skills are looked up once, and every node gets a
pre-order id and a label: the statement's canonical `.vtl` line from the formatter, with
a text param's value in place of its name in `locate`. Located names stay names: they are
resolved at run time on the blackboard, because what `locate` finds is only known then.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from vitalskills.errors import VitalskillsError
from vitalskills.lang import ir
from vitalskills.lang.format import statement_line
from vitalskills.lang.scope import Scope
from vitalskills.lang.visit import StatementVisitor
from vitalskills.robot import SkillSpec
from vitalskills.runtime.composites import IfFound, Sequence, TryElse
from vitalskills.runtime.decorators import Repeat, Retry, Timeout
from vitalskills.runtime.leaves import Fail, Gripper, Locate, Wait
from vitalskills.runtime.motion import Move, Reach
from vitalskills.runtime.nodes import Node
from vitalskills.runtime.skill import RunSkill

#: Look a skill up by name and optional version constraint.
SkillResolver = Callable[[str, str | None], SkillSpec]
V = TypeVar("V", bound=ir.ParamValue)


class PlanError(VitalskillsError):
    """The task cannot be turned into a plan (a reference the checks should have caught)."""

    code = "X002"


@dataclass
class Plan:
    """An executable plan: the root node and the name of the task it came from."""

    task: str
    root: Node

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


class _Compiler(StatementVisitor[Node]):
    """Turn each statement into its runtime node, blocks into their children."""

    def __init__(self, scope: Scope, skills: SkillResolver) -> None:
        self.scope = scope
        self.skills = skills

    def error(self, message: str, node: ir.IRNode, hint: str | None = None) -> PlanError:
        location = node.span.location() if node.span else None
        return PlanError(message, location=location, hint=hint)

    def value(self, value: V | ir.Ref, kind: type[V]) -> V:
        """`value` as written, or the value of the param it names."""
        resolved = self.scope.resolve(value)
        if not isinstance(resolved, kind):
            assert isinstance(value, ir.Ref)
            raise self.error(f"param `{value.name}` is not a {kind.__name__.lower()}", value)
        return resolved

    def score(self, value: float | ir.Ref) -> float:
        return value if isinstance(value, float | int) else self.value(value, ir.Number).value

    def count(self, value: int | ir.Ref) -> int:
        return value if isinstance(value, int) else int(self.value(value, ir.Number).value)

    def text(self, value: str | ir.Text | ir.Ref) -> str:
        return value if isinstance(value, str) else self.value(value, ir.Text).value

    def point(self, target: ir.Ref) -> np.ndarray | None:
        """A fixed base-frame point when `target` names a point param; None for located names."""
        bound = self.scope.get(target.name)
        if bound is None:
            return None
        param = bound.value
        if not isinstance(param, ir.Vector) or param.dimension != "length":
            raise self.error(f"param `{target.name}` is not a point", target)
        return np.asarray(param.values)

    def block(self, label: str, statements: list[ir.Statement], span: ir.Span | None) -> Node:
        """One node for a block: the statement itself when it is alone, else a sequence."""
        nodes = [self.visit(s) for s in statements]
        if len(nodes) == 1:
            return nodes[0]
        return Sequence(label, nodes, span=span)

    def visit_locate(self, s: ir.Locate) -> Node:
        query = self.text(s.query)
        # The label shows a text param's value: that is what the grounder is asked.
        shown = s.model_copy(update={"query": ir.Text(value=query)})
        return Locate(
            statement_line(shown),
            query,
            name=s.name,
            min_score=None if s.min_score is None else self.score(s.min_score),
            grounder=s.grounder,
            span=s.span,
        )

    def visit_reach(self, s: ir.Reach) -> Node:
        offset = np.asarray(self.value(s.offset, ir.Vector).values) if s.offset else None
        point = self.point(s.target)
        name = None if point is not None else s.target.name
        return Reach(statement_line(s), name=name, point=point, offset=offset, span=s.span)

    def visit_move(self, s: ir.Move) -> Node:
        delta = np.asarray(self.value(s.delta, ir.Vector).values)
        return Move(statement_line(s), delta, s.frame, span=s.span)

    def visit_run_skill(self, s: ir.RunSkill) -> Node:
        skill = self.skills(s.skill, s.version)
        point = self.point(s.at) if s.at else None
        return RunSkill(
            statement_line(s),
            skill,
            at=s.at.name if s.at and point is None else None,
            point=point,
            retries=self.count(s.retries),
            timeout=self.value(s.timeout, ir.Quantity).value if s.timeout else None,
            span=s.span,
        )

    def visit_gripper(self, s: ir.Gripper) -> Node:
        return Gripper(statement_line(s), s.action, span=s.span)

    def visit_wait(self, s: ir.Wait) -> Node:
        return Wait(statement_line(s), self.value(s.duration, ir.Quantity).value, span=s.span)

    def visit_fail(self, s: ir.Fail) -> Node:
        return Fail(statement_line(s), self.text(s.message), span=s.span)

    def visit_if_found(self, s: ir.IfFound) -> Node:
        then = self.block("then", s.then, s.span)
        orelse = self.block("else", s.orelse, s.span) if s.orelse else None
        return IfFound(statement_line(s), s.name, then, orelse, span=s.span)

    def visit_try(self, s: ir.Try) -> Node:
        body = self.block("try body", s.body, s.span)
        orelse = self.block("else", s.orelse, s.span) if s.orelse else None
        return TryElse(statement_line(s), body, orelse, span=s.span)

    def visit_retry(self, s: ir.Retry) -> Node:
        body = self.block("body", s.body, s.span)
        return Retry(statement_line(s), self.count(s.times), body, span=s.span)

    def visit_timeout(self, s: ir.Timeout) -> Node:
        body = self.block("body", s.body, s.span)
        duration = self.value(s.duration, ir.Quantity).value
        return Timeout(statement_line(s), duration, body, span=s.span)

    def visit_repeat(self, s: ir.Repeat) -> Node:
        body = self.block("body", s.body, s.span)
        return Repeat(statement_line(s), self.count(s.times), body, span=s.span)

    def visit_include(self, s: ir.Include) -> Node:
        outer = self.scope
        self.scope = outer.enter(s)
        body = [self.visit(x) for x in s.body]
        self.scope = outer
        return Sequence(statement_line(s), body, span=s.span)


def build_plan(task: ir.Task, skills: SkillResolver) -> Plan:
    """Compile `task` into a plan whose root is a sequence named after the task.

    Args:
        task: a checked task (includes already loaded into `Include.body`, `--set`
            overrides already applied to its params by `compile_task`).
        skills: looks up the manifest of each `run skill`.

    Raises:
        PlanError: a param reference that does not resolve to the right kind.
    """
    compiler = _Compiler(Scope.of_task(task), skills)
    root = Sequence(f"task {task.name}", [compiler.visit(s) for s in task.body])
    for index, node in enumerate(root.walk()):
        node.id = index
        for child in node.children:
            child.parent = node
    return Plan(task=task.name, root=root)
