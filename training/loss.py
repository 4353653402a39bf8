"""The symmetric InfoNCE loss ImageBind binds every modality with."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def info_nce(anchor: torch.Tensor, other: torch.Tensor, scale: torch.Tensor | float) -> torch.Tensor:
    """L(I, M) + L(M, I) over a batch of pairs: row i of each is a positive pair, the rest negatives.

    Both inputs are L2-normalised here; `scale` is 1 / temperature.
    """
    logits = scale * F.normalize(anchor, dim=-1) @ F.normalize(other, dim=-1).T
    targets = torch.arange(logits.shape[0], device=logits.device)
    return F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)
