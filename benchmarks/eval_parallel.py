"""Evaluation throughput: episodes per second in process, on 1 and 2 workers, and on Ray.

Evaluates a skill from the library (default: the shipped `plug_insert`, BC + residual,
with the 128 x 128 wrist camera rendered every step) on the same seeds four ways:
  - sequential:   in this process, one episode after another (`--workers 1`),
  - 1 worker:     one spawned worker process (the pool's own cost),
  - 2 workers:    two spawned worker processes (`--workers 2`),
  - ray 2:        two actors on a local Ray cluster (`--ray auto --workers 2`),
  - ray 2, kept:  the same, a second evaluation in one pool (as `train residual --ray`
                  evaluates again and again): the actors are kept, a new job object has
                  them load the skill again, nothing else starts.
Each time covers the whole evaluation as a user runs it: starting the workers and loading
the skill in each, then the episodes; the best of `--rounds` counts (other jobs only
ever slow a run down). Two one-time costs of a process are measured apart and kept out:
the server local workers fork from (it imports torch and MuJoCo once) and the local Ray
cluster (started just before its run, so that its threads in this process do not slow
the others). Every run must give the same per-episode results. The last line is
`speedup=X`: 2 local workers over sequential.

    uv run python benchmarks/eval_parallel.py [--episodes 48] [--rounds 2] [--no-ray]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])
os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")  # as `--ray auto` sets them
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=48, help="episodes per run")
    parser.add_argument("--rounds", type=int, default=2, help="timed runs; the best counts")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first episode")
    parser.add_argument("--skill", default="plug_insert", help="library skill to evaluate")
    parser.add_argument("--task", default="plug_in_socket", help="simulator task")
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray run")
    args = parser.parse_args()

    import torch

    from vitalskills.app.episode_pool import EpisodePool, Workers, run_episodes
    from vitalskills.app.evaluate import SimEvalJob, evaluate_skill
    from vitalskills.skills import default_library

    torch.set_num_threads(1)  # as in the workers: one core per episode stream
    manifest = default_library([]).get(args.skill, None)
    runs = {
        "sequential": Workers(1),
        "1 worker": Workers(1, spawn_one=True),
        "2 workers": Workers(2),
    }
    print(f"{args.skill} on {args.task}, {args.episodes} episodes from seed {args.seed}, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")  # fmt: skip
    start = time.perf_counter()
    job = SimEvalJob(args.task, skill=manifest.root)
    run_episodes(job, [args.seed], Workers(1, spawn_one=True))
    print(f"once per process: the worker server and a first worker, {_since(start):.1f} s")
    if not args.no_ray:
        runs["ray 2"] = Workers(2, ray="auto")
    rates, results = {}, {}
    print(f"{'run':<12} {'seconds':>8} {'episodes/s':>11} {'vs sequential':>14}  successes")
    for name, workers in runs.items():
        if workers.ray is not None:  # started last: its threads in this process stay out
            import ray  # of the other runs

            start = time.perf_counter()
            ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1")
            print(f"(once per process: a local Ray cluster, {_since(start):.1f} s)")
        seconds = float("inf")
        for _ in range(args.rounds):
            start = time.perf_counter()
            result = evaluate_skill(
                manifest, args.task, episodes=args.episodes, seed=args.seed, workers=workers
            )
            seconds = min(seconds, _since(start))
        rates[name], results[name] = args.episodes / seconds, result
        ratio = rates[name] / rates["sequential"]
        print(
            f"{name:<12} {seconds:>8.1f} {rates[name]:>11.3f} {ratio:>13.2f}x  "
            f"{result.successes}/{result.episodes}",
            flush=True,
        )
    if not args.no_ray:
        seeds = range(args.seed, args.seed + args.episodes)
        with EpisodePool(Workers(2, ray="auto")) as pool:
            list(pool.map(SimEvalJob(args.task, skill=manifest.root), seeds))  # actors start
            start = time.perf_counter()
            kept = [
                done.result for done in pool.map(SimEvalJob(args.task, skill=manifest.root), seeds)
            ]
            seconds = _since(start)
        ray.shutdown()
        ratio = args.episodes / seconds / rates["sequential"]
        wins = sum(outcome.success for outcome in kept)
        print(
            f"{'ray 2, kept':<12} {seconds:>8.1f} {args.episodes / seconds:>11.3f} "
            f"{ratio:>13.2f}x  {wins}/{len(kept)}",
            flush=True,
        )
    same = all(result == results["sequential"] for result in results.values())
    print(f"same per-episode results in every run: {'yes' if same else 'NO'}")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    print(f"speedup={rates['2 workers'] / rates['sequential']:.2f}")
    if not same:
        raise SystemExit(1)


def _since(start: float) -> float:
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
