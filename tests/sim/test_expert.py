"""The scripted experts succeed (a handful of episodes here; the 98% figure is in docs)."""

import numpy as np
import pytest

from vitalskills.app.evaluate import evaluate_policy
from vitalskills.sim import TASKS, make_env
from vitalskills.sim.expert import expert_policy
from vitalskills.sim.rollouts import run_episode


@pytest.mark.parametrize("name", sorted(TASKS))
def test_expert_succeeds_in_canonical_and_scene(name: str) -> None:
    for condition in ("canonical", "scene"):
        result = evaluate_policy(name, "expert", condition, episodes=3, seed=100)
        assert result.successes == 3, (condition, result.failed_seeds)


def test_expert_success_is_real_geometry() -> None:
    env = make_env("usb_insert", "spatial", render_wrist=False)
    info = run_episode(env, expert_policy(env, seed=1), seed=1)
    assert info["success"]
    assert info["insertion_depth"] >= env.task.required_depth
    assert env.insertion().aligned
    env.close()


def test_expert_feels_and_corrects() -> None:
    env = make_env("plug_in_socket", render_wrist=False)
    felt = []
    for seed in range(4):
        policy = expert_policy(env, seed=seed)
        obs, _ = env.reset(seed=seed)
        peak, done = 0.0, False
        while not done:
            obs, _, terminated, truncated, _ = env.step(policy(obs))
            peak = max(peak, float(np.linalg.norm(obs["tactile"])))
            done = terminated or truncated
        felt.append((policy.corrections, peak))
    # Where the expert corrected its aim, it did so because the skin felt the rim.
    assert any(corrections > 0 and peak > 1.0 for corrections, peak in felt)


def test_random_policy_rarely_succeeds() -> None:
    result = evaluate_policy("key_in_lock", "random", episodes=3, seed=0)
    assert result.successes == 0 and result.seeds == [0, 1, 2]


@pytest.mark.parametrize("name", ["usb_insert", "card_swipe"])
def test_upright_task_expert_never_tilts_the_tool(name: str) -> None:
    env = make_env(name, "spatial", render_wrist=False)
    assert env.task.upright
    policy = expert_policy(env, seed=3)
    obs, _ = env.reset(seed=3)
    actions, done = [], False
    while not done:
        actions.append(policy(obs))
        obs, _, terminated, truncated, _ = env.step(actions[-1])
        done = terminated or truncated
    env.close()
    turns = np.array(actions)[:, 3:6]
    assert terminated
    assert np.all(turns[:, :2] == 0.0) and np.any(turns[:, 2] != 0.0)
