"""The residual run's checkpoint: everything a resumed run needs to continue exactly.

    RUN/checkpoints/latest/sac.safetensors      actor, critics, temperature, optimizers,
                                                the torch generator
    RUN/checkpoints/latest/replay.safetensors   the replay buffer's filled part
    RUN/checkpoints/latest/state.json           counters, records, the numpy generator, and
                                                the settings the run must be resumed with

The folder is written beside its destination and swapped in (`atomic.replace_folder`).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from vitalskills.learning.atomic import replace_folder
from vitalskills.learning.errors import TrainingError
from vitalskills.learning.residual.replay import ReplayBuffer
from vitalskills.learning.residual.sac import SAC


@dataclass
class RunState:
    """What a checkpoint restores besides the networks and the replay buffer."""

    step: int = 0
    episode: int = 0
    returns: list[float] = field(default_factory=list)
    successes: list[bool] = field(default_factory=list)
    critic_losses: list[float] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    skipped: int = 0  # episode starts that could not be reached
    interventions: dict[str, int] = field(default_factory=dict)  # operator requests, by kind


def _optim_tensors(sac: SAC) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors, groups = {}, {}
    for name, optim in sac.optimizers().items():
        state = optim.state_dict()
        groups[name] = state["param_groups"]
        for index, entry in state["state"].items():
            for key, value in entry.items():
                tensors[f"optim.{name}.{index}.{key}"] = torch.as_tensor(value).contiguous()
    return tensors, groups


def save_checkpoint(
    folder: Path, sac: SAC, buffer: ReplayBuffer, generator: torch.Generator,
    rng: np.random.Generator, state: RunState, meta: dict[str, Any],
) -> None:  # fmt: skip
    """Write the run's state into `folder` atomically (a temporary sibling, then rename)."""
    tmp = folder.with_name(f".tmp-{folder.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    tensors, groups = _optim_tensors(sac)
    tensors.update({f"model.{k}": v.contiguous() for k, v in sac.state_dict().items()})
    tensors["rng.torch"] = generator.get_state()
    save_file(tensors, tmp / "sac.safetensors")
    buffer.save(tmp / "replay.safetensors")
    document = {**meta, "state": asdict(state), "param_groups": groups,
                "numpy_rng": rng.bit_generator.state}  # fmt: skip
    (tmp / "state.json").write_text(json.dumps(document), encoding="utf-8")
    replace_folder(tmp, folder)


def load_checkpoint(
    folder: Path, sac: SAC, buffer: ReplayBuffer, generator: torch.Generator,
    rng: np.random.Generator, meta: dict[str, Any],
) -> RunState:  # fmt: skip
    """Restore a checkpoint written by `save_checkpoint` for the same skill and settings."""
    try:
        document = json.loads((folder / "state.json").read_text(encoding="utf-8"))
        for key, value in meta.items():
            if document.get(key) != value:
                raise ValueError(f"it was trained with a different `{key}`")
        tensors = load_file(folder / "sac.safetensors")
        sac.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        buffer.load(folder / "replay.safetensors")
    except (OSError, RuntimeError, ValueError, KeyError) as error:
        raise TrainingError(
            f"checkpoint `{folder}` cannot be resumed: {str(error).splitlines()[0]}",
            hint="train from scratch into a new --out, or delete the checkpoint",
        ) from None
    for name, optim in sac.optimizers().items():
        entries: dict[int, dict[str, torch.Tensor]] = {}
        prefix = f"optim.{name}."
        for key, value in tensors.items():
            if key.startswith(prefix):
                index, field = key[len(prefix) :].split(".", 1)
                entries.setdefault(int(index), {})[field] = value
        optim.load_state_dict({"state": entries, "param_groups": document["param_groups"][name]})
    generator.set_state(tensors["rng.torch"])
    rng.bit_generator.state = document["numpy_rng"]
    return RunState(**document["state"])
