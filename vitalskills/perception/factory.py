"""The grounder registry: `make_grounder(name, config)` builds a grounder by name.

Each backend's builder imports its models only when it is asked for, so a run that
locates with `sim` never imports transformers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vitalskills.perception.config import (
    NoisyOracleOptions,
    OwlSamOptions,
    PerceptionConfig,
    SimOptions,
    VlmPointOptions,
    grounder_options,
    load_config,
)
from vitalskills.perception.errors import PerceptionError
from vitalskills.perception.grounder import Grounder


def _build_sim(name: str, options: SimOptions) -> Grounder:
    from vitalskills.perception.sim_grounder import SimGrounder

    return SimGrounder(name=name, erode_px=options.erode_px, point=options.point)


def _build_owl_sam(name: str, options: OwlSamOptions) -> Grounder:
    from vitalskills.perception.detector import ZeroShotDetector
    from vitalskills.perception.owl_sam import OwlSamGrounder
    from vitalskills.perception.sam import SAM_DOWNLOAD_HINT, SamMasker, load_sam

    if options.sam_checkpoint is None:
        raise PerceptionError(
            f"grounder `{name}` needs a SAM checkpoint and none is configured",
            hint=SAM_DOWNLOAD_HINT,
        )
    sam = load_sam(options.sam_checkpoint, options.sam_type, options.device)
    return OwlSamGrounder(
        ZeroShotDetector(options.detector, options.device),
        SamMasker(sam),
        name=name,
        threshold=options.threshold,
        point=options.point,
        erode_px=options.erode_px,
    )


def _build_vlm_point(name: str, options: VlmPointOptions) -> Grounder:
    from vitalskills.perception.vlm_point import VlmPointGrounder

    return VlmPointGrounder.from_options(name, options)


def _build_noisy_oracle(name: str, options: NoisyOracleOptions) -> Grounder:
    from vitalskills.perception.noisy_oracle import NoisyOracleGrounder

    return NoisyOracleGrounder(name, options)


BUILDERS: dict[str, Callable[[str, Any], Grounder]] = {
    "sim": _build_sim,
    "noisy-oracle": _build_noisy_oracle,
    "owlv2-sam": _build_owl_sam,
    "vlm-point": _build_vlm_point,
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
        _CACHE[key] = BUILDERS[options.backend](name, options)
    return _CACHE[key]
