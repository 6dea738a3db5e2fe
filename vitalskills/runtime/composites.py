"""Composites: nodes that only route ticks to their children and combine statuses.

Halting a composite halts its running child (the base node's `on_halt`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vitalskills.lang.ir import Span
from vitalskills.runtime.nodes import Node, Status

if TYPE_CHECKING:
    from vitalskills.runtime.context import ExecutionContext


def cause(child: Node) -> str:
    """The sentence a parent repeats when `child` failed: the root cause, said once."""
    if child.children:
        return child.reason
    return f"`{child.label}` failed: {child.reason}"


class Sequence(Node):
    """Run children in order; fail at the first failure, succeed when all succeed."""

    kind = "sequence"

    def __init__(self, label: str, children: list[Node], *, span: Span | None = None) -> None:
        super().__init__(label, span=span)
        self._children = children
        self.index = 0

    @property
    def children(self) -> list[Node]:
        return self._children

    def initialise(self, ctx: ExecutionContext) -> None:
        self.index = 0

    def update(self, ctx: ExecutionContext) -> Status:
        total = len(self._children)
        while self.index < total:
            child = self._children[self.index]
            status = child.tick(ctx)
            if status is Status.RUNNING:
                return self.running(f"running step {self.index + 1} of {total}: {child.label}")
            if status is Status.FAILURE:
                return self.failure(cause(child))
            self.index += 1
        return self.success(f"all {total} steps succeeded" if total != 1 else "its step succeeded")


class TryElse(Node):
    """Run `body`; if it fails, run `orelse`, whose outcome becomes the result.

    Without an else branch a failed body is caught and the try succeeds.
    """

    kind = "try"

    def __init__(
        self, label: str, body: Node, orelse: Node | None, *, span: Span | None = None
    ) -> None:
        super().__init__(label, span=span)
        self.body = body
        self.orelse = orelse
        self.in_else = False
        self.caught = ""

    @property
    def children(self) -> list[Node]:
        return [self.body] if self.orelse is None else [self.body, self.orelse]

    def initialise(self, ctx: ExecutionContext) -> None:
        self.in_else = False
        self.caught = ""

    def update(self, ctx: ExecutionContext) -> Status:
        if not self.in_else:
            status = self.body.tick(ctx)
            if status is Status.RUNNING:
                return self.running("running the try body")
            if status is Status.SUCCESS:
                return self.success("the try body succeeded")
            self.in_else = True
            self.caught = cause(self.body)
            self.values["caught"] = self.caught
            if self.orelse is None:
                return self.success(f"caught a failure ({self.caught}); there is no else branch")
        assert self.orelse is not None
        status = self.orelse.tick(ctx)
        if status is Status.RUNNING:
            return self.running(f"the try body failed ({self.caught}); running the else branch")
        if status is Status.SUCCESS:
            return self.success(f"recovered in the else branch from: {self.caught}")
        return self.failure(cause(self.orelse))


class IfFound(Node):
    """Run `then` when a located name was found, `orelse` (if any) when it was not."""

    kind = "if_found"

    def __init__(
        self,
        label: str,
        name: str,
        then: Node,
        orelse: Node | None,
        *,
        span: Span | None = None,
    ) -> None:
        super().__init__(label, span=span)
        self.name = name
        self.then = then
        self.orelse = orelse
        self.chosen: Node | None = None
        self.found = False

    @property
    def children(self) -> list[Node]:
        return [self.then] if self.orelse is None else [self.then, self.orelse]

    def initialise(self, ctx: ExecutionContext) -> None:
        result = ctx.blackboard.results.get(self.name)
        self.found = result is not None and result.found
        self.chosen = self.then if self.found else self.orelse
        self.values["found"] = self.found

    def update(self, ctx: ExecutionContext) -> Status:
        seen = f"`{self.name}` was found" if self.found else f"`{self.name}` was not found"
        branch = "then" if self.found else "else"
        if self.chosen is None:
            return self.success(f"{seen} and there is no else branch")
        status = self.chosen.tick(ctx)
        if status is Status.RUNNING:
            return self.running(f"{seen}; running the {branch} branch")
        if status is Status.SUCCESS:
            return self.success(f"{seen}; the {branch} branch succeeded")
        return self.failure(cause(self.chosen))
