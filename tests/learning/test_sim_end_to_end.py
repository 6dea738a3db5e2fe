"""The pipeline on the real simulator: collect -> train bc -> verify -> register -> run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from tests.tiny_skill import train_tiny_skill
from vitalskills.app.evaluate import evaluate_skill
from vitalskills.cli import app
from vitalskills.learning.dataset import DemoDataset
from vitalskills.learning.policies import TrainedPolicyProvider
from vitalskills.robot import policy_view
from vitalskills.skills import SkillLibrary, load_manifest

runner = CliRunner()


@pytest.fixture(scope="module")
def skill(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("e2e")
    return train_tiny_skill(root, root / "plug_insert")


def test_collected_demos_hold_sim_masks_and_succeed(skill: Path) -> None:
    dataset = DemoDataset(skill.parent / "demos")
    assert len(dataset) == 2 and all(meta.success for meta in dataset.metas())
    assert dataset.info.mask_labels["held"] == 3
    labels = dataset.episode(0).frames["privileged.wrist_mask"]
    assert labels.shape[1:] == (32, 32) and set(np.unique(labels)) > {0}


def test_trained_skill_manifest_records_provenance(skill: Path) -> None:
    manifest = load_manifest(skill)
    # Action limits and approach offset come from the shipped plug_insert declaration.
    shipped = SkillLibrary([Path(__file__).parents[2] / "skills"]).get("plug_insert")
    assert manifest.action == shipped.action
    assert manifest.approach_offset == shipped.approach_offset
    provenance = manifest.provenance
    assert provenance["command"].startswith("vitalskills train bc --data ")
    assert "--name plug_insert --steps 3 --batch-size 4" in provenance["command"]
    assert provenance["dataset"]["episodes"] == 2 and provenance["dataset"]["seeds"] == [3, 4]
    assert provenance["training"]["steps"] == 3
    assert len(provenance["normalization"]["action_mean"]) == 7
    raw = yaml.safe_load((skill / "skill.yaml").read_text())
    assert raw["observation"]["tactile_dim"] == 15


def test_verify_register_and_corruption_on_the_command_line(skill: Path, tmp_path: Path) -> None:
    verified = runner.invoke(app, ["skills", "verify", str(skill)], terminal_width=250)
    assert verified.exit_code == 0, verified.output
    assert "│ plug_insert │ 0.1.0   │ ok (2 files verified) │" in verified.output
    registered = runner.invoke(app, ["skills", "register", str(skill), "--skills", str(tmp_path)])
    assert registered.exit_code == 0, registered.output
    again = runner.invoke(app, ["skills", "register", str(skill), "--library", str(tmp_path)])
    assert again.exit_code != 0 and "note: --library is now --skills" in again.stderr
    installed = tmp_path / "plug_insert-0.1.0"
    weights = installed / "policy" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8] + b"corrupt!")
    broken = runner.invoke(app, ["skills", "verify", str(installed)], terminal_width=250)
    assert broken.exit_code == 1
    assert "failed: " in broken.output and "does not match its sha256" in broken.output
    # By name from the library, and every skill of it when none is named: one row each,
    # the broken one failed, the good one ok, untrained ones listed but not failed.
    untrained = tmp_path / "declared"
    untrained.mkdir()
    manifest = yaml.safe_load((skill / "skill.yaml").read_text())
    manifest.update(name="declared", weights=[], provenance={"status": "untrained"})
    (untrained / "skill.yaml").write_text(yaml.safe_dump(manifest))
    by_name = runner.invoke(
        app, ["skills", "verify", "plug_insert", "--skills", str(tmp_path)], terminal_width=250
    )
    assert by_name.exit_code == 1 and "0 of 1 verified" in by_name.output
    every = runner.invoke(app, ["skills", "verify", "--skills", str(tmp_path)], terminal_width=250)
    assert every.exit_code == 1, every.output
    assert "│ declared " in every.output and "untrained: no weights" in every.output
    assert "│ card_swipe  │ 0.1.0   │ ok (4 files verified)" in every.output
    unknown = runner.invoke(app, ["skills", "verify", "plug_insrt"])
    assert unknown.exit_code == 1 and "did you mean `plug_insert`?" in unknown.output
    assert "Traceback" not in broken.output


def test_the_skill_policy_drives_the_simulator(skill: Path) -> None:
    from vitalskills.sim import SimRobot

    policy = TrainedPolicyProvider().load(load_manifest(skill))
    with SimRobot("plug_in_socket", image_size=32, start="approach", seed=0) as robot:
        observation = robot.reset(seed=0)
        policy.reset()
        start = observation["ee_pose"][:3].copy()
        for _ in range(5):
            applied = robot.act(policy.act(policy_view(observation)))
            assert applied.shape == (7,)
            observation = robot.observe()
        assert not np.allclose(observation["ee_pose"][:3], start)
    result = evaluate_skill(load_manifest(skill), "plug_in_socket", episodes=1, seed=0)
    assert result.episodes == 1 and result.seeds == [0] and result.mean_steps > 0
    assert result.policy == "skill:plug_insert@0.1.0"


def test_sim_demos_train_the_pose_head_and_its_error_falls(skill: Path, tmp_path: Path) -> None:
    import torch

    from vitalskills.learning.bc import BCConfig, TrainConfig, bc_loss, load_demos, train_bc

    dataset = DemoDataset(skill.parent / "demos")
    config = load_manifest(skill)  # the CLI's default: the tiny skill has a pose head
    assert TrainedPolicyProvider().load(config).model.config.pose_head
    tiny = BCConfig(
        image_size=32, stem_channels=8, stage_channels=(8, 16), groups=4, keypoints=8,
        width=32, layers=1, heads=2, chunk=4, pose_head=True,
    )  # fmt: skip
    demos = load_demos(dataset, tactile=True, masks=None, pose=True)
    assert demos.pose is not None and demos.pose.shape == (len(demos.actions), 4)
    np.testing.assert_allclose(demos.pose.mean(0), 0.0, atol=1e-5)
    train = TrainConfig(steps=80, batch_size=16, lr=1e-3, augment=False, checkpoint_every=1000)
    model = train_bc(dataset, tiny, train, tmp_path).model
    images = torch.from_numpy(dataset.episode(0).frames["observation.wrist_rgb"])
    pixels = images.permute(0, 3, 1, 2).float().div(255.0)[None]
    with torch.no_grad():
        predicted = model.pose(model.encode(pixels))[0].numpy()
    error = np.mean((predicted - demos.pose[: len(predicted)]) ** 2)
    assert error < 0.6, error  # the mean prediction would score about 1
    assert bc_loss  # the loss the run used includes the pose term (see train.py)
