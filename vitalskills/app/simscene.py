"""Choose the simulator scene a task needs, from its skills and its `locate` queries.

The simulator knows its four tasks' objects by name and by the phrases people use for
them ("power strip", "socket", "usb port", "card reader", "lock", ...); a skill trained
on simulator demonstrations names its task in its manifest (`provenance.dataset.task`).
A task file never names a simulator scene: `vitalskills run` picks the scene whose
objects and skills the task talks about (two tasks': a chained scene).
"""

from __future__ import annotations

from vitalskills.errors import UsageError
from vitalskills.perception.sim_grounder import normalise
from vitalskills.runtime.leaves import Locate
from vitalskills.runtime.plan import Plan
from vitalskills.runtime.skill import RunSkill


def task_for_skill(skill: object) -> str | None:
    """The simulator task a skill's demonstrations came from, as its manifest records it.

    None for a skill with no such record, or one made on a real robot.
    """
    from vitalskills.sim.tasks import TASKS

    provenance = getattr(skill, "provenance", None)
    dataset = provenance.get("dataset") if isinstance(provenance, dict) else None
    task = dataset.get("task") if isinstance(dataset, dict) else None
    return task if task in TASKS else None


def task_for_query(query: str) -> str | None:
    """The simulator task whose target or held object is called `query`, if any."""
    from vitalskills.sim.tasks import TASKS

    wanted = normalise(query)
    for spec in TASKS.values():
        names = (spec.target, spec.held, *spec.target_labels, *spec.held_labels)
        if wanted in {normalise(name) for name in names}:
            return spec.name
    return None


def scene_tasks(plan: Plan) -> list[str]:
    """The simulator tasks a plan needs, in the order the plan first mentions them."""
    found: list[str] = []
    for node in plan.nodes:
        task = None
        if isinstance(node, RunSkill):
            task = task_for_skill(node.skill)
        elif isinstance(node, Locate):
            task = task_for_query(node.query)
        if task is not None and task not in found:
            found.append(task)
    return found


def choose_scene(plan: Plan, requested: str | None = None) -> str:
    """The simulator scene to serve for `plan`: `requested`, or the one the plan needs.

    A plan that works on two tasks' objects gets a chained scene (`first+second`): the
    first task's object starts in the gripper, the second waits in a rack.

    Raises:
        UsageError: the plan names no simulator object or skill, or objects of more
            tasks than one scene holds.
    """
    from vitalskills.sim.tasks import CHAIN, MAX_STATIONS, TASKS, get_stations

    if requested is not None:
        return CHAIN.join(spec.name for spec in get_stations(requested))
    tasks = scene_tasks(plan)
    known = ", ".join(f"`{t}`" for t in TASKS)
    if not tasks:
        raise UsageError(
            f"task `{plan.task}` names no object or skill the simulator knows, so there is "
            "no scene to run it in",
            hint=f"locate an object of one of the simulator's tasks ({known}), "
            "pass --sim-task, or run it on a robot with --robot",
        )
    if len(tasks) > MAX_STATIONS:
        raise UsageError(
            f"task `{plan.task}` needs objects from {len(tasks)} simulator tasks "
            f"({', '.join(f'`{t}`' for t in tasks)}); one simulated scene holds at most "
            f"{MAX_STATIONS}",
            hint="split the task, or pick a scene with --sim-task",
        )
    return CHAIN.join(tasks)
