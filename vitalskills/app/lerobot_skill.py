"""Register a LeRobot checkpoint as a skill: its manifest, its files, its shapes checked.

A LeRobot checkpoint folder (`config.json` with a `type` and its `input_features` and
`output_features`, `model.safetensors`, the saved processors) becomes a skill folder in
a library: `skill.yaml` with `policy.kind: lerobot`, and the checkpoint copied beside it
with every file's sha256. Each input feature is mapped to the robot's observation keys
(images to a camera, `observation.state` to the end-effector pose and gripper, a tactile
feature to `tactile`), and the shapes are checked against what a vitalskills robot
sends and takes, so a mismatch is found here and not on the arm.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from vitalskills.errors import UsageError
from vitalskills.learning.atomic import write_text_atomic
from vitalskills.skills.hashcache import sha256_of
from vitalskills.skills.manifest import MANIFEST_FILE, SkillManifest

#: A vitalskills action: xyz, rotation (axis-angle), gripper (robot/interface.py).
ACTION_DIM = 7
#: Observation keys and how many numbers each adds to a state vector.
STATE_SIZES = {"ee_pose": 7, "gripper": 1, "tactile": None}
#: Observation keys a feature `observation.KEY` maps to by its name.
OBSERVATION_KEYS = ("wrist_rgb", "ee_pose", "gripper", "tactile")
#: LeRobot state sizes that map without being told: 7 (pose) or 8 (pose and gripper).
DEFAULT_STATES = {7: ["ee_pose"], 8: ["ee_pose", "gripper"]}
CHECKPOINT_DIR = "checkpoint"
#: Largest action per step, as the shipped skills have it: 10 mm, 0.05 rad, the gripper.
LIMITS = [0.01, 0.01, 0.01, 0.05, 0.05, 0.05, 1.0]


def _feature_shape(name: str, spec: Any, config: Path) -> list[int]:
    shape = spec.get("shape") if isinstance(spec, dict) else None
    if not isinstance(shape, list) or not all(isinstance(n, int) and n > 0 for n in shape):
        raise UsageError(f"`{config}`: feature `{name}` has no valid `shape` (got {shape!r})")
    return shape


def default_inputs(features: Mapping[str, list[int]]) -> dict[str, list[str]]:
    """Map LeRobot input features to observation keys by their names and shapes."""
    inputs: dict[str, list[str]] = {}
    for name, shape in features.items():
        if name.startswith("observation.images."):
            camera = name.removeprefix("observation.images.")
            inputs[name] = [camera if camera.endswith("_rgb") else f"{camera}_rgb"]
        elif name == "observation.state" and len(shape) == 1 and shape[0] in DEFAULT_STATES:
            inputs[name] = DEFAULT_STATES[shape[0]]
        elif name in ("observation.tactile", "observation.environment_state"):
            inputs[name] = ["tactile"]
        elif name.removeprefix("observation.") in OBSERVATION_KEYS:
            inputs[name] = [name.removeprefix("observation.")]  # as `dataset export` names them
    return inputs


def lerobot_manifest(
    checkpoint: Path,
    name: str,
    *,
    python: str,
    approach_offset: Sequence[float],
    control_hz: float,
    max_steps: int,
    inputs: Mapping[str, list[str]] | None = None,
    version: str = "1.0.0",
) -> dict[str, Any]:
    """The `skill.yaml` data for a LeRobot checkpoint (weights are added by the caller).

    Raises:
        UsageError: no readable `config.json`, an input that maps to nothing, or shapes
            that do not fit a vitalskills robot; the message names the feature.
    """
    config_path = checkpoint / "config.json"
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UsageError(
            f"cannot read `{config_path}`: {error}",
            hint="pass a LeRobot checkpoint folder (config.json, model.safetensors)",
        ) from None
    if not isinstance(config, dict) or "type" not in config:
        raise UsageError(f"`{config_path}` is not a LeRobot policy config: it has no `type`")
    features = {
        key: _feature_shape(key, spec, config_path)
        for key, spec in (config.get("input_features") or {}).items()
    }
    mapping = {**default_inputs(features), **(inputs or {})}
    unknown = [key for key in mapping if key not in features]
    if unknown:
        raise UsageError(
            f"`--input {unknown[0]}=...`: the checkpoint has no input feature `{unknown[0]}`",
            hint=f"its inputs: {', '.join(features) or 'none'}",
        )
    unmapped = [key for key in features if key not in mapping]
    if unmapped:
        raise UsageError(
            f"input feature `{unmapped[0]}` {features[unmapped[0]]} maps to no observation",
            hint=f"map it with `--input {unmapped[0]}=KEY[,KEY]` "
            "(keys: wrist_rgb, tactile, ee_pose, gripper)",
        )
    cameras, tactile_dim, proprio = [], None, []
    for feature, keys in mapping.items():
        shape = features[feature]
        if len(shape) == 3:
            if len(keys) != 1 or shape[0] != 3:
                raise UsageError(
                    f"image feature `{feature}` {shape} needs one camera key and 3 channels"
                )
            cameras.append({"name": keys[0], "width": shape[2], "height": shape[1]})
            continue
        sizes = {key: STATE_SIZES.get(key, -1) for key in keys}
        if -1 in sizes.values():
            bad = next(key for key, size in sizes.items() if size == -1)
            raise UsageError(
                f"input `{feature}`: `{bad}` is no vector observation",
                hint="use ee_pose (7 values), gripper (1) or tactile",
            )
        known = sum(size for size in sizes.values() if size)
        if "tactile" in keys:
            size = shape[0] - known
            if size < 1 or tactile_dim not in (None, size):
                raise UsageError(
                    f"input `{feature}` {shape} leaves {size} values for `tactile`"
                    + (f", another input gives it {tactile_dim}" if tactile_dim else "")
                )
            tactile_dim = size
        elif known != shape[0]:
            raise UsageError(
                f"input `{feature}` has {shape[0]} values, but {', '.join(keys)} give {known}",
                hint=f"map it with `--input {feature}=KEY[,KEY]`",
            )
        proprio.extend(key for key in keys if key in ("ee_pose", "gripper") and key not in proprio)
    action = (config.get("output_features") or {}).get("action")
    action_shape = _feature_shape("action", action, config_path)
    if action_shape != [ACTION_DIM]:
        raise UsageError(
            f"the checkpoint's action is {action_shape}, a vitalskills robot takes "
            f"{ACTION_DIM} values (xyz, rotation, gripper)",
            hint="retrain the policy on this robot's actions (docs/skills.md)",
        )
    return {
        "name": name,
        "version": version,
        "description": f"LeRobot {config['type']} policy from {checkpoint}",
        "observation": {"cameras": cameras, "tactile_dim": tactile_dim, "proprio": proprio},
        "action": {"frame": "ee", "dim": ACTION_DIM, "low": [-x for x in LIMITS], "high": LIMITS},
        "control_hz": control_hz,
        "max_steps": max_steps,
        "approach_offset": list(approach_offset),
        "policy": {
            "kind": "lerobot",
            "checkpoint": CHECKPOINT_DIR,
            "python": python,
            "inputs": mapping,
        },
        "provenance": {"status": "imported", "source": f"lerobot:{config['type']}"},
    }


def register_lerobot(
    checkpoint: Path, library: Path, name: str, *, force: bool = False, **fields: Any
) -> Path:
    """Write the skill folder `library/NAME-VERSION` for a LeRobot checkpoint; return it.

    `fields` are `lerobot_manifest`'s keyword arguments.
    """
    data = lerobot_manifest(checkpoint, name, **fields)
    destination = library / f"{name}-{data['version']}"
    if destination.exists() and not force:
        raise UsageError(f"`{destination}` already exists", hint="pass --force to replace it")
    staging = library / f".{name}-{data['version']}.new"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(checkpoint, staging / CHECKPOINT_DIR)
    files = sorted(p for p in (staging / CHECKPOINT_DIR).rglob("*") if p.is_file())
    data["weights"] = [{"path": str(p.relative_to(staging)), "sha256": sha256_of(p)} for p in files]
    manifest = SkillManifest.model_validate({**data, "root": staging})
    write_text_atomic(staging / MANIFEST_FILE, yaml.safe_dump(manifest.to_data(), sort_keys=False))
    if destination.exists():
        shutil.rmtree(destination)
    staging.rename(destination)
    return destination
