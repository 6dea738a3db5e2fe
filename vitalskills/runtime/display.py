"""The human view of a run: a log line per finished step, a live tree, a summary table.

It is only an event subscriber; it keeps its own copy of each node's state, built from
`task_started`'s plan description and the node events that follow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from vitalskills.runtime.events import Event

STYLES = {
    "idle": ("·", "dim"),
    "running": ("▶", "yellow"),
    "success": ("✓", "green"),
    "failure": ("✗", "red"),
    "halted": ("■", "magenta"),
}


def source_where(line: int | None, file: str | None, main_file: str | None) -> str:
    """A node's source line, `NAME:LINE` when it comes from an included file."""
    if line is None:
        return ""
    if file and main_file and Path(file).name != Path(main_file).name:
        return f"{Path(file).name}:{line}"
    return str(line)


@dataclass
class NodeView:
    """What the display knows about one node."""

    id: int
    parent: int | None
    label: str
    line: int | None
    file: str | None = None
    status: str = "idle"
    reason: str = ""
    started: float | None = None
    elapsed: float | None = None
    children: list[int] = field(default_factory=list)
    main_file: str | None = None

    @property
    def where(self) -> str:
        """The source line, prefixed with the file name when it is an included file."""
        return source_where(self.line, self.file, self.main_file)


class LiveDisplay:
    """Subscriber that shows a run on a rich console.

    Args:
        console: where to print.
        live: redraw the plan tree while running (defaults to: the console is a terminal).
        log: print one line per finished node (the readable trace).
    """

    def __init__(self, console: Console, *, live: bool | None = None, log: bool = True) -> None:
        self.console = console
        self.live_enabled = console.is_terminal if live is None else live
        self.log = log
        self.nodes: dict[int, NodeView] = {}
        self.task = ""
        self.now = 0.0
        self.live: Live | None = None
        self.final: dict[str, Any] = {}
        self.skill_line = ""

    def __call__(self, event: Event) -> None:
        self.now = event.t
        if event.event == "task_started":
            self._start(event)
        elif event.event == "task_finished":
            self._finish(event)
        elif event.node is not None and event.node in self.nodes:
            self._node(event)
        if self.live is not None:
            self.live.update(self.view())

    def _start(self, event: Event) -> None:
        self.task = str(event.values.get("task", ""))
        main = event.values.get("file")
        for row in event.values.get("nodes", []):
            self.nodes[row["id"]] = NodeView(
                row["id"],
                row["parent"],
                row["label"],
                row["line"],
                file=row.get("file"),
                main_file=str(main) if main else None,
            )
        for view in self.nodes.values():
            if view.parent is not None:
                self.nodes[view.parent].children.append(view.id)
        if self.live_enabled:
            self.live = Live(self.view(), console=self.console, refresh_per_second=8)
            self.live.start()

    def _node(self, event: Event) -> None:
        view = self.nodes[event.node]  # type: ignore[index]
        view.status = event.status or view.status
        view.reason = event.reason or ""
        if event.event == "node_started":
            view.started, view.elapsed = event.t, None
        elif event.event == "node_finished":
            view.elapsed = event.elapsed
        if event.kind == "run_skill":
            self._skill(view, event)
        if self.log and event.event != "node_started":
            icon, style = STYLES.get(view.status, ("?", ""))
            line = Text(f"{event.t:8.2f}s ", style="dim")
            line.append(f"{icon} ", style=style)
            line.append(f"{'  ' * self._depth(view)}{view.label}")
            line.append(f"  {view.reason}", style="dim")
            self.console.print(line, soft_wrap=True)

    def _skill(self, view: NodeView, event: Event) -> None:
        values = event.values
        line = f"{view.label}: {view.status}"
        if "steps" in values:
            line += f", policy step {values['steps']}"
        if "tactile" in values:
            line += f", |tactile| {values['tactile']:.3f}"
        self.skill_line = line

    def view(self) -> Group:
        """The live view: the plan tree, the current skill's progress, the elapsed time."""
        status = Text(f"elapsed {self.now:.1f} s", style="cyan")
        if self.skill_line:
            status.append(f"   {self.skill_line}", style="")
        return Group(self.tree(), status)

    def _finish(self, event: Event) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None
        self.final = {
            "status": event.status,
            "reason": event.reason,
            "elapsed": event.elapsed,
            "ticks": event.values.get("ticks"),
        }
        self.console.print(self.summary())
        self.console.print(self.outcome(), soft_wrap=True)

    def _depth(self, view: NodeView) -> int:
        depth = 0
        while view.parent is not None and view.parent != 0:
            view = self.nodes[view.parent]
            depth += 1
        return depth

    def _elapsed(self, view: NodeView) -> str:
        if view.elapsed is not None:
            return f"{view.elapsed:.2f}s"
        if view.started is not None:
            return f"{self.now - view.started:.2f}s"
        return ""

    def _line(self, view: NodeView) -> Text:
        icon, style = STYLES.get(view.status, ("?", ""))
        text = Text(f"{icon} ", style=style)
        text.append(view.label, style="bold" if view.status == "running" else "")
        if view.started is not None:
            text.append(f"  {self._elapsed(view)}", style="cyan")
        if view.reason and view.status != "idle":
            text.append(f"  {view.reason}", style="dim")
        return text

    def tree(self) -> Tree:
        """The plan as a tree with each node's status, elapsed time and reason."""
        if 0 not in self.nodes:
            return Tree(self.task)
        root = Tree(self._line(self.nodes[0]))
        stack = [(root, self.nodes[0])]
        while stack:
            branch, view = stack.pop()
            for child_id in view.children:
                child = self.nodes[child_id]
                stack.append((branch.add(self._line(child)), child))
        return root

    def summary(self) -> Table:
        """The final table: one row per step that ran."""
        table = Table(title=f"task {self.task}", title_justify="left")
        for column in ("line", "step", "status", "time", "reason"):
            table.add_column(column, overflow="fold")
        for view in self.nodes.values():
            if view.id == 0 or view.started is None:
                continue
            icon, style = STYLES.get(view.status, ("?", ""))
            table.add_row(
                view.where,
                "  " * self._depth(view) + view.label,
                Text(f"{icon} {view.status}", style=style),
                self._elapsed(view),
                view.reason,
            )
        return table

    def outcome(self) -> Text:
        """One line: the task's status, time, ticks and reason."""
        status = str(self.final.get("status", ""))
        icon, style = STYLES.get(status, ("?", ""))
        text = Text(f"{icon} task {self.task}: {status.upper()}", style=f"bold {style}")
        text.append(
            f" in {self.final.get('elapsed') or 0:.2f} s, {self.final.get('ticks')} ticks: "
            f"{self.final.get('reason')}",
            style="",
        )
        return text
