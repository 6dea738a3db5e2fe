"""Residual RL (ViTaL): a small actor, trained with SAC, that corrects a frozen BC policy.

    config.py      `ResidualConfig` (the actor, saved with it), `SACConfig`, `RunConfig`
    actor.py       `ResidualActor` and how its offset composes with the BC action
    policy.py      `ResidualPolicy`: the BC policy corrected by the actor, at run time
    sac.py         soft actor-critic with a LayerNorm critic ensemble
    replay.py      the replay buffer of encoder features, saved for resuming
    checkpoint.py  the run's state on disk, resumed exactly
    log.py         the run's record: CSV, JSON and a plot of success over steps
    episodes.py    where episodes happen: the `Episodes` interface, the simulator's
    training.py    `ResidualTrainer`: the run, step by step, on any `Episodes`

Reading a BC skill folder and packaging the trained residual into one is the workflow
`vitalskills.app.train.train_residual`. Importing this package is light: each name
loads its module (and torch) on first use.
"""

from __future__ import annotations

from vitalskills.learning.lazy import lazy_exports

_EXPORTS = {
    "vitalskills.learning.residual.config": (
        "ResidualConfig", "RunConfig", "SACConfig", "validated",
    ),
    "vitalskills.learning.residual.actor": ("ResidualActor", "compose_action", "feature_dim"),
    "vitalskills.learning.residual.policy": ("ResidualPolicy", "residual_input"),
    "vitalskills.learning.residual.sac": ("SAC", "CriticEnsemble"),
    "vitalskills.learning.residual.replay": ("ReplayBuffer",),
    "vitalskills.learning.residual.checkpoint": ("RunState",),
    "vitalskills.learning.residual.log": ("LogRow", "write_log"),
    "vitalskills.learning.residual.episodes": (
        "STATE_DIM", "TRAIN_SEEDS", "Episodes", "SimEpisodes", "Transition", "critic_state",
        "goal_state",
    ),
    "vitalskills.learning.residual.training": (
        "EVAL_SEEDS", "ResidualTrainer", "make_agent",
        "residual_policy_factory",
    ),
}  # fmt: skip
__all__, __getattr__ = lazy_exports(__name__, _EXPORTS)
