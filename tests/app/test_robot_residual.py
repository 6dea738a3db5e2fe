"""Residual RL on a robot's bench (`train residual --robot`), through a real bridge server.

The robots are the ones `test_bench.py` serves: the simulator served as hardware (green
screen, nothing privileged crosses the bridge) and the kinematic `FakeArm`, whose moves
are exact functions of the commands, so that a paused or interrupted run can be compared
bit for bit with one that was not. The BC policy is the tiny real skill the CLI trains.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

from tests.app.test_bench import (
    TrackedArm,
    arm_goal,
    serve_arm,
    serve_sim,
)
from tests.tiny_skill import train_tiny_skill
from vitalskills.app.bench import BenchSettings
from vitalskills.app.goal import record_goal_from_robot
from vitalskills.app.robot_residual import (
    goal_critic_state,
    goal_potential,
    train_residual_on_robot,
)
from vitalskills.bridge import connect
from vitalskills.bridge.limits import SafetyLimits
from vitalskills.cli import app
from vitalskills.learning.masks import ChromaKey
from vitalskills.learning.residual.config import RunConfig, SACConfig
from vitalskills.learning.residual.sac import SAC
from vitalskills.learning.residual.training import make_agent
from vitalskills.robot import Observation
from vitalskills.skills.manifest import load_manifest
from vitalskills.teleop.goal import write_goal
from vitalskills.teleop.motion import StartBox

TINY_SAC = SACConfig(utd=2, batch_size=16, seed_steps=10, buffer=400, critic_hidden=32)
#: For the test that learns: more updates per step, as the simulator's residual test.
LEARNING_SAC = SACConfig(utd=8, batch_size=32, seed_steps=8, buffer=500, critic_hidden=64, lr=1e-3)
TINY_RESIDUAL = {"hidden": 32, "layers": 1}
runner = CliRunner()


@pytest.fixture(scope="module")
def bc_skill(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tiny")
    return train_tiny_skill(root, root / "plug_insert")


class SteadyArm(TrackedArm):
    """A `FakeArm` that a reset always takes to the same pose: a run on it is repeatable."""

    def reset(self, seed: int | None = None) -> Observation:
        return super().reset(seed=0)


def short_run(steps: int = 24, **changes: object) -> RunConfig:
    return RunConfig(
        steps=steps, eval_every=8, checkpoint_every=1, max_episode_steps=6, augment=False,
        **changes,
    )  # fmt: skip


def weights(sac: SAC) -> dict[str, torch.Tensor]:
    return {name: value.clone() for name, value in sac.state_dict().items()}


def assert_same(left: SAC, right: SAC) -> None:
    a, b = weights(left), weights(right)
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


def train_on_arm(
    bc_skill: Path, out: Path, *, steps: int = 24, resume: bool = False,
    keys: Callable[[], Iterable[str]] | None = None,
    on_step: Callable[[int, dict[str, float]], None] | None = None,
    arm: TrackedArm | None = None, limits: SafetyLimits | None = None,
    start_box: StartBox | None = None,
):  # fmt: skip
    arm = arm or SteadyArm()
    settings = BenchSettings(pace=False, max_steps=6, start_box=start_box or StartBox())
    # A loaded test machine can take longer than the default 0.2 s watchdog between two
    # steps; the watchdog stopping the arm would end an episode early and the runs
    # compared bit for bit would differ for that reason alone.
    with serve_arm(arm, limits, watchdog_s=30.0) as served, connect(served.address) as robot:
        return train_residual_on_robot(
            robot, bc_skill, arm_goal(), out=out, residual=TINY_RESIDUAL, sac_config=TINY_SAC,
            run=short_run(steps), settings=settings, resume=resume, keys=keys,
            on_step=on_step,
        )  # fmt: skip


# ---------------------------------------------------------------------- reward and critic
def test_the_reward_and_the_critic_state_come_from_the_goal_and_proprioception() -> None:
    goal = arm_goal()
    position, _ = goal.pose()
    at_goal = {"ee_pose": np.array([*position, 0.0, 1.0, 0.0, 0.0], np.float32)}
    higher = position + np.array([0.0, 0.0, 0.02])
    above = {"ee_pose": np.array([*higher, 0.0, 1.0, 0.0, 0.0], np.float32)}
    assert goal_potential(goal, at_goal) == pytest.approx(0.0, abs=1e-4)
    assert goal_potential(goal, above) == pytest.approx(-2.0, abs=1e-4)  # 2 cm away
    state = goal_critic_state(goal, above)
    # The goal is 2 cm ahead along the gripper's z (pointing down), 2 cm to go.
    np.testing.assert_allclose(state, [0, 0, 2, 0, 0, 0, 2], atol=1e-4)
    np.testing.assert_allclose(goal_critic_state(goal, at_goal), np.zeros(7), atol=1e-4)


# ---------------------------------------------------------------------- the simulator served
def test_the_residual_loop_through_the_bridge_lowers_the_critic_loss(
    bc_skill: Path, tmp_path: Path
) -> None:
    with serve_sim(green_screen=True) as sim:
        goal = record_goal_from_robot(
            sim.address, "expert", task="plug_in_socket", operator_view=sim.operator_view,
            pace=False,
        )  # fmt: skip
        assert goal is not None
        write_goal(goal, tmp_path / "goal.yaml")
        run = RunConfig(steps=40, eval_every=20, checkpoint_every=1, max_episode_steps=12)
        with connect(sim.address) as robot:
            result = train_residual_on_robot(
                robot, bc_skill, goal, goal_path=str(tmp_path / "goal.yaml"),
                out=tmp_path / "skill", residual=TINY_RESIDUAL, sac_config=LEARNING_SAC,
                run=run, settings=BenchSettings(pace=False, max_steps=12),
                chroma=ChromaKey("green"),
            )  # fmt: skip
        assert not any(k.startswith("privileged") for k in sim.driver.observe())
    trainer = result.trainer
    assert result.steps == 40 and result.episodes >= 3
    # On the run's own transitions and against the trained agent's targets, the trained
    # critic fits better than the same critic at initialization.
    initial = make_agent(trainer.config, LEARNING_SAC, seed=0, state_dim=7)
    batch = trainer.buffer.sample(256, np.random.default_rng(0))
    before = trainer.sac.td_loss(batch, torch.Generator().manual_seed(0), initial.critic)
    after = trainer.sac.td_loss(batch, torch.Generator().manual_seed(0))
    assert after < 0.5 * before, (before, after)
    # The augmentation was the chroma key (the screen keyed out), on real wrist images.
    assert trainer.pool is not None
    provenance = load_manifest(tmp_path / "skill").provenance["residual"]
    assert provenance["where"] == "robot" and provenance["env_steps"] == 40
    assert provenance["augmentation"]["method"] == "chroma"
    assert provenance["goal"]["file"].endswith("goal.yaml")
    assert provenance["robot_time_s"] == 4.0  # 40 steps at the 10 Hz it reports
    rows = yaml.safe_load((tmp_path / "skill" / "residual_run" / "log.json").read_text())["rows"]
    assert [row["step"] for row in rows] == [0, 20, 40]
    assert all(row["eval_success_rate"] is None for row in rows)  # no evaluation on a robot


# ---------------------------------------------------------------------- the kinematic arm
def test_a_paused_run_equals_one_that_never_paused(bc_skill: Path, tmp_path: Path) -> None:
    plain = train_on_arm(bc_skill, tmp_path / "plain")
    arm = SteadyArm()
    script = iter([[]] * 5 + [["i"]] + [[]] * 3 + [["p"], [], ["i"], ["p"]])
    seen: list[int] = []

    def keys() -> list[str]:
        return next(script, [])

    def on_step(step: int, stats: dict[str, float]) -> None:
        seen.append(arm.stops)

    paused = train_on_arm(bc_skill, tmp_path / "paused", keys=keys, arm=arm, on_step=on_step)
    assert paused.pauses == 1
    # Two by-hand interventions, counted (one typed while paused); nothing else changed.
    assert paused.trainer.state.interventions == {"by_hand": 2}
    assert load_manifest(tmp_path / "paused").provenance["residual"]["interventions"] == {
        "by_hand": 2
    }
    assert seen[9] > seen[8]  # the arm was stopped when the pause began
    assert_same(plain.trainer.sac, paused.trainer.sac)
    assert plain.trainer.state.returns == paused.trainer.state.returns


def test_an_interrupted_run_resumes_exactly(bc_skill: Path, tmp_path: Path) -> None:
    whole = train_on_arm(bc_skill, tmp_path / "whole")
    arm = SteadyArm()

    def interrupt(step: int, stats: dict[str, float]) -> None:
        if step == 15:  # mid-episode: episodes are 6 steps
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_on_arm(bc_skill, tmp_path / "cut", arm=arm, on_step=interrupt)
    assert not arm.moving  # the arm was stopped on the way out
    assert (tmp_path / "cut" / "residual_run" / "checkpoints" / "latest").is_dir()
    resumed = train_on_arm(bc_skill, tmp_path / "cut", resume=True)
    assert resumed.trainer.resumed_from == 12  # the start of the episode it stopped in
    assert_same(whole.trainer.sac, resumed.trainer.sac)
    assert whole.trainer.state.returns == resumed.trainer.state.returns


def test_unreachable_starts_are_skipped_with_their_reason(
    bc_skill: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The workspace floor is 4 mm below the approach point; starts are drawn +-10 mm in z.
    limits = SafetyLimits(workspace_min=(-1.0, -1.0, 0.146), workspace_max=(1.0, 1.0, 1.5))
    caplog.set_level(logging.WARNING, logger="vitalskills.bench")
    arm = SteadyArm()
    result = train_on_arm(bc_skill, tmp_path / "skill", arm=arm, limits=limits)
    assert result.steps == 24 and result.skipped
    assert all("outside the bridge's workspace box" in entry["reason"] for entry in result.skipped)
    assert arm.lowest >= 0.146 - 1e-6  # never forced below the floor
    assert "skipping the start" in caplog.text
    provenance = load_manifest(tmp_path / "skill").provenance["residual"]
    assert provenance["skipped_starts"] == len(result.skipped)
    assert not arm.moving


def test_train_residual_robot_on_the_command_line(bc_skill: Path, tmp_path: Path) -> None:
    goal = write_goal(arm_goal(), tmp_path / "goal.yaml")
    arm = SteadyArm()
    with serve_arm(arm) as served:
        result = runner.invoke(
            app,
            ["train", "residual", "--robot", served.address, "--skill", str(bc_skill),
             "--goal", str(goal), "--out", str(tmp_path / "skill"), "--steps", "12",
             "--seed-steps", "4", "--batch-size", "8", "--utd", "1",
             "--max-episode-steps", "6", "--no-pace", "--no-augment"],
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "trained a residual for `plug_insert` on fake-arm: 12 steps in 2 episodes" in (
        result.stdout
    )
    assert "robot time 1 s at 10 Hz; interventions 0" in result.stdout
    assert not arm.moving


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--task", "plug_in_socket", "--robot", "tcp://127.0.0.1:1", "--goal", "g.yaml"],
         "--task applies to the simulator, not to --robot"),
        (["--goal", "g.yaml", "--task", "plug_in_socket"], "--goal applies only with --robot"),
        (["--robot", "tcp://127.0.0.1:1"], "--robot needs --goal"),
        ([], "give --task to train in the simulator"),
    ],
)  # fmt: skip
def test_train_residual_refuses_mixed_options(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["train", "residual", "--skill", "x", *args])
    assert result.exit_code == 2, result.output
    assert message in result.stderr
