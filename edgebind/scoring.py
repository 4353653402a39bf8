"""Scores between embeddings, made explicit so users know which number a threshold applies to.

- `cosine_similarity`: in [-1, 1], independent of the candidate set; use it for fixed thresholds
  ("fire when the sound is closer than 0.3 to 'glass breaking'").
- `softmax_scores`: a probability over a candidate set, temperature-scaled as CLIP/ImageBind
  zero-shot classification does; it depends on which candidates are present.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from edgebind.errors import InputError

DEFAULT_LOGIT_SCALE = 100.0  # CLIP's trained temperature 1/0.01; ImageBind's text scale caps here


def _as_2d(x: torch.Tensor, name: str) -> torch.Tensor:
    x = torch.as_tensor(x)
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2 or x.shape[-1] == 0:
        raise InputError(f"{name} must be [N, D] or [D] embeddings, got shape {tuple(x.shape)}")
    return x.float()


def cosine_similarity(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """[N, D] x [M, D] -> [N, M] cosine similarities (inputs need not be unit-norm)."""
    a, b = _as_2d(a, "a"), _as_2d(b, "b")
    if a.shape[-1] != b.shape[-1]:
        raise InputError(f"embedding sizes differ: {a.shape[-1]} vs {b.shape[-1]}; "
                         "were they made by the same model?")
    return F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T


def softmax_scores(
    queries: torch.Tensor, candidates: torch.Tensor, logit_scale: float = DEFAULT_LOGIT_SCALE
) -> torch.Tensor:
    """[N, D] queries x [M, D] candidates -> [N, M] probabilities: softmax(logit_scale * cosine)."""
    return (logit_scale * cosine_similarity(queries, candidates)).softmax(dim=-1)
