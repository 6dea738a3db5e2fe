"""Learning skills: demonstrations, behaviour cloning, residual RL, and trained policies.

    errors.py        the errors a user can cause while collecting, training or loading
    dataset.py       demonstration datasets on disk: written atomically, read back
    lerobot_io/      LeRobotDataset v3.0 in and out (`vitalskills dataset export|import`)
    masks.py         where semantic augmentation's keep masks come from
    augment.py       backgrounds, compositing, relighting, shifts and colour jitter
    atomic.py        files and folders written so that a crash never tears them
    bc/              the BC policy: its settings, network, training and run-time policy
    residual/        the residual: its settings, actor, SAC, replay, training, run-time policy
    skill_folder.py  a trained skill's folder: package, verify, register, load
    policies.py      the one run-time entry: a skill folder's policy, BC or BC + residual
    lazy.py          package exports that import their module on first use

Importing this package is light (no torch): each name loads its module on first use.
"""

from __future__ import annotations

from vitalskills.learning.lazy import lazy_exports

_EXPORTS = {
    "vitalskills.learning.errors": (
        "DatasetError", "LearningError", "PolicyConfigError", "PolicyPackageError",
        "TrainingError",
    ),
    "vitalskills.learning.dataset": (
        "DatasetInfo", "DatasetWriter", "DemoDataset", "Episode", "EpisodeMeta",
        "EpisodeRecorder",
    ),
    "vitalskills.learning.masks": ("LabelMasks", "MaskSource", "SamMasks", "SamPrompt"),
    "vitalskills.learning.augment": ("background_pool", "composite"),
    "vitalskills.learning.bc.config": ("BCConfig", "TrainConfig"),
    "vitalskills.learning.bc.training": ("train_bc",),
    "vitalskills.learning.residual.config": ("ResidualConfig", "RunConfig", "SACConfig"),
    "vitalskills.learning.residual.training": ("ResidualTrainer",),
    "vitalskills.learning.skill_folder": (
        "add_residual", "copy_skill", "has_residual", "load_skill_model", "register_skill",
        "update_provenance", "verify_skill", "write_skill",
    ),
    "vitalskills.learning.policies": (
        "BCPolicy", "ResidualPolicy", "TrainedPolicyProvider", "load_bc_policy",
        "load_skill_policy",
    ),
}  # fmt: skip
__all__, __getattr__ = lazy_exports(__name__, _EXPORTS)
