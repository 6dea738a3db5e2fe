"""Grounder configuration: the options of each backend and the user's config file.

The user config file (`$VITALSKILLS_CONFIG`, else `$XDG_CONFIG_HOME/vitalskills/
config.yaml`, else `~/.config/vitalskills/config.yaml`) may hold a `grounders:` section
mapping names to options, each with a `backend`, and a `default_grounder:`. The backend
names (`owlv2-sam`, `vlm-point`, `sam3`, `sim`) are also grounder names with default options, so
`locate "mug" using sim` works with no config at all; so are the `PRESETS` (`fast`).
`factory.make_grounder` builds a grounder from these options.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from vitalskills.errors import validate_model
from vitalskills.perception.errors import BadConfig, UnknownGrounder

#: The open-vocabulary detector `owlv2-sam` uses unless configured otherwise.
DEFAULT_DETECTOR = "google/owlv2-base-patch16-ensemble"
DEFAULT_PROMPT = "Point at the {query}."

MASKER_DESCRIPTION = (
    "SAM / SAM-HQ / SAM 2 / EdgeTAM model folder or cached id (config.json says which), "
    "or a segment-anything .pth; replaces sam_checkpoint"
)

#: The precision a backend holds its models in: `auto` is float16 on CUDA, float32 on the CPU.
Dtype = Literal["auto", "float32", "float16", "bfloat16"]
DEVICE_DESCRIPTION = "torch device: auto (CUDA when torch sees one), cpu, cuda or cuda:N"
DTYPE_DESCRIPTION = (
    "model precision: auto (float16 on CUDA, float32 on CPU), float32, float16, bfloat16"
)

#: How a pointing VLM writes points: a family's own syntax, or bare (x, y) pairs in a unit.
PointFormat = Literal["auto", "molmo", "molmo2", "qwen3", "pixels", "percent", "unit", "permille"]


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid")

    point: Literal["top", "median"] = Field(
        "top", description="top: centre of the mask's highest face; median: robust median"
    )
    erode_px: int = Field(2, ge=0, description="mask erosion before the median (point: median)")


class SimOptions(_Options):
    """The simulator oracle: no models, privileged segmentation."""

    backend: Literal["sim"] = "sim"


class OwlSamOptions(_Options):
    """Open-vocabulary detector + SAM."""

    backend: Literal["owlv2-sam"] = "owlv2-sam"
    detector: str = Field(
        DEFAULT_DETECTOR, description="local model directory or Hugging Face id in the cache"
    )
    masker: str | None = Field(None, description=MASKER_DESCRIPTION)
    sam_checkpoint: Path | None = Field(None, description="official sam_vit_*.pth file")
    sam_type: str | None = Field(None, description="vit_b/vit_l/vit_h; default from file name")
    threshold: float = Field(0.1, ge=0.0, le=1.0, description="minimum detector score")
    track: str | None = Field(
        None,
        description="SAM 2 / EdgeTAM video model folder: a query found once is followed "
        "to later frames by video propagation instead of a new text query",
    )
    track_max_age_s: float = Field(60.0, gt=0.0, description="forget a track unused this long")
    track_min_score: float = Field(
        0.5, ge=0.0, le=1.0,
        description="the video model's object-presence probability below which a followed "
        "object counts as lost (the next locate asks the detector)",
    )  # fmt: skip
    device: str = Field("auto", description=DEVICE_DESCRIPTION)
    dtype: Dtype = Field("auto", description=DTYPE_DESCRIPTION)


class VlmPointOptions(_Options):
    """A pointing VLM (Molmo-style) + depth, with optional SAM for a mask."""

    backend: Literal["vlm-point"] = "vlm-point"
    model: str = Field("allenai/Molmo-7B-D-0924", description="local directory or cached id")
    prompt: str | None = Field(
        None, description="prompt template; {query} is replaced; default: the family's own"
    )
    point_format: PointFormat = Field(
        "auto", description="how the answer writes points; auto: from config.json's model_type"
    )
    max_new_tokens: int = Field(64, gt=0)
    masker: str | None = Field(None, description=MASKER_DESCRIPTION)
    sam_checkpoint: Path | None = None
    sam_type: str | None = None
    window_px: int = Field(3, ge=0, description="depth median window around the point")
    trust_remote_code: bool = Field(
        False, description="allow the model's own code (original Molmo)"
    )
    device: str = Field("auto", description=DEVICE_DESCRIPTION)
    dtype: Dtype = Field("auto", description=DTYPE_DESCRIPTION)


class Sam3Options(_Options):
    """SAM 3: the text query to instance masks in one model; the best-scoring one is taken."""

    backend: Literal["sam3"] = "sam3"
    model: str = Field("facebook/sam3", description="SAM 3 model folder or cached id")
    threshold: float = Field(0.3, ge=0.0, le=1.0, description="minimum instance score")
    mask_threshold: float = Field(0.5, ge=0.0, le=1.0, description="mask probability cut")
    device: str = Field("auto", description=DEVICE_DESCRIPTION)
    dtype: Dtype = Field("auto", description=DTYPE_DESCRIPTION)


class NoisyOracleOptions(_Options):
    """The simulator oracle, perturbed the way a real grounder errs (docs/perception.md).

    Every error is zero by default (then it is the `sim` oracle). Draws come from `seed`
    (None: the run's seed), so a run reproduces; the extrinsics error is drawn once.
    """

    backend: Literal["noisy-oracle"] = "noisy-oracle"
    point_px: float = Field(
        0.0, ge=0.0, le=100.0, description="std of the point's pixel error, per image axis (px)"
    )
    depth_mm: float = Field(
        0.0, ge=0.0, le=500.0, description="std of the depth error along the camera axis (mm)"
    )
    extrinsics_deg: float = Field(
        0.0, ge=0.0, le=30.0, description="std of the camera rotation error, per axis (deg)"
    )
    extrinsics_mm: float = Field(
        0.0, ge=0.0, le=500.0, description="std of the camera position error, per axis (mm)"
    )
    miss: float = Field(0.0, ge=0.0, le=1.0, description="probability of answering not found")
    wrong_pick: float = Field(
        0.0, ge=0.0, le=1.0, description="probability of picking a look-alike, when one is seen"
    )
    seed: int | None = Field(None, ge=0, description="seed of the draws; None: the run's seed")


GrounderOptions = Annotated[
    SimOptions | OwlSamOptions | VlmPointOptions | Sam3Options | NoisyOracleOptions,
    Field(discriminator="backend"),
]


class PerceptionConfig(BaseModel):
    """The perception part of the user config file."""

    model_config = ConfigDict(extra="ignore")

    default_grounder: str = "owlv2-sam"
    grounders: dict[str, GrounderOptions] = Field(default_factory=dict)


#: Built-in grounder names with chosen models (a config entry of the same name wins).
#: `fast`: the pair measured fastest on CPU (benchmarks/locate.py, docs/perception.md).
PRESETS: dict[str, _Options] = {
    "fast": OwlSamOptions(
        detector="google/owlvit-base-patch32", masker="yonigozlan/EdgeTAM-hf", threshold=0.1
    ),
}

BACKEND_OPTIONS: dict[str, type[_Options]] = {
    "sim": SimOptions,
    "owlv2-sam": OwlSamOptions,
    "vlm-point": VlmPointOptions,
    "sam3": Sam3Options,
    "noisy-oracle": NoisyOracleOptions,
}


def config_path() -> Path:
    """Return where the user config file is looked for."""
    if env := os.environ.get("VITALSKILLS_CONFIG"):
        return Path(env).expanduser()
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "vitalskills" / "config.yaml"


def load_config(path: Path | None = None) -> PerceptionConfig:
    """Read the grounders section of the user config file; no file means defaults."""
    path = path or config_path()
    if not path.is_file():
        return PerceptionConfig()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise BadConfig(f"config file `{path}` is not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise BadConfig(
            f"config file `{path}` must be a mapping", hint="start it with `grounders:`"
        )
    return validate_model(
        PerceptionConfig, data, BadConfig, f"config file `{path}`",
        hint="see docs/perception.md for the grounders section",
    )  # fmt: skip


def grounder_options(
    name: str, config: PerceptionConfig, overrides: dict[str, Any] | None = None
) -> _Options:
    """Return the validated options of grounder `name`, with `overrides` applied."""
    if name in config.grounders:
        options = config.grounders[name]
    elif name in PRESETS:
        options = PRESETS[name]
    elif name in BACKEND_OPTIONS:
        options = BACKEND_OPTIONS[name]()
    else:
        known = sorted({*config.grounders, *PRESETS, *BACKEND_OPTIONS})
        raise UnknownGrounder(
            f"unknown grounder `{name}`",
            hint=f"known grounders: {', '.join(known)}; add others under `grounders:` in "
            f"{config_path()}",
        )
    if not overrides:
        return options
    foreign = sorted(set(overrides) - set(type(options).model_fields))
    if foreign:
        raise BadConfig(
            f"option `{foreign[0]}` does not apply to grounder `{name}` "
            f"(backend `{options.backend}`)",
            hint=f"its options are: {', '.join(sorted(type(options).model_fields))}",
        )
    merged = {**options.model_dump(), **overrides}
    return validate_model(type(options), merged, BadConfig, f"grounder `{name}`")
