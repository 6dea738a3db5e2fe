"""Execution: compile a task into a plan of nodes, tick it on a robot, report events."""

from vitalskills.robot import Policy, PolicyProvider, SkillSpec
from vitalskills.runtime.context import ExecutionContext, ManualClock, MonotonicClock, MotionLimits
from vitalskills.runtime.dryrun import DryRunGrounder, DryRunPolicyProvider, DryRunRobot
from vitalskills.runtime.events import Event, EventBus
from vitalskills.runtime.executor import Executor, RunResult
from vitalskills.runtime.nodes import Node, Status
from vitalskills.runtime.plan import Plan, PlanError, build_plan
from vitalskills.runtime.trace import TraceWriter, read_trace

__all__ = [
    "DryRunGrounder",
    "DryRunPolicyProvider",
    "DryRunRobot",
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
    "Policy",
    "PolicyProvider",
    "RunResult",
    "SkillSpec",
    "Status",
    "TraceWriter",
    "build_plan",
    "read_trace",
]
