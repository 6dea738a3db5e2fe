"""Training lowers the loss, is seeded and resumes exactly; the policy acts with ensembling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.learning.test_dataset import toy_info
from tests.learning.toy import ToyExpert, ToyRobot
from vitalskills.app.collect import collect
from vitalskills.learning.bc.config import BCConfig, TrainConfig, parse_config
from vitalskills.learning.bc.model import VitalBC
from vitalskills.learning.bc.training import train_bc
from vitalskills.learning.dataset import DemoDataset
from vitalskills.learning.errors import PolicyConfigError, TrainingError
from vitalskills.learning.policies import BCPolicy

TINY = dict(
    image_size=32, stem_channels=8, stage_channels=(8, 16), groups=4, keypoints=8,
    width=32, layers=1, heads=2, chunk=4, history=2, dropout=0.1,
)  # fmt: skip


def tiny_config(**overrides: object) -> BCConfig:
    return BCConfig(**{**TINY, **overrides})


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> DemoDataset:
    root = tmp_path_factory.mktemp("demos")
    collect(ToyRobot(), ToyExpert(), root, toy_info(), episodes=4, seed=0, max_steps=60)
    return DemoDataset(root)


def test_a_few_steps_lower_the_loss(dataset: DemoDataset, tmp_path: Path) -> None:
    train = TrainConfig(
        steps=60, batch_size=16, lr=1e-3, checkpoint_every=1000, backgrounds=8, privileged=True
    )
    result = train_bc(dataset, tiny_config(), train, tmp_path)
    first, last = np.mean(result.losses[:5]), np.mean(result.losses[-5:])
    assert last < 0.7 * first, (first, last)
    assert (tmp_path / "latest" / "model.safetensors").is_file()
    assert not result.model.training


def test_resumed_training_equals_an_uninterrupted_run(dataset: DemoDataset, tmp_path: Path) -> None:
    config = tiny_config()
    whole = TrainConfig(
        steps=6, batch_size=4, checkpoint_every=3, backgrounds=4, seed=7, privileged=True
    )
    straight = train_bc(dataset, config, whole, tmp_path / "a")
    half = whole.model_copy(update={"steps": 3})
    train_bc(dataset, config, half, tmp_path / "b")
    resumed = train_bc(dataset, config, whole, tmp_path / "b", resume=True)
    assert resumed.resumed_from == 3
    assert resumed.losses == straight.losses
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
    with pytest.raises(TrainingError, match="different policy config"):
        train_bc(dataset, tiny_config(width=64), whole, tmp_path / "b", resume=True)


def test_no_tactile_and_no_augment_train_a_vision_only_policy(
    dataset: DemoDataset, tmp_path: Path
) -> None:
    train = TrainConfig(steps=2, batch_size=4, augment=False)
    result = train_bc(dataset, tiny_config(tactile_dim=None), train, tmp_path)
    assert not hasattr(result.model, "tactile")
    assert result.model.tokens_per_step == 2


def test_config_errors_name_the_field_and_value() -> None:
    with pytest.raises(
        PolicyConfigError, match=r"policy config: `heads` \(4\) must divide `width` \(30\)$"
    ):
        parse_config({"type": "vital_bc", "width": 30, "heads": 4})
    with pytest.raises(PolicyConfigError, match=r"`chunk`: .* \(got `0`\)"):
        parse_config({"type": "vital_bc", "chunk": 0})
    with pytest.raises(PolicyConfigError, match="unknown policy type `act`") as error:
        parse_config({"type": "act"})
    assert "vital_bc" in (error.value.hint or "")


def test_temporal_ensembling_weights_older_chunks() -> None:
    model = VitalBC(tiny_config(ensemble_k=0.5)).eval()
    policy = BCPolicy(model, np.full(7, -10.0), np.full(7, 10.0))
    robot = ToyRobot()
    first = robot.reset(seed=1)
    chunk0 = BCPolicy(model, np.full(7, -10.0), np.full(7, 10.0)).predict_chunk(first)
    assert np.allclose(policy.act(first), chunk0[0], atol=1e-5)
    second = robot.observe()
    policy_copy = BCPolicy(model, np.full(7, -10.0), np.full(7, 10.0))
    policy_copy.predict_chunk(first)
    chunk1 = policy_copy.predict_chunk(second)
    expected = (chunk0[1] * 1.0 + chunk1[0] * np.exp(-0.5)) / (1.0 + np.exp(-0.5))
    assert np.allclose(policy.act(second), expected, atol=1e-5)
    tight = BCPolicy(model, np.full(7, -1e-4), np.full(7, 1e-4))
    assert np.abs(tight.act(first)).max() <= 1e-4
    policy.reset()
    assert len(policy.chunks) == 0 and len(policy.images) == 0


def test_negative_ensemble_k_favours_the_newest_chunk() -> None:
    model = VitalBC(tiny_config(ensemble_k=-2.0)).eval()
    policy = BCPolicy(model, np.full(7, -10.0), np.full(7, 10.0))
    robot = ToyRobot()
    first = robot.reset(seed=1)
    second = robot.observe()
    reference = BCPolicy(model, np.full(7, -10.0), np.full(7, 10.0))
    chunk0, chunk1 = reference.predict_chunk(first), reference.predict_chunk(second)
    policy.act(first)
    expected = (chunk0[1] * 1.0 + chunk1[0] * np.exp(2.0)) / (1.0 + np.exp(2.0))
    assert np.allclose(policy.act(second), expected, atol=1e-5)
    with pytest.raises(PolicyConfigError, match="`ensemble_k`"):
        parse_config({"type": "vital_bc", "ensemble_k": -6.0})


def test_target_from_gripper_is_the_target_in_the_gripper_frame() -> None:
    from vitalskills.learning.bc.demos import target_from_gripper

    # Gripper 10 cm above (0.5, 0, 0), pointing down (180 deg about x), turned 0.3 rad.
    yaw = 0.3
    c, s = np.cos(yaw / 2), np.sin(yaw / 2)
    down_turned = np.array([0.0, c, s, 0.0])  # wxyz of Rz(yaw) @ Rx(pi)
    ee = np.array([[0.5, 0.0, 0.1, *down_turned]])
    target = np.eye(4)[None].copy()
    target[0, :3, 3] = [0.52, 0.0, 0.0]
    pose = target_from_gripper(ee, target)[0]
    # In the gripper frame: z points down, so the target is 0.1 m along +z; the 2 cm
    # along base x keeps its length in the gripper's x/y, and with y mirrored by the
    # half turn about x the target's axis reads +yaw.
    np.testing.assert_allclose(pose[2], 0.1, atol=1e-6)
    np.testing.assert_allclose(np.hypot(pose[0], pose[1]), 0.02, atol=1e-6)
    assert pose[3] == pytest.approx(yaw, abs=1e-6)


def test_privileged_pose_head_needs_the_simulator_target_pose(
    dataset: DemoDataset, tmp_path: Path
) -> None:
    train = TrainConfig(steps=1, privileged=True)
    with pytest.raises(TrainingError, match=r"privileged\.target_pose"):
        train_bc(dataset, tiny_config(pose_head=True), train, tmp_path)


def test_tactile_noise_is_added_to_training_readings_only_when_asked(
    dataset: DemoDataset,
) -> None:
    from vitalskills.learning.bc.batches import Batcher
    from vitalskills.learning.bc.demos import load_demos

    demos = load_demos(dataset, tactile=True, masks=None)
    config = tiny_config(history=1)
    batches = {}
    for noise in (0.0, 0.05):
        train = TrainConfig(augment=False, tactile_noise=noise)
        batcher = Batcher(demos, config, train, torch.Generator().manual_seed(0))
        batches[noise] = batcher.sample(256)
    clean, noisy = batches[0.0].tactile, batches[0.05].tactile
    picks = torch.Generator().manual_seed(0)
    frames = torch.randint(0, len(demos.actions), (256,), generator=picks).numpy()
    exact = torch.from_numpy(demos.tactile[frames])[:, None].expand_as(clean)
    assert torch.equal(clean, exact)
    assert float((noisy - exact).std()) == pytest.approx(0.05, rel=0.2)


def test_relight_without_augmentation_is_refused_for_library_and_cli(
    dataset: DemoDataset, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from vitalskills.cli import app
    from vitalskills.learning.bc.config import parse_train_config

    with pytest.raises(TrainingError, match=r"`relight` \(0.5\) re-shades the kept pixels"):
        parse_train_config({"augment": False, "relight": 0.5})
    assert parse_train_config({"augment": True, "relight": 0.5}).relight == 0.5
    args = ["train", "bc", "--data", str(dataset.root), "--out", str(tmp_path / "skill"),
            "--no-augment", "--relight", "0.5"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert "train bc options: `relight` (0.5) re-shades the kept pixels" in result.output
    assert not (tmp_path / "skill").exists()
