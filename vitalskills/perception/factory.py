"""The grounder registry: `make_grounder(name, config)` builds a grounder by name.

Each backend's builder imports its models only when it is asked for, so a run that
locates with `sim` never imports transformers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from vitalskills.perception.config import (
    NoisyOracleOptions,
    OwlSamOptions,
    PerceptionConfig,
    Sam3Options,
    SimOptions,
    VlmPointOptions,
    grounder_options,
    load_config,
)
from vitalskills.perception.errors import PerceptionError
from vitalskills.perception.grounder import Grounder

if TYPE_CHECKING:
    from vitalskills.perception.maskers import Masker

#: `make_grounder` logs each grounder it builds (a cache hit logs nothing): how a
#: long-lived process (a run, the `locate` REPL, `--watch`) shows its models loaded once.
log = logging.getLogger(__name__)


def _build_sim(name: str, options: SimOptions) -> Grounder:
    from vitalskills.perception.sim_grounder import SimGrounder

    return SimGrounder(name=name, erode_px=options.erode_px, point=options.point)


def _build_masker(name: str, options: OwlSamOptions | VlmPointOptions) -> Masker | None:
    from vitalskills.perception.maskers import load_masker

    if options.masker is not None and options.sam_checkpoint is not None:
        raise PerceptionError(
            f"grounder `{name}` names both `masker` and `sam_checkpoint`",
            hint="keep one: `masker` takes a .pth file or a model folder",
        )
    source = options.masker or options.sam_checkpoint
    if source is None:
        return None
    return load_masker(source, options.sam_type, options.device, options.dtype)


def _build_owl_sam(name: str, options: OwlSamOptions) -> Grounder:
    from vitalskills.perception.detector import ZeroShotDetector
    from vitalskills.perception.owl_sam import OwlSamGrounder
    from vitalskills.perception.sam import SAM_DOWNLOAD_HINT

    masker = _build_masker(name, options)
    if masker is None:
        raise PerceptionError(
            f"grounder `{name}` needs a masker and none is configured",
            hint="give `masker:` a model folder (SAM, SAM 2, EdgeTAM) or a .pth file; "
            + SAM_DOWNLOAD_HINT,
        )
    tracker = None
    if options.track is not None:
        from vitalskills.perception.tracking import ObjectTracker
        from vitalskills.perception.video_segment import load_video_segmenter

        segmenter = load_video_segmenter(options.track, options.device, options.dtype)
        tracker = ObjectTracker(
            segmenter, max_age_s=options.track_max_age_s, min_score=options.track_min_score
        )
    return OwlSamGrounder(
        ZeroShotDetector(options.detector, options.device, options.dtype),
        masker,
        tracker=tracker,
        name=name,
        threshold=options.threshold,
        point=options.point,
        erode_px=options.erode_px,
    )


def _build_vlm_point(name: str, options: VlmPointOptions) -> Grounder:
    from vitalskills.perception.vlm_point import VlmPointGrounder

    return VlmPointGrounder.from_options(name, options, _build_masker(name, options))


def _build_sam3(name: str, options: Sam3Options) -> Grounder:
    from vitalskills.perception.sam3_grounder import Sam3Grounder

    return Sam3Grounder.from_options(name, options)


def _build_noisy_oracle(name: str, options: NoisyOracleOptions) -> Grounder:
    from vitalskills.perception.noisy_oracle import NoisyOracleGrounder

    return NoisyOracleGrounder(name, options)


BUILDERS: dict[str, Callable[[str, Any], Grounder]] = {
    "sim": _build_sim,
    "noisy-oracle": _build_noisy_oracle,
    "owlv2-sam": _build_owl_sam,
    "vlm-point": _build_vlm_point,
    "sam3": _build_sam3,
}

_CACHE: dict[tuple[str, str], Grounder] = {}

#: Backends whose grounders hold a run's state (a seeded generator): built fresh each time.
UNCACHED = {"noisy-oracle"}


def make_grounder(
    name: str | None = None,
    config: PerceptionConfig | None = None,
    overrides: dict[str, Any] | None = None,
) -> Grounder:
    """Build (or reuse) the grounder called `name`; None means the configured default.

    Models load once per process and set of options: a task with several `locate`
    steps does not reload them. Grounders with a run's state (`UNCACHED`) are new.
    """
    config = config if config is not None else load_config()
    name = name or config.default_grounder
    options = grounder_options(name, config, overrides)
    if options.backend in UNCACHED:
        return BUILDERS[options.backend](name, options)
    key = (name, options.model_dump_json())
    if key not in _CACHE:
        start = time.perf_counter()
        _CACHE[key] = BUILDERS[options.backend](name, options)
        log.info(
            "loaded grounder `%s` (%s) in %.2f s", name, options.backend,
            time.perf_counter() - start,
        )  # fmt: skip
    return _CACHE[key]
