"""The node lifecycle every runtime node shares: tick, initialise, update, terminate, halt.

Modelled on py_trees' `Behaviour` and BehaviorTree.CPP's `TreeNode`: the base class owns
the lifecycle and emits the events; subclasses override only `initialise`, `update`,
`terminate` (and composites `on_halt`). `update` never blocks: a motion or a policy
rollout advances one control step per tick.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar

from vitalskills.lang.ir import Span

if TYPE_CHECKING:
    from vitalskills.runtime.context import ExecutionContext


class Status(StrEnum):
    """Where a node is in its lifecycle.

    IDLE: never ticked. RUNNING: ticked and not finished. SUCCESS / FAILURE: finished.
    HALTED: stopped from outside (a timeout, a Ctrl-C, an error) while running.
    """

    IDLE = "idle"
    RUNNING = "running"
    SUCCESS = "success"
    FAILURE = "failure"
    HALTED = "halted"


class Node:
    """One executable step of a plan.

    Args:
        label: how the step reads in the task language (shown in the display and trace).
        span: where the step came from in the task file, when known.
    """

    kind: ClassVar[str] = "node"
    #: True for nodes that send actions to the robot: halting or failing them stops it.
    moves_robot: ClassVar[bool] = False

    def __init__(self, label: str, *, span: Span | None = None) -> None:
        self.label = label
        self.span = span
        self.id = -1
        self.parent: Node | None = None
        self.status = Status.IDLE
        self.reason = "not started yet"
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self.ticks = 0
        self.values: dict[str, Any] = {}

    @property
    def children(self) -> list[Node]:
        """The nodes this node routes ticks to (none for leaves)."""
        return []

    def walk(self) -> Iterator[Node]:
        """Yield this node and every descendant in pre-order."""
        yield self
        for child in self.children:
            yield from child.walk()

    # ------------------------------------------------------------ lifecycle

    def tick(self, ctx: ExecutionContext) -> Status:
        """Advance this node by one step; initialise on entry, terminate on exit."""
        if self.status is not Status.RUNNING:
            self.status = Status.RUNNING
            self.reason = "started"
            self.values = {}
            self.ticks = 0
            self.started_at = ctx.clock.now()
            self.finished_at = None
            ctx.emit("node_started", self)
            self.initialise(ctx)
        self.ticks += 1
        status = self.update(ctx)
        self.status = status
        if status is not Status.RUNNING:
            self.finished_at = ctx.clock.now()
            try:
                self.terminate(ctx, status)
            finally:
                ctx.emit("node_finished", self)
        return status

    def halt(self, ctx: ExecutionContext, reason: str) -> None:
        """Stop this node from outside while it runs; a no-op when it is not running."""
        if self.status is not Status.RUNNING:
            return
        try:
            self.on_halt(ctx, reason)
        finally:
            self.status = Status.HALTED
            self.reason = f"halted: {reason}"
            self.finished_at = ctx.clock.now()
            try:
                self.terminate(ctx, Status.HALTED)
            finally:
                ctx.emit("node_finished", self)

    # ------------------------------------------------------------ hooks

    def prepare(self, ctx: ExecutionContext) -> None:
        """Do slow set-up (loading a policy) before the robot moves; once per run."""

    def initialise(self, ctx: ExecutionContext) -> None:
        """Reset per-entry state; called on the first tick after any finish."""

    def update(self, ctx: ExecutionContext) -> Status:
        """Do one step of work and return the status; must not block."""
        raise NotImplementedError

    def terminate(self, ctx: ExecutionContext, status: Status) -> None:
        """Clean up after success, failure or halt; motion nodes stop the robot here."""
        if self.moves_robot and status in (Status.FAILURE, Status.HALTED):
            ctx.robot.stop()

    def on_halt(self, ctx: ExecutionContext, reason: str) -> None:
        """Halt whatever this node is running; composites halt their running child."""
        for child in self.children:
            child.halt(ctx, reason)

    # ------------------------------------------------------------ helpers

    def success(self, reason: str) -> Status:
        """Finish successfully, saying why in one sentence."""
        self.reason = reason
        return Status.SUCCESS

    def failure(self, reason: str) -> Status:
        """Finish with failure, saying why in one sentence."""
        self.reason = reason
        return Status.FAILURE

    def running(self, reason: str) -> Status:
        """Keep running, saying what is going on in one sentence."""
        self.reason = reason
        return Status.RUNNING

    def elapsed(self, now: float) -> float:
        """Seconds since this node started (until it finished, when it has)."""
        if self.started_at is None:
            return 0.0
        end = self.finished_at if self.finished_at is not None else now
        return end - self.started_at

    def __repr__(self) -> str:
        return f"<{type(self).__name__} #{self.id} {self.label!r} {self.status.value}>"
