"""Execution: compile a task into a plan of nodes, tick it on a robot, report events."""

from vitalskills.runtime.context import ExecutionContext, ManualClock, MonotonicClock, MotionLimits
from vitalskills.runtime.events import Event, EventBus
from vitalskills.runtime.executor import Executor, RunResult
from vitalskills.runtime.nodes import Node, Status
from vitalskills.runtime.plan import Plan, PlanError, build_plan
from vitalskills.runtime.trace import TraceWriter, read_trace

__all__ = [
    "Event",
    "EventBus",
    "ExecutionContext",
    "Executor",
    "ManualClock",
    "MonotonicClock",
    "MotionLimits",
    "Node",
    "Plan",
    "PlanError",
    "RunResult",
    "Status",
    "TraceWriter",
    "build_plan",
    "read_trace",
]
