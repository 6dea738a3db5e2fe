"""What a BC run reads from its dataset: decided before loading, printed, and recorded.

By default a run uses only what a real robot records: the wrist camera, touch, the
end-effector pose (for hindsight pose targets, never as a policy input), the applied
actions, the episodes' success and goal metadata, and keep masks stored beside the
frames (`mask.keep`, from `vitalskills masks`). With `TrainConfig.privileged` it may also
read the simulator's `privileged.*` keys: the true target pose and the label map, the
recipe the shipped simulator skills were trained with. `Signals` names every frame key a
run reads; the trainer loads nothing else, and a skill's provenance keeps the record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vitalskills.learning.bc.config import BCConfig, TrainConfig
from vitalskills.learning.bc.demos import (
    EE_POSE_KEY,
    TACTILE_KEY,
    TARGET_POSE_KEY,
    is_privileged,
)
from vitalskills.learning.bc.hindsight import GOAL_KEYS, LAST_FRAME, goal_counts
from vitalskills.learning.dataset import ACTION, DemoDataset
from vitalskills.learning.errors import TrainingError
from vitalskills.learning.masks import (
    IMAGE_KEY,
    MASK_KEY,
    MASKS_HINT,
    LabelMasks,
    MaskSource,
    StoredMasks,
)


@dataclass(frozen=True)
class Signals:
    """The inputs, targets, pose targets and masks of one run, and every key it reads."""

    privileged: bool
    policy_inputs: tuple[str, ...]
    pose: str | None  # "hindsight", "privileged", or None (no pose loss)
    masks: str | None  # "stored", "privileged", another source's name, or None
    keys: tuple[str, ...]
    episodes: int = 0
    goals: dict[str, int] = field(default_factory=dict)  # hindsight goal sources, `failed`
    mask_key: str | None = None  # the stored array the keep masks come from, if any
    #: How stored masks were made, as `vitalskills masks` recorded it (`info.derived`).
    mask_method: dict[str, Any] = field(default_factory=dict)

    @property
    def privileged_keys(self) -> tuple[str, ...]:
        """The simulator-only keys this run reads (none without `privileged`)."""
        return tuple(key for key in self.keys if is_privileged(key))

    def _pose_text(self) -> str:
        if self.pose == "privileged":
            return f"privileged (`{TARGET_POSE_KEY}`)"
        if self.pose is None:
            return "off"
        names = {LAST_FRAME: "the last frame's ee_pose"}
        parts = [
            f"{names.get(source, source)} from {count}/{self.episodes} episodes"
            for source, count in self.goals.items()
            if source != "failed"
        ]
        if self.goals.get("failed"):
            parts.append(f"none for {self.goals['failed']} failed")
        return f"hindsight ({', '.join(parts)})"

    def _mask_text(self) -> str:
        if self.masks is None:
            return "none (no augmentation)"
        method = self.mask_method
        made = " ".join(str(method[key]) for key in ("method", "colour") if key in method)
        said = [f"`{self.mask_key}`"] if self.mask_key else []
        said += [made] if made else []  # e.g. `chroma green`
        return f"{self.masks} ({', '.join(said)})" if said else self.masks

    def describe(self) -> str:
        """One line for the user: what the policy sees and what training reads."""
        inputs = f"{', '.join(self.policy_inputs)} (policy)"
        if self.pose is not None:
            inputs += ", ee_pose (proprio, pose target only)"
        privileged = ", ".join(f"`{key}`" for key in self.privileged_keys) or "none"
        return (
            f"inputs: {inputs}; targets: action; aux target pose: {self._pose_text()}; "
            f"masks: {self._mask_text()}; privileged keys: {privileged}"
        )

    def record(self) -> dict[str, Any]:
        """The same, for a skill's provenance."""
        return {
            "summary": self.describe(),
            "privileged": self.privileged,
            "privileged_keys": list(self.privileged_keys),
            "frame_keys": list(self.keys),
            "policy_inputs": list(self.policy_inputs),
            "targets": [ACTION],
            "aux_target_pose": None
            if self.pose is None
            else {"source": self.pose, "goals": dict(self.goals), "episodes": self.episodes},
            "masks": None
            if self.masks is None
            else {"source": self.masks, "key": self.mask_key, "method": dict(self.mask_method)},
        }


def pose_source(dataset: DemoDataset, privileged: bool) -> tuple[str | None, str]:
    """Return where pose targets can come from, or None and why there are none."""
    features = dataset.info.features
    if privileged:
        missing = [key for key in (EE_POSE_KEY, TARGET_POSE_KEY) if key not in features]
        return (None, f"no `{missing[0]}`") if missing else ("privileged", "")
    if EE_POSE_KEY not in features:
        return None, f"no `{EE_POSE_KEY}`"
    if not any(meta.success for meta in dataset.metas()):
        return None, "no successful episode to take a goal from"
    return "hindsight", ""


def _default_masks(dataset: DemoDataset, train: TrainConfig) -> tuple[MaskSource, str]:
    features = dataset.info.features
    if train.privileged and LabelMasks.key in features:
        return LabelMasks(dataset.info.mask_labels), "privileged"
    if MASK_KEY in features:
        return StoredMasks(), "stored"
    hint = MASKS_HINT.replace("DATA", str(dataset.root)) + "; or train with --no-augment"
    if LabelMasks.key in features:
        hint += ", or with --privileged to use the simulator's segmentation"
    raise TrainingError(
        f"dataset `{dataset.root}` has no stored keep masks (`{MASK_KEY}`) for semantic "
        "augmentation",
        hint=hint,
    )


def plan_signals(
    dataset: DemoDataset,
    config: BCConfig,
    train: TrainConfig,
    masks: MaskSource | None = None,
) -> tuple[Signals, MaskSource | None]:
    """Decide what a run reads, and the keep-mask source it augments with.

    Args:
        masks: the keep-mask source; default: the stored `mask.keep`, or with
            `train.privileged` the simulator's label map. Unused without augmentation.

    Raises:
        TrainingError: augmentation without masks to augment with, a pose head without
            pose targets, or a privileged key without `train.privileged`.
    """
    name = None
    if train.augment:
        if masks is None:
            masks, name = _default_masks(dataset, train)
        else:
            name = type(masks).__name__
    else:
        masks = None
    pose = None
    if config.pose_head:
        pose, why = pose_source(dataset, train.privileged)
        if pose is None:
            raise TrainingError(
                f"the pose head has no targets in `{dataset.root}`: {why}",
                hint="train with --pose-weight 0 (no pose head)"
                + ("" if train.privileged else ", or --privileged for simulator data"),
            )
    keys = [IMAGE_KEY, ACTION] + ([TACTILE_KEY] if config.uses_tactile else [])
    if pose is not None:
        keys += [EE_POSE_KEY] + ([TARGET_POSE_KEY] if pose == "privileged" else [])
    mask_key = getattr(masks, "key", None)
    mask_key = mask_key if isinstance(mask_key, str) else None
    if mask_key is not None and mask_key not in keys:
        keys.append(mask_key)
    privileged = [key for key in keys if is_privileged(key)]
    if privileged and not train.privileged:
        raise TrainingError(
            f"training would read {', '.join(f'`{k}`' for k in privileged)}, which only a "
            "simulator records",
            hint="use stored masks (`vitalskills masks`), or pass --privileged to train "
            "with the simulator's signals",
        )
    goals: dict[str, int] = {}
    metas = dataset.metas()
    if pose == "hindsight":
        counts = goal_counts(metas)
        goals = {source: counts[source] for source in (*GOAL_KEYS, LAST_FRAME) if counts[source]}
        if counts[None]:
            goals["failed"] = counts[None]
    signals = Signals(
        privileged=train.privileged,
        policy_inputs=(config.image_key,) + (("tactile",) if config.uses_tactile else ()),
        pose=None if train.pose_weight == 0 else pose,
        masks=name,
        keys=tuple(keys),
        episodes=len(metas),
        goals=goals,
        mask_key=mask_key,
        mask_method=dict(dataset.info.derived.get(MASK_KEY, {})) if name == "stored" else {},
    )
    return signals, masks
