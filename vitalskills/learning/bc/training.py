"""Train the ViTaL BC policy on a demonstration dataset: seeded, checkpointed, resumable.

Every sample is one step of one episode: the last `history` frames up to it and the next
`chunk` actions after it (steps past the episode's end are masked out of the loss); see
`batches` for how samples are drawn and augmented. Tactile readings get Gaussian noise
above the skin's free-space level: without it the policy reads its own last motion from
the tiny inertial signal and copies it (the copycat failure of BC with history-bearing
inputs) instead of looking. With `pose_head`, an auxiliary loss asks the image features
to predict where the target is seen from the gripper (simulator demonstrations carry the
true pose): without it, behind random backgrounds, the encoder of the harder tasks
learned nothing in 2,500 steps and the policy predicted the mean action whatever it saw.
The head is not used to act. The loss is the mean squared error on normalized actions
(the paper's Gaussian NLL with a fixed std, up to scale).

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
from vitalskills.learning.dataset import DemoDataset
from vitalskills.learning.errors import TrainingError
from vitalskills.learning.masks import LabelMasks, MaskSource


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
        loss = loss + pose_weight * (model.pose(features) - batch.pose).pow(2).mean()
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
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, tmp / "model.safetensors")
    tensors = {"rng.data": generator.get_state(), "rng.torch": torch.get_rng_state()}
    state = optimizer.state_dict()
    for index, entry in state["state"].items():
        for name, value in entry.items():
            tensors[f"optim.{index}.{name}"] = torch.as_tensor(value).contiguous()
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
    return int(meta["step"]), list(meta["losses"])


@dataclass
class TrainResult:
    """A finished run: the trained model, per-step losses, wall time of this process."""

    model: VitalBC
    losses: list[float]
    seconds: float
    resumed_from: int


def train_bc(
    dataset: DemoDataset,
    config: BCConfig,
    train: TrainConfig,
    checkpoints: Path,
    *,
    masks: MaskSource | None = None,
    resume: bool = False,
    on_step: Callable[[int, float], None] | None = None,
) -> TrainResult:
    """Train a `VitalBC` on `dataset`, checkpointing into `checkpoints/latest`.

    Args:
        masks: where keep masks come from; default: the dataset's stored label map.
        resume: continue from `checkpoints/latest` if it exists.
        on_step: called after every step with (step, loss), for progress display.

    Raises:
        TrainingError: bad data, or a checkpoint that does not match this run.
    """
    torch.manual_seed(train.seed)
    generator = torch.Generator().manual_seed(train.seed)
    if train.augment and masks is None:
        masks = LabelMasks(dataset.info.mask_labels)
    demos = load_demos(
        dataset, config.uses_tactile, masks if train.augment else None, pose=config.pose_head
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
        loss = bc_loss(model, batcher.sample(train.batch_size), train.pose_weight)
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
    model.eval()
    return TrainResult(model, losses, time.perf_counter() - started, resumed_from)
