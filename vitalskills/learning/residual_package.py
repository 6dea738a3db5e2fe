"""The residual inside a skill folder, beside the BC policy it corrects.

    SKILL_DIR/residual/config.json         the ResidualConfig, with `type: vital_residual`
    SKILL_DIR/residual/actor.safetensors   the actor's weights (critics are training state)

Both files are listed in `skill.yaml`'s `weights` with their sha256 and the run's
provenance goes under `provenance.residual`, so `skills verify` and `skills register`
cover them like the policy files. A skill whose weights list no residual is BC alone.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch
import yaml
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from vitalskills.learning.errors import PolicyConfigError, PolicyPackageError
from vitalskills.learning.model import VitalBC
from vitalskills.learning.package import _write_text_atomic, shape_mismatches
from vitalskills.learning.residual import ResidualActor, ResidualConfig, feature_dim, validated
from vitalskills.skills.manifest import (
    MANIFEST_FILE,
    SkillManifest,
    WeightsFile,
    load_manifest,
    sha256_of,
)

RESIDUAL_CONFIG = "residual/config.json"
RESIDUAL_WEIGHTS = "residual/actor.safetensors"
FORMAT_TAG = "vitalskills-residual"
_HINT = "re-run `vitalskills train residual`, or evaluate the BC part with --no-residual"


def has_residual(manifest: SkillManifest) -> bool:
    """Whether the skill's manifest lists residual files."""
    return any(entry.path.startswith("residual/") for entry in manifest.weights)


def save_actor(actor: ResidualActor, folder: Path) -> None:
    """Write `residual/config.json` and `residual/actor.safetensors` under `folder`."""
    (folder / "residual").mkdir(parents=True, exist_ok=True)
    config = actor.config.model_dump(mode="json")
    (folder / RESIDUAL_CONFIG).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    state = {key: value.contiguous() for key, value in actor.state_dict().items()}
    save_file(state, folder / RESIDUAL_WEIGHTS, metadata={"format": FORMAT_TAG})


def load_actor(config_path: Path, weights_path: Path) -> ResidualActor:
    """Build the actor from its config and load its weights after checking names and shapes.

    Raises:
        PolicyConfigError: the config is unreadable or has a bad field.
        PolicyPackageError: the weights are corrupt, of another kind, or of other shapes.
    """
    try:
        data = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PolicyConfigError(f"cannot read residual config `{config_path}`: {error}") from None
    if not isinstance(data, dict) or data.get("type") != "vital_residual":
        raise PolicyConfigError(
            f"`{config_path}` is not a residual config (no `type: vital_residual`)", hint=_HINT
        )
    actor = ResidualActor(validated(ResidualConfig, data, str(config_path)))
    expected = actor.state_dict()
    try:
        with safe_open(str(weights_path), framework="pt") as handle:
            if (handle.metadata() or {}).get("format") != FORMAT_TAG:
                raise PolicyPackageError(f"`{weights_path}` holds no residual weights", hint=_HINT)
            problems = shape_mismatches(handle, expected)
            if problems:
                raise PolicyPackageError(
                    f"residual weights `{weights_path}` do not match `{config_path}`: "
                    f"{'; '.join(problems[:4])}",
                    hint=_HINT,
                )
            state = {name: handle.get_tensor(name) for name in expected}
    except (SafetensorError, OSError) as error:
        raise PolicyPackageError(
            f"residual weights `{weights_path}` are unreadable: {error}", hint=_HINT
        ) from None
    actor.load_state_dict(state)
    return actor.eval()


def load_residual(manifest: SkillManifest, model: VitalBC) -> ResidualActor:
    """Verify the skill's residual files (sha256) and load the actor for its BC network.

    Raises:
        SkillWeightsError: a residual file is missing or changed.
        PolicyPackageError: the residual was trained on a BC policy of another shape.
    """
    root = manifest.root or Path.cwd()
    paths = {p.relative_to(root).as_posix(): p for p in manifest.weight_paths(verify=True)}
    missing = [name for name in (RESIDUAL_CONFIG, RESIDUAL_WEIGHTS) if name not in paths]
    if missing:
        raise PolicyPackageError(
            f"skill `{manifest.name}` lists {', '.join(f'`{m}`' for m in missing)} missing "
            "from its residual",
            hint=_HINT,
        )
    actor = load_actor(paths[RESIDUAL_CONFIG], paths[RESIDUAL_WEIGHTS])
    if actor.config.feature_dim != feature_dim(model):
        raise PolicyPackageError(
            f"skill `{manifest.name}`: the residual expects {actor.config.feature_dim} input "
            f"features, its BC policy gives {feature_dim(model)}",
            hint="the residual was trained on another BC policy; " + _HINT,
        )
    return actor


def verify_residual(manifest: SkillManifest, model: VitalBC) -> None:
    """Load the residual (when the skill has one) and check one forward pass is finite."""
    if not has_residual(manifest):
        return
    actor = load_residual(manifest, model)
    with torch.no_grad():
        mean, log_std = actor(torch.zeros(1, actor.config.feature_dim))
    if not (torch.isfinite(mean).all() and torch.isfinite(log_std).all()):
        raise PolicyPackageError(f"skill `{manifest.name}`: the residual outputs non-finite values")


def copy_skill(source: Path, destination: Path) -> None:
    """Copy `skill.yaml` and every file it lists from `source` into `destination`."""
    manifest = load_manifest(source)
    for name in [MANIFEST_FILE, *(entry.path for entry in manifest.weights)]:
        (destination / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / name, destination / name)


def add_residual(folder: Path, actor: ResidualActor, provenance: dict[str, Any]) -> SkillManifest:
    """Save the actor into the skill `folder` and record its files and provenance.

    Any earlier residual's entries are replaced; the BC policy's are kept as they are.
    """
    save_actor(actor, folder)
    manifest = load_manifest(folder)
    data = manifest.model_dump(mode="json", exclude={"root"})
    kept = [entry for entry in data["weights"] if not entry["path"].startswith("residual/")]
    added = [
        WeightsFile(path=name, sha256=sha256_of(folder / name)).model_dump()
        for name in (RESIDUAL_CONFIG, RESIDUAL_WEIGHTS)
    ]
    data["weights"] = kept + added
    data["provenance"] = {**data["provenance"], "residual": provenance}
    _write_text_atomic(folder / MANIFEST_FILE, yaml.safe_dump(data, sort_keys=False))
    return load_manifest(folder)
