"""Heads (tokens -> one projected vector) and postprocessors (unit norm, then a logit scale)."""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from edgebind.registry import Registry

HEAD_NORM_EPS = 1e-6
MAX_LEARNED_SCALE = 100.0
# head type -> class taking (trunk width, embed_dim, dropout); a stem class names the head it needs.
HEADS: Registry[type[nn.Module]] = Registry("head type")


def _select(x: torch.Tensor, index: Optional[torch.Tensor]) -> torch.Tensor:
    """Token 0 (the class token) of every sample, or token `index[b]` of sample b."""
    if index is None:
        return x[:, 0]
    return x[torch.arange(x.shape[0], device=x.device), index]


class SelectToken(nn.Module):
    def forward(self, x: torch.Tensor, index: Optional[torch.Tensor] = None) -> torch.Tensor:
        return _select(x, index)


@HEADS.register("token")
class TokenHead(nn.Sequential):
    """LayerNorm -> pick the class token -> optional dropout -> linear map to the shared space."""

    def __init__(self, width: int, embed_dim: int, dropout: float = 0.0):
        layers = [nn.LayerNorm(width, eps=HEAD_NORM_EPS), SelectToken()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        layers.append(nn.Linear(width, embed_dim, bias=False))
        super().__init__(*layers)

    def forward(self, x: torch.Tensor, index: Optional[torch.Tensor] = None) -> torch.Tensor:
        x = self[1](self[0](x), index)
        for layer in list(self)[2:]:
            x = layer(x)
        return x


@HEADS.register("text")
class TextHead(nn.Module):
    """Pick the end-of-text token -> LayerNorm -> (dropout) -> linear map (ImageBind's `proj` keys)."""

    def __init__(self, width: int, embed_dim: int, dropout: float = 0.0):
        super().__init__()
        self.proj = nn.Sequential(
            nn.LayerNorm(width, eps=HEAD_NORM_EPS), nn.Linear(width, embed_dim, bias=False)
        )
        self.dropout = dropout

    def forward(self, x: torch.Tensor, index: Optional[torch.Tensor] = None) -> torch.Tensor:
        x = F.dropout(self.proj[0](_select(x, index)), self.dropout, self.training)
        return self.proj[1](x)


class PassthroughHead(nn.Module):
    """The head of an anchor tower, which already returns projected vectors."""

    def forward(self, x: torch.Tensor, index: Optional[torch.Tensor] = None) -> torch.Tensor:
        return x


class Normalize(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=-1)


class LogitScale(nn.Module):
    """Multiply by exp(log_logit_scale): a learned parameter capped at 100, or a fixed buffer."""

    def __init__(self, scale: float, learnable: bool):
        super().__init__()
        value = torch.full((), math.log(scale))
        self.learnable = learnable
        if learnable:
            self.log_logit_scale = nn.Parameter(value)
        else:
            self.register_buffer("log_logit_scale", value)

    def make_learnable(self) -> None:
        """Turn a fixed scale into a trained one (a temperature learned per modality)."""
        if not self.learnable:
            value = self.log_logit_scale.detach().clone()
            del self.log_logit_scale
            self.log_logit_scale = nn.Parameter(value)
            self.learnable = True

    @property
    def scale(self) -> torch.Tensor:
        scale = self.log_logit_scale.exp()
        return scale.clamp(max=MAX_LEARNED_SCALE) if self.learnable else scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


def postprocessor(logit_scale: Optional[float], learnable: bool) -> nn.Module:
    """Normalize, then scale when the encoder has a logit scale (ImageBind's key layout)."""
    if logit_scale is None:
        return Normalize()
    return nn.Sequential(Normalize(), LogitScale(logit_scale, learnable))
