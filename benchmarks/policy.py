"""Per-step inference latency of a ViTaL policy on CPU, beside the encoder alone.

Builds the default policy (128 px wrist image, tactile, chunk 10, temporal ensembling),
packages it as a skill folder and loads it back through the same path `run skill`
uses, then times `BCPolicy.act` on simulator-shaped observations. The reference in the
same run is the visual encoder alone on one image. Target: p99 under 20 ms.

    uv run python benchmarks/policy.py [--steps 300] [--threads 1] [--skill skills/plug_insert]

With `--skill DIR` it times that packaged skill (e.g. a shipped one) instead, as `run
skill` loads it: with its residual, when it has one.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from vitalskills.learning.bc.config import BCConfig
from vitalskills.learning.bc.model import VitalBC
from vitalskills.learning.policies import ResidualPolicy, load_bc_policy, load_skill_policy
from vitalskills.learning.skill_folder import write_skill
from vitalskills.skills import load_manifest

TEMPLATE = dict(
    name="bench", version="0.1.0", control_hz=10.0, max_steps=150,
    approach_offset=(0.0, 0.0, 0.05),
    action=dict(frame="ee", dim=7, low=[-1.0] * 7, high=[1.0] * 7),
)  # fmt: skip


def percentiles(samples: list[float]) -> tuple[float, float]:
    """Return (p50, p99) of samples in milliseconds."""
    values = np.asarray(samples) * 1000.0
    return float(np.percentile(values, 50)), float(np.percentile(values, 99))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--skill", type=Path, help="a packaged skill folder to time")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    if args.skill is not None:
        policy = load_skill_policy(load_manifest(args.skill))
        size_mb = sum(p.stat().st_size for p in args.skill.glob("*/*.safetensors")) / 1e6
    else:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "bench"
            write_skill(folder, VitalBC(BCConfig()), TEMPLATE, {})
            policy = load_bc_policy(load_manifest(folder))
            size_mb = (folder / "policy" / "model.safetensors").stat().st_size / 1e6
    bc = policy.bc if isinstance(policy, ResidualPolicy) else policy
    size = bc.config.image_size
    observations = [
        {
            "wrist_rgb": rng.integers(0, 256, (128, 128, 3), dtype=np.uint8),  # as the sim
            "tactile": rng.normal(size=15).astype(np.float32),
        }
        for _ in range(32)
    ]
    image = torch.rand(1, 3, size, size)
    encoder = bc.model.encoder

    policy_times, encoder_times = [], []
    for step in range(args.steps + 20):  # the first 20 of each are warm-up
        start = time.perf_counter()
        policy.act(observations[step % len(observations)])
        elapsed = time.perf_counter() - start
        if step >= 20:
            policy_times.append(elapsed)
        with torch.inference_mode():
            start = time.perf_counter()
            encoder(image)
            elapsed = time.perf_counter() - start
        if step >= 20:
            encoder_times.append(elapsed)

    parameters = sum(p.numel() for p in bc.model.parameters())
    kind = "BC + residual" if bc is not policy else "BC"
    print(
        f"ViTaL policy, {kind} ({args.skill or 'default config'}, {size} px): "
        f"{parameters / 1e6:.2f} M parameters, {size_mb:.1f} MB safetensors"
    )
    print(f"CPU threads: {args.threads}; {args.steps} timed steps after 20 warm-up steps")
    print(f"{'':28}{'p50 ms':>10}{'p99 ms':>10}")
    for label, samples in (
        ("policy act (full step)", policy_times),
        ("visual encoder alone (ref)", encoder_times),
    ):
        p50, p99 = percentiles(samples)
        print(f"{label:28}{p50:10.2f}{p99:10.2f}")
    p99 = percentiles(policy_times)[1]
    verdict = "meets" if p99 < 20.0 else "misses"
    print(f"policy p99 {p99:.2f} ms {verdict} the 20 ms target (a 10 Hz step is 100 ms)")


if __name__ == "__main__":
    main()
