"""A skill folder: a trained policy, and its residual, packaged for the skill library.

    SKILL_DIR/skill.yaml                   manifest: specs, offset, weights + sha256, provenance
    SKILL_DIR/policy/config.json           the BC policy config, with its `type` tag
    SKILL_DIR/policy/model.safetensors     weights and normalization statistics (buffers)
    SKILL_DIR/residual/config.json         the ResidualConfig, with `type: vital_residual`
    SKILL_DIR/residual/actor.safetensors   the actor's weights (critics are training state)

Every file is listed in `skill.yaml`'s `weights` with its sha256, and the residual run's
provenance goes under `provenance.residual`, so `skills verify` and `skills register`
cover the residual like the policy. A skill whose weights list no residual is BC alone.
Loading checks, in order: the manifest's sha256 of every file, the config's type and
values, the safetensors header's type tag, then every tensor's name and shape against a
freshly built network, and only then reads the weights.
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

from vitalskills.learning.atomic import write_text_atomic
from vitalskills.learning.bc.config import BCConfig, parse_config
from vitalskills.learning.bc.model import VitalBC
from vitalskills.learning.errors import PolicyConfigError, PolicyPackageError
from vitalskills.learning.residual.actor import ResidualActor, feature_dim
from vitalskills.learning.residual.config import ResidualConfig, validated
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

POLICY_CONFIG = "policy/config.json"
POLICY_WEIGHTS = "policy/model.safetensors"
POLICY_FORMAT = "vitalskills-policy"
RESIDUAL_CONFIG = "residual/config.json"
RESIDUAL_WEIGHTS = "residual/actor.safetensors"
RESIDUAL_FORMAT = "vitalskills-residual"
_RESIDUAL_HINT = "re-run `vitalskills train residual`, or evaluate the BC part with --no-residual"


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


def observation_spec(config: BCConfig) -> ObservationSpec:
    """Return the manifest's observation spec for a policy config (no proprioception)."""
    camera = CameraInput(name=config.image_key, width=config.image_size, height=config.image_size)
    return ObservationSpec(cameras=[camera], tactile_dim=config.tactile_dim, proprio=[])


def save_policy(model: VitalBC, folder: Path) -> None:
    """Write `policy/config.json` and `policy/model.safetensors` under `folder`."""
    (folder / "policy").mkdir(parents=True, exist_ok=True)
    config = model.config.model_dump(mode="json")
    (folder / POLICY_CONFIG).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    state = {key: value.contiguous() for key, value in model.state_dict().items()}
    save_file(
        state, folder / POLICY_WEIGHTS, metadata={"format": POLICY_FORMAT, "type": config["type"]}
    )


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
            if meta.get("format") != POLICY_FORMAT or meta.get("type") != config.type:
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


def load_skill_model(manifest: SkillManifest) -> VitalBC:
    """Verify a trained skill's files against its manifest and load its network.

    Raises:
        SkillNotTrainedError / SkillWeightsError: no weights, or a missing/changed file.
        PolicyPackageError: the manifest does not list a policy config and weights.
    """
    paths = {path.relative_to(manifest.root or Path.cwd()).as_posix(): path
             for path in manifest.weight_paths(verify=True)}  # fmt: skip
    missing = [name for name in (POLICY_CONFIG, POLICY_WEIGHTS) if name not in paths]
    if missing:
        raise PolicyPackageError(
            f"skill `{manifest.name}` lists no {' or '.join(f'`{m}`' for m in missing)} "
            "in its weights",
            hint="this skill was not packaged by `vitalskills train bc`",
        )
    model = load_policy(paths[POLICY_CONFIG], paths[POLICY_WEIGHTS])
    if observation_spec(model.config) != manifest.observation:
        raise PolicyPackageError(
            f"skill `{manifest.name}`: skill.yaml's observation spec does not match "
            "its policy config",
            hint="re-package the skill with `vitalskills train bc`",
        )
    return model


def has_residual(manifest: SkillManifest) -> bool:
    """Whether the skill's manifest lists residual files."""
    return any(entry.path.startswith("residual/") for entry in manifest.weights)


def save_actor(actor: ResidualActor, folder: Path) -> None:
    """Write `residual/config.json` and `residual/actor.safetensors` under `folder`."""
    (folder / "residual").mkdir(parents=True, exist_ok=True)
    config = actor.config.model_dump(mode="json")
    (folder / RESIDUAL_CONFIG).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    state = {key: value.contiguous() for key, value in actor.state_dict().items()}
    save_file(state, folder / RESIDUAL_WEIGHTS, metadata={"format": RESIDUAL_FORMAT})


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
            f"`{config_path}` is not a residual config (no `type: vital_residual`)",
            hint=_RESIDUAL_HINT,
        )
    actor = ResidualActor(validated(ResidualConfig, data, str(config_path)))
    expected = actor.state_dict()
    try:
        with safe_open(str(weights_path), framework="pt") as handle:
            if (handle.metadata() or {}).get("format") != RESIDUAL_FORMAT:
                raise PolicyPackageError(
                    f"`{weights_path}` holds no residual weights", hint=_RESIDUAL_HINT
                )
            problems = shape_mismatches(handle, expected)
            if problems:
                raise PolicyPackageError(
                    f"residual weights `{weights_path}` do not match `{config_path}`: "
                    f"{'; '.join(problems[:4])}",
                    hint=_RESIDUAL_HINT,
                )
            state = {name: handle.get_tensor(name) for name in expected}
    except (SafetensorError, OSError) as error:
        raise PolicyPackageError(
            f"residual weights `{weights_path}` are unreadable: {error}", hint=_RESIDUAL_HINT
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
            hint=_RESIDUAL_HINT,
        )
    actor = load_actor(paths[RESIDUAL_CONFIG], paths[RESIDUAL_WEIGHTS])
    if actor.config.feature_dim != feature_dim(model, actor.config.sees):
        raise PolicyPackageError(
            f"skill `{manifest.name}`: the residual expects {actor.config.feature_dim} input "
            f"features, its BC policy gives {feature_dim(model, actor.config.sees)}",
            hint="the residual was trained on another BC policy; " + _RESIDUAL_HINT,
        )
    return actor


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
        for name in (POLICY_CONFIG, POLICY_WEIGHTS)
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
    data = manifest.to_data()
    write_text_atomic(folder / MANIFEST_FILE, yaml.safe_dump(data, sort_keys=False))
    return manifest


def update_provenance(folder: Path, **entries: Any) -> SkillManifest:
    """Merge `entries` into a skill's provenance (e.g. evaluation results) and rewrite it."""
    manifest = load_manifest(folder)
    data = manifest.to_data()
    data["provenance"] = {**data["provenance"], **entries}
    write_text_atomic(folder / MANIFEST_FILE, yaml.safe_dump(data, sort_keys=False))
    return load_manifest(folder)


def add_residual(folder: Path, actor: ResidualActor, provenance: dict[str, Any]) -> SkillManifest:
    """Save the actor into the skill `folder` and record its files and provenance.

    Any earlier residual's entries are replaced; the BC policy's are kept as they are.
    """
    save_actor(actor, folder)
    manifest = load_manifest(folder)
    data = manifest.to_data()
    kept = [entry for entry in data["weights"] if not entry["path"].startswith("residual/")]
    added = [
        WeightsFile(path=name, sha256=sha256_of(folder / name)).model_dump()
        for name in (RESIDUAL_CONFIG, RESIDUAL_WEIGHTS)
    ]
    data["weights"] = kept + added
    data["provenance"] = {**data["provenance"], "residual": provenance}
    write_text_atomic(folder / MANIFEST_FILE, yaml.safe_dump(data, sort_keys=False))
    return load_manifest(folder)


def _copy_files(manifest: SkillManifest, source: Path, destination: Path) -> None:
    """Copy `skill.yaml` and every file it lists from `source` into `destination`."""
    for name in [MANIFEST_FILE, *(entry.path for entry in manifest.weights)]:
        (destination / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / name, destination / name)


def copy_skill(source: Path, destination: Path) -> None:
    """Copy `skill.yaml` and every file it lists from `source` into `destination`."""
    _copy_files(load_manifest(source), source, destination)


def verify_residual(manifest: SkillManifest, model: VitalBC) -> None:
    """Load the residual (when the skill has one) and check one forward pass is finite."""
    if not has_residual(manifest):
        return
    actor = load_residual(manifest, model)
    with torch.no_grad():
        mean, log_std = actor(torch.zeros(1, actor.config.feature_dim))
    if not (torch.isfinite(mean).all() and torch.isfinite(log_std).all()):
        raise PolicyPackageError(f"skill `{manifest.name}`: the residual outputs non-finite values")


def verify_skill(folder: Path) -> SkillManifest:
    """Check a skill folder end to end: manifest, hashes, config, shapes, one forward pass.

    A residual, when the skill has one, is loaded and run once too. A skill whose policy
    runs in another environment (`policy.kind`) has its files' hashes checked only.
    """
    manifest = load_manifest(Path(folder))
    if manifest.policy.kind != "vitalskills":
        manifest.weight_paths()  # its policy runs elsewhere: the files are what is here
        return manifest
    model = load_skill_model(manifest)
    config = model.config
    images = torch.zeros(1, 1, 3, config.image_size, config.image_size)
    tactile = torch.zeros(1, 1, config.tactile_dim) if config.tactile_dim else None
    with torch.no_grad():
        out = model(images, tactile)
    if not torch.isfinite(out).all():
        raise PolicyPackageError(f"skill `{manifest.name}` predicts non-finite actions")
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
    _copy_files(manifest, folder, destination)
    return destination
