"""Residual RL on the real simulator: a fresh residual is a no-op, training lowers the critic
loss and resumes exactly, the residual packs into the skill, and `eval --no-residual`
evaluates the BC part alone."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from typer.testing import CliRunner

from tests.tiny_skill import train_tiny_skill
from vitalskills.app.train import train_residual
from vitalskills.cli import app
from vitalskills.learning.errors import PolicyPackageError
from vitalskills.learning.policies import (
    BCPolicy,
    ResidualPolicy,
    TrainedPolicyProvider,
    load_bc_policy,
)
from vitalskills.learning.residual.actor import ResidualActor, feature_dim
from vitalskills.learning.residual.config import ResidualConfig, RunConfig, SACConfig
from vitalskills.learning.residual.episodes import STATE_DIM, critic_state
from vitalskills.learning.residual.training import make_agent
from vitalskills.learning.skill_folder import (
    RESIDUAL_WEIGHTS,
    add_residual,
    copy_skill,
    register_skill,
    verify_skill,
)
from vitalskills.robot import policy_view
from vitalskills.skills import SkillWeightsError, load_manifest

runner = CliRunner()
TASK = "plug_in_socket"
TINY_SAC = SACConfig(utd=8, batch_size=32, seed_steps=8, buffer=500, critic_hidden=64, lr=1e-3)
TINY_ACTOR = {"hidden": 64, "layers": 2}


def tiny_run(**overrides: object) -> RunConfig:
    settings = dict(steps=30, eval_every=15, eval_episodes=1, checkpoint_every=10,
                    max_episode_steps=10, backgrounds=4)  # fmt: skip
    return RunConfig(**{**settings, **overrides})


@pytest.fixture(scope="module")
def bc_skill(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BC skill trained on two simulator demonstrations, 32 px images."""
    root = tmp_path_factory.mktemp("residual")
    return train_tiny_skill(
        root, root / "bc" / "plug_insert", steps=20, batch_size=8, checkpoint_every=20
    )


@pytest.fixture(scope="module")
def trained(bc_skill: Path) -> tuple[Path, object]:
    """A short residual run written into a copy of the BC skill."""
    out = bc_skill.parents[1] / "rl" / "plug_insert"
    result = train_residual(
        bc_skill, TASK, residual=TINY_ACTOR, sac_config=TINY_SAC, run=tiny_run(), out=out,
        command="vitalskills train residual (test)",
    )  # fmt: skip
    return out, result


def _fresh_actor(bc_skill: Path, **options: object) -> ResidualActor:
    model = load_bc_policy(load_manifest(bc_skill)).model
    return ResidualActor(ResidualConfig(feature_dim=feature_dim(model), **options))


@pytest.mark.parametrize("dims", ["xyz", "xyz_rot"])
def test_a_fresh_residual_leaves_the_bc_action_unchanged(bc_skill: Path, dims: str) -> None:
    from vitalskills.sim import make_env

    manifest = load_manifest(bc_skill)
    torch.manual_seed(1)
    actor = _fresh_actor(bc_skill, dims=dims)
    bc, corrected = load_bc_policy(manifest), ResidualPolicy(load_bc_policy(manifest), actor)
    env = make_env(TASK, "scene", seed=5, image_size=32)
    try:
        observation, _ = env.reset(seed=5)
        for _ in range(12):
            seen = policy_view(observation)
            plain, residual = bc.act(seen), corrected.act(seen)
            assert np.max(np.abs(plain - residual)) < 1e-3, (plain, residual)
            observation, *_ = env.step(residual)
    finally:
        env.close()


def test_a_short_residual_run_lowers_the_critic_loss_and_packs_the_skill(trained) -> None:
    out, result = trained
    assert len(result.critic_losses) == 30 - TINY_SAC.seed_steps + 1
    # SAC's targets move as it learns, so the per-update loss is no yardstick. Instead:
    # on the run's own transitions and against the trained agent's targets, the trained
    # critic fits better than the same critic at initialization.
    initial = make_agent(result.actor.config, TINY_SAC, seed=0, state_dim=STATE_DIM)
    batch = result.buffer.sample(512, np.random.default_rng(0))
    before = result.agent.td_loss(batch, torch.Generator().manual_seed(0), initial.critic)
    after = result.agent.td_loss(batch, torch.Generator().manual_seed(0))
    assert after < 0.5 * before, (before, after)
    assert [row.step for row in result.rows] == [0, 15, 30]
    assert all(0.0 <= row.eval_success_rate <= 1.0 for row in result.rows)
    log = json.loads((out / "residual_run" / "log.json").read_text())
    assert [row["step"] for row in log["rows"]] == [0, 15, 30]
    assert (out / "residual_run" / "log.csv").read_text().startswith("step,episodes,")
    with Image.open(out / "residual_run" / "success.png") as plot:
        assert plot.size == (600, 350)
    manifest = load_manifest(out)
    assert [w.path for w in manifest.weights] == [
        "policy/config.json", "policy/model.safetensors",
        "residual/config.json", "residual/actor.safetensors",
    ]  # fmt: skip
    provenance = manifest.provenance["residual"]
    assert provenance["env_steps"] == 30 and provenance["seconds"] > 0
    assert provenance["sac"]["utd"] == 8 and provenance["task"] == TASK
    assert manifest.provenance["dataset"]["episodes"] == 2  # the BC provenance is kept


def test_the_privileged_critic_sees_the_goal_from_the_gripper() -> None:
    from vitalskills.sim import make_env

    env = make_env(TASK, "spatial", seed=3, render_wrist=False)
    env.reset(seed=3)
    ee, goal = env.ee_pose_matrix(), env.goal_matrix()
    state = critic_state(env)
    assert state.shape == (STATE_DIM,) and state[6] == 0.0  # not inserted
    distance = np.linalg.norm(goal[:3, 3] - ee[:3, 3]) / 0.01
    assert np.linalg.norm(state[:3]) == pytest.approx(distance, rel=1e-5)
    # Moving the gripper toward the goal along its own x axis changes exactly that number.
    before = state.copy()
    env.step(np.array([0.004, 0, 0, 0, 0, 0, 1.0], np.float32))
    after = critic_state(env)
    assert after[0] == pytest.approx(before[0] - 0.4, abs=0.05)
    env.close()


def test_without_a_privileged_critic_the_buffer_holds_no_state(bc_skill: Path, tmp_path) -> None:
    result = train_residual(
        bc_skill, TASK, residual=TINY_ACTOR, sac_config=TINY_SAC,
        run=tiny_run(steps=12, eval_every=12, privileged_critic=False), out=tmp_path / "plain",
    )  # fmt: skip
    assert result.buffer.data["state"].shape[1] == 0
    assert result.agent.critic.net[0].weight.shape[1] == result.actor.config.feature_dim + 3


def test_a_resumed_run_equals_an_uninterrupted_one(bc_skill: Path, tmp_path: Path) -> None:
    options = dict(residual=TINY_ACTOR, sac_config=TINY_SAC)
    straight = train_residual(bc_skill, TASK, run=tiny_run(steps=20), out=tmp_path / "a", **options)
    train_residual(bc_skill, TASK, run=tiny_run(steps=10), out=tmp_path / "b", **options)
    resumed = train_residual(
        bc_skill, TASK, run=tiny_run(steps=20), out=tmp_path / "b", resume=True, **options
    )
    assert resumed.resumed_from == 10
    assert resumed.critic_losses == straight.critic_losses
    for key, value in straight.actor.state_dict().items():
        assert torch.equal(value, resumed.actor.state_dict()[key]), key
    with pytest.raises(Exception, match="different `residual`"):
        train_residual(
            bc_skill, TASK, run=tiny_run(steps=20), out=tmp_path / "b", resume=True,
            residual={"hidden": 32, "layers": 2}, sac_config=TINY_SAC,
        )  # fmt: skip


def test_a_touch_only_residual_sees_touch_and_the_bc_action_not_the_image(
    bc_skill: Path, tmp_path: Path
) -> None:
    from vitalskills.learning.residual.policy import residual_input
    from vitalskills.sim import make_env

    result = train_residual(
        bc_skill, TASK, residual={**TINY_ACTOR, "sees": "touch"}, sac_config=TINY_SAC,
        run=tiny_run(steps=12, eval_every=12, relight=0.5), out=tmp_path / "touch",
    )  # fmt: skip
    model = load_bc_policy(load_manifest(bc_skill)).model
    width, actions = model.config.width, model.config.action_dim
    assert result.actor.config.feature_dim == feature_dim(model, "touch") == width + actions
    provenance = load_manifest(tmp_path / "touch").provenance["residual"]
    assert provenance["run"]["relight"] == 0.5
    # Loaded through the skill folder, the actor's input is the full input less the image.
    policy = TrainedPolicyProvider().load(load_manifest(tmp_path / "touch"))
    assert isinstance(policy, ResidualPolicy) and policy.actor.config.sees == "touch"
    env = make_env(TASK, "scene", seed=4, image_size=32)
    try:
        observation, _ = env.reset(seed=4)
        policy.act(policy_view(observation))
        bc_action = policy.bc.act(policy_view(observation))
        full = residual_input(policy.bc, bc_action)
        np.testing.assert_array_equal(residual_input(policy.bc, bc_action, "touch"), full[width:])
    finally:
        env.close()


def test_packaging_with_and_without_the_residual(bc_skill: Path, tmp_path: Path) -> None:
    assert isinstance(TrainedPolicyProvider().load(load_manifest(bc_skill)), BCPolicy)
    assert len(verify_skill(bc_skill).weights) == 2
    folder = tmp_path / "plug_insert"
    copy_skill(bc_skill, folder)
    actor = _fresh_actor(bc_skill)
    with torch.no_grad():
        actor.head.bias[:3] = 5.0  # a residual that clearly moves: +4 mm on each axis
    add_residual(folder, actor, {"command": "test"})
    manifest = verify_skill(folder)
    assert len(manifest.weights) == 4 and manifest.provenance["residual"] == {"command": "test"}
    corrected = TrainedPolicyProvider().load(manifest)
    alone = TrainedPolicyProvider(residual=False).load(manifest)
    reference = load_bc_policy(load_manifest(bc_skill))
    assert isinstance(corrected, ResidualPolicy) and isinstance(alone, BCPolicy)
    from vitalskills.sim import make_env

    env = make_env(TASK, seed=0, image_size=32)
    observation, _ = env.reset(seed=0)
    env.close()
    seen = policy_view(observation)
    base, plain, moved = reference.act(seen), alone.act(seen), corrected.act(seen)
    assert np.array_equal(base, plain)
    np.testing.assert_allclose(moved[:3], np.clip(base[:3] + 0.004, -0.01, 0.01), atol=1e-5)
    installed = register_skill(folder, tmp_path / "library")
    assert (installed / RESIDUAL_WEIGHTS).is_file()
    weights = installed / RESIDUAL_WEIGHTS
    weights.write_bytes(weights.read_bytes()[:-4] + b"oops")
    with pytest.raises(SkillWeightsError, match="does not match its sha256"):
        verify_skill(installed)


def test_a_residual_for_another_bc_policy_is_refused(bc_skill: Path, tmp_path: Path) -> None:
    folder = tmp_path / "plug_insert"
    copy_skill(bc_skill, folder)
    add_residual(folder, ResidualActor(ResidualConfig(feature_dim=7, hidden=16)), {})
    with pytest.raises(PolicyPackageError, match="expects 7 input features, its BC policy gives"):
        verify_skill(folder)


def test_eval_no_residual_evaluates_the_bc_part_alone(trained) -> None:
    out, _ = trained
    library = out.parent
    base = ["eval", "--task", TASK, "--skill", "plug_insert", "--skills", str(library),
            "--episodes", "1", "--seed", "7", "--json"]  # fmt: skip
    with_residual = runner.invoke(app, base)
    assert with_residual.exit_code == 0, with_residual.output
    assert json.loads(with_residual.stdout)["policy"] == "skill:plug_insert@0.1.0+residual"
    alone = runner.invoke(app, [*base, "--no-residual"])
    assert alone.exit_code == 0, alone.output
    result = json.loads(alone.stdout)
    assert result["policy"] == "skill:plug_insert@0.1.0" and result["seeds"] == [7]
    # Without --task, a skill is evaluated on the task its training data was collected on.
    inferred = runner.invoke(
        app, [*(a for a in base if a not in ("--task", TASK)), "--no-residual"]
    )
    assert inferred.exit_code == 0, inferred.output
    assert json.loads(inferred.stdout) == result
    refused = runner.invoke(app, ["eval", "--task", TASK, "--no-residual"])
    assert refused.exit_code == 2
    assert "`--no-residual` needs `--skill`" in refused.output


def test_eval_save_records_each_part_and_condition_in_the_skill(trained, tmp_path: Path) -> None:
    out, _ = trained
    library = tmp_path / "library"
    shutil.copytree(out, library / "plug_insert")
    base = ["eval", "--task", TASK, "--skill", "plug_insert", "--skills", str(library),
            "--episodes", "1", "--seed", "7", "--save"]  # fmt: skip
    for extra in ([], ["--no-residual"], ["--no-residual", "--condition", "spatial"]):
        result = runner.invoke(app, [*base, *extra])
        assert result.exit_code == 0, result.output
    saved = yaml.safe_load((library / "plug_insert" / "skill.yaml").read_text())
    evaluation = saved["provenance"]["evaluation"]
    assert set(evaluation) == {"bc", "vital"}
    assert set(evaluation["bc"]) == {"canonical", "spatial"} and set(evaluation["vital"]) == {
        "canonical"
    }
    cell = evaluation["bc"]["spatial"]
    assert cell["episodes"] == 1 and cell["seeds"] == "7..7"
    assert cell["policy"] == "skill:plug_insert@0.1.0"
    assert cell["command"].startswith("vitalskills eval --task plug_in_socket --skill plug_insert")
    assert "--condition spatial" in cell["command"] and "--no-residual" in cell["command"]
    assert evaluation["vital"]["canonical"]["policy"].endswith("+residual")
    stress = runner.invoke(app, [*base, "--distractors", "1"])
    assert stress.exit_code == 2 and "stress-test evaluation" in stress.output
    assert yaml.safe_load((library / "plug_insert" / "skill.yaml").read_text()) == saved
    verified = runner.invoke(app, ["skills", "verify", str(library / "plug_insert")])
    assert verified.exit_code == 0, verified.output


def test_train_residual_on_the_command_line(bc_skill: Path, tmp_path: Path) -> None:
    out = tmp_path / "plug_insert"
    shutil.copytree(bc_skill, out)
    result = runner.invoke(
        app,
        ["train", "residual", "--skill", str(out), "--task", TASK, "--steps", "6",
         "--seed-steps", "3", "--utd", "1", "--batch-size", "4", "--eval-every", "6",
         "--eval-episodes", "1", "--max-episode-steps", "5", "--rotation"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "trained a residual for `plug_insert` on plug_in_socket (canonical): 6 steps" in (
        result.output
    )
    raw = yaml.safe_load((out / "skill.yaml").read_text())
    command = raw["provenance"]["residual"]["command"]
    assert command.startswith("vitalskills train residual --skill ") and "--rotation" in command
    config = json.loads((out / "residual" / "config.json").read_text())
    assert config["type"] == "vital_residual" and config["dims"] == "xyz_rot"
    verified = runner.invoke(app, ["skills", "verify", str(out)])
    assert "(4 files verified)" in verified.output
