"""Whole runs as the command line starts them: compile and plan, then execute."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from vitalskills.runtime.context import ManualClock
from vitalskills.runtime.dryrun import (
    DryRunGrounder,
    DryRunPolicyProvider,
    DryRunRobot,
    EveryName,
)
from vitalskills.runtime.events import Subscriber
from vitalskills.runtime.executor import Executor, RunResult
from vitalskills.runtime.plan import Plan, build_plan


def plan_file(
    path: Path,
    *,
    skills_dirs: Sequence[Path] = (),
    overrides: Mapping[str, str] | None = None,
) -> Plan:
    """Compile and check `path` against the skill library and the dry-run robot, then plan it.

    Raises:
        CheckFailed: the task has errors.
        UsageError: a missing file or a bad override.
    """
    from vitalskills.lang import compile_task
    from vitalskills.skills import default_library

    library = default_library(list(skills_dirs))
    capabilities = DryRunRobot().capabilities()
    task = compile_task(path, library=library, robot=capabilities, overrides=overrides)
    return build_plan(task, library.get)


def dry_run(
    plan: Plan,
    *,
    subscribers: Iterable[Subscriber] = (),
    not_found: Iterable[str] = (),
    timeout: float | None = None,
    source: str = "",
) -> RunResult:
    """Walk `plan` on the dry-run backend.

    Every locate answers with the placeholder point (or not found, for queries in
    `not_found`), every skill's policy declares success after a few steps, and virtual
    time makes `wait` and timeouts instant. It validates the plan; it simulates nothing.
    """
    with DryRunRobot() as robot:
        executor = Executor(
            robot,
            EveryName(DryRunGrounder(missing=not_found)),
            DryRunPolicyProvider(),
            clock=ManualClock(),
            subscribers=list(subscribers),
            timeout=timeout,
            run_info={"backend": "dry-run", "file": source},
        )
        return executor.run(plan)
