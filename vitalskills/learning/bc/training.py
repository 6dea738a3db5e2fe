"""Train the ViTaL BC policy on a demonstration dataset: seeded, checkpointed, resumable.

Every sample is one step of one episode: the last `history` frames up to it and the next
`chunk` actions after it (steps past the episode's end are masked out of the loss); see
`batches` for how samples are drawn and augmented. Tactile readings get Gaussian noise
above the skin's free-space level: without it the policy reads its own last motion from
the tiny inertial signal and copies it (the copycat failure of BC with history-bearing
inputs) instead of looking. With `pose_head`, an auxiliary loss asks the image features
to predict where the target is seen from the gripper, in hindsight (the end-effector pose
where each demonstration succeeded, seen from the gripper at every frame; `hindsight`) or
with `TrainConfig.privileged` from the simulator's true pose: without it, behind random
backgrounds, the encoder of the harder tasks learned nothing in 2,500 steps and the
policy predicted the mean action whatever it saw. The head is not used to act. The loss
is the mean squared error on normalized actions (the paper's Gaussian NLL with a fixed
std, up to scale). What a run reads is decided first (`signals`); without `privileged`
no simulator-only key is loaded.

Training runs on any torch device; batches are drawn and augmented on the CPU with the
same generator, and the trained model is returned on the CPU.

Checkpoints hold the model, the optimizer state and both random generators, so a
resumed run continues exactly where the interrupted one stopped.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from vitalskills.learning.atomic import replace_folder
from vitalskills.learning.bc.batches import Batch, Batcher
from vitalskills.learning.bc.config import BCConfig, TrainConfig
from vitalskills.learning.bc.demos import compute_stats, load_demos
from vitalskills.learning.bc.model import VitalBC
from vitalskills.learning.bc.signals import Signals, plan_signals
from vitalskills.learning.dataset import DemoDataset
from vitalskills.learning.errors import TrainingError
from vitalskills.learning.masks import MaskSource


def bc_loss(model: VitalBC, batch: Batch, pose_weight: float = 0.0) -> torch.Tensor:
    """Mean squared error on normalized actions over the valid chunk entries.

    With a pose head and `pose_weight`, plus that weight times the error of the target
    pose predicted from the image features.
    """
    features = model.encode(batch.images)
    predicted = model.decode(features, batch.tactile)
    error = (predicted - model.normalize_actions(batch.actions)).pow(2).mean(-1)
    loss = (error * batch.valid).sum() / batch.valid.sum().clamp(min=1)
    if batch.pose is not None and pose_weight > 0:
        pose_error = (model.pose(features) - batch.pose).pow(2)
        if batch.pose_valid is None:
            loss = loss + pose_weight * pose_error.mean()
        else:  # frames of failed episodes have no hindsight goal
            valid = batch.pose_valid.unsqueeze(-1).expand_as(pose_error)
            loss = loss + pose_weight * (pose_error * valid).sum() / valid.sum().clamp(min=1)
    return loss


def _save_checkpoint(
    folder: Path,
    model: VitalBC,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    step: int,
    losses: list[float],
) -> None:
    """Write the training state to `folder` atomically (a temporary sibling, then rename)."""
    tmp = folder.with_name(f".tmp-{folder.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    weights = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(weights, tmp / "model.safetensors")
    tensors = {"rng.data": generator.get_state(), "rng.torch": torch.get_rng_state()}
    if next(model.parameters()).is_cuda:  # dropout draws from the device's generator
        tensors["rng.cuda"] = torch.cuda.get_rng_state()
    state = optimizer.state_dict()
    for index, entry in state["state"].items():
        for name, value in entry.items():
            tensors[f"optim.{index}.{name}"] = torch.as_tensor(value).cpu().contiguous()
    save_file(tensors, tmp / "training.safetensors")
    meta = {
        "step": step,
        "losses": losses,
        "param_groups": state["param_groups"],
        "config": model.config.model_dump(mode="json"),
    }
    (tmp / "state.json").write_text(json.dumps(meta))
    replace_folder(tmp, folder)


def _load_checkpoint(
    folder: Path, model: VitalBC, optimizer: torch.optim.Optimizer, generator: torch.Generator
) -> tuple[int, list[float]]:
    try:
        weights = load_file(folder / "model.safetensors")
        tensors = load_file(folder / "training.safetensors")
        meta = json.loads((folder / "state.json").read_text())
        if meta.get("config") != model.config.model_dump(mode="json"):
            raise ValueError("it was trained with a different policy config")
        model.load_state_dict(weights)
    except (OSError, RuntimeError, ValueError, KeyError) as error:
        raise TrainingError(
            f"checkpoint `{folder}` cannot be resumed: {str(error).splitlines()[0]}",
            hint="train from scratch into a new --out, or delete the checkpoint",
        ) from None
    optim_state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            optim_state.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": optim_state, "param_groups": meta["param_groups"]})
    generator.set_state(tensors["rng.data"])
    torch.set_rng_state(tensors["rng.torch"])
    if "rng.cuda" in tensors and next(model.parameters()).is_cuda:
        torch.cuda.set_rng_state(tensors["rng.cuda"])
    return int(meta["step"]), list(meta["losses"])


@dataclass
class TrainResult:
    """A finished run: the trained model (on the CPU), per-step losses, wall time of this
    process, what it read, and the device it ran on."""

    model: VitalBC
    losses: list[float]
    seconds: float
    resumed_from: int
    signals: Signals | None = None
    device: str = "cpu"
    frames: int = 0  # frames trained on
    paused: int = 0  # frames left out as the operator's pauses


def resolve_device(name: str) -> torch.device:
    """Return the torch device for `auto`, `cpu`, `cuda` or `cuda:N`.

    `auto` is a CUDA device when torch sees one, else the CPU.

    Raises:
        TrainingError: a CUDA device asked for where torch sees none, or an unknown name.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise TrainingError(
            f"unknown device `{name}`", hint="use --device auto, cpu or cuda"
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise TrainingError(
            f"device `{name}` asked for, but torch sees no CUDA device",
            hint="train with --device cpu (or auto), or install a CUDA build of torch",
        )
    if device.type not in ("cpu", "cuda"):
        raise TrainingError(f"unknown device `{name}`", hint="use --device auto, cpu or cuda")
    return device


def train_bc(
    dataset: DemoDataset,
    config: BCConfig,
    train: TrainConfig,
    checkpoints: Path,
    *,
    masks: MaskSource | None = None,
    resume: bool = False,
    on_step: Callable[[int, float], None] | None = None,
    device: str | torch.device = "cpu",
    on_start: Callable[[Signals], None] | None = None,
) -> TrainResult:
    """Train a `VitalBC` on `dataset`, checkpointing into `checkpoints/latest`.

    Args:
        masks: where keep masks come from; default: the dataset's stored `mask.keep`
            (with `train.privileged`, the simulator's label map).
        resume: continue from `checkpoints/latest` if it exists.
        on_step: called after every step with (step, loss), for progress display.
        device: where to train (`cpu`, `cuda`, `auto`, or a `torch.device`).
        on_start: called with what the run reads (`Signals`) before loading anything.

    Raises:
        TrainingError: bad data, a privileged key without `train.privileged`, an
            unavailable device, or a checkpoint that does not match this run.
    """
    device = device if isinstance(device, torch.device) else resolve_device(device)
    signals, masks = plan_signals(dataset, config, train, masks)
    if on_start is not None:
        on_start(signals)
    torch.manual_seed(train.seed)
    generator = torch.Generator().manual_seed(train.seed)
    demos = load_demos(
        dataset,
        config.uses_tactile,
        masks,
        pose=config.pose_head,
        privileged=train.privileged,
        pause_mm=train.pause_mm,
    )
    if (
        config.uses_tactile
        and demos.tactile is not None
        and demos.tactile.shape[1] != config.tactile_dim
    ):
        raise TrainingError(
            f"dataset tactile vectors have {demos.tactile.shape[1]} values, "
            f"config `tactile_dim` is {config.tactile_dim}"
        )
    model = VitalBC(config)
    model.set_stats(compute_stats(demos))
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=train.lr, weight_decay=train.weight_decay)
    batcher = Batcher(demos, config, train, generator)
    latest = checkpoints / "latest"
    step, losses = 0, []
    if resume and latest.is_dir():
        step, losses = _load_checkpoint(latest, model, optimizer, generator)
    resumed_from = step
    started = time.perf_counter()
    model.train()
    while step < train.steps:
        batch = batcher.sample(train.batch_size).to(device)
        loss = bc_loss(model, batch, train.pose_weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), train.grad_clip)
        optimizer.step()
        step += 1
        losses.append(loss.item())
        if on_step is not None:
            on_step(step, losses[-1])
        if step % train.checkpoint_every == 0 or step == train.steps:
            _save_checkpoint(latest, model, optimizer, generator, step, losses)
    model.eval().to("cpu")  # a skill is saved, and loads, on the CPU
    seconds = time.perf_counter() - started
    return TrainResult(
        model, losses, seconds, resumed_from, signals, str(device), len(demos.actions), demos.paused
    )
