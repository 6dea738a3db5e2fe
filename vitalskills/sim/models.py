"""MJCF geoms of each task's target and held object, built from boxes around openings.

Collision geoms are boxes (MuJoCo's box-box test is exact enough for millimetre gaps);
decoration is visual only (`contype=0`, group 1). `collide=False` builds a look-alike
without physics, used for the decoys of the `scene` condition.
"""

from __future__ import annotations

from vitalskills.sim.plates import plate_boxes
from vitalskills.sim.tasks import TaskSpec

#: Contact parameters for the parts that touch: stiff enough for millimetre gaps.
CONTACT = 'solref="0.004 1" solimp="0.95 0.99 0.0005" friction="0.4 0.005 0.0001"'


def _box(name: str, pos: tuple, size: tuple, rgba: str, collide: bool) -> str:
    p = " ".join(f"{v:.6f}" for v in pos)
    s = " ".join(f"{v:.6f}" for v in size)
    physics = f'{CONTACT} group="2"' if collide else 'contype="0" conaffinity="0" group="1"'
    label = f'name="{name}" ' if name else ""
    return f'<geom {label}type="box" pos="{p}" size="{s}" rgba="{rgba}" {physics}/>'


def _visual(kind: str, pos: tuple, size: tuple, rgba: str, extra: str = "") -> str:
    p = " ".join(f"{v:.6f}" for v in pos)
    s = " ".join(f"{v:.6f}" for v in size)
    return (
        f'<geom type="{kind}" pos="{p}" size="{s}" rgba="{rgba}" '
        f'contype="0" conaffinity="0" group="1" {extra}/>'
    )


def _holed_block(
    spec: TaskSpec,
    extent: tuple[float, float, float, float],
    holes: list[tuple[float, float, float, float]],
    rgba: str,
    collide: bool,
) -> list[str]:
    """A block from the table to `entry_z` with openings `hole_depth` deep."""
    floor = spec.entry_z - spec.hole_depth
    half_h = spec.hole_depth / 2
    x0, x1, y0, y1 = extent
    geoms = [
        _box(
            "",
            ((x0 + x1) / 2, (y0 + y1) / 2, floor / 2),
            ((x1 - x0) / 2, (y1 - y0) / 2, floor / 2),
            rgba,
            collide,
        )
    ]
    for cx, cy, hx, hy in plate_boxes(extent, holes):
        geoms.append(_box("", (cx, cy, floor + half_h), (hx, hy, half_h), rgba, collide))
    for cx, cy, hx, hy in holes:
        geoms.append(_visual("box", (cx, cy, floor + 0.0005), (hx, hy, 0.0005), "0.05 0.05 0.05 1"))
    return geoms


def target_geoms(spec: TaskSpec, collide: bool = True, rgba: str | None = None) -> str:
    """Return the geoms of the task's target, in the target frame."""
    name = spec.name
    if name == "plug_in_socket":
        body = rgba or "0.86 0.86 0.84 1"
        holes = []
        for outlet in (-0.08, 0.0, 0.08):
            holes += [(outlet + o.cx, o.cy, o.hx, o.hy) for o in spec.openings]
        geoms = _holed_block(spec, (-0.13, 0.13, -0.03, 0.03), holes, body, collide)
        for outlet in (-0.08, 0.0, 0.08):
            geoms.append(
                _visual("sphere", (outlet, 0.009, spec.entry_z), (0.0022,), "0.1 0.1 0.1 1")
            )
        geoms.append(
            _visual("box", (0.112, 0.0, spec.entry_z), (0.009, 0.013, 0.002), "0.8 0.1 0.1 1")
        )
        geoms.append(
            _visual(
                "cylinder", (-0.17, 0.0, 0.01), (0.005, 0.04), "0.1 0.1 0.1 1", 'euler="0 1.5708 0"'
            )
        )
        return "\n".join(geoms)
    if name == "usb_insert":
        body = rgba or "0.15 0.16 0.2 1"
        o = spec.openings[0]
        geoms = _holed_block(
            spec, (-0.035, 0.035, -0.025, 0.025), [(o.cx, o.cy, o.hx, o.hy)], body, collide
        )
        geoms.append(
            _visual("box", (0.0, -0.018, spec.entry_z), (0.004, 0.002, 0.0004), "0.2 0.5 1 1")
        )
        geoms.append(
            _visual("box", (0.022, 0.0, spec.entry_z), (0.002, 0.002, 0.0004), "0.1 0.9 0.3 1")
        )
        return "\n".join(geoms)
    if name == "key_in_lock":
        body = rgba or "0.55 0.55 0.58 1"
        o = spec.openings[0]
        geoms = _holed_block(
            spec, (-0.025, 0.025, -0.025, 0.025), [(o.cx, o.cy, o.hx, o.hy)], body, collide
        )
        ring = [
            ((0.0, 0.011), (0.016, 0.005)),
            ((0.0, -0.011), (0.016, 0.005)),
            ((0.011, 0.0), (0.005, 0.006)),
            ((-0.011, 0.0), (0.005, 0.006)),
        ]
        for (x, y), (hx, hy) in ring:
            geoms.append(_visual("box", (x, y, spec.entry_z), (hx, hy, 0.0004), "0.78 0.62 0.25 1"))
        return "\n".join(geoms)
    body = rgba or "0.2 0.2 0.22 1"
    o = spec.openings[0]
    wall = 0.015
    floor = spec.entry_z - spec.hole_depth
    geoms = [_box("", (0.0, 0.0, floor / 2), (o.hx, o.hy + wall, floor / 2), body, collide)]
    for side in (-1.0, 1.0):
        y = side * (o.hy + wall / 2)
        geoms.append(
            _box(
                "",
                (0.0, y, floor + spec.hole_depth / 2),
                (o.hx, wall / 2, spec.hole_depth / 2),
                body,
                collide,
            )
        )
    geoms.append(
        _visual("box", (0.0, 0.0, floor + 0.0005), (o.hx, o.hy, 0.0005), "0.05 0.05 0.05 1")
    )
    geoms.append(
        _visual(
            "box", (0.05, -(o.hy + wall / 2), spec.entry_z), (0.006, 0.004, 0.0006), "0.1 0.8 0.2 1"
        )
    )
    return "\n".join(geoms)


def held_geoms(spec: TaskSpec) -> str:
    """Return the geoms of the held object, in the object frame (tip at the origin)."""
    name = spec.name
    if name == "plug_in_socket":
        geoms = [
            _box("", (i.cx, i.cy, 0.008), (i.hx, i.hy, 0.008), "0.85 0.7 0.3 1", True)
            for i in spec.inserts
        ]
        geoms.append(_box("", (0.0, 0.0, 0.029), (0.017, 0.011, 0.013), "0.1 0.1 0.1 1", True))
        geoms.append(_visual("cylinder", (0.0, 0.0, 0.047), (0.004, 0.005), "0.1 0.1 0.1 1"))
        return "\n".join(geoms)
    if name == "usb_insert":
        i = spec.inserts[0]
        return "\n".join(
            [
                _box("", (0.0, 0.0, 0.006), (i.hx, i.hy, 0.006), "0.75 0.75 0.78 1", True),
                _box("", (0.0, 0.0, 0.028), (0.008, 0.0045, 0.016), "0.1 0.1 0.12 1", True),
            ]
        )
    if name == "key_in_lock":
        i = spec.inserts[0]
        return "\n".join(
            [
                _box("", (0.0, 0.0, 0.0125), (i.hx, i.hy, 0.0125), "0.8 0.7 0.4 1", True),
                _box("", (0.0, 0.0, 0.036), (0.012, 0.0015, 0.011), "0.8 0.7 0.4 1", True),
                _visual("box", (0.0, 0.0, 0.040), (0.004, 0.0016, 0.004), "0.2 0.2 0.2 1"),
            ]
        )
    i = spec.inserts[0]
    return "\n".join(
        [
            _box("", (0.0, 0.0, 0.0225), (i.hx, i.hy, 0.0225), "0.15 0.35 0.8 1", True),
            _visual("box", (0.0, 0.0, 0.006), (i.hx, i.hy + 0.0001, 0.003), "0.05 0.05 0.05 1"),
        ]
    )
