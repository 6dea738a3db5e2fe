"""Loading transformers models from local files only, with errors that say what to do.

Every model in `perception` loads through here: a local directory or a Hugging Face id
already in the local cache, always with `local_files_only=True`, so a missing model is
an error naming it, never a download. torch and transformers are imported inside the
functions, so importing this module is light.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from vitalskills.perception.errors import PerceptionError, WeightsNotFound

#: What to run to fetch any supported model once, on a machine with internet access.
DOWNLOAD_EXAMPLE = "hf download google/owlv2-base-patch16-ensemble --local-dir DIR"


def _looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or Path(name).expanduser().exists()


def resolve_model(name: str, what: str) -> str:
    """Return a local directory or a Hugging Face id to load with `local_files_only`.

    Raises `WeightsNotFound` for a path that does not exist, naming it and saying how to
    fetch the weights.
    """
    if _looks_like_path(name):
        path = Path(name).expanduser()
        if not path.is_dir():
            raise WeightsNotFound(
                f"{what} directory `{path}` does not exist",
                hint=f"download it once with `{DOWNLOAD_EXAMPLE.replace('DIR', str(path))}` "
                "(any supported model id works) or point the config at another directory",
            )
        return str(path)
    return name


def load_pretrained(name: str, what: str, loader: Any, **kwargs: object) -> Any:
    """Call `loader.from_pretrained(name, local_files_only=True)` with a clear error."""
    from transformers.utils import logging as hf_logging

    source = resolve_model(name, what)
    hf_logging.disable_progress_bar()  # our own display owns the terminal
    try:
        return loader.from_pretrained(source, local_files_only=True, **kwargs)
    except (OSError, ValueError) as error:
        raise WeightsNotFound(
            f"cannot load {what} `{name}` from disk: {str(error).splitlines()[0]}",
            hint=f"download it while online with `hf download {name}` (it lands in the local "
            "Hugging Face cache) or with `--local-dir DIR` and give DIR instead",
        ) from None


def load_model_config(source: str, what: str, hint: str) -> Any:
    """Load the `config.json` of a model folder or cached id (local files only).

    A folder without one is refused first, naming it: it is not a saved transformers
    model (a `.pth` in the wrong place, a half-finished download).
    """
    from transformers import AutoConfig

    path = Path(source).expanduser()
    if path.is_dir() and not (path / "config.json").is_file():
        raise WeightsNotFound(
            f"{what} folder `{path}` has no config.json: it is not a saved transformers model",
            hint=hint,
        )
    return load_pretrained(source, what, AutoConfig)


def require_packages(packages: tuple[str, ...], what: str, instead: str) -> None:
    """Raise a `PerceptionError` naming the packages `what` needs that are not installed."""
    missing = [name for name in packages if importlib.util.find_spec(name) is None]
    if missing:
        raise PerceptionError(
            f"{what} need the {', '.join(f'`{m}`' for m in missing)} package, "
            "which is not installed",
            hint=f"install it (`uv pip install {' '.join(missing)}`) or {instead}",
        )


def resolve_device(device: str) -> str:
    """Return the torch device to run on: `auto` is CUDA when there is one, else the CPU.

    Raises:
        PerceptionError: CUDA was asked for but torch sees no GPU, or the name is unknown.
    """
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise PerceptionError(
                f"device `{device}` was asked for but torch sees no CUDA GPU",
                hint="use --device cpu (slow for full-size models) or --device auto",
            )
        return device
    if device != "cpu":
        raise PerceptionError(f"unknown device `{device}`", hint="use auto, cpu or cuda")
    return device


def resolve_dtype(dtype: str, device: str) -> Any:
    """Return the torch dtype to hold a model in: `auto` is float16 on CUDA, else float32.

    Half precision halves GPU memory and speeds up inference; on the CPU float32 is the
    default because half-precision kernels there are slow, though both still run.
    """
    import torch

    if dtype == "auto":
        return torch.float16 if device.startswith("cuda") else torch.float32
    return getattr(torch, dtype)
