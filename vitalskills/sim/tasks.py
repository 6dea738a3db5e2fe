"""The four ViTaL tasks: geometry, tolerances, labels, and how success is measured.

Every task is described in two frames. The target frame sits on the table under the
centre of the opening (x along the target's long side, z up); the held-object frame
sits at the object's insertion tip with z pointing away from the tip (up when the
object is inserted). The gripper holds the object `grip_height` above its tip.
Success is purely geometric: the tip face's corners must lie inside their opening
(within `TOLERANCE`, the contact solver's allowance) and deep enough.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from vitalskills.errors import VitalskillsError

#: How far (m) a corner may sit outside its opening and still count as inside: MuJoCo's
#: soft contacts let surfaces interpenetrate by a fraction of a millimetre under load.
TOLERANCE = 0.0003


class SimError(VitalskillsError):
    """The simulator was asked for something it does not have (task, condition, option)."""

    code = "S001"


@dataclass(frozen=True)
class Opening:
    """A rectangular opening in the target's top face: centre and half sizes (m)."""

    cx: float
    cy: float
    hx: float
    hy: float


@dataclass(frozen=True)
class Insert:
    """A part of the held object that enters an opening: its tip face, in object frame."""

    cx: float
    cy: float
    hx: float
    hy: float
    opening: int = 0


@dataclass(frozen=True)
class TaskSpec:
    """Everything the simulator, the experts and the docs need to know about a task.

    Lengths are metres in the frame named in the module docstring. `entry_z` is the
    height of the opening's top face; `hole_depth` how deep the opening goes;
    `required_depth` the depth that counts as success and `goal_depth` the depth the
    expert aims for. An `upright` task is done with the tool held vertical: its skills
    command xyz and yaw, never roll or pitch (the fingertip skin's give takes up contact
    tilts), as a tight fit leaves no room for a tilt a camera cannot see. For `swipe`
    tasks the opening is a slot along x of half-length `slot_half_length`, and success
    also needs `swipe_travel` metres of travel in it.
    """

    name: str
    gym_id: str
    title: str
    kind: str
    target: str
    target_labels: tuple[str, ...]
    held: str
    held_labels: tuple[str, ...]
    entry_z: float
    hole_depth: float
    required_depth: float
    goal_depth: float
    openings: tuple[Opening, ...]
    inserts: tuple[Insert, ...]
    grip_height: float
    grip_width: float
    approach_tip: tuple[float, float, float]
    goal_tip_x: float = 0.0
    slot_half_length: float = 0.0
    swipe_travel: float = 0.0
    card_half_length: float = 0.0
    upright: bool = False

    @property
    def clearance(self) -> float:
        """Smallest total gap (m) between an insert and its opening, over both axes."""
        gaps = []
        for insert in self.inserts:
            opening = self.openings[insert.opening]
            gaps += [2 * (opening.hx - insert.hx), 2 * (opening.hy - insert.hy)]
        return min(gaps)

    def goal_tip(self) -> np.ndarray:
        """Return where the expert brings the tip, in the target frame."""
        return np.array([self.goal_tip_x, 0.0, self.entry_z - self.goal_depth])

    def approach_offset(self) -> np.ndarray:
        """Return the end-effector point relative to the target point, in target frame.

        This is where a reaching step should leave the gripper for the local skill:
        the tip at `approach_tip`, gripper pointing down.
        """
        tip = np.asarray(self.approach_tip)
        return tip + np.array([0.0, 0.0, self.grip_height]) - self.target_point()

    def target_point(self) -> np.ndarray:
        """Return the point a locate step should find (centre of the entry), target frame."""
        return np.array([0.0, 0.0, self.entry_z])


@cache
def tip_probes(spec: TaskSpec) -> tuple[np.ndarray, np.ndarray]:
    """Return tip-face probe points (object frame) and the opening each belongs to."""
    if spec.kind == "swipe":
        insert = spec.inserts[0]
        xs = np.arange(-spec.card_half_length, spec.card_half_length + 1e-9, 0.005)
        points = [(x, s * insert.hy, 0.0) for x in xs for s in (-1.0, 1.0)]
        return np.array(points), np.zeros(len(points), dtype=int)
    points, owners = [], []
    for insert in spec.inserts:
        for sx in (-1.0, 1.0):
            for sy in (-1.0, 1.0):
                points.append((insert.cx + sx * insert.hx, insert.cy + sy * insert.hy, 0.0))
                owners.append(insert.opening)
    return np.array(points), np.array(owners)


@dataclass(frozen=True)
class Insertion:
    """How far the held object is in its opening, from its pose in the target frame."""

    depth: float
    aligned: bool
    along: float

    def inserted(self, spec: TaskSpec) -> bool:
        """Return whether this counts as inserted at the task's required depth."""
        return self.aligned and self.depth >= spec.required_depth


def measure_insertion(spec: TaskSpec, held_in_target: np.ndarray) -> Insertion:
    """Measure depth and alignment of the held object given its 4x4 pose in target frame.

    `depth` is the smallest depth (m) of the tip corners below the entry face, counted
    only when every corner is inside its opening (otherwise 0). For a swipe task only
    the part of the card's edge over the slot counts, and `along` is the card's
    position along the slot.
    """
    points, owners = tip_probes(spec)
    world = points @ held_in_target[:3, :3].T + held_in_target[:3, 3]
    along = float(held_in_target[0, 3])
    if spec.kind == "swipe":
        over = np.abs(world[:, 0]) <= spec.slot_half_length
        if over.sum() < 8:
            return Insertion(0.0, False, along)
        world = world[over]
        owners = owners[over]
    boxes = np.array([[o.cx, o.cy, o.hx, o.hy] for o in spec.openings])[owners]
    inside = (np.abs(world[:, 0] - boxes[:, 0]) <= boxes[:, 2] + TOLERANCE) & (
        np.abs(world[:, 1] - boxes[:, 1]) <= boxes[:, 3] + TOLERANCE
    )
    depth = float(np.min(spec.entry_z - world[:, 2]))
    aligned = bool(inside.all())
    return Insertion(max(depth, 0.0) if aligned else 0.0, aligned, along)


def _plug() -> TaskSpec:
    prong = (0.00315, 0.00075)
    hole = (0.0039, 0.0015)
    pitch = 0.00635
    return TaskSpec(
        name="plug_in_socket",
        gym_id="vitalskills/PlugInSocket-v0",
        title="Plug in socket",
        kind="insert",
        target="power_strip",
        target_labels=("power strip", "socket", "outlet", "power socket", "extension strip"),
        held="plug",
        held_labels=("plug", "charger", "power plug"),
        entry_z=0.032,
        hole_depth=0.020,
        required_depth=0.008,
        goal_depth=0.011,
        openings=(Opening(-pitch, 0.0, *hole), Opening(pitch, 0.0, *hole)),
        inserts=(Insert(-pitch, 0.0, *prong, 0), Insert(pitch, 0.0, *prong, 1)),
        grip_height=0.032,
        grip_width=0.022,
        approach_tip=(0.0, 0.0, 0.062),
    )


def _usb() -> TaskSpec:
    return TaskSpec(
        name="usb_insert",
        gym_id="vitalskills/UsbInsert-v0",
        title="USB insertion",
        kind="insert",
        target="usb_hub",
        target_labels=("usb port", "usb hub", "port", "usb socket"),
        held="usb_plug",
        held_labels=("usb plug", "usb stick", "usb cable", "usb connector"),
        entry_z=0.030,
        hole_depth=0.014,
        required_depth=0.006,
        goal_depth=0.0085,
        openings=(Opening(0.0, 0.0, 0.00625, 0.0025),),
        inserts=(Insert(0.0, 0.0, 0.006, 0.00225, 0),),
        grip_height=0.032,
        grip_width=0.009,
        approach_tip=(0.0, 0.0, 0.058),
        upright=True,
    )


def _card() -> TaskSpec:
    return TaskSpec(
        name="card_swipe",
        gym_id="vitalskills/CardSwipe-v0",
        title="Card swiping",
        kind="swipe",
        target="card_reader",
        target_labels=("card reader", "card machine", "reader", "slot", "card slot"),
        held="card",
        held_labels=("card", "credit card", "key card"),
        entry_z=0.040,
        hole_depth=0.025,
        required_depth=0.005,
        goal_depth=0.010,
        openings=(Opening(0.0, 0.0, 0.07, 0.0015),),
        inserts=(Insert(0.0, 0.0, 0.035, 0.0006, 0),),
        grip_height=0.038,
        grip_width=0.0012,
        approach_tip=(-0.045, 0.0, 0.065),
        goal_tip_x=0.045,
        slot_half_length=0.07,
        swipe_travel=0.06,
        card_half_length=0.035,
        upright=True,
    )


def _key() -> TaskSpec:
    return TaskSpec(
        name="key_in_lock",
        gym_id="vitalskills/KeyInLock-v0",
        title="Key in lock",
        kind="insert",
        target="lock",
        target_labels=("lock", "lock cylinder", "keyhole", "padlock"),
        held="key",
        held_labels=("key", "door key"),
        entry_z=0.045,
        hole_depth=0.028,
        required_depth=0.010,
        goal_depth=0.0135,
        openings=(Opening(0.0, 0.0, 0.0042, 0.0016),),
        inserts=(Insert(0.0, 0.0, 0.0035, 0.001, 0),),
        grip_height=0.038,
        grip_width=0.003,
        approach_tip=(0.0, 0.0, 0.075),
    )


TASKS: dict[str, TaskSpec] = {spec.name: spec for spec in (_plug(), _usb(), _card(), _key())}

CONDITIONS: tuple[str, ...] = ("canonical", "spatial", "scene")


def get_task(name: str) -> TaskSpec:
    """Return the spec of task `name`, or raise `SimError` naming the known tasks."""
    try:
        return TASKS[name]
    except KeyError:
        known = ", ".join(f"`{t}`" for t in TASKS)
        raise SimError(f"unknown simulator task `{name}`", hint=f"choose one of {known}") from None


def check_condition(condition: str) -> str:
    """Return `condition` if known, else raise `SimError` naming the known ones."""
    if condition not in CONDITIONS:
        known = ", ".join(f"`{c}`" for c in CONDITIONS)
        raise SimError(f"unknown condition `{condition}`", hint=f"choose one of {known}")
    return condition


#: Joins the tasks of a chained scene: `plug_in_socket+card_swipe`.
CHAIN = "+"
MAX_STATIONS = 2


def get_stations(name: str) -> tuple[TaskSpec, ...]:
    """Return the task specs of a scene: one task, or two chained with `+`.

    In a chained scene the first task's object starts in the gripper and the next one
    waits in a rack beside its own target.
    """
    parts = name.split(CHAIN)
    specs = tuple(get_task(part) for part in parts)
    if len(specs) > MAX_STATIONS or len({spec.name for spec in specs}) < len(specs):
        raise SimError(
            f"cannot build the scene `{name}`",
            hint=f"chain at most {MAX_STATIONS} different tasks, e.g. `plug_in_socket+card_swipe`",
        )
    return specs
