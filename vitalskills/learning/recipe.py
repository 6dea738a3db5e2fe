"""`train bc` end to end: dataset in, packaged skill folder out, with its provenance.

Manifest fields the training does not decide (action limits, control rate, approach
offset, ...) come from a template: a given `skill.yaml`, else the library's skill of
the same name (the shipped, declared-but-untrained manifests), else defaults derived
from the dataset and, for simulator tasks, the task's approach offset. A simulator task
that is done upright also gives its skill zero roll and pitch limits.
"""

from __future__ import annotations

import hashlib
import platform
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import version as package_version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from vitalskills.errors import VitalskillsError
from vitalskills.learning.config import BCConfig
from vitalskills.learning.dataset import DemoDataset
from vitalskills.learning.package import write_skill
from vitalskills.learning.train import TARGET_POSE_KEY, TrainConfig, TrainResult, train_bc
from vitalskills.skills.manifest import SkillManifest, load_manifest

if TYPE_CHECKING:  # importing the simulator loads MuJoCo
    from vitalskills.sim.tasks import TaskSpec

TEMPLATE_FIELDS = (
    "name", "version", "description", "action", "control_hz", "max_steps",
    "approach_offset", "requires",
)  # fmt: skip


def skill_template(name: str, dataset: DemoDataset, manifest: Path | None) -> dict[str, Any]:
    """Return the manifest fields a trained skill inherits (see the module docstring)."""
    found: SkillManifest | None = None
    if manifest is not None:
        found = load_manifest(manifest.parent if manifest.is_file() else manifest)
    else:
        from vitalskills.skills import default_library

        try:
            found = default_library().get(name)
        except VitalskillsError:
            found = None
    # Simulator demos start where the task's reaching step leaves the gripper, so that
    # pose, not the template's, is the approach the policy was trained from.
    spec = _sim_task(dataset.info.task)
    sim_offset = None if spec is None else spec.approach_offset().astype(float).tolist()
    if found is not None:
        data = found.model_dump(mode="json", include=set(TEMPLATE_FIELDS))
        if sim_offset is not None:
            data["approach_offset"] = sim_offset
    else:
        actions = np.concatenate([episode.frames["action"] for episode in dataset])
        bound = np.abs(actions).max(axis=0).astype(float).tolist()
        data = {
            "version": "0.1.0",
            "description": f"{dataset.info.task}, learned by behaviour cloning",
            "action": {"frame": "ee", "dim": len(bound), "low": [-b for b in bound], "high": bound},
            "control_hz": dataset.info.control_hz,
            "max_steps": 150,
            "approach_offset": [0.0, 0.0, 0.05] if sim_offset is None else sim_offset,
        }
    if spec is not None and spec.upright:
        # An upright task's skill never tilts the tool (docs/simulator.md#tasks).
        for side in ("low", "high"):
            data["action"][side][3:5] = [0.0, 0.0]
    return {**data, "name": name}


def _sim_task(task: str) -> TaskSpec | None:
    from vitalskills.sim.tasks import TASKS

    return TASKS.get(task)


def dataset_fingerprint(dataset: DemoDataset) -> str:
    """Return a sha256 over the dataset's description and every episode file."""
    digest = hashlib.sha256((dataset.root / "meta" / "info.json").read_bytes())
    for path in dataset.paths:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def train_skill(
    data: Path,
    out: Path,
    config: BCConfig,
    train: TrainConfig,
    *,
    name: str | None = None,
    manifest: Path | None = None,
    resume: bool = False,
    command: str = "",
    on_step: Callable[[int, float], None] | None = None,
) -> tuple[SkillManifest, TrainResult]:
    """Train on the dataset at `data` and package the skill into `out`.

    Checkpoints go to `out/checkpoints/latest` (not part of the packaged skill).
    """
    dataset = DemoDataset(data)
    if config.pose_head and TARGET_POSE_KEY not in dataset.info.features:
        config = config.model_copy(update={"pose_head": False})  # real demos: no true pose
    name = name or dataset.info.task
    template = skill_template(name, dataset, manifest)
    result = train_bc(dataset, config, train, out / "checkpoints", resume=resume, on_step=on_step)
    metas = dataset.metas()
    model = result.model
    stats = {
        key: value.tolist()
        for key, value in model.state_dict().items()
        if key.endswith(("_mean", "_std"))
    }
    tail = result.losses[-min(50, len(result.losses)) :]
    provenance = {
        "status": "trained",
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "dataset": {
            "path": str(data),
            "task": dataset.info.task,
            "condition": dataset.info.condition,
            "source": dataset.info.source,
            "episodes": len(metas),
            "frames": sum(meta.length for meta in metas),
            "seeds": [meta.seed for meta in metas],
            "sha256": dataset_fingerprint(dataset),
        },
        "training": {
            **train.model_dump(mode="json"),
            "tactile": config.uses_tactile,
            "final_loss": float(np.mean(tail)),
            "seconds": round(result.seconds, 1),
            "resumed_from_step": result.resumed_from,
            "threads": torch.get_num_threads(),
            "device": "cpu",
            "machine": f"{platform.machine()}, {platform.processor() or 'unknown cpu'}",
            "torch": torch.__version__,
            "vitalskills": package_version("vitalskills"),
        },
        "policy": config.model_dump(mode="json"),
        "normalization": stats,
        "evaluation": {},
    }
    return write_skill(out, model, template, provenance), result
