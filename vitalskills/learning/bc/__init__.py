"""Behaviour cloning (ViTaL): the visuotactile policy, its settings, and its training.

    config.py    `BCConfig` (the policy, saved with it) and `TrainConfig` (one run)
    model.py     `VitalBC`: image and tactile tokens through a causal transformer
    hindsight.py target poses from proprioception: the goal pose seen from the gripper
    signals.py   what a run reads (real signals only unless told), said and recorded
    demos.py     a dataset's frames in memory, with episode bounds and statistics
    batches.py   seeded, augmented training batches of histories and action chunks
    training.py  `train_bc`: the loss, the loop, checkpoints that resume exactly
    policy.py    `BCPolicy`: the trained network at run time, temporally ensembled

Importing this package is light: each name loads its module (and torch) on first use.
"""

from __future__ import annotations

from vitalskills.learning.lazy import lazy_exports

_EXPORTS = {
    "vitalskills.learning.bc.config": (
        "POLICY_CONFIGS", "BCConfig", "TrainConfig", "parse_config", "parse_train_config",
    ),
    "vitalskills.learning.bc.model": ("VitalBC",),
    "vitalskills.learning.bc.demos": (
        "Demos", "compute_stats", "load_demos", "target_from_gripper", "visible",
    ),
    "vitalskills.learning.bc.hindsight": (
        "Goal", "episode_goal", "hindsight_targets", "pose_features", "seen_from_gripper",
    ),
    "vitalskills.learning.bc.signals": ("Signals", "plan_signals"),
    "vitalskills.learning.bc.batches": ("Batch", "Batcher"),
    "vitalskills.learning.bc.training": ("TrainResult", "bc_loss", "resolve_device", "train_bc"),
    "vitalskills.learning.bc.policy": ("BCPolicy",),
}  # fmt: skip
__all__, __getattr__ = lazy_exports(__name__, _EXPORTS)
