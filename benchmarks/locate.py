"""Locate benchmarks: owlv2-sam latency with full-size models, and sim-grounder accuracy.

    uv run python benchmarks/locate.py latency [--iters 3] [--device cpu]
    uv run python benchmarks/locate.py accuracy [--seeds 100]

Latency uses randomly initialised OWLv2-base/16 (960 px) and SAM ViT-B: the same
architectures, hence the same compute, as the published checkpoints, saved in the
real formats and loaded through the same code path (`make_grounder`). Their outputs
are meaningless, so only the timings are reported. Reference figures measured in the
same run: the sim oracle on the same frame (no models) and the machine's fp32 matmul
throughput.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np
import torch

from vitalskills.app.locate import evaluate_sim, sim_frame
from vitalskills.perception.config import OwlSamOptions, PerceptionConfig
from vitalskills.perception.factory import make_grounder
from vitalskills.perception.random_models import save_random_detector, save_random_sam

TASKS = ["plug_in_socket", "usb_insert", "card_swipe", "key_in_lock"]


def matmul_gflops(device: str) -> float:
    """Measure fp32 matmul throughput as a machine reference."""
    a = torch.randn(1024, 1024, device=device)
    b = torch.randn(1024, 1024, device=device)
    a @ b
    start, n = time.perf_counter(), 20
    for _ in range(n):
        a @ b
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return 2 * 1024**3 * n / (time.perf_counter() - start) / 1e9


def latency(iters: int, device: str) -> None:
    """Time owlv2-sam stage by stage on a 320x240 simulator frame."""
    frame = sim_frame("plug_in_socket", "scene", seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        detector = save_random_detector(Path(tmp) / "owlv2-base", "owlv2", size="base")
        sam = save_random_sam(Path(tmp) / "sam_vit_b_random.pth", "vit_b")
        options = OwlSamOptions(
            detector=str(detector), sam_checkpoint=sam, threshold=0.0, device=device
        )
        grounder = make_grounder("bench", PerceptionConfig(grounders={"bench": options}))
        print(f"built, saved and loaded models in {time.perf_counter() - start:.1f} s")
        params = sum(p.numel() for p in grounder.detector.model.parameters()) / 1e6
        sam_params = sum(p.numel() for p in grounder.sam.predictor.model.parameters()) / 1e6
        print(f"detector OWLv2-base/16 @960: {params:.0f}M params; SAM ViT-B: {sam_params:.0f}M")
        grounder.locate(frame, "power strip")  # warm-up
        stages: dict[str, list[float]] = {"detector": [], "sam": [], "geometry": [], "total": []}
        for _ in range(iters):
            result = grounder.locate(frame, "power strip")
            for name in ("detector", "sam", "geometry"):
                stages[name].append(result.timings.get(name, float("nan")))
            stages["total"].append(sum(result.timings.values()))
    oracle = make_grounder("sim")
    oracle_times = []
    for _ in range(20):
        oracle_times.append(sum(oracle.locate(frame, "power strip").timings.values()))
    print(f"\ndevice {device}, {torch.get_num_threads()} torch threads, {iters} iterations")
    print(f"{'stage':<10} {'median s':>9} {'min s':>8}")
    for name, values in stages.items():
        print(f"{name:<10} {statistics.median(values):9.3f} {min(values):8.3f}")
    print(
        f"reference: sim oracle on the same frame {statistics.median(oracle_times) * 1000:.2f} ms"
    )
    print(f"reference: fp32 1024^3 matmul {matmul_gflops(device):.0f} GFLOP/s")


def accuracy(seeds: int) -> None:
    """Measure how often the sim grounder lands within 5 mm of the true target."""
    start = time.perf_counter()
    report = evaluate_sim(TASKS, range(seeds), condition="scene")
    errors = np.array(report.errors_m) * 1000
    print(f"sim grounder, condition scene, seeds 0..{seeds - 1} (task = seed mod 4: {TASKS})")
    print(f"distractors per scene (mean): {report.distractors_seen / seeds:.1f}")
    print(
        f"within 5 mm: {report.within(0.005) * 100:.1f}%  (within 2 mm: "
        f"{report.within(0.002) * 100:.1f}%)"
    )
    print(
        f"error mm: median {np.median(errors):.2f}, p95 {np.percentile(errors, 95):.2f}, "
        f"max {errors.max():.2f}"
    )
    print(f"absent object `screwdriver` not found: {report.absent_not_found}/{seeds}")
    print(
        f"reference: {(time.perf_counter() - start) / seeds * 1000:.0f} ms per scene "
        "(render + two locates)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    lat = sub.add_parser("latency", help="owlv2-sam latency with full-size random models")
    lat.add_argument("--iters", type=int, default=3)
    lat.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    acc = sub.add_parser("accuracy", help="sim grounder accuracy over seeds")
    acc.add_argument("--seeds", type=int, default=100)
    args = parser.parse_args()
    if args.what == "latency":
        latency(args.iters, args.device)
    else:
        accuracy(args.seeds)


if __name__ == "__main__":
    main()
