"""Stems ("preprocessors" in ImageBind's checkpoint keys): a modality tensor -> a token sequence."""
from __future__ import annotations

import math
from typing import NamedTuple, Optional, Sequence

import torch
from torch import nn

from edgebind.errors import ConfigError
from edgebind.models.config import StemConfig
from edgebind.registry import Registry

# stem type -> class; every class takes (config, trunk width, input size) and names its head type.
STEMS: Registry[type[nn.Module]] = Registry("stem type")


class Tokens(NamedTuple):
    """A stem's output: tokens [B, L, D], the trunk's attention mask, and the token the head pools."""

    x: torch.Tensor
    attn_mask: Optional[torch.Tensor] = None
    pool_index: Optional[torch.Tensor] = None


class PadIm2Video(nn.Module):
    """Repeat a still image into a `frames`-long clip so one Conv3d serves images and video."""

    def __init__(self, frames: int = 2):
        super().__init__()
        self.frames = frames

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 4:
            x = x.unsqueeze(2)
        if x.shape[2] == 1:
            x = x.expand(-1, -1, self.frames, -1, -1)
        return x


class _Projection(nn.Module):
    """`proj` then an optional LayerNorm `norm_layer` (ImageBind's stem key names)."""

    def __init__(self, proj: nn.Module, width: int, norm: bool):
        super().__init__()
        self.proj = proj
        self.norm_layer = nn.LayerNorm(width) if norm else nn.Identity()


class _PosEmbed(nn.Module):
    def __init__(self, tokens: int, width: int):
        super().__init__()
        self.pos_embed = nn.Parameter(torch.empty(1, tokens, width))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)


def _cls_token(width: int) -> nn.Parameter:
    token = nn.Parameter(torch.empty(1, 1, width))
    nn.init.trunc_normal_(token, std=0.02)
    return token


@STEMS.register("patch")
class PatchStem(nn.Module):
    """Image-like input [B, C, H, W] -> conv patches + LayerNorm -> [cls] + patches + positions."""

    head = "token"

    def __init__(self, cfg: StemConfig, width: int, input_size: Sequence[int]):
        super().__init__()
        kernel = tuple(cfg.kernel)
        stride = tuple(cfg.stride or cfg.kernel)
        self.cls_token = _cls_token(width)
        self.stem_name = cfg.name
        setattr(self, cfg.name, _Projection(self._conv(cfg, width, kernel, stride), width, cfg.norm))
        grid = [(size - k) // s + 1 for size, k, s in zip(input_size, kernel, stride)]
        self.pos_embedding_helper = _PosEmbed(1 + math.prod(grid), width)

    def forward(self, x: torch.Tensor) -> Tokens:
        stem = getattr(self, self.stem_name)
        x = stem.proj(x).flatten(2).transpose(1, 2)
        x = stem.norm_layer(x)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        return Tokens(x + self.pos_embedding_helper.pos_embed)

    @staticmethod
    def _conv(cfg: StemConfig, width: int, kernel: tuple, stride: tuple) -> nn.Module:
        return nn.Conv2d(cfg.in_chans, width, kernel, stride=stride, bias=False)


@STEMS.register("video_patch")
class VideoPatchStem(PatchStem):
    """ImageBind's vision stem: a still image repeated into a 2-frame clip, one Conv3d over it."""

    @staticmethod
    def _conv(cfg: StemConfig, width: int, kernel: tuple, stride: tuple) -> nn.Module:
        conv = nn.Conv3d(cfg.in_chans, width, (2, *kernel), stride=(2, *stride), bias=False)
        return nn.Sequential(PadIm2Video(2), conv)


@STEMS.register("conv_patch")
class ConvPatchStem(PatchStem):
    """Patches from a stack of stride-2 3x3 convolutions instead of one patchify conv: the same
    token grid (total stride = `kernel`), but an early convolution learns small shapes from little
    data (Xiao et al. 2021, "Early convolutions help transformers see better"). GroupNorm, not
    BatchNorm: each sample's tokens never depend on the rest of its batch (or on the rank it is on)."""

    @staticmethod
    def _conv(cfg: StemConfig, width: int, kernel: tuple, stride: tuple) -> nn.Module:
        if kernel != stride or any(k < 2 or k & (k - 1) for k in kernel) or len(set(kernel)) != 1:
            raise ConfigError(f"stem {cfg.name!r}: a conv_patch stem needs equal power-of-two kernel and "
                              f"stride (the total stride), got kernel {list(kernel)} stride {list(stride)}")
        steps, layers, channels = int(math.log2(kernel[0])), [], cfg.in_chans
        for i in range(steps):
            out = width if i == steps - 1 else max(8, width >> (steps - 1 - i))  # doubling up to the width
            layers += [nn.Conv2d(channels, out, 3, stride=2, padding=1, bias=False),
                       nn.GroupNorm(math.gcd(out, 8), out), nn.GELU()]
            channels = out
        layers[-2:] = []  # the last conv is the projection: no norm or activation after it
        return nn.Sequential(*layers)


@STEMS.register("imu")
class ImuStem(nn.Module):
    """IMU [B, 6, T] -> non-overlapping windows of `kernel` samples (all channels) -> linear tokens."""

    head = "token"

    def __init__(self, cfg: StemConfig, width: int, input_size: Sequence[int]):
        super().__init__()
        (length,) = input_size
        self.kernel, self.channels = cfg.kernel[0], cfg.in_chans
        self.windows = length // self.kernel
        self.pos_embed = nn.Parameter(torch.empty(1, 1 + length // self.kernel, width))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.cls_token = _cls_token(width)
        proj = nn.Linear(cfg.in_chans * self.kernel, width, bias=False)
        self.stem_name = cfg.name
        setattr(self, cfg.name, _Projection(proj, width, cfg.norm))

    def forward(self, x: torch.Tensor) -> Tokens:
        stem = getattr(self, self.stem_name)
        # [B, C, N, k] -> [B, N, C*k], channel-major; reshapes with fixed sizes (unfold with step =
        # size would do, but does not export with a dynamic batch)
        windows = x[..., : self.windows * self.kernel].reshape(-1, self.channels, self.windows, self.kernel)
        windows = windows.permute(0, 2, 1, 3).reshape(-1, self.windows, self.channels * self.kernel)
        x = stem.norm_layer(stem.proj(windows))
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        return Tokens(x + self.pos_embed)


@STEMS.register("text")
class TextStem(nn.Module):
    """Token ids [B, L] -> embeddings + positions, a causal mask, and the EOT position to pool."""

    head = "text"

    def __init__(self, cfg: StemConfig, width: int, input_size: Sequence[int]):
        super().__init__()
        (context_length,) = input_size
        self.pos_embed = nn.Parameter(torch.empty(1, context_length, width))
        nn.init.normal_(self.pos_embed, std=0.01)
        mask = torch.full((context_length, context_length), float("-inf")).triu_(1)
        self.register_buffer("mask", mask)
        self.token_embedding = nn.Embedding(cfg.vocab_size, width)
        nn.init.normal_(self.token_embedding.weight, std=0.02)

    def forward(self, tokens: torch.Tensor) -> Tokens:
        x = self.token_embedding(tokens) + self.pos_embed[:, : tokens.shape[1]]
        length = tokens.shape[1]
        return Tokens(x, self.mask[:length, :length], eot_index(tokens))


def eot_index(tokens: torch.Tensor) -> torch.Tensor:
    """Each row's end-of-text position: the first occurrence of its largest id (EOT has the largest
    id in CLIP's vocabulary), as `argmax` finds it but with a mask and a sum, since ONNX runtimes have
    no int64 ArgMax (onnxruntime#10068) and the text tower must export."""
    ids = tokens.int()
    is_max = ids == ids.amax(dim=-1, keepdim=True)
    first = is_max & (is_max.int().cumsum(dim=-1) == 1)
    positions = torch.arange(ids.shape[-1], device=ids.device, dtype=torch.int32)
    return (first.int() * positions).sum(dim=-1)


class Passthrough(nn.Module):
    """The stem of an anchor tower, which embeds its own input."""

    def forward(self, x: torch.Tensor) -> Tokens:
        return Tokens(x)
