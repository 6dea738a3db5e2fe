"""Which part of the `scene` condition costs a skill its success.

Evaluates a skill on the `scene` layouts of `vitalskills eval` (same seeds), with one
factor of every layout put back to what `spatial` shows:

    uv run python scripts/scene_factors.py --skill plug_insert --task plug_in_socket \
        --factor looks --episodes 30 --seed 10000

Factors: `none` (scene as it is), `looks` (plain table and wall, default colours and
lights; `surfaces` and `lights` put back one half of that), `distractors` (none),
`all` (all of those: scene's target poses only). With
`--wrist-jitter MM` every layout's wrist camera is also moved, as `eval --wrist-jitter`;
`--no-residual` evaluates the BC policy alone.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from vitalskills.app.evaluate import evaluate_skill
from vitalskills.sim import env as sim_env
from vitalskills.sim.randomize import Layout
from vitalskills.skills import default_library

FACTORS = ("none", "looks", "surfaces", "lights", "distractors", "all")
SURFACES = ("table_texture", "table_rgb", "wall_texture", "wall_rgb")
LIGHTS = ("light_scale", "light_shift")


def reset_factor(layout: Layout, factor: str) -> Layout:
    """Put `factor` of a scene layout back to the plain look of `spatial`."""
    plain = Layout(layout.target_pos, layout.target_yaw, layout.start_pos, layout.start_yaw)
    names = {"looks": SURFACES + LIGHTS, "all": SURFACES + LIGHTS,
             "surfaces": SURFACES, "lights": LIGHTS}.get(factor, ())  # fmt: skip
    for name in names:
        setattr(layout, name, getattr(plain, name))
    if factor in ("distractors", "all"):
        layout.distractors = []
    return layout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skill", required=True)
    parser.add_argument("--task", required=True)
    parser.add_argument("--factor", choices=FACTORS, default="none")
    parser.add_argument("--episodes", type=int, default=30)
    parser.add_argument("--seed", type=int, default=10000)
    parser.add_argument("--wrist-jitter", type=float, default=None, help="mm per axis")
    parser.add_argument("--no-residual", action="store_true", help="the BC policy alone")
    parser.add_argument(
        "--skills", type=Path, action="append", default=[], help="extra skill library directory"
    )
    args = parser.parse_args()
    draw = sim_env.sample_layout
    sim_env.sample_layout = lambda *a, **k: reset_factor(draw(*a, **k), args.factor)
    manifest = default_library(args.skills).get(args.skill)
    jitter = None if args.wrist_jitter is None else args.wrist_jitter / 1000
    result = evaluate_skill(
        manifest, args.task, "scene", episodes=args.episodes, seed=args.seed,
        residual=not args.no_residual, wrist_jitter=jitter,
    )  # fmt: skip
    print(json.dumps({"factor": args.factor, "wrist_jitter_mm": args.wrist_jitter,
                      **result.to_dict()}))  # fmt: skip


if __name__ == "__main__":
    main()
