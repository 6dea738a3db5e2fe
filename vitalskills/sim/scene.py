"""The MJCF world of one task: table, wall, lights, cameras, compliant gripper, decoys.

A chained scene adds a second station: the next task's target, and its object standing
in a rack until the gripper closes on it.

One model per task is compiled once; episodes change only what MuJoCo lets you change
at run time (body poses, materials, lights, cameras), so a reset costs microseconds.

The gripper is a free body pulled towards a mocap target by a soft weld: contacts meet
a spring of bounded stiffness, never an infinitely stiff position servo. The held
object is its own free body, welded to the gripper by a stiffer weld that models the
elastic fingertip skin; the force in that weld is what the tactile skin feels.
"""

from __future__ import annotations

import numpy as np

from vitalskills.sim.models import held_geoms, target_geoms
from vitalskills.sim.tasks import TaskSpec

#: Number of distractor slots in every model (the `scene` condition shows 2 to 5).
MAX_DISTRACTORS = 5
#: How many of the slots are look-alikes of the target.
DECOYS = 2
#: Table surface materials cycled by the `scene` condition.
SURFACE_TEXTURES = ("plain", "checker", "noise", "gradient")
#: Finger travel (m) from closed on the object to fully open.
FINGER_TRAVEL = 0.035
#: Where the end effector waits when an episode starts away from the target.
HOME = np.array([0.5, 0.0, 0.25])
#: How deep (m) a rack's slot holds an object's tip, and the play around it.
RACK_DEPTH = 0.008
RACK_PLAY = 0.002
RACK_FLOOR = 0.003
#: How much further than a task's own grip the fingers may close (m, per finger).
FINGER_OVERCLOSE = 0.012
#: Half the width (m) of a finger's pad, along the end effector's x.
PAD_HALF_WIDTH = 0.009

WRIST_CAMERA_POS = np.array([0.09, 0.0, -0.03])
WRIST_CAMERA_LOOK = np.array([0.0, 0.0, 0.06])
SCENE_CAMERA_POS = np.array([0.93, 0.0, 0.47])
SCENE_CAMERA_LOOK = np.array([0.48, 0.0, 0.0])


def look_at_xyaxes(pos: np.ndarray, look: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Return MuJoCo camera `xyaxes` (image right, image up) looking from pos to look."""
    forward = look - pos
    forward = forward / np.linalg.norm(forward)
    right = np.cross(forward, up)
    right /= np.linalg.norm(right)
    image_up = np.cross(right, forward)
    return np.concatenate([right, image_up])


def _fmt(values: np.ndarray) -> str:
    return " ".join(f"{v:.6f}" for v in values)


def _assets() -> str:
    textures = [
        '<texture name="tex_checker" type="2d" builtin="checker" rgb1="1 1 1" '
        'rgb2="0.55 0.55 0.55" width="256" height="256"/>',
        '<texture name="tex_noise" type="2d" builtin="flat" rgb1="0.85 0.85 0.85" '
        'rgb2="0.5 0.5 0.5" mark="random" random="0.25" markrgb="0.4 0.4 0.4" '
        'width="256" height="256"/>',
        '<texture name="tex_gradient" type="2d" builtin="gradient" rgb1="1 1 1" '
        'rgb2="0.35 0.35 0.35" width="256" height="256"/>',
    ]
    materials = []
    for surface in ("table", "wall"):
        for texture in SURFACE_TEXTURES:
            tex = "" if texture == "plain" else f'texture="tex_{texture}" texrepeat="6 6"'
            materials.append(
                f'<material name="{surface}_{texture}" {tex} rgba="1 1 1 1" specular="0.1"/>'
            )
    return "<asset>\n" + "\n".join(textures + materials) + "\n</asset>"


def _gripper(spec: TaskSpec) -> str:
    cam_axes = look_at_xyaxes(WRIST_CAMERA_POS, WRIST_CAMERA_LOOK, np.array([0.0, 0.0, -1.0]))
    fingers = []
    for side, sign in (("left", 1.0), ("right", -1.0)):
        y = sign * (spec.grip_width / 2 + 0.003)
        fingers.append(
            f"""<body name="finger_{side}" pos="0 {y:.6f} 0" gravcomp="1">
  <joint name="finger_{side}" type="slide" axis="0 {sign:.0f} 0"
         range="{-FINGER_OVERCLOSE} {FINGER_TRAVEL}"
         damping="5" armature="0.01"/>
  <inertial pos="0 0 -0.02" mass="0.03" diaginertia="1e-5 1e-5 1e-5"/>
  <geom type="box" pos="0 {sign * 0.001:.4f} -0.017" size="{PAD_HALF_WIDTH} 0.003 0.027"
        rgba="0.25 0.25 0.27 1" group="2" friction="1 0.005 0.0001"/>
  <geom type="box" pos="0 {-sign * 0.0005:.4f} 0" size="0.0095 0.0008 0.009" rgba="0.9 0.55 0.2 1"
        contype="0" conaffinity="0" group="1"/>
</body>"""
        )
    return f"""<body name="ee_target" mocap="true" pos="{_fmt(HOME)}" quat="0 1 0 0"/>
<body name="gripper" pos="{_fmt(HOME)}" quat="0 1 0 0" gravcomp="1">
  <freejoint name="gripper"/>
  <inertial pos="0 0 -0.06" mass="0.6" diaginertia="0.002 0.002 0.002"/>
  <site name="ee" size="0.002" rgba="1 0 0 0"/>
  <geom type="box" pos="0 0 -0.056" size="0.018 0.045 0.012" rgba="0.3 0.3 0.33 1" group="2"/>
  <geom type="cylinder" pos="0 0 -0.095" size="0.03 0.027" rgba="0.85 0.85 0.87 1"
        contype="0" conaffinity="0" group="1"/>
  <geom type="box" pos="0.097 0 -0.04" size="0.006 0.01 0.008" rgba="0.1 0.1 0.1 1"
        contype="0" conaffinity="0" group="1"/>
  <camera name="wrist" pos="{_fmt(WRIST_CAMERA_POS)}" xyaxes="{_fmt(cam_axes)}" fovy="80"/>
  {"".join(fingers)}
</body>"""


def _held(spec: TaskSpec, name: str = "held") -> str:
    return f"""<body name="{name}" pos="{_fmt(HOME - [0, 0, spec.grip_height])}" gravcomp="1">
  <freejoint name="{name}"/>
  <inertial pos="0 0 {spec.grip_height:.4f}" mass="0.02" diaginertia="8e-6 8e-6 8e-6"/>
  {held_geoms(spec)}
</body>"""


def rack_slot(spec: TaskSpec) -> tuple[float, float]:
    """Half sizes (m) of the slot a rack holds `spec`'s object by: its tip plus play."""
    hx = max(abs(i.cx) + i.hx for i in spec.inserts) + RACK_PLAY
    hy = max(abs(i.cy) + i.hy for i in spec.inserts) + RACK_PLAY
    return hx, hy


def rack_lean(spec: TaskSpec) -> float:
    """How far (m) a racked object's grip point can be pushed across its slot.

    The object stands with its tip `RACK_DEPTH` deep in a slot with `RACK_PLAY` on each
    side; a finger closing on it leans it about the tip until the tip jams across the
    slot, which moves the grip point by `grip_height` times the sine of that angle.
    """
    lean = np.arctan2(2.0 * RACK_PLAY, RACK_DEPTH)
    return float(spec.grip_height * np.sin(lean))


def _rack(spec: TaskSpec) -> str:
    """A block with a slot that holds the next object upright, tip down."""
    hx, hy = rack_slot(spec)
    wall, top = 0.006, RACK_FLOOR + RACK_DEPTH
    half = top / 2
    boxes = [
        ((0.0, 0.0, RACK_FLOOR / 2), (hx + wall, hy + wall, RACK_FLOOR / 2)),
        ((0.0, hy + wall / 2, half), (hx + wall, wall / 2, half)),
        ((0.0, -hy - wall / 2, half), (hx + wall, wall / 2, half)),
        ((hx + wall / 2, 0.0, half), (wall / 2, hy, half)),
        ((-hx - wall / 2, 0.0, half), (wall / 2, hy, half)),
    ]
    geoms = "".join(
        f'<geom type="box" pos="{_fmt(np.array(p))}" size="{_fmt(np.array(s))}" '
        'rgba="0.35 0.3 0.25 1" group="2"/>'
        for p, s in boxes
    )
    return f'<body name="rack_1" pos="0.5 -0.3 0">{geoms}</body>'


def _station(spec: TaskSpec) -> str:
    """The second station of a chained scene: target, object and rack, suffixed `_1`."""
    return f"""<body name="target_1" pos="0.4 -0.2 0">
    {target_geoms(spec)}
  </body>
  {_rack(spec)}
  {_held(spec, "held_1")}"""


def _distractors(spec: TaskSpec) -> str:
    bodies = []
    for i in range(MAX_DISTRACTORS):
        if i < DECOYS:
            geoms = target_geoms(spec, collide=False, rgba="0.5 0.5 0.5 1")
        else:
            geoms = (
                '<geom type="box" size="0.03 0.03 0.03" pos="0 0 0.03" rgba="0.5 0.5 0.5 1" '
                'contype="0" conaffinity="0" group="1"/>'
            )
        bodies.append(f'<body name="distractor_{i}" pos="0 0 -2">{geoms}</body>')
    return "\n".join(bodies)


def _grasp_excludes(name: str) -> str:
    return "".join(
        f'<exclude body1="{hand}" body2="{name}"/>'
        for hand in ("gripper", "finger_left", "finger_right")
    )


def _grasp_weld(name: str, spec: TaskSpec, body: str, active: bool) -> str:
    return (
        f'<weld name="{name}" body1="gripper" body2="{body}" active="{str(active).lower()}" '
        f'relpose="0 0 {spec.grip_height:.6f} 0 1 0 0" solref="0.005 1" '
        'solimp="0.9 0.95 0.001" torquescale="1"/>'
    )


def build_mjcf(spec: TaskSpec, second: TaskSpec | None = None) -> str:
    """Return the MJCF text of the task's world (with `second`'s station when chained)."""
    scene_axes = look_at_xyaxes(SCENE_CAMERA_POS, SCENE_CAMERA_LOOK, np.array([0.0, 0.0, 1.0]))
    return f"""<mujoco model="vitalskills_{spec.name}">
<compiler angle="radian" autolimits="true"/>
<option timestep="0.002" integrator="implicitfast" jacobian="dense" cone="pyramidal"
        noslip_iterations="0" iterations="30"/>
<visual>
  <global offwidth="320" offheight="240"/>
  <quality shadowsize="0" offsamples="0" numslices="12" numstacks="8" numquads="1"/>
  <headlight ambient="0.25 0.25 0.25" diffuse="0.25 0.25 0.25" specular="0.05 0.05 0.05"/>
  <map znear="0.01" zfar="6"/>
</visual>
{_assets()}
<worldbody>
  <light name="key" directional="true" pos="0.6 0.3 1.2" dir="-0.3 -0.2 -1" diffuse="0.55 0.55 0.55"
         castshadow="false"/>
  <light name="fill" directional="true" pos="1.2 -0.5 0.8" dir="-0.6 0.4 -0.6" diffuse="0.2 0.2 0.2"
         castshadow="false"/>
  <geom name="table" type="box" pos="0.55 0 -0.02" size="0.45 0.55 0.02" material="table_plain"
        rgba="0.76 0.7 0.62 1" group="2"/>
  <geom name="wall" type="box" pos="-0.1 0 0.5" size="0.02 1.2 0.7" material="wall_plain"
        rgba="0.82 0.84 0.86 1" contype="0" conaffinity="0" group="1"/>
  <camera name="scene" pos="{_fmt(SCENE_CAMERA_POS)}" xyaxes="{_fmt(scene_axes)}" fovy="52"/>
  <body name="target" pos="0.5 0 0">
    {target_geoms(spec)}
  </body>
  {_distractors(spec)}
  {_gripper(spec)}
  {_held(spec)}
  {_station(second) if second else ""}
</worldbody>
<contact>
  {_grasp_excludes("held")}
  {_grasp_excludes("held_1") if second else ""}
</contact>
<equality>
  <weld name="servo" body1="ee_target" body2="gripper" relpose="0 0 0 1 0 0 0"
        solref="0.025 1" solimp="0.5 0.5 0.001" torquescale="1"/>
  {_grasp_weld("grasp", spec, "held", True)}
  {_grasp_weld("grasp_1", second, "held_1", False) if second else ""}
</equality>
<actuator>
  <position name="finger_left" joint="finger_left" kp="300"
            ctrlrange="{-FINGER_OVERCLOSE} {FINGER_TRAVEL}"/>
  <position name="finger_right" joint="finger_right" kp="300"
            ctrlrange="{-FINGER_OVERCLOSE} {FINGER_TRAVEL}"/>
</actuator>
</mujoco>"""
