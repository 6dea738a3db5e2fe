"""Soft actor-critic for the residual, as in ViTaL's code: a LayerNorm critic ensemble.

Five critics (MLP 2 x 256, LayerNorm after each hidden layer) are evaluated as one
batched network; targets and the actor's objective use the minimum over the ensemble.
With `state_dim` > 0 the critics also see privileged simulator state that the actor
never sees (an asymmetric actor-critic: the critic exists only in training, so it may
know where the goal is). The temperature is tuned towards a target entropy of -|A|/2.
Each environment step runs `utd` critic updates (each followed by a Polyak update of the
target critics with `tau`) and one actor and temperature update, with gradient-norm
clipping everywhere.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from vitalskills.learning.residual.actor import ResidualActor
from vitalskills.learning.residual.config import SACConfig


class EnsembleLinear(nn.Module):
    """`members` independent linear layers applied to a (members, B, in) batch at once."""

    def __init__(self, members: int, inputs: int, outputs: int) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(inputs)
        self.weight = nn.Parameter(torch.empty(members, inputs, outputs).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(members, 1, outputs).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


class EnsembleLayerNorm(nn.Module):
    """LayerNorm over features with a separate gain and bias per ensemble member."""

    def __init__(self, members: int, width: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(members, 1, width))
        self.bias = nn.Parameter(torch.zeros(members, 1, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.layer_norm(x, x.shape[-1:]) * self.weight + self.bias


class CriticEnsemble(nn.Module):
    """Q(obs, action) for every member: returns (members, B)."""

    def __init__(self, obs_dim: int, action_dim: int, config: SACConfig) -> None:
        super().__init__()
        members, width = config.ensemble, config.critic_hidden
        blocks: list[nn.Module] = []
        inputs = obs_dim + action_dim
        for _ in range(config.critic_layers):
            blocks += [EnsembleLinear(members, inputs, width), EnsembleLayerNorm(members, width),
                       nn.ReLU()]  # fmt: skip
            inputs = width
        blocks.append(EnsembleLinear(members, inputs, 1))
        self.net = nn.Sequential(*blocks)
        self.members = members

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        x = torch.cat([obs, action], dim=-1).expand(self.members, -1, -1)
        return self.net(x).squeeze(-1)


class SAC(nn.Module):
    """Actor, critics, target critics, temperature and their optimizers."""

    def __init__(self, actor: ResidualActor, config: SACConfig, state_dim: int = 0) -> None:
        super().__init__()
        obs_dim = actor.config.feature_dim + state_dim
        action_dim = actor.config.action_dim
        self.config = config
        self.actor = actor
        self.critic = CriticEnsemble(obs_dim, action_dim, config)
        self.target = CriticEnsemble(obs_dim, action_dim, config)
        self.target.load_state_dict(self.critic.state_dict())
        self.target.requires_grad_(False)
        self.log_alpha = nn.Parameter(torch.tensor(math.log(config.init_temperature)))
        self.target_entropy = (
            config.target_entropy if config.target_entropy is not None else -action_dim / 2
        )
        self.actor_optim = torch.optim.Adam(actor.parameters(), lr=config.lr)
        self.critic_optim = torch.optim.Adam(self.critic.parameters(), lr=config.lr)
        self.alpha_optim = torch.optim.Adam([self.log_alpha], lr=config.alpha_lr)

    @property
    def alpha(self) -> float:
        """The current temperature."""
        return float(self.log_alpha.detach().exp())

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """The optimizers by name (for checkpoints)."""
        return {"actor": self.actor_optim, "critic": self.critic_optim, "alpha": self.alpha_optim}

    def _step(self, optim: torch.optim.Optimizer, loss: torch.Tensor, params: list) -> None:
        optim.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(params, self.config.grad_clip)
        optim.step()

    @staticmethod
    def critic_input(batch: dict[str, torch.Tensor], prefix: str = "") -> torch.Tensor:
        """The critics' view of a batch: the actor's input and privileged state (maybe none)."""
        return torch.cat([batch[f"{prefix}obs"], batch[f"{prefix}state"]], -1)

    def td_loss(
        self,
        batch: dict[str, torch.Tensor],
        generator: torch.Generator,
        critic: CriticEnsemble | None = None,
    ) -> torch.Tensor:
        """Return the summed squared TD error of `critic` (default: ours) against our targets."""
        with torch.no_grad():
            next_action, next_log_prob = self.actor.sample(batch["next_obs"], generator)
            next_q = self.target(self.critic_input(batch, "next_"), next_action).min(0).values
            soft = next_q - self.log_alpha.exp() * next_log_prob
            target = batch["reward"] + self.config.gamma * batch["discount"] * soft
        q = (critic or self.critic)(self.critic_input(batch), batch["action"])
        return (q - target).pow(2).mean(1).sum()

    def update_critic(self, batch: dict[str, torch.Tensor], generator: torch.Generator) -> float:
        """One TD step on every critic towards the soft, ensemble-min target; return the loss."""
        loss = self.td_loss(batch, generator)
        self._step(self.critic_optim, loss, list(self.critic.parameters()))
        with torch.no_grad():
            pairs = zip(self.critic.parameters(), self.target.parameters(), strict=True)
            for online, slow in pairs:
                slow.lerp_(online, self.config.tau)
        return loss.item()

    def update_actor(
        self, batch: dict[str, torch.Tensor], generator: torch.Generator
    ) -> tuple[float, float]:
        """One step on the actor (max min-Q + entropy) and the temperature; return both losses."""
        action, log_prob = self.actor.sample(batch["obs"], generator)
        q = self.critic(self.critic_input(batch), action).min(0).values
        actor_loss = (self.log_alpha.exp().detach() * log_prob - q).mean()
        self._step(self.actor_optim, actor_loss, list(self.actor.parameters()))
        alpha_loss = -(self.log_alpha * (log_prob.detach() + self.target_entropy)).mean()
        self._step(self.alpha_optim, alpha_loss, [self.log_alpha])
        return actor_loss.item(), alpha_loss.item()
