"""The one event stream of a run; the live display and the JSONL trace both subscribe.

Nodes never print: the base node publishes `node_started` / `node_progress` /
`node_finished`, the executor publishes `task_started` / `task_finished`, and
subscribers turn them into whatever they show. The format is documented in
docs/execution.md.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from vitalskills.runtime.nodes import Node

#: Version of the event format, written in every trace line.
TRACE_VERSION = 1


@dataclass(frozen=True)
class Event:
    """One thing that happened in a run.

    `t` is seconds since the run started on the executor's clock (virtual in dry runs),
    `wall` the Unix time it was published. Node events carry the node's id, kind, label,
    source line, status, one-sentence reason, elapsed seconds and values.
    """

    event: str
    t: float
    wall: float
    node: int | None = None
    kind: str | None = None
    label: str | None = None
    line: int | None = None
    status: str | None = None
    reason: str | None = None
    elapsed: float | None = None
    values: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The event as a JSON object with `None` fields left out."""
        out: dict[str, Any] = {"v": TRACE_VERSION, "event": self.event}
        for key in ("t", "wall", "node", "kind", "label", "line", "status", "reason", "elapsed"):
            value = getattr(self, key)
            if value is not None:
                out[key] = round(value, 6) if isinstance(value, float) else value
        if self.values:
            out["values"] = jsonable(self.values)
        return out


Subscriber = Callable[[Event], None]


def jsonable(value: Any) -> Any:
    """Convert numpy arrays and scalars (and containers of them) to plain JSON values."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, float):
        return round(value, 6) if math.isfinite(value) else None
    return value


class EventBus:
    """Fan events out to subscribers, in subscription order."""

    def __init__(self, subscribers: list[Subscriber] | None = None) -> None:
        self.subscribers: list[Subscriber] = list(subscribers or [])
        self.t0: float | None = None

    def subscribe(self, subscriber: Subscriber) -> None:
        """Add a subscriber; it sees every event published from now on."""
        self.subscribers.append(subscriber)

    def publish(self, event: Event) -> None:
        """Deliver one event to every subscriber."""
        for subscriber in self.subscribers:
            subscriber(event)

    def _t(self, now: float) -> float:
        if self.t0 is None:
            self.t0 = now
        return now - self.t0

    def node_event(self, kind: str, node: Node, now: float) -> None:
        """Publish a lifecycle event of `node` (started, progress or finished)."""
        finished = kind == "node_finished"
        self.publish(
            Event(
                event=kind,
                t=self._t(now),
                wall=time.time(),
                node=node.id,
                kind=node.kind,
                label=node.label,
                line=node.span.line if node.span else None,
                status=node.status.value,
                reason=node.reason,
                elapsed=node.elapsed(now) if finished or kind == "node_progress" else None,
                values=dict(node.values) if kind != "node_started" else {},
            )
        )

    def task_event(
        self,
        kind: str,
        now: float,
        *,
        status: str | None = None,
        reason: str | None = None,
        values: dict[str, Any] | None = None,
    ) -> None:
        """Publish a run-level event (`task_started` or `task_finished`)."""
        t = self._t(now)
        self.publish(
            Event(
                event=kind,
                t=t,
                wall=time.time(),
                status=status,
                reason=reason,
                elapsed=t if kind == "task_finished" else None,
                values=values or {},
            )
        )
