"""Reusable transformer blocks, named as in ImageBind so its checkpoints load key for key."""
from __future__ import annotations

from typing import Optional

import torch
from timm.layers import DropPath
from torch import nn

from edgebind.models.config import TrunkConfig

BLOCK_NORM_EPS = 1e-6


class Mlp(nn.Module):
    """fc1 -> exact GELU -> fc2."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(norm_1(x)), then x + mlp(norm_2(x))."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, bias_kv: bool, drop_path: float):
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, heads, add_bias_kv=bias_kv, batch_first=True)
        self.norm_1 = nn.LayerNorm(dim, eps=BLOCK_NORM_EPS)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.norm_2 = nn.LayerNorm(dim, eps=BLOCK_NORM_EPS)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor, attn_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        h = self.norm_1(x)
        x = x + self.drop_path(self.attn(h, h, h, need_weights=False, attn_mask=attn_mask)[0])
        return x + self.drop_path(self.mlp(self.norm_2(x)))


class Transformer(nn.Module):
    """A stack of Blocks with drop-path rising linearly from 0 to `drop_path` over depth."""

    def __init__(self, cfg: TrunkConfig):
        super().__init__()
        if cfg.pre_norm:
            self.pre_transformer_layer = nn.Sequential(nn.LayerNorm(cfg.width, eps=BLOCK_NORM_EPS))
        else:
            self.pre_transformer_layer = nn.Identity()
        steps = max(cfg.layers - 1, 1)
        rates = [cfg.drop_path * i / steps for i in range(cfg.layers)]
        self.blocks = nn.ModuleList(
            Block(cfg.width, cfg.heads, cfg.mlp_ratio, cfg.bias_kv, rate) for rate in rates
        )

    def forward(self, x: torch.Tensor, attn_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        x = self.pre_transformer_layer(x)
        for block in self.blocks:
            x = block(x, attn_mask=attn_mask)
        return x


def init_weights(module: nn.Module) -> None:
    """Truncated-normal (std 0.02) linear weights, zero biases, unit LayerNorms."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
