"""`vitalskills run --grounding-error/--grounding-miss`: the perturbed oracle in a real run.

Real runs of the example task on the simulator behind the bridge, with the shipped
skills. Runs that only need the `locate` stop early with `--timeout` (simulated seconds),
so the point is checked without waiting for the skill.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from vitalskills.cli import app

pytestmark = pytest.mark.slow

TASK = str(Path(__file__).resolve().parents[2] / "tasks" / "plug_in_socket.vtl")


def run(*options: str) -> tuple[int, dict]:
    args = ["run", TASK, "--condition", "scene", "--json", *options]
    result = CliRunner().invoke(app, args)
    return result.exit_code, json.loads(result.stdout)


def node(summary: dict, kind: str) -> dict:
    return next(n for n in summary["nodes"] if n["kind"] == kind)


def test_a_miss_makes_locate_report_not_found_and_if_found_take_else() -> None:
    code, summary = run("--seed", "0", "--grounding-miss", "1")
    assert code == 1
    locate = node(summary, "locate")
    assert locate["values"]["found"] is False and locate["values"]["grounder"] == "noisy-oracle"
    assert "`power strip` not found" in locate["reason"]
    assert "no power strip in view" in summary["reason"]
    skill = node(summary, "run_skill")
    assert skill["status"] == "idle"  # the skill never ran


def test_the_same_seed_reproduces_the_error_and_the_error_has_its_size() -> None:
    points = []
    for error in ("0", "20", "20"):
        _, summary = run("--seed", "1", "--grounding-error", error, "--timeout", "0.3")
        assert summary["run"]["grounder"] == "noisy-oracle"
        assert summary["run"]["seed"] == 1
        points.append(np.array(node(summary, "locate")["values"]["point"]))
    oracle, first, again = points
    assert np.array_equal(first, again)
    assert 0.002 < np.linalg.norm(first - oracle) < 0.08  # one draw of a ~20 mm median error


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--grounding-error", "10", "--grounder", "owlv2-sam"], "is a `owlv2-sam` one"),
        (["--grounding-error", "10", "--robot", "tcp://127.0.0.1:9"], "only on the simulator"),
        (["--grounding-miss", "1.5"], "Invalid value for '--grounding-miss'"),
        (["--grounding-error", "-2"], "Invalid value for '--grounding-error'"),
        (["--grounding-error", "10", "--dry-run"], "--grounding-error does not apply"),
    ],
)
def test_bad_grounding_options_are_usage_errors(options: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["run", TASK, *options])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split()), result.output


def test_eval_fails_the_episodes_the_grounder_misses() -> None:
    args = ["eval", "--task", "plug_in_socket", "--condition", "scene", "--episodes", "2"]
    result = CliRunner().invoke(app, [*args, "--grounding-miss", "1", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["successes"] == 0 and summary["failed_seeds"] == [0, 1]
    assert summary["grounding"] == {"miss": 1.0} and summary["mean_steps"] == 0.0


def test_eval_starts_where_the_perturbed_locate_leaves_the_reach() -> None:
    from vitalskills.app.evaluate import GroundingStart
    from vitalskills.perception.noisy_oracle import grounding_error_preset
    from vitalskills.sim.env import VitalEnv

    env = VitalEnv("plug_in_socket", "scene", render_wrist=False)
    try:
        prepare = GroundingStart(grounding_error_preset(20.0))
        shifts = []
        for seed in (3, 3, 4):
            env.reset(seed=seed)
            before = env.ee_pose_matrix()[:3, 3].copy()
            observation = prepare(env, seed)
            assert observation is not None
            moved = env.ee_pose_matrix()[:3, 3]
            assert np.allclose(observation["ee_pose"][:3], moved, atol=1e-5)
            shifts.append(moved - before)
    finally:
        env.close()
    assert np.allclose(shifts[0], shifts[1])  # the episode's seed fixes its error
    assert not np.allclose(shifts[0], shifts[2])
    assert all(0.002 < np.linalg.norm(shift) < 0.08 for shift in shifts)


def test_eval_does_not_save_a_grounding_stress_test() -> None:
    args = ["eval", "--skill", "plug_insert", "--grounding-error", "10", "--save"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code != 0
    assert "is not saved" in " ".join(result.output.split())
