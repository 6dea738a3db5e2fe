"""Decorators: one child each, overriding only `update` (and a little entry state)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vitalskills.lang.ir import Span
from vitalskills.runtime.composites import cause
from vitalskills.runtime.nodes import Node, Status

if TYPE_CHECKING:
    from vitalskills.runtime.context import ExecutionContext


class Decorator(Node):
    """A node wrapping exactly one child."""

    def __init__(self, label: str, child: Node, *, span: Span | None = None) -> None:
        super().__init__(label, span=span)
        self.child = child

    @property
    def children(self) -> list[Node]:
        return [self.child]


class Retry(Decorator):
    """Re-run the child after a failure, up to `times` attempts in all."""

    kind = "retry"

    def __init__(self, label: str, times: int, child: Node, *, span: Span | None = None) -> None:
        super().__init__(label, child, span=span)
        self.times = max(1, times)
        self.attempt = 1

    def initialise(self, ctx: ExecutionContext) -> None:
        self.attempt = 1
        self.values["attempts"] = 1

    def update(self, ctx: ExecutionContext) -> Status:
        status = self.child.tick(ctx)
        if status is Status.RUNNING:
            return self.running(f"attempt {self.attempt} of {self.times}")
        if status is Status.SUCCESS:
            return self.success(f"succeeded on attempt {self.attempt} of {self.times}")
        if self.attempt >= self.times:
            return self.failure(f"all {self.times} attempts failed; last: {cause(self.child)}")
        self.attempt += 1
        self.values["attempts"] = self.attempt
        reason = f"attempt {self.attempt - 1} of {self.times} failed ({cause(self.child)})"
        status = self.running(f"{reason}; retrying")
        ctx.emit("node_progress", self)
        return status


class Timeout(Decorator):
    """Fail, halting the child, when the child runs for `duration` seconds or more."""

    kind = "timeout"

    def __init__(
        self, label: str, duration: float, child: Node, *, span: Span | None = None
    ) -> None:
        super().__init__(label, child, span=span)
        self.duration = duration

    def update(self, ctx: ExecutionContext) -> Status:
        assert self.started_at is not None
        if ctx.clock.now() - self.started_at >= self.duration:
            self.child.halt(ctx, f"the {self.duration:g} s timeout expired")
            return self.failure(f"timed out after {self.duration:g} s")
        status = self.child.tick(ctx)
        if status is Status.RUNNING:
            left = self.duration - (ctx.clock.now() - self.started_at)
            return self.running(f"{max(left, 0.0):.1f} s left of {self.duration:g} s")
        if status is Status.SUCCESS:
            return self.success(f"finished within {self.duration:g} s")
        return self.failure(cause(self.child))


class Repeat(Decorator):
    """Run the child `times` times in a row; fail at the first failed iteration."""

    kind = "repeat"

    def __init__(self, label: str, times: int, child: Node, *, span: Span | None = None) -> None:
        super().__init__(label, child, span=span)
        self.times = times
        self.done = 0

    def initialise(self, ctx: ExecutionContext) -> None:
        self.done = 0
        self.values["iterations"] = 0

    def update(self, ctx: ExecutionContext) -> Status:
        if self.done >= self.times:
            return self.success(f"all {self.times} iterations succeeded")
        status = self.child.tick(ctx)
        if status is Status.RUNNING:
            return self.running(f"iteration {self.done + 1} of {self.times}")
        if status is Status.FAILURE:
            return self.failure(
                f"iteration {self.done + 1} of {self.times} failed: {cause(self.child)}"
            )
        self.done += 1
        self.values["iterations"] = self.done
        if self.done >= self.times:
            return self.success(f"all {self.times} iterations succeeded")
        return self.running(f"iteration {self.done} of {self.times} done")
