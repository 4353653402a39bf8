"""What a bind run trains of a pretrained encoder: all of it, its last blocks, or LoRA adapters.

LoRA adds a trained low-rank delta B @ A (scaled by alpha / rank) to the frozen attention and MLP
weights of each trunk block through torch parametrizations, which works for nn.MultiheadAttention's
fused `in_proj_weight` too. Saved checkpoints hold the merged weights, in the plain layout.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils import parametrize

from edgebind.errors import ConfigError

LORA_TARGETS = (("attn", "in_proj_weight"), ("attn.out_proj", "weight"), ("mlp.fc1", "weight"),
                ("mlp.fc2", "weight"))


@dataclass(frozen=True)
class Finetune:
    """What a run trains inside each trained encoder: everything (`full`), the `last` N trunk
    blocks, or `lora` adapters. Parsed once from the config's string form."""

    mode: str
    blocks: int = 0

    @classmethod
    def parse(cls, text: str) -> "Finetune":
        """'full', 'lora' or 'last:N' (N >= 1); anything else raises ConfigError."""
        kind, _, blocks = text.partition(":")
        if text in ("full", "lora"):
            return cls(text)
        if kind == "last" and blocks.isdigit() and int(blocks) > 0:
            return cls("last", int(blocks))
        raise ConfigError(f"finetune {text!r} must be full, lora or last:N (N >= 1)")

    def apply(self, stem: nn.Module, trunk: nn.Module, rank: int, alpha: float) -> None:
        """Narrow what trains in one encoder (stem and trunk) to this mode's share."""
        if self.mode == "lora":
            stem.requires_grad_(False)
            add_lora(trunk, rank, alpha)
        elif self.mode == "last":
            freeze_all_but_last(trunk, stem, self.blocks)


class LowRankDelta(nn.Module):
    """W -> W + (B @ A) * alpha / rank; B starts at zero, so training starts from W itself."""

    def __init__(self, out_features: int, in_features: int, rank: int, alpha: float):
        super().__init__()
        self.A = nn.Parameter(torch.empty(rank, in_features))
        self.B = nn.Parameter(torch.zeros(out_features, rank))
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))
        self.scale = alpha / rank

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight + (self.B @ self.A) * self.scale


def add_lora(trunk: nn.Module, rank: int, alpha: float) -> list[nn.Parameter]:
    """Freeze `trunk` and add LoRA deltas to every block; returns the new trainable parameters."""
    if not hasattr(trunk, "blocks"):
        raise ConfigError("LoRA needs an edgebind transformer trunk (an anchor tower cannot take it)")
    trunk.requires_grad_(False)
    params = []
    for block in trunk.blocks:
        for path, name in LORA_TARGETS:
            module = block.get_submodule(path)
            out_features, in_features = getattr(module, name).shape
            delta = LowRankDelta(out_features, in_features, rank, alpha)
            parametrize.register_parametrization(module, name, delta)
            params += [delta.A, delta.B]
    return params


def freeze_all_but_last(trunk: nn.Module, stem: nn.Module, blocks: int) -> None:
    """Partial fine-tuning: the stem and all but the last `blocks` trunk blocks stay frozen."""
    if not hasattr(trunk, "blocks") or not 0 < blocks <= len(trunk.blocks):
        raise ConfigError(f"finetune=last:{blocks} needs a trunk with at least {blocks} blocks")
    stem.requires_grad_(False)
    trunk.requires_grad_(False)
    for block in trunk.blocks[-blocks:]:
        block.requires_grad_(True)


def merged_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The state dict with every LoRA delta folded into its weight, under the plain key names."""
    state = {k: v for k, v in model.state_dict().items() if ".parametrizations." not in k}
    for prefix, module in model.named_modules():
        if parametrize.is_parametrized(module):
            for name in module.parametrizations:
                state[f"{prefix}.{name}"] = getattr(module, name).detach().clone()
    return state


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The parameters a run trains (LoRA deltas, heads): with the base weights they rebuild the
    model exactly, which the merged checkpoint alone cannot."""
    return {k: p.detach().clone() for k, p in model.named_parameters() if p.requires_grad}
