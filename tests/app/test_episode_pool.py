"""Episodes on workers: real spawned processes, a real local Ray cluster, the real simulator.

Evaluation and collection must give the same per-episode results whatever runs them, and
a worker that dies must lose only its episode, which runs again. The dead worker is a
real process that exits (`os._exit`) through the pool's documented test hook.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.tiny_skill import train_tiny_skill
from vitalskills.app.episode_pool import (
    DIE_ON_SEED_ENV,
    Done,
    EpisodePool,
    WorkerError,
    Workers,
    in_seed_order,
    run_episodes,
)
from vitalskills.app.evaluate import SimEvalJob, evaluate_policy, evaluate_skill
from vitalskills.cli import app
from vitalskills.sim.tasks import SimError
from vitalskills.skills.manifest import load_manifest

runner = CliRunner()
COMPARED = ("successes", "failed_seeds", "mean_steps", "seeds")


def eval_json(*args: str) -> dict:
    result = runner.invoke(app, ["eval", "--task", "plug_in_socket", "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_eval_with_two_workers_equals_one() -> None:
    # The scene condition draws distractors, looks and target poses from each seed, and
    # the expert's aim and tremor too: the step counts differ from seed to seed.
    options = ("--condition", "scene", "--episodes", "4", "--seed", "7")
    one, two = eval_json(*options, "--workers", "1"), eval_json(*options, "--workers", "2")
    assert {key: two[key] for key in COMPARED} == {key: one[key] for key in COMPARED}
    assert one["seeds"] == [7, 8, 9, 10] and one["episodes"] == 4


def test_collect_with_two_workers_equals_one_byte_for_byte(tmp_path: Path) -> None:
    # 24 steps are too few for some seeds: failed attempts are discarded in both runs.
    for workers in ("1", "2"):
        result = runner.invoke(
            app,
            ["collect", "--task", "plug_in_socket", "--episodes", "3", "--seed", "0",
             "--image-size", "32", "--max-steps", "24", "--workers", workers,
             "--out", str(tmp_path / workers)],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
    one, two = sorted((tmp_path / "1/data").iterdir()), sorted((tmp_path / "2/data").iterdir())
    assert [p.name for p in one] == [p.name for p in two] and len(one) == 3
    for a, b in zip(one, two, strict=True):
        with np.load(a) as left, np.load(b) as right:
            assert sorted(left.files) == sorted(right.files)
            for key in left.files:
                assert left[key].dtype == right[key].dtype, key
                assert left[key].tobytes() == right[key].tobytes(), (a.name, key)
    episodes = [(tmp_path / w / "meta/episodes.jsonl").read_text() for w in ("1", "2")]
    assert episodes[0] == episodes[1] and '"seed":2,' not in episodes[0]


def test_a_dead_worker_loses_its_episode_which_runs_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = evaluate_policy("plug_in_socket", "expert", "spatial", episodes=5, seed=20)
    marker = tmp_path / "died"
    monkeypatch.setenv(DIE_ON_SEED_ENV, f"22:{marker}")
    seen: list[int] = []
    pooled = evaluate_policy(
        "plug_in_socket", "expert", "spatial", episodes=5, seed=20, workers=Workers(2),
        on_episode=lambda index, ok: seen.append(index),
    )  # fmt: skip
    assert marker.exists(), "the worker given seed 22 did not exit"
    assert pooled == here
    assert sorted(seen) == [0, 1, 2, 3, 4]  # seed 22 reported once, after its re-run


def test_a_seed_that_kills_every_worker_stops_the_evaluation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(DIE_ON_SEED_ENV, "41")
    with pytest.raises(WorkerError, match="workers died 3 times running the episode of seed 41"):
        run_episodes(SimEvalJob("plug_in_socket"), [40, 41, 42], Workers(2))


def test_an_episode_error_in_a_worker_is_raised_here() -> None:
    job = SimEvalJob("plug_in_socket", policy="no_such_policy")
    with pytest.raises(SimError, match="unknown policy `no_such_policy`"):
        run_episodes(job, [0, 1], Workers(2))


def test_the_pool_stops_early_and_serves_the_next_map() -> None:
    job = SimEvalJob("plug_in_socket")
    with EpisodePool(Workers(2)) as pool:
        first = []
        for item in in_seed_order(pool.map(job, range(100, 10_000))):
            first.append(item.result)
            if len(first) == 3:
                break
        again = sorted(pool.map(job, [100, 101, 102]), key=lambda item: item.index)
    assert [outcome.seed for outcome in first] == [100, 101, 102]
    assert [item.result for item in again] == first


def test_in_seed_order_buffers_early_results() -> None:
    done = [Done(2, 12, "c"), Done(0, 10, "a"), Done(3, 13, "d"), Done(1, 11, "b")]
    assert [item.result for item in in_seed_order(done)] == ["a", "b", "c", "d"]


def test_workers_are_refused_with_a_robot() -> None:
    result = runner.invoke(
        app, ["collect", "--task", "plug_in_socket", "--out", "x", "--robot", "tcp://127.0.0.1:9",
              "--workers", "2"],
    )  # fmt: skip
    assert result.exit_code != 0
    assert "--workers and --ray apply to the simulator without --robot" in result.output


@pytest.fixture(scope="module")
def skill(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pool_skill")
    return train_tiny_skill(root, root / "plug_insert")


def test_a_skill_evaluates_the_same_in_workers_with_torch(skill: Path) -> None:
    manifest = load_manifest(skill)
    here = evaluate_skill(manifest, "plug_in_socket", episodes=2, seed=3)
    pooled = evaluate_skill(manifest, "plug_in_socket", episodes=2, seed=3, workers=Workers(2))
    assert pooled == here and here.policy == "skill:plug_insert@0.1.0"


def test_residual_evaluations_on_workers_equal_the_in_process_evaluator(skill: Path) -> None:
    # The trainer's evaluator sends the actor's current weights to the workers; they
    # rebuild BC + residual from the skill folder and those weights.
    from vitalskills.app.train import PoolEvaluator
    from vitalskills.learning.policies import load_bc_policy
    from vitalskills.learning.residual.actor import ResidualActor, feature_dim
    from vitalskills.learning.residual.config import ResidualConfig

    bc = load_bc_policy(load_manifest(skill))
    config = ResidualConfig(feature_dim=feature_dim(bc.model), init_scale=0.5, offset_scale=0.02)
    actor = ResidualActor(config)
    with EpisodePool(Workers(2)) as pool:
        pooled = PoolEvaluator(pool, skill, "plug_in_socket", "canonical")(bc, actor, 2)
    with EpisodePool(Workers(1)) as pool:  # in this process
        here = PoolEvaluator(pool, skill, "plug_in_socket", "canonical")(bc, actor, 2)
    assert pooled == here


def test_ray_local_cluster_gives_the_same_results_and_reruns_a_dead_actor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Under `uv run`, Ray would start its workers with `uv run` in an environment without
    # the extras; the local cluster's workers run this interpreter (as `--ray auto` does).
    monkeypatch.setenv("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # every socket on loopback
    ray = pytest.importorskip("ray", reason="Ray is an optional extra: vitalskills[ray]")
    here = evaluate_policy("plug_in_socket", "expert", "spatial", episodes=4, seed=30)
    marker = tmp_path / "died"
    monkeypatch.setenv(DIE_ON_SEED_ENV, f"31:{marker}")
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1")
    try:
        pooled = evaluate_policy(
            "plug_in_socket", "expert", "spatial", episodes=4, seed=30,
            workers=Workers(2, ray="auto"),
        )  # fmt: skip
        nodes = [node["NodeManagerAddress"] for node in ray.nodes()]
    finally:
        ray.shutdown()
    assert nodes == ["127.0.0.1"]
    assert marker.exists(), "the Ray actor given seed 31 did not exit"
    assert pooled == here


class PidJob:
    """Notes each build in `log` and answers each seed with the worker's pid."""

    def __init__(self, log: Path) -> None:
        self.log = log

    def __call__(self) -> object:
        with self.log.open("a") as notes:
            notes.write(f"{os.getpid()}\n")
        return lambda seed: os.getpid()


def test_ray_actors_are_kept_for_the_next_map_and_build_each_job_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    ray = pytest.importorskip("ray", reason="Ray is an optional extra: vitalskills[ray]")
    # The job class lives in this test module, which Ray's workers cannot import: send it
    # by value.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    first, second = PidJob(tmp_path / "first.log"), PidJob(tmp_path / "second.log")
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1")
    try:
        with EpisodePool(Workers(2, ray="auto")) as pool:
            pids = [{item.result for item in pool.map(job, range(6))} for job in (first, first)]
            pids.append({item.result for item in pool.map(second, range(6))})
    finally:
        ray.shutdown()
        ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    actors = set().union(*pids)
    assert len(actors) == 2  # the same two actors served all three maps
    built = {name: (tmp_path / name).read_text().split() for name in ("first.log", "second.log")}
    assert sorted(map(int, built["first.log"])) == sorted(actors)  # once per actor, not per map
    assert sorted(map(int, built["second.log"])) == sorted(actors)
