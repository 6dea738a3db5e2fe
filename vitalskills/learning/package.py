"""A trained policy as a skill folder the library recognizes, and loading it back safely.

    SKILL_DIR/skill.yaml                 manifest: specs, offset, weights + sha256, provenance
    SKILL_DIR/policy/config.json         the policy config, with its `type` tag
    SKILL_DIR/policy/model.safetensors   weights and normalization statistics (buffers)

Loading checks, in order: the manifest's sha256 of every file, the config's type and
values, the safetensors header's type tag, then every tensor's name and shape against
a freshly built network, and only then reads the weights.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
import yaml
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from vitalskills.learning.config import BCConfig, parse_config
from vitalskills.learning.errors import PolicyConfigError, PolicyPackageError
from vitalskills.learning.model import VitalBC
from vitalskills.skills.library import SkillLibraryError
from vitalskills.skills.manifest import (
    MANIFEST_FILE,
    CameraInput,
    ObservationSpec,
    SkillManifest,
    WeightsFile,
    load_manifest,
    sha256_of,
)

CONFIG_FILE = "policy/config.json"
WEIGHTS_FILE = "policy/model.safetensors"
FORMAT_TAG = "vitalskills-policy"


def save_policy(model: VitalBC, folder: Path) -> None:
    """Write `policy/config.json` and `policy/model.safetensors` under `folder`."""
    (folder / "policy").mkdir(parents=True, exist_ok=True)
    config = model.config.model_dump(mode="json")
    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    state = {key: value.contiguous() for key, value in model.state_dict().items()}
    save_file(state, folder / WEIGHTS_FILE, metadata={"format": FORMAT_TAG, "type": config["type"]})


def shape_mismatches(handle: Any, expected: dict[str, torch.Tensor]) -> list[str]:
    """List missing, extra and differently shaped tensors of an open safetensors file.

    Reads only the file's header, so a mismatched package is refused before any weight
    is loaded.
    """
    names = set(handle.keys())
    problems = sorted(set(expected) ^ names)
    for name in sorted(names & set(expected)):
        shape = list(handle.get_slice(name).get_shape())
        if shape != list(expected[name].shape):
            problems.append(f"{name} {shape} != {list(expected[name].shape)}")
    return problems


def load_policy(config_path: Path, weights_path: Path) -> VitalBC:
    """Build the network from `config_path` and load `weights_path` after checking them.

    Raises:
        PolicyConfigError: the config is not valid JSON or has a bad field.
        PolicyPackageError: the weights are corrupt, of another type, or of other shapes.
    """
    try:
        data = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PolicyConfigError(f"cannot read policy config `{config_path}`: {error}") from None
    if not isinstance(data, dict):
        raise PolicyConfigError(f"policy config `{config_path}` must be a JSON object")
    config = parse_config(data, source=str(config_path))
    model = VitalBC(config)
    expected = model.state_dict()
    try:
        with safe_open(str(weights_path), framework="pt") as handle:
            meta = handle.metadata() or {}
            if meta.get("format") != FORMAT_TAG or meta.get("type") != config.type:
                raise PolicyPackageError(
                    f"`{weights_path}` holds `{meta.get('type', 'unknown')}` weights, "
                    f"but its config says `{config.type}`",
                    hint="the config and weights come from different policies; re-train or "
                    "re-install the skill",
                )
            problems = shape_mismatches(handle, expected)
            if problems:
                raise PolicyPackageError(
                    f"weights `{weights_path}` do not match config `{config_path}`: "
                    f"{'; '.join(problems[:4])}{' ...' if len(problems) > 4 else ''}",
                    hint="the config and weights come from different policies; re-train or "
                    "re-install the skill",
                )
            state = {name: handle.get_tensor(name) for name in expected}
    except (SafetensorError, OSError) as error:
        raise PolicyPackageError(
            f"weights file `{weights_path}` is unreadable: {error}",
            hint="re-install or re-train the skill",
        ) from None
    model.load_state_dict(state)
    return model.eval()


def observation_spec(config: BCConfig) -> ObservationSpec:
    """Return the manifest's observation spec for a policy config (no proprioception)."""
    camera = CameraInput(name=config.image_key, width=config.image_size, height=config.image_size)
    return ObservationSpec(cameras=[camera], tactile_dim=config.tactile_dim, proprio=[])


def _write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".tmp-{path.name}")
    with tmp.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def write_skill(
    folder: Path, model: VitalBC, template: dict[str, Any], provenance: dict[str, Any]
) -> SkillManifest:
    """Save the policy into `folder` and write its `skill.yaml`.

    Args:
        template: manifest fields the training does not decide: name, version,
            description, action, control_hz, max_steps, approach_offset, requires.
        provenance: how the weights were made (command, data, timings, evaluation).
    """
    folder.mkdir(parents=True, exist_ok=True)
    save_policy(model, folder)
    weights = [
        WeightsFile(path=name, sha256=sha256_of(folder / name))
        for name in (CONFIG_FILE, WEIGHTS_FILE)
    ]
    manifest = SkillManifest.model_validate(
        {
            **template,
            "observation": observation_spec(model.config),
            "weights": weights,
            "provenance": provenance,
            "root": folder,
        }
    )
    data = manifest.model_dump(mode="json", exclude={"root"})
    _write_text_atomic(folder / MANIFEST_FILE, yaml.safe_dump(data, sort_keys=False))
    return manifest


def update_provenance(folder: Path, **entries: Any) -> SkillManifest:
    """Merge `entries` into a skill's provenance (e.g. evaluation results) and rewrite it."""
    manifest = load_manifest(folder)
    data = manifest.model_dump(mode="json", exclude={"root"})
    data["provenance"] = {**data["provenance"], **entries}
    _write_text_atomic(folder / MANIFEST_FILE, yaml.safe_dump(data, sort_keys=False))
    return load_manifest(folder)


def load_skill_model(manifest: SkillManifest) -> VitalBC:
    """Verify a trained skill's files against its manifest and load its network.

    Raises:
        SkillNotTrainedError / SkillWeightsError: no weights, or a missing/changed file.
        PolicyPackageError: the manifest does not list a policy config and weights.
    """
    paths = {path.relative_to(manifest.root or Path.cwd()).as_posix(): path
             for path in manifest.weight_paths(verify=True)}  # fmt: skip
    missing = [name for name in (CONFIG_FILE, WEIGHTS_FILE) if name not in paths]
    if missing:
        raise PolicyPackageError(
            f"skill `{manifest.name}` lists no {' or '.join(f'`{m}`' for m in missing)} "
            "in its weights",
            hint="this skill was not packaged by `vitalskills train bc`",
        )
    model = load_policy(paths[CONFIG_FILE], paths[WEIGHTS_FILE])
    if observation_spec(model.config) != manifest.observation:
        raise PolicyPackageError(
            f"skill `{manifest.name}`: skill.yaml's observation spec does not match "
            "its policy config",
            hint="re-package the skill with `vitalskills train bc`",
        )
    return model


def verify_skill(folder: Path) -> SkillManifest:
    """Check a skill folder end to end: manifest, hashes, config, shapes, one forward pass.

    A residual, when the skill has one, is loaded and run once too.
    """
    manifest = load_manifest(Path(folder))
    model = load_skill_model(manifest)
    config = model.config
    images = torch.zeros(1, 1, 3, config.image_size, config.image_size)
    tactile = torch.zeros(1, 1, config.tactile_dim) if config.tactile_dim else None
    with torch.no_grad():
        out = model(images, tactile)
    if not torch.isfinite(out).all():
        raise PolicyPackageError(f"skill `{manifest.name}` predicts non-finite actions")
    from vitalskills.learning.residual_package import verify_residual

    verify_residual(manifest, model)
    return manifest


def register_skill(folder: Path, library: Path, *, link: bool = False, force: bool = False) -> Path:
    """Verify a skill and copy (or symlink) it into `library/NAME-VERSION`; return that path.

    Only `skill.yaml` and the files it lists are copied (not training checkpoints).

    Raises:
        SkillLibraryError: the destination exists and `force` is not set.
    """
    folder = Path(folder).resolve()
    manifest = verify_skill(folder)
    destination = Path(library) / f"{manifest.name}-{manifest.version}"
    if destination.exists() or destination.is_symlink():
        if not force:
            raise SkillLibraryError(
                f"`{destination}` already exists",
                hint="pass --force to replace it, or bump the skill's version",
            )
        if destination.is_symlink() or destination.is_file():
            destination.unlink()
        else:
            shutil.rmtree(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    if link:
        destination.symlink_to(folder, target_is_directory=True)
        return destination
    for name in [MANIFEST_FILE, *(entry.path for entry in manifest.weights)]:
        (destination / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(folder / name, destination / name)
    return destination
