"""Episode layouts for the three conditions, drawn from one seeded generator.

- `canonical`: the target at a fixed pose on a plain table.
- `spatial`: the target anywhere in a 30 x 40 cm table region, yaw within +-30 deg.
- `scene`: spatial, plus random table and wall textures and colours, lighting, scene
  camera jitter and 2 to 5 distractors (the first ones look like the target).

The wrist camera stays on its mount in every condition, as it is bolted to a real
gripper: moving it is a separate stress test (`wrist_jitter`), because an offset there
shifts everything the local policy sees by millimetres, more than the tasks' clearances.

Whatever the condition, the end effector starts where a reaching step would leave it:
around the task's approach point (+-15 mm in x and y, +-10 mm in z, +-10 deg yaw,
in the target frame), or, with `start="home"`, above the table centre.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vitalskills.robot.geometry import yaw_matrix
from vitalskills.sim.scene import DECOYS, HOME, MAX_DISTRACTORS, SURFACE_TEXTURES
from vitalskills.sim.tasks import SimError, TaskSpec

CANONICAL_TARGET = np.array([0.5, 0.0, 0.0])
#: Table region (x range, y range) in which `spatial` and `scene` place the target.
REGION = ((0.35, 0.65), (-0.2, 0.2))
MAX_TARGET_YAW = np.deg2rad(30.0)
#: A chained scene's second target stands where its skill was trained to find one
#: (`REGION`), at least `STATION_CLEAR` from the first; the rack, which no skill
#: visits, anywhere on a wider region, `RACK_CLEAR` from both (m); fixed in `canonical`.
RACK_REGION = ((0.35, 0.65), (-0.3, 0.3))
STATION_CLEAR = 0.22
RACK_CLEAR = 0.2
CANONICAL_STATION = np.array([0.4, -0.2, 0.0])
CANONICAL_RACK = np.array([0.4, 0.2, 0.0])
#: A rack turns its object's broad side to the scene camera (a thin card seen edge-on
#: is a sliver of pixels to locate).
RACK_YAW = np.pi / 2
START_XY = 0.015
START_Z = 0.010
START_YAW = np.deg2rad(10.0)
STARTS = ("approach", "home")

#: Named colours for distractors, so privileged labels can say "red box".
COLOURS = {
    "red": (0.8, 0.15, 0.12),
    "green": (0.2, 0.65, 0.25),
    "blue": (0.15, 0.3, 0.8),
    "yellow": (0.9, 0.8, 0.15),
    "black": (0.08, 0.08, 0.08),
    "white": (0.92, 0.92, 0.92),
    "orange": (0.95, 0.5, 0.1),
    "purple": (0.5, 0.2, 0.6),
}
NEUTRAL = ("black", "white")
SHAPES = ("box", "cylinder", "sphere")


@dataclass
class Distractor:
    """One distractor's place and look; `decoy` ones copy the target's shape."""

    slot: int
    pos: np.ndarray
    yaw: float
    colour: str
    shape: str
    size: np.ndarray
    decoy: bool


@dataclass
class Station:
    """Where a chained scene's second target stands, and the rack holding its object."""

    target_pos: np.ndarray
    target_yaw: float
    rack_pos: np.ndarray
    rack_yaw: float


@dataclass
class Layout:
    """Everything random about one episode."""

    target_pos: np.ndarray
    target_yaw: float
    start_pos: np.ndarray
    start_yaw: float
    distractors: list[Distractor] = field(default_factory=list)
    table_texture: str = "plain"
    table_rgb: tuple[float, float, float] = (0.76, 0.7, 0.62)
    wall_texture: str = "plain"
    wall_rgb: tuple[float, float, float] = (0.82, 0.84, 0.86)
    light_scale: float = 1.0
    light_shift: np.ndarray = field(default_factory=lambda: np.zeros(3))
    camera_shift: np.ndarray = field(default_factory=lambda: np.zeros(3))
    camera_tilt: np.ndarray = field(default_factory=lambda: np.zeros(3))
    wrist_shift: np.ndarray = field(default_factory=lambda: np.zeros(3))
    station: Station | None = None


def check_distractors(distractors: int | None) -> int | None:
    """Return `distractors` if it fits the model, else raise `SimError`."""
    if distractors is not None and not 0 <= distractors <= MAX_DISTRACTORS:
        raise SimError(
            f"cannot place {distractors} distractors",
            hint=f"use a number from 0 to {MAX_DISTRACTORS}",
        )
    return distractors


def check_start(start: str) -> str:
    """Return `start` if known, else raise `SimError`."""
    if start not in STARTS:
        raise SimError(f"unknown start `{start}`", hint="use `approach` or `home`")
    return start


def _place_distractors(
    rng: np.random.Generator, count: int, keep_out: list[np.ndarray]
) -> list[Distractor]:
    placed: list[np.ndarray] = []
    out = []
    decoys = min(DECOYS, max(1, count // 2)) if count else 0
    for i in range(count):
        decoy = i < decoys
        slot = i if decoy else DECOYS + (i - decoys)
        for _ in range(200):
            xy = np.array([rng.uniform(0.28, 0.75), rng.uniform(-0.38, 0.38)])
            clear = 0.2 if decoy else 0.13
            if all(np.linalg.norm(xy - k) > clear for k in keep_out) and all(
                np.linalg.norm(xy - p) > 0.12 for p in placed
            ):
                break
        placed.append(xy)
        # Decoys never take the neutral colours the targets wear, so they stay tellable.
        palette = [c for c in COLOURS if not decoy or c not in NEUTRAL]
        colour = str(rng.choice(palette))
        shape = "decoy" if decoy else str(rng.choice(SHAPES))
        size = rng.uniform(0.015, 0.035, size=3)
        out.append(
            Distractor(
                slot=slot,
                pos=np.array([xy[0], xy[1], 0.0]),
                yaw=float(rng.uniform(-np.pi, np.pi) if not decoy else rng.uniform(-0.6, 0.6)),
                colour=colour,
                shape=shape,
                size=size,
                decoy=decoy,
            )
        )
    return out


def _free_spot(
    rng: np.random.Generator,
    region: tuple[tuple[float, float], tuple[float, float]],
    taken: list[np.ndarray],
    clear: float,
) -> np.ndarray:
    """A point of `region` at least `clear` from every `taken` point."""
    for _ in range(1000):
        xy = np.array([rng.uniform(*region[0]), rng.uniform(*region[1])])
        if all(np.linalg.norm(xy - t) > clear for t in taken):
            return xy
    raise SimError("no free place on the table for the next station", hint="report the seed")


def _place_station(rng: np.random.Generator, condition: str, first_xy: np.ndarray) -> Station:
    if condition == "canonical":
        return Station(CANONICAL_STATION.copy(), 0.0, CANONICAL_RACK.copy(), RACK_YAW)
    target_xy = _free_spot(rng, REGION, [first_xy], STATION_CLEAR)
    rack_xy = _free_spot(rng, RACK_REGION, [first_xy, target_xy], RACK_CLEAR)
    return Station(
        np.array([*target_xy, 0.0]),
        float(rng.uniform(-MAX_TARGET_YAW, MAX_TARGET_YAW)),
        np.array([*rack_xy, 0.0]),
        RACK_YAW + float(rng.uniform(-MAX_TARGET_YAW, MAX_TARGET_YAW)),
    )


def sample_layout(
    spec: TaskSpec,
    condition: str,
    rng: np.random.Generator,
    distractors: int | None = None,
    start: str = "approach",
    wrist_jitter: float | None = None,
    second: TaskSpec | None = None,
) -> Layout:
    """Draw one episode's layout; the same generator state gives the same layout.

    `wrist_jitter` (m) moves the wrist camera on its mount by up to that much per axis
    in any condition (drawn last, so the rest of the layout is unchanged): a stress test
    of how a skill copes with a mount that is off by millimetres. With `second` (a
    chained scene) a second station is placed clear of the first target.
    """
    if condition == "canonical":
        target_pos, target_yaw = CANONICAL_TARGET.copy(), 0.0
    else:
        target_pos = np.array([rng.uniform(*REGION[0]), rng.uniform(*REGION[1]), 0.0])
        target_yaw = float(rng.uniform(-MAX_TARGET_YAW, MAX_TARGET_YAW))
    noise = np.array(
        [
            rng.uniform(-START_XY, START_XY),
            rng.uniform(-START_XY, START_XY),
            rng.uniform(-START_Z, START_Z),
        ]
    )
    yaw_noise = float(rng.uniform(-START_YAW, START_YAW))
    if start == "approach":
        offset = spec.approach_offset() + spec.target_point() + noise
        start_pos = target_pos + yaw_matrix(target_yaw) @ offset
        start_yaw = target_yaw + yaw_noise
    else:
        start_pos = HOME + noise
        start_yaw = yaw_noise
    layout = Layout(target_pos, target_yaw, start_pos, start_yaw)
    count = distractors
    if count is None:
        count = int(rng.integers(2, MAX_DISTRACTORS + 1)) if condition == "scene" else 0
    keep_out = [target_pos[:2]]
    if second is not None:
        layout.station = _place_station(rng, condition, target_pos[:2])
        keep_out += [layout.station.target_pos[:2], layout.station.rack_pos[:2]]
    layout.distractors = _place_distractors(rng, count, keep_out)
    if condition == "scene":
        layout.table_texture = str(rng.choice(SURFACE_TEXTURES))
        layout.table_rgb = tuple(rng.uniform(0.25, 1.0, size=3))
        layout.wall_texture = str(rng.choice(SURFACE_TEXTURES))
        layout.wall_rgb = tuple(rng.uniform(0.25, 1.0, size=3))
        layout.light_scale = float(rng.uniform(0.5, 1.4))
        layout.light_shift = rng.uniform(-0.4, 0.4, size=3)
        layout.camera_shift = rng.uniform(-0.02, 0.02, size=3)
        layout.camera_tilt = rng.uniform(-np.deg2rad(2.0), np.deg2rad(2.0), size=3)
    if wrist_jitter is not None:
        layout.wrist_shift = rng.uniform(-wrist_jitter, wrist_jitter, size=3)
    return layout
