"""A trained skill packs into a folder the library loads; corruption is a clear error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.learning.test_train import tiny_config
from tests.learning.toy import ToyRobot
from vitalskills.learning.bc.model import VitalBC
from vitalskills.learning.errors import PolicyConfigError, PolicyPackageError
from vitalskills.learning.policies import TrainedPolicyProvider
from vitalskills.learning.skill_folder import register_skill, verify_skill, write_skill
from vitalskills.skills import SkillLibrary, SkillWeightsError, load_manifest
from vitalskills.skills.library import SkillLibraryError

TEMPLATE = dict(
    name="toy_push",
    version="0.2.0",
    description="push a square onto a disc",
    action=dict(frame="ee", dim=7, low=[-1.0] * 7, high=[1.0] * 7),
    control_hz=10.0,
    max_steps=60,
    approach_offset=(0.0, 0.0, 0.05),
)


@pytest.fixture
def skill(tmp_path: Path) -> Path:
    folder = tmp_path / "toy_push"
    write_skill(folder, VitalBC(tiny_config()), TEMPLATE, {"command": "vitalskills train bc"})
    return folder


def test_packaged_skill_loads_through_the_library_and_acts(skill: Path) -> None:
    manifest = SkillLibrary([skill.parent]).get("toy_push")
    assert manifest.observation.tactile_dim == 15
    assert [w.path for w in manifest.weights] == ["policy/config.json", "policy/model.safetensors"]
    assert verify_skill(skill).name == "toy_push"
    policy = TrainedPolicyProvider().load(manifest)
    observation = ToyRobot().reset(seed=0)
    action = policy.act(observation)
    assert action.shape == (7,) and action.dtype == np.float32
    assert np.all(np.abs(action) <= 1.0)
    raw = yaml.safe_load((skill / "skill.yaml").read_text())
    assert raw["provenance"] == {"command": "vitalskills train bc"}


def test_a_changed_weights_file_fails_its_checksum(skill: Path) -> None:
    weights = skill / "policy" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(SkillWeightsError, match="does not match its sha256"):
        verify_skill(skill)


def _rehash(skill: Path) -> None:
    """Make the manifest's checksums match edited files, to reach the deeper checks."""
    from vitalskills.skills import sha256_of

    raw = yaml.safe_load((skill / "skill.yaml").read_text())
    for entry in raw["weights"]:
        entry["sha256"] = sha256_of(skill / entry["path"])
    (skill / "skill.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))


def test_weights_of_another_shape_are_rejected_before_loading(skill: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    write_skill(other, VitalBC(tiny_config(width=64)), TEMPLATE, {})
    (skill / "policy" / "model.safetensors").write_bytes(
        (other / "policy" / "model.safetensors").read_bytes()
    )
    _rehash(skill)
    with pytest.raises(PolicyPackageError, match=r"do not match config .*\[64\] != \[32\]"):
        verify_skill(skill)


def test_bad_config_and_truncated_weights_are_clear_errors(skill: Path) -> None:
    config = skill / "policy" / "config.json"
    good = config.read_text()
    config.write_text(json.dumps({**json.loads(good), "type": "diffusion"}))
    _rehash(skill)
    with pytest.raises(PolicyConfigError, match="unknown policy type `diffusion`"):
        verify_skill(skill)
    config.write_text(good)
    weights = skill / "policy" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    _rehash(skill)
    with pytest.raises(PolicyPackageError, match="is unreadable"):
        verify_skill(skill)


def test_register_copies_only_the_listed_files(skill: Path, tmp_path: Path) -> None:
    (skill / "checkpoints").mkdir()
    (skill / "checkpoints" / "big.bin").write_bytes(b"x" * 100)
    library = tmp_path / "lib"
    installed = register_skill(skill, library)
    assert installed == library / "toy_push-0.2.0"
    assert not (installed / "checkpoints").exists()
    assert load_manifest(installed).name == "toy_push"
    with pytest.raises(SkillLibraryError, match="already exists"):
        register_skill(skill, library)
    linked = register_skill(skill, library, link=True, force=True)
    assert linked.is_symlink()
    assert SkillLibrary([library]).get("toy_push").version == "0.2.0"
