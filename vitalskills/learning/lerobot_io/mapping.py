"""Which LeRobot feature holds which vitalskills arrays, in both directions.

A `Column` is one LeRobot feature and the vitalskills arrays it carries: a camera
(`observation.wrist_rgb` -> `observation.images.wrist`, PNG frames or video), a mask
(`privileged.wrist_mask`, `mask.keep`: 1-channel PNG frames, never video), the state
vector (`observation.ee_pose` and `observation.gripper` -> `observation.state`, 8 named
values), or any other numeric array as a fixed-size list (flattened when it has more than
one axis). Export plans its columns from a dataset's features and writes them into the
LeRobot `info.json` (`vitalskills.columns`), so an import of that export restores every
array under its own key, dtype and shape. A dataset LeRobot wrote gets the same columns
from its features by the rules of `columns_from_lerobot`.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from vitalskills.learning.dataset import ACTION, Feature

#: Columns LeRobot adds to every frame; import reads them, they hold no vitalskills array.
INDEX_COLUMNS = ("timestamp", "frame_index", "episode_index", "index", "task_index")
IMAGES = "observation.images."
STATE = "observation.state"
EE_POSE = "observation.ee_pose"
GRIPPER = "observation.gripper"
TACTILE = "observation.tactile"
#: The robot's per-frame success report is an outcome, not a policy input: LeRobot's
#: `next.success` (lerobot-train feeds every `observation.*` feature to the policy).
SUCCESS = "observation.success"
NEXT_SUCCESS = "next.success"
POSE_NAMES = ["x", "y", "z", "qw", "qx", "qy", "qz"]
ACTION_NAMES = ["dx", "dy", "dz", "rx", "ry", "rz", "gripper"]
IMAGE_NAMES = ["height", "width", "channels"]
#: LeRobot states that split into vitalskills keys without being told (import).
STATE_SPLITS: dict[int, list[tuple[str, int]]] = {
    7: [(EE_POSE, 7)],
    8: [(EE_POSE, 7), (GRIPPER, 1)],
}
_NUMERIC = ("bool", "int", "uint", "float")

Kind = Literal["rgb", "mask", "vector"]


@dataclass(frozen=True)
class Source:
    """One vitalskills array inside a column: its key, dtype and per-frame shape."""

    key: str
    dtype: str
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        """Numbers per frame."""
        return math.prod(self.shape)


@dataclass(frozen=True)
class Column:
    """One LeRobot feature and the vitalskills arrays it holds, in order."""

    key: str
    kind: Kind
    sources: tuple[Source, ...]
    dtype: str  # LeRobot's: `image`, `video`, or a numeric dtype name
    shape: tuple[int, ...]
    names: list[str] | None = None

    def feature(self) -> dict[str, Any]:
        """The column as a LeRobot `info.json` feature."""
        return {"dtype": self.dtype, "shape": list(self.shape), "names": self.names}

    def record(self) -> dict[str, Any]:
        """The column for `info.json`'s `vitalskills.columns`, from which import restores it."""
        return {
            "kind": self.kind,
            "sources": [
                {"key": s.key, "dtype": s.dtype, "shape": list(s.shape)} for s in self.sources
            ],
        }


@dataclass(frozen=True)
class Unmapped:
    """Something that has no place in the other format, and why."""

    what: str
    why: str

    def __str__(self) -> str:
        return f"{self.what}: {self.why}"


@dataclass
class Plan:
    """The columns of a conversion and what it leaves out or changes."""

    columns: list[Column] = field(default_factory=list)
    unmapped: list[Unmapped] = field(default_factory=list)
    lossy: list[str] = field(default_factory=list)


def _camera_name(key: str) -> str:
    """`observation.wrist_rgb` -> `observation.images.wrist` (LeRobot's camera naming)."""
    if not key.startswith("observation."):
        return key
    camera = key.removeprefix("observation.")
    return IMAGES + (camera.removesuffix("_rgb") or camera)


def _is_numeric(dtype: str) -> bool:
    return dtype.startswith(_NUMERIC)


def _vector_names(key: str, size: int) -> list[str] | None:
    if key == ACTION and size == len(ACTION_NAMES):
        return list(ACTION_NAMES)
    if key == TACTILE:
        return [f"taxel_{i}" for i in range(size)]
    return None


def _vector(key: str, sources: list[Source]) -> Column:
    size = sum(source.size for source in sources)
    return Column(
        key=key,
        kind="vector",
        sources=tuple(sources),
        dtype=sources[0].dtype,
        shape=(size,),
        names=_vector_names(key, size),
    )


def plan_export(features: dict[str, Feature], *, video: bool, exclude: Sequence[str] = ()) -> Plan:
    """Decide the LeRobot columns of a vitalskills dataset with these features.

    Args:
        features: the dataset's `info.features`.
        video: store colour cameras as MP4 video (lossy) instead of PNG frames.
        exclude: shell-style patterns of array keys to leave out (`privileged.*`).
    """
    plan = Plan()
    sources = {}
    for key, feature in features.items():
        pattern = next((p for p in exclude if fnmatch.fnmatchcase(key, p)), None)
        if pattern is None:
            sources[key] = Source(key, feature.dtype, tuple(feature.shape))
        else:
            plan.unmapped.append(Unmapped(f"`{key}`", f"left out (--exclude {pattern})"))
    pose, grip = sources.get(EE_POSE), sources.get(GRIPPER)
    if pose and pose.shape == (7,) and pose.dtype == "float32":
        parts = [pose]
        if grip and grip.shape == (1,) and grip.dtype == "float32":
            parts.append(grip)
        plan.columns.append(
            Column(
                key=STATE,
                kind="vector",
                sources=tuple(parts),
                dtype="float32",
                shape=(len(parts) + 6,),
                names=POSE_NAMES + (["gripper"] if len(parts) == 2 else []),
            )
        )
        for part in parts:
            del sources[part.key]
    for key, source in sources.items():
        shape, dtype = source.shape, source.dtype
        if dtype == "uint8" and len(shape) == 3 and shape[2] == 3:
            plan.columns.append(
                Column(
                    key=_camera_name(key),
                    kind="rgb",
                    sources=(source,),
                    dtype="video" if video else "image",
                    shape=shape,
                    names=list(IMAGE_NAMES),
                )
            )
            if video:
                plan.lossy.append(f"`{key}` as H.264 video (pixels change)")
        elif dtype in ("uint8", "bool") and (
            len(shape) == 2 or (len(shape) == 3 and shape[2] == 1)
        ):
            plan.columns.append(
                Column(
                    key=key,
                    kind="mask",
                    sources=(source,),
                    dtype="image",
                    shape=(shape[0], shape[1], 1),
                    names=list(IMAGE_NAMES),
                )
            )
        elif _is_numeric(dtype):
            plan.columns.append(_vector(NEXT_SUCCESS if key == SUCCESS else key, [source]))
        else:
            plan.unmapped.append(
                Unmapped(f"`{key}` ({dtype}{list(shape)})", "LeRobot features hold numbers only")
            )
    return plan


def columns_from_record(record: dict[str, Any], features: dict[str, Any]) -> list[Column]:
    """Rebuild the columns an export wrote into `info.json`'s `vitalskills.columns`."""
    columns = []
    for key, spec in record.items():
        feature = features[key]
        sources = tuple(Source(s["key"], s["dtype"], tuple(s["shape"])) for s in spec["sources"])
        columns.append(
            Column(
                key=key,
                kind=spec["kind"],
                sources=sources,
                dtype=feature["dtype"],
                shape=tuple(feature["shape"]),
                names=feature.get("names"),
            )
        )
    return columns


def image_layout(shape: tuple[int, ...], names: Any) -> tuple[int, int, int]:
    """Height, width and channels of a LeRobot image feature (channels last or first)."""
    named_first = isinstance(names, list) and bool(names) and names[0] in ("channels", "channel")
    if named_first or (shape[0] in (1, 3) and shape[2] not in (1, 3)):
        channels, height, width = shape
    else:
        height, width, channels = shape
    return height, width, channels


def _rgb_key(key: str) -> str:
    """`observation.images.wrist` -> `observation.wrist_rgb`, as `skills register` maps it."""
    if not key.startswith(IMAGES):
        return key
    camera = key.removeprefix(IMAGES)
    return f"observation.{camera if camera.endswith('_rgb') else camera + '_rgb'}"


def columns_from_lerobot(features: dict[str, Any]) -> Plan:
    """Decide the vitalskills arrays of a LeRobot dataset that vitalskills did not write.

    Colour cameras `observation.images.X` become `observation.X_rgb`, 1-channel images
    `observation.images.X` become `observation.X` (H, W); a 7- or 8-value
    `observation.state` becomes `observation.ee_pose` (+ `observation.gripper`), as
    `skills register --from-lerobot` reads it; other numeric features keep their name.
    """
    plan = Plan()
    for key, feature in features.items():
        if key in INDEX_COLUMNS:
            continue
        dtype, shape = feature.get("dtype"), tuple(feature.get("shape") or ())
        names = feature.get("names")
        if dtype in ("image", "video") and len(shape) == 3:
            height, width, channels = image_layout(shape, names)
            if channels == 3:
                source = Source(_rgb_key(key), "uint8", (height, width, 3))
                kind: Kind = "rgb"
            elif channels == 1:
                target = (
                    f"observation.{key.removeprefix(IMAGES)}" if key.startswith(IMAGES) else key
                )
                source, kind = Source(target, "uint8", (height, width)), "mask"
            else:
                plan.unmapped.append(
                    Unmapped(f"`{key}`", f"images with {channels} channels are not read")
                )
                continue
            plan.columns.append(Column(key, kind, (source,), dtype, shape, names))
            if dtype == "video":
                plan.lossy.append(f"`{key}` is video: frames are decoded, not the original pixels")
        elif key == STATE and dtype == "float32" and len(shape) == 1 and shape[0] in STATE_SPLITS:
            parts = tuple(Source(k, "float32", (n,)) for k, n in STATE_SPLITS[shape[0]])
            plan.columns.append(Column(key, "vector", parts, dtype, shape, names))
        elif isinstance(dtype, str) and _is_numeric(dtype) and len(shape) >= 1:
            source = Source(SUCCESS if key == NEXT_SUCCESS else key, dtype, shape)
            plan.columns.append(Column(key, "vector", (source,), dtype, shape, names))
        else:
            plan.unmapped.append(
                Unmapped(f"`{key}` ({dtype}{list(shape)})", "not an image or a numeric array")
            )
    return plan
