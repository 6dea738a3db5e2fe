"""Locate benchmarks: the `fast` preset against the default pair, per-model costs, accuracy.

    uv run python benchmarks/locate.py                      # fast vs default, warm, 2 threads
    uv run python benchmarks/locate.py components           # each detector and masker alone
    uv run python benchmarks/locate.py latency [--iters 3]  # owlv2-sam stage by stage
    uv run python benchmarks/locate.py accuracy [--seeds 100]

Every model is randomly initialised at the published architecture and input size
(OWLv2-base/16 at 960 px, OWL-ViT-B/32 at 768 px, OmDet-Turbo Swin-T at 640 px, SAM
ViT-B, SAM-HQ ViT-B, SAM 2.1 hiera-tiny and EdgeTAM at 1024 px): the same compute as the
real checkpoints, saved in the real formats and loaded through `make_grounder` and
`load_masker`, the paths real weights take. Their outputs are meaningless, so only the
timings are reported. The default run's last line is `speedup=X`: the default pair's
median time per locate over the fast preset's on the CPU, measured in the same run,
interleaved. When torch sees a CUDA GPU, the default run also times both pairs (and
EdgeTAM tracking) on it in float16 and in float32 and prints those figures before it.
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
from vitalskills.perception.config import PRESETS, OwlSamOptions, PerceptionConfig
from vitalskills.perception.factory import make_grounder
from vitalskills.perception.grounder import Grounder
from vitalskills.perception.maskers import load_masker
from vitalskills.perception.random_maskers import save_random_edgetam_video, save_random_masker
from vitalskills.perception.random_models import save_random_detector, save_random_sam
from vitalskills.perception.tracking import ObjectTracker
from vitalskills.perception.video_segment import load_video_segmenter
from vitalskills.robot import SceneFrame

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


def _fresh(frame: SceneFrame, n: int) -> SceneFrame:
    """Return `frame` with one pixel changed: a new camera image, so no encoding is reused."""
    rgb = frame.rgb.copy()
    rgb[0, 0, 0] = (int(rgb[0, 0, 0]) + n) % 256
    return SceneFrame(
        rgb=rgb, depth=frame.depth, intrinsics=frame.intrinsics, extrinsics=frame.extrinsics
    )


def _params(model: torch.nn.Module) -> float:
    return sum(p.numel() for p in model.parameters()) / 1e6


def _pairs(tmp: Path) -> dict[str, OwlSamOptions]:
    """Save the default pair (OWLv2 + SAM ViT-B .pth) and the fast preset at real sizes."""
    owlv2 = save_random_detector(tmp / "owlv2-base", "owlv2", size="base")
    sam = save_random_sam(tmp / "sam_vit_b_random.pth", "vit_b")
    owlvit = save_random_detector(tmp / "owlvit-base", "owlvit", size="base")
    edgetam = save_random_masker(tmp / "edgetam", "edgetam", size="real")
    fast = PRESETS["fast"].model_copy(
        update={"detector": str(owlvit), "masker": str(edgetam), "threshold": 0.0}
    )
    return {
        "default": OwlSamOptions(detector=str(owlv2), sam_checkpoint=sam, threshold=0.0),
        "fast": fast,
    }


def _grounders(
    pairs: dict[str, OwlSamOptions], device: str = "cpu", dtype: str = "float32"
) -> dict[str, Grounder]:
    """Load every pair through `make_grounder` on `device` in `dtype`."""
    options = {
        name: pair.model_copy(update={"device": device, "dtype": dtype})
        for name, pair in pairs.items()
    }
    config = PerceptionConfig(grounders=options)
    return {name: make_grounder(name, config) for name in options}


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _time_pairs(
    grounders: dict[str, Grounder], frame: SceneFrame, iters: int, device: str
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Time each grounder on new images and on a second query per image, interleaved."""
    times: dict[str, list[float]] = {name: [] for name in grounders}
    again: dict[str, list[float]] = {name: [] for name in grounders}
    for grounder in grounders.values():  # warm-up: first calls allocate and pick kernels
        grounder.locate(_fresh(frame, 255), "power strip")
    for n in range(iters):
        for name, grounder in grounders.items():
            scene = _fresh(frame, n + 1)
            _sync(device)
            start = time.perf_counter()
            grounder.locate(scene, "power strip")
            _sync(device)
            times[name].append(time.perf_counter() - start)
            # A second query on the same image: the masker reuses its encoding.
            start = time.perf_counter()
            grounder.locate(scene, "socket")
            _sync(device)
            again[name].append(time.perf_counter() - start)
    return times, again


def _print_times(times: dict[str, list[float]], again: dict[str, list[float]]) -> None:
    for name in times:
        print(
            f"{name:<8} new image {statistics.median(times[name]):7.3f} ({min(times[name]):.3f})"
            f"   another query, same image {statistics.median(again[name]):7.3f} "
            f"({min(again[name]):.3f})"
        )


def speedup(iters: int, threads: int) -> None:
    """Time the fast preset against the default pair, warm, interleaved, same frames.

    The CPU figures (float32) always; with a CUDA GPU, the same on it in float16 (what
    `dtype: auto` picks there) and float32.
    """
    torch.set_num_threads(threads)
    frame = sim_frame("plug_in_socket", "scene", seed=0)
    h, w = frame.depth.shape
    gpu_dtypes = ("float16", "float32") if torch.cuda.is_available() else ()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        pairs = _pairs(Path(tmp))
        cpu = _grounders(pairs)
        gpu = {dtype: _grounders(pairs, "cuda", dtype) for dtype in gpu_dtypes}
        print(f"built, saved and loaded both pairs in {time.perf_counter() - start:.1f} s")
    default, fast = cpu["default"], cpu["fast"]
    print(
        f"default: OWLv2-base/16 @960 ({_params(default.detector.model):.0f} M) + SAM ViT-B "
        f"segment-anything ({_params(default.sam.predictor.model):.0f} M)"
    )
    print(
        f"fast:    OWL-ViT-B/32 @768 ({_params(fast.detector.model):.0f} M) + EdgeTAM @1024 "
        f"({_params(fast.sam.model):.1f} M)"
    )
    for dtype, grounders in gpu.items():
        times, again = _time_pairs(grounders, frame, iters, "cuda")
        print(
            f"\nwarm, CUDA ({torch.cuda.get_device_name()}), {dtype}, {iters} locates each "
            f"on a {w}x{h} simulator frame (median, min in s)"
        )
        _print_times(times, again)
        _, follow = tracking(frame, iters, "cuda", dtype)
        print(
            f"fast + EdgeTAM tracking: re-locate per frame {statistics.median(follow):7.3f} "
            f"({min(follow):.3f})"
        )
        ratio = statistics.median(times["default"]) / statistics.median(times["fast"])
        print(f"CUDA {dtype} speedup (default over fast): {ratio:.1f}")
    if gpu:
        print(f"reference: CUDA fp32 1024^3 matmul {matmul_gflops('cuda'):.0f} GFLOP/s")
    times, again = _time_pairs(cpu, frame, iters, "cpu")
    print(
        f"\nwarm, CPU, {torch.get_num_threads()} torch threads, {iters} locates each "
        f"on a {w}x{h} simulator frame (median, min in s)"
    )
    _print_times(times, again)
    print(f"reference: fp32 1024^3 matmul {matmul_gflops('cpu'):.0f} GFLOP/s")
    starts, follow = tracking(frame, iters)
    print(
        f"fast + EdgeTAM tracking: re-locate per frame {statistics.median(follow):7.3f} "
        f"({min(follow):.3f}) against a fresh text query {statistics.median(times['fast']):.3f}; "
        f"starting a track after a found query {statistics.median(starts):.3f} "
        f"({min(starts):.3f})"
    )
    ratio = statistics.median(times["default"]) / statistics.median(times["fast"])
    print(f"speedup={ratio:.1f}")


def tracking(
    frame: SceneFrame, iters: int, device: str = "cpu", dtype: str = "float32"
) -> tuple[list[float], list[float]]:
    """Time starting a track and re-locating a found object by EdgeTAM video propagation.

    Returns the times of `ObjectTracker.start` (what a found text query pays on top when
    tracking is on) and of `ObjectTracker.follow` (the propagation to the new frame and
    its mask; the geometry after it is about a millisecond). Random weights may call the
    object lost; the propagation has run by then, and the track is restarted untimed.
    """
    with tempfile.TemporaryDirectory() as tmp:
        video = save_random_edgetam_video(Path(tmp) / "edgetam-video")
        tracker = ObjectTracker(load_video_segmenter(video, device, dtype), min_score=0.0)
    mask = np.zeros(frame.depth.shape, bool)
    mask[60:140, 100:140] = True
    tracker.start("power strip", frame.rgb, mask)  # as after a found text query
    tracker.follow("power strip", _fresh(frame, 200).rgb)  # warm-up
    starts, follows = [], []
    for n in range(iters):
        scene = _fresh(frame, 100 + n)
        _sync(device)
        start = time.perf_counter()
        tracker.start("socket", scene.rgb, mask)  # another query found on this frame
        _sync(device)
        starts.append(time.perf_counter() - start)
        start = time.perf_counter()
        followed = tracker.follow("power strip", scene.rgb)
        _sync(device)
        follows.append(time.perf_counter() - start)
        if followed is None:
            tracker.start("power strip", scene.rgb, mask)
    return starts, follows


def _median_time(call: object, iters: int) -> float:
    values = []
    for _ in range(iters):
        start = time.perf_counter()
        call()  # type: ignore[operator]
        values.append(time.perf_counter() - start)
    return statistics.median(values)


def components(iters: int, threads: int, only: str | None = None) -> None:
    """Time each detector and each masker alone at real size: warm, per new image.

    `same image` is a second call on an image already seen: detectors then run only
    their text side (OWL) and maskers only their prompt decoder.
    """
    torch.set_num_threads(threads)
    frame = sim_frame("plug_in_socket", "scene", seed=0)
    box = (100.0, 60.0, 140.0, 140.0)
    images = [_fresh(frame, n).rgb for n in range(iters)]
    print(f"CPU, {threads} torch threads, median of {iters} warm calls, 320x240 frame")
    header = f"{'model':<34} {'params M':>9} {'weights MB':>11} {'new image s':>12}"
    print(f"{header} {'same image s':>13}")

    def wanted(title: str) -> bool:
        return only is None or only.lower() in title.lower()

    def report(title: str, model: torch.nn.Module, call: object) -> None:
        call(_fresh(frame, 255).rgb)  # type: ignore[operator]  # warm-up
        fresh = _median_time(lambda i=iter(images): call(next(i)), iters)  # type: ignore[operator]
        same = _median_time(lambda: call(images[-1]), iters)  # type: ignore[operator]
        size = _params(model)
        print(f"{title:<34} {size:9.1f} {size * 4:11.0f} {fresh:12.3f} {same:13.3f}")

    with tempfile.TemporaryDirectory() as tmp:
        from vitalskills.perception.detector import ZeroShotDetector

        for kind, title in (
            ("owlv2", "OWLv2-base/16 @960"),
            ("owlvit", "OWL-ViT-B/32 @768"),
            ("omdet-turbo", "OmDet-Turbo Swin-T @640"),
        ):
            if not wanted(title):
                continue
            detector = ZeroShotDetector(str(save_random_detector(Path(tmp) / kind, kind, "base")))
            report(title, detector.model, lambda rgb, d=detector: d.detect(rgb, "power strip"))
            del detector
        maskers: list[tuple[str, Path]] = []
        if wanted("SAM ViT-B (segment-anything .pth)"):
            sam_pth = save_random_sam(Path(tmp) / "sam_vit_b_random.pth", "vit_b")
            maskers.append(("SAM ViT-B (segment-anything .pth)", sam_pth))
        for kind, title in (
            ("sam", "SAM ViT-B (transformers)"),
            ("sam_hq", "SAM-HQ ViT-B"),
            ("sam2", "SAM 2.1 hiera-tiny"),
            ("edgetam", "EdgeTAM"),
        ):
            if wanted(title):
                maskers.append((title, save_random_masker(Path(tmp) / kind, kind, "real")))
        for title, source in maskers:
            masker = load_masker(source)
            model = getattr(masker, "model", None) or masker.predictor.model
            report(title, model, lambda rgb, m=masker: m.mask(rgb, box))
            del masker, model


def main() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the figures, not per-file loading bars
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what")
    fast = sub.add_parser("speedup", help="fast preset vs default pair (the default command)")
    fast.add_argument("--iters", type=int, default=3)
    fast.add_argument("--threads", type=int, default=2)
    parts = sub.add_parser("components", help="each detector and masker alone, real sizes")
    parts.add_argument("--iters", type=int, default=3)
    parts.add_argument("--threads", type=int, default=2)
    parts.add_argument("--only", help="time only the models whose name contains this")
    lat = sub.add_parser("latency", help="owlv2-sam latency with full-size random models")
    lat.add_argument("--iters", type=int, default=3)
    lat.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    acc = sub.add_parser("accuracy", help="sim grounder accuracy over seeds")
    acc.add_argument("--seeds", type=int, default=100)
    args = parser.parse_args()
    if args.what in (None, "speedup"):
        speedup(getattr(args, "iters", 3), getattr(args, "threads", 2))
    elif args.what == "components":
        components(args.iters, args.threads, args.only)
    elif args.what == "latency":
        latency(args.iters, args.device)
    else:
        accuracy(args.seeds)


if __name__ == "__main__":
    main()
