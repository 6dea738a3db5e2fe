"""Simulator speed: env steps/s with and without wrist rendering, beside bare physics.

For each task it measures, in the same process and on the same compiled model:
  - bare:  `mujoco.mj_step` called SUBSTEPS times (one control step of physics alone),
  - env:   `VitalEnv.step` without wrist rendering (physics + control + tactile),
  - wrist: `VitalEnv.step` with the 128x128 wrist camera rendered every step.

By default the process is pinned to one CPU core (and Mesa's llvmpipe to one thread)
so the figure is "per core". Run:  uv run python benchmarks/sim.py
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])


def _rate(fn, steps: int, rounds: int) -> float:
    """Best rate of `rounds` timed runs: other processes only ever slow a run down."""
    fn()  # warm up (renderer contexts, caches)
    best = 0.0
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(steps):
            fn()
        best = max(best, steps / (time.perf_counter() - start))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="env steps per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="timed runs; the best counts")
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--all-cores", action="store_true", help="do not pin to one core")
    parser.add_argument("--tasks", nargs="*", default=None)
    args = parser.parse_args()
    if not args.all_cores:
        os.environ["LP_NUM_THREADS"] = "1"
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    import mujoco
    import numpy as np

    from vitalskills.sim import TASKS, make_env
    from vitalskills.sim.env import SUBSTEPS

    tasks = args.tasks or list(TASKS)
    cores = "all cores" if args.all_cores else "1 core"
    print(
        f"simulator speed, {cores}, best of {args.rounds} x {args.steps} steps, "
        f"wrist {args.image_size}px, "
        f"{SUBSTEPS} physics substeps of 2 ms per env step"
    )
    header = (
        f"{'task':<16}{'bare physics':>14}{'env, no render':>16}{'env + wrist':>13}{'ratio':>8}"
    )
    print(header)
    print("-" * len(header))
    for name in tasks:
        rates = {}
        for render in (False, True):
            env = make_env(name, render_wrist=render, image_size=args.image_size)
            env.reset(seed=0)
            rng = np.random.default_rng(0)
            actions = rng.uniform(env.action_space.low, env.action_space.high, (args.steps + 1, 7))
            actions[:, :3] *= 0.3
            actions[:, 6] = 1.0
            counter = iter(range(10**9))

            def step(env=env, actions=actions, counter=counter) -> None:
                i = next(counter)
                _, _, terminated, truncated, _ = env.step(actions[i % len(actions)])
                if terminated or truncated:
                    env.reset(seed=i)

            rates["wrist" if render else "env"] = _rate(step, args.steps, args.rounds)
            if not render:
                model, data = env.model, env.data

                def bare(model=model, data=data) -> None:
                    mujoco.mj_step(model, data, nstep=SUBSTEPS)

                rates["bare"] = _rate(bare, args.steps, args.rounds)
            env.close()
        print(
            f"{name:<16}{rates['bare']:>10.0f} /s {rates['env']:>12.0f} /s "
            f"{rates['wrist']:>9.0f} /s {rates['wrist'] / rates['bare']:>7.2f}"
        )
    print("ratio = env + wrist / bare physics (1.0 would mean env overhead and rendering are free)")


if __name__ == "__main__":
    main()
