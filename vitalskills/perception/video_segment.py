"""Track prompted objects through a video with SAM2 or EdgeTAM (transformers' video models).

This is how the paper masks real demonstrations: a few clicks on an episode's first
frame name the target, the held object and the gripper; the model segments them there
and its memory carries each one through the rest of the episode. The model is a local
`save_pretrained` directory (a model and its processor), loaded with
`local_files_only=True`; its `config.json` says which video model it is. torch and
transformers are imported only when a model is loaded, so importing this module is light.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vitalskills.errors import UsageError
from vitalskills.perception.errors import PerceptionError, WeightsNotFound
from vitalskills.perception.hub import require_packages, resolve_device, resolve_dtype

#: The parts a prompt may name: what semantic augmentation keeps.
PART_NAMES = ("target", "held", "gripper")


@dataclass(frozen=True)
class VideoModelKind:
    """One transformers video segmentation family: its classes and what it needs."""

    model: str
    processor: str
    needs: tuple[str, ...] = ()


#: `model_type` in config.json -> the transformers classes that track with it.
VIDEO_MODELS = {
    "sam2_video": VideoModelKind("Sam2VideoModel", "Sam2VideoProcessor"),
    # EdgeTAM's image encoder is a timm RepViT; transformers builds it through timm.
    "edgetam_video": VideoModelKind("EdgeTamVideoModel", "Sam2VideoProcessor", needs=("timm",)),
}

#: Image model types whose checkpoints may still hold the video weights (one hub
#: checkpoint serves both classes): loaded as video models if every weight is there.
IMAGE_TYPES = {"sam2": "sam2_video", "edgetam": "edgetam_video"}
#: Image-only families: no memory to track with.
IMAGE_ONLY = {"sam", "sam_hq"}

DOWNLOAD_HINT = (
    "download a video checkpoint once on a machine with internet, e.g. "
    "`hf download facebook/sam2.1-hiera-tiny --local-dir ~/models/sam2.1-hiera-tiny` "
    "(or yonigozlan/EdgeTAM-hf), and pass that directory"
)

_POINT = re.compile(r"^\s*([A-Za-z_]+)\s*=\s*([-+0-9.eE]+)\s*,\s*([-+0-9.eE]+)\s*$")


@dataclass(frozen=True)
class ObjectPrompt:
    """Clicks on the first frame for one object: foreground points and optional negatives."""

    name: str
    points: tuple[tuple[float, float], ...]
    negatives: tuple[tuple[float, float], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "points": [list(p) for p in self.points],
            "negatives": [list(p) for p in self.negatives],
        }


def parse_point(spec: str, option: str = "--prompt") -> tuple[str, tuple[float, float]]:
    """Parse `NAME=U,V` (a part name and pixel coordinates on the first frame).

    Raises:
        UsageError: the text is not `NAME=U,V` or the name is not a known part.
    """
    found = _POINT.match(spec)
    if found is None:
        raise UsageError(
            f"`{option} {spec}` is not NAME=U,V",
            hint=f"e.g. `{option} target=64,80` (u is the column, v the row, in pixels)",
        )
    name = found.group(1).lower()
    if name not in PART_NAMES:
        raise UsageError(
            f"`{option} {spec}` names the unknown part `{name}`",
            hint=f"name one of {', '.join(PART_NAMES)}",
        )
    try:
        u, v = float(found.group(2)), float(found.group(3))
    except ValueError:
        raise UsageError(f"`{option} {spec}`: U and V must be numbers") from None
    return name, (u, v)


def build_prompts(positives: Sequence[str], negatives: Sequence[str] = ()) -> list[ObjectPrompt]:
    """Group `NAME=U,V` clicks by part: one object per named part, in the order first named.

    Repeating a name adds another point to that part; `negatives` are clicks on what
    a part is not (the background right next to it), for parts that also have a point.

    Raises:
        UsageError: bad syntax, an unknown name, no prompt at all, or a negative
            click for a part without a positive one.
    """
    if not positives:
        raise UsageError(
            "video masks need at least one prompt",
            hint="e.g. `--prompt target=64,80 --prompt held=60,110`",
        )
    points: dict[str, list[tuple[float, float]]] = {}
    for spec in positives:
        name, point = parse_point(spec)
        points.setdefault(name, []).append(point)
    background: dict[str, list[tuple[float, float]]] = {}
    for spec in negatives:
        name, point = parse_point(spec, "--negative")
        if name not in points:
            raise UsageError(
                f"`--negative {spec}` is for `{name}`, which has no --prompt point",
                hint=f"add `--prompt {name}=U,V` on the part itself",
            )
        background.setdefault(name, []).append(point)
    return [
        ObjectPrompt(name, tuple(clicks), tuple(background.get(name, ())))
        for name, clicks in points.items()
    ]


def read_model_type(path: Path) -> str:
    """Return the `model_type` of a saved model directory.

    Raises:
        WeightsNotFound: the directory or its config.json is missing.
        PerceptionError: config.json is unreadable or names no model type.
    """
    if not path.is_dir():
        raise WeightsNotFound(f"video model directory `{path}` does not exist", hint=DOWNLOAD_HINT)
    config = path / "config.json"
    if not config.is_file():
        raise WeightsNotFound(
            f"`{path}` has no config.json: it is not a saved transformers model",
            hint=DOWNLOAD_HINT,
        )
    try:
        model_type = json.loads(config.read_text(encoding="utf-8")).get("model_type")
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as error:
        raise PerceptionError(
            f"`{config}` is not valid JSON: {str(error).splitlines()[0]}",
            hint="re-download the model",
        ) from None
    if not isinstance(model_type, str):
        raise PerceptionError(f"`{config}` names no `model_type`", hint=DOWNLOAD_HINT)
    return model_type


def _image_model(path: Path, model_type: str) -> PerceptionError:
    return PerceptionError(
        f"`{path}` is an image model (`{model_type}`): it segments single images "
        "and has no memory to track an object through an episode",
        hint="use a video checkpoint (model_type `sam2_video` or `edgetam_video`); "
        + DOWNLOAD_HINT,
    )


def _video_kind(path: Path, model_type: str) -> VideoModelKind:
    if model_type in IMAGE_ONLY:
        raise _image_model(path, model_type)
    video_type = IMAGE_TYPES.get(model_type, model_type)
    if video_type not in VIDEO_MODELS:
        raise PerceptionError(
            f"`{path}` is a `{model_type}` model, not a video segmentation model",
            hint=f"supported model types: {', '.join(VIDEO_MODELS)}",
        )
    return VIDEO_MODELS[video_type]


def _transformers_class(name: str) -> Any:
    import transformers

    found = getattr(transformers, name, None)
    if found is None:
        raise PerceptionError(
            f"the installed transformers {transformers.__version__} has no `{name}`",
            hint="install a transformers release with SAM2 video support "
            "(this code was tested with 5.24.0)",
        )
    return found


def load_video_segmenter(
    path: Path | str, device: str = "auto", dtype: str = "float32"
) -> VideoSegmenter:
    """Load a SAM2 or EdgeTAM video model and its processor from a local directory.

    `dtype` is the precision the model and its tracking memory are held in (`auto`:
    float16 on CUDA, float32 on the CPU); masks come back as bool whatever it is. It
    defaults to float32 because demonstration masks are made offline, where accuracy
    matters more than speed; a grounder's `track:` passes its own `dtype`.

    The directory is what `save_pretrained` writes (config.json, model.safetensors and
    the processor's config); nothing is ever downloaded. Every weight the video model
    needs must be in the file: a checkpoint that leaves some out (an image-only save)
    is refused rather than run with random memory layers. A config that names the
    image type (`sam2`, `edgetam`) is accepted when its weights are complete.

    Raises:
        WeightsNotFound: the directory or its files are missing.
        PerceptionError: not a supported video model, a missing package, or weights
            that do not fit the model.
    """
    directory = Path(path).expanduser()
    model_type = read_model_type(directory)
    kind = _video_kind(directory, model_type)
    require_packages(kind.needs, f"`{model_type}` models", "use a SAM2 checkpoint")
    model_class = _transformers_class(kind.model)
    processor_class = _transformers_class(kind.processor)
    target = resolve_device(device)

    from transformers.utils import logging as hf_logging

    # Our progress display owns the terminal, and our errors say what transformers'
    # load report would (missing weights) in one line.
    hf_logging.disable_progress_bar()
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        model, info = model_class.from_pretrained(
            directory,
            local_files_only=True,
            output_loading_info=True,
            dtype=resolve_dtype(dtype, target),
        )
        processor = processor_class.from_pretrained(directory, local_files_only=True)
    except (OSError, ValueError, TypeError, KeyError) as error:
        raise PerceptionError(
            f"cannot load the video model in `{directory}`: {str(error).splitlines()[0]}",
            hint="the directory needs the model and its processor files; " + DOWNLOAD_HINT,
        ) from None
    finally:
        hf_logging.set_verbosity(verbosity)
    problems = sorted(info.get("missing_keys", ())) + sorted(info.get("mismatched_keys", ()))
    if problems and model_type in IMAGE_TYPES:
        raise _image_model(directory, model_type)
    if problems:
        raise PerceptionError(
            f"`{directory}` lacks {len(problems)} weights of `{kind.model}` "
            f"(e.g. `{problems[0]}`): it is not a complete video checkpoint",
            hint=DOWNLOAD_HINT,
        )
    return VideoSegmenter(
        model=model.to(target).eval(),
        processor=processor,
        device=target,
        model_type=model_type,
        path=directory,
    )


@dataclass
class VideoSegmenter:
    """A loaded video model: prompt objects on frame 0 and track them through all frames."""

    model: Any
    processor: Any
    device: str
    model_type: str
    path: Path
    threshold: float = 0.0  # on mask logits, as the processor binarizes

    @property
    def dtype(self) -> Any:
        """The torch dtype the model is held in: its sessions hold frames and memory in it."""
        return self.model.dtype

    def describe(self) -> dict[str, Any]:
        """Return what made the masks: the model directory, its type, device and precision."""
        return {
            "model": str(self.path),
            "model_type": self.model_type,
            "device": self.device,
            "dtype": str(self.dtype).removeprefix("torch."),
        }

    def track(
        self,
        frames: np.ndarray,
        prompts: Sequence[ObjectPrompt],
        on_frame: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        """Segment each prompted object on frame 0 and propagate it through `frames`.

        Args:
            frames: (T, H, W, 3) uint8 RGB, one episode's camera images.
            prompts: one entry per object, clicks in pixels of frame 0.
            on_frame: called as (frames done, T) after each frame, for progress.

        Returns:
            (K, T, H, W) bool: object k's mask in every frame (K = len(prompts)).

        Raises:
            PerceptionError: a click lies outside the image, or the frames are not RGB.
        """
        import torch

        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise PerceptionError(
                f"video frames must be (T, H, W, 3) uint8, got {frames.dtype}{list(frames.shape)}"
            )
        count, height, width = frames.shape[:3]
        for prompt in prompts:
            for u, v in (*prompt.points, *prompt.negatives):
                if not (0 <= u < width and 0 <= v < height):
                    raise PerceptionError(
                        f"prompt `{prompt.name}` click ({u:g}, {v:g}) lies outside the "
                        f"{width}x{height} frame",
                        hint="u is the column (0..W-1), v the row (0..H-1), in pixels",
                    )
        masks = np.zeros((len(prompts), count, height, width), bool)
        if not prompts:
            return masks
        with torch.inference_mode():
            # The processed video (model resolution, in the model's dtype) stays in CPU
            # memory; only the frame being segmented and the tracking memory live on the
            # device.
            session = self.processor.init_video_session(
                video=list(frames),
                inference_device=self.device,
                video_storage_device="cpu",
                processing_device="cpu",
                dtype=self.dtype,
            )
            ids = list(range(1, len(prompts) + 1))
            for obj_id, prompt in zip(ids, prompts, strict=True):
                clicks = [[float(u), float(v)] for u, v in (*prompt.points, *prompt.negatives)]
                labels = [1] * len(prompt.points) + [0] * len(prompt.negatives)
                self.processor.add_inputs_to_inference_session(
                    inference_session=session,
                    frame_idx=0,
                    obj_ids=obj_id,
                    input_points=[[clicks]],
                    input_labels=[[labels]],
                )
                # Segment frame 0 for this object now: the session only remembers the
                # latest object's new clicks, so each object is conditioned in turn.
                self.model(inference_session=session, frame_idx=0)
            tracked = self.model.propagate_in_video_iterator(session, start_frame_idx=0)
            for done, output in enumerate(tracked, start=1):
                frame_masks = self.processor.post_process_masks(
                    [output.pred_masks.float()],
                    original_sizes=[[height, width]],
                    mask_threshold=self.threshold,
                    binarize=True,
                )[0]
                frame_masks = frame_masks[:, 0].cpu().numpy()
                for row, obj_id in enumerate(output.object_ids):
                    masks[ids.index(obj_id), output.frame_idx] = frame_masks[row]
                if on_frame is not None:
                    on_frame(done, count)
        return masks
