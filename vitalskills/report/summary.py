"""A run's outcome as plain JSON: the task's status and each node's, built from events.

`--json` prints it and `--record` saves it as `summary.json`; the report reads it back.
"""

from __future__ import annotations

from typing import Any

from vitalskills.runtime.events import Event, jsonable


class SummaryCollector:
    """Subscriber keeping the last known state of every node and of the task."""

    def __init__(self) -> None:
        self.task = ""
        self.info: dict[str, Any] = {}
        self.nodes: dict[int, dict[str, Any]] = {}
        self.final: dict[str, Any] = {}

    def __call__(self, event: Event) -> None:
        if event.event == "task_started":
            self.task = str(event.values.get("task", ""))
            self.info = {k: v for k, v in event.values.items() if k not in ("task", "nodes")}
            for row in event.values.get("nodes", []):
                self.nodes[row["id"]] = {
                    "id": row["id"],
                    "parent": row["parent"],
                    "kind": row["kind"],
                    "label": row["label"],
                    "line": row["line"],
                    "file": row.get("file"),
                    "status": "idle",
                    "reason": "",
                    "elapsed": None,
                }
        elif event.event == "task_finished":
            self.final = {
                "status": event.status,
                "reason": event.reason,
                "elapsed": event.elapsed,
                "ticks": event.values.get("ticks"),
            }
        elif event.node is not None and event.node in self.nodes:
            node = self.nodes[event.node]
            node["status"] = event.status or node["status"]
            node["reason"] = event.reason or ""
            if event.elapsed is not None:
                node["elapsed"] = round(event.elapsed, 6)
            if event.event == "node_finished" and event.values:
                node["values"] = jsonable(event.values)

    @property
    def ok(self) -> bool:
        return self.final.get("status") == "success"

    def summary(self, **extra: Any) -> dict[str, Any]:
        """The run as one JSON object: task, run info, outcome, nodes, and `extra`."""
        return jsonable(
            {
                "task": self.task,
                "ok": self.ok,
                **self.final,
                "run": self.info,
                "nodes": list(self.nodes.values()),
                **extra,
            }
        )
