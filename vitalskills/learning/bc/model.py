"""The ViTaL BC network in torch: image and tactile tokens through a causal transformer.

Per time step the trunk sees [image token, tactile token, action token]; the action
token is a learned query whose output is decoded into a chunk of future actions
(BAKU/ViTaL). Normalization statistics live in the module as buffers, so they are
saved in the same safetensors file as the weights and cannot drift from them.
"""

from __future__ import annotations

import torch
from torch import nn

from vitalskills.learning.bc.config import BCConfig

#: Target pose seen from the gripper: position in the gripper frame (3) and heading (1).
POSE_DIM = 4


class BasicBlock(nn.Module):
    """ResNet basic block with GroupNorm instead of BatchNorm (batch-size independent)."""

    def __init__(self, cin: int, cout: int, stride: int, groups: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.norm1 = nn.GroupNorm(groups, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.norm2 = nn.GroupNorm(groups, cout)
        self.skip = (
            nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.GroupNorm(groups, cout))
            if stride != 1 or cin != cout
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.norm1(self.conv1(x)))
        return torch.relu(self.norm2(self.conv2(y)) + self.skip(x))


class SpatialSoftmax(nn.Module):
    """Reduce a feature map to the expected (x, y) of each of `keypoints` heat maps."""

    def __init__(self, channels: int, keypoints: int) -> None:
        super().__init__()
        self.project = nn.Conv2d(channels, keypoints, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        heat = self.project(x)
        batch, points, height, width = heat.shape
        attention = torch.softmax(heat.flatten(2), dim=-1).view(batch, points, height, width)
        ys = torch.linspace(-1, 1, height, device=x.device)
        xs = torch.linspace(-1, 1, width, device=x.device)
        expected_x = (attention.sum(2) * xs).sum(-1)
        expected_y = (attention.sum(3) * ys).sum(-1)
        return torch.cat([expected_x, expected_y], dim=-1)


class VisualEncoder(nn.Module):
    """ResNet-18 stem and first two stages (GroupNorm), spatial softmax, linear to width."""

    def __init__(self, config: BCConfig) -> None:
        super().__init__()
        c0, (c1, c2), g = config.stem_channels, config.stage_channels, config.groups
        self.stem = nn.Sequential(
            nn.Conv2d(3, c0, 7, 2, 3, bias=False),
            nn.GroupNorm(g, c0),
            nn.ReLU(),
            nn.MaxPool2d(3, 2, 1),
        )
        self.stages = nn.Sequential(
            BasicBlock(c0, c1, 1, g), BasicBlock(c1, c1, 1, g),
            BasicBlock(c1, c2, 2, g), BasicBlock(c2, c2, 1, g),
        )  # fmt: skip
        self.pool = SpatialSoftmax(c2, config.keypoints)
        self.out = nn.Linear(2 * config.keypoints, config.width)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Encode (N, 3, H, W) images in [0, 1] into (N, width) features."""
        return self.out(self.pool(self.stages(self.stem(images * 2.0 - 1.0))))


class VitalBC(nn.Module):
    """The policy network; `forward` maps observation histories to action chunks."""

    def __init__(self, config: BCConfig) -> None:
        super().__init__()
        self.config = config
        width = config.width
        self.encoder = VisualEncoder(config)
        self.tokens_per_step = 3 if config.uses_tactile else 2
        if config.tactile_dim is not None:
            self.tactile = nn.Sequential(
                nn.Linear(config.tactile_dim, width), nn.ReLU(), nn.Linear(width, width)
            )
            self.register_buffer("tactile_mean", torch.zeros(config.tactile_dim))
            self.register_buffer("tactile_std", torch.ones(config.tactile_dim))
        self.action_query = nn.Parameter(torch.zeros(width))
        self.token_type = nn.Parameter(torch.randn(self.tokens_per_step, width) * 0.02)
        self.time = nn.Parameter(torch.randn(config.history, width) * 0.02)
        layer = nn.TransformerEncoderLayer(
            width, config.heads, 4 * width, config.dropout, batch_first=True, norm_first=True
        )
        self.trunk = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Sequential(
            nn.Linear(width, width), nn.ReLU(), nn.Linear(width, config.chunk * config.action_dim)
        )
        if config.pose_head:
            self.pose = nn.Linear(width, POSE_DIM)
        self.register_buffer("action_mean", torch.zeros(config.action_dim))
        self.register_buffer("action_std", torch.ones(config.action_dim))
        length = config.history * self.tokens_per_step
        causal = torch.triu(torch.full((length, length), float("-inf")), diagonal=1)
        self.register_buffer("causal_mask", causal, persistent=False)

    def set_stats(self, stats: dict[str, torch.Tensor]) -> None:
        """Copy normalization statistics (`action_mean`, `tactile_std`, ...) into buffers."""
        for name, value in stats.items():
            getattr(self, name).copy_(value)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Image features (B, T, width) of (B, T, 3, H, W) images in [0, 1]."""
        batch, steps = images.shape[:2]
        return self.encoder(images.flatten(0, 1)).view(batch, steps, -1)

    def forward(self, images: torch.Tensor, tactile: torch.Tensor | None) -> torch.Tensor:
        """Predict normalized action chunks.

        Args:
            images: (B, T, 3, H, W) in [0, 1], T <= `history`.
            tactile: (B, T, D) raw readings (normalized here), or None without touch.

        Returns:
            (B, T, chunk, action_dim): the chunk predicted at every step of the history.
        """
        return self.decode(self.encode(images), tactile)

    def decode(self, features: torch.Tensor, tactile: torch.Tensor | None) -> torch.Tensor:
        """Action chunks from image features (`encode`) and raw tactile readings."""
        batch, steps = features.shape[:2]
        parts = [features]
        if self.config.uses_tactile:
            assert tactile is not None
            parts.append(self.tactile((tactile - self.tactile_mean) / self.tactile_std))
        parts.append(self.action_query.expand(batch, steps, -1))
        tokens = torch.stack(parts, dim=2) + self.token_type + self.time[:steps, None]
        length = steps * self.tokens_per_step
        out = self.trunk(tokens.flatten(1, 2), mask=self.causal_mask[:length, :length])
        action_tokens = self.norm(out.view(batch, steps, self.tokens_per_step, -1)[:, :, -1])
        chunks = self.head(action_tokens)
        return chunks.view(batch, steps, self.config.chunk, self.config.action_dim)

    def normalize_actions(self, actions: torch.Tensor) -> torch.Tensor:
        """Map raw actions to the network's normalized space."""
        return (actions - self.action_mean) / self.action_std

    def unnormalize_actions(self, actions: torch.Tensor) -> torch.Tensor:
        """Map network outputs back to raw actions."""
        return actions * self.action_std + self.action_mean
