"""Scores between embeddings, made explicit so users know which number a threshold applies to.

- `cosine_similarity`: in [-1, 1], independent of the candidate set; use it for fixed thresholds
  ("fire when the sound is closer than 0.3 to 'glass breaking'").
- `softmax_scores`: a probability over a candidate set, temperature-scaled as CLIP/ImageBind
  zero-shot classification does; it depends on which candidates are present.
- `class_embeddings` / `class_text_embeddings`: CLIP prompt ensembles, one vector per class (or
  detection event) from several phrasings, as zero-shot classification and the live node use them.
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence

import torch
import torch.nn.functional as F

from edgebind.errors import InputError

DEFAULT_LOGIT_SCALE = 100.0  # CLIP's trained temperature 1/0.01; ImageBind's text scale caps here
DEFAULT_TEMPLATES = ("a {}", "a photo of a {}", "the sound of a {}", "a {} nearby", "there is a {}")


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


def check_matrix(x, name: str) -> torch.Tensor:
    """Return `x` as a float [N, D] tensor; raise InputError if not 2-D, empty or non-finite."""
    x = torch.as_tensor(x)
    if x.ndim != 2 or x.numel() == 0:
        raise InputError(f"{name} must be a non-empty 2-D tensor [N, D], got shape {tuple(x.shape)}")
    x = x.float()
    if not torch.isfinite(x).all():
        raise InputError(f"{name} contains NaN or infinite values; check what produced it")
    return x


def check_labels(x, name: str, n: int, num_classes: int | None = None) -> torch.Tensor:
    """Return `x` as a long [n] tensor of labels in [0, num_classes); raise InputError otherwise."""
    x = torch.as_tensor(x)
    if x.shape != (n,):
        raise InputError(f"{name} must have shape ({n},) to match the embeddings, got {tuple(x.shape)}")
    if x.dtype == torch.bool or x.is_floating_point() or x.is_complex():
        raise InputError(f"{name} must hold integer labels, got dtype {x.dtype}")
    x = x.long()
    if (x < 0).any() or (num_classes is not None and (x >= num_classes).any()):
        raise InputError(f"{name} must lie in [0, {num_classes if num_classes is not None else 'inf'}), "
                         f"got values {x.min().item()}..{x.max().item()}")
    return x


def zeroshot_scores(query_emb, class_emb) -> torch.Tensor:
    """[N, D] queries x [C, D] class embeddings -> [N, C] cosine scores for zero-shot classification."""
    return cosine_similarity(check_matrix(query_emb, "query_emb"), check_matrix(class_emb, "class_emb"))


def class_embeddings(prompt_emb, prompt_class, num_classes: int) -> torch.Tensor:
    """CLIP prompt ensembling: mean of each class's unit-norm prompt embeddings, re-normalised -> [C, D]."""
    emb = check_matrix(prompt_emb, "prompt_emb")
    labels = check_labels(prompt_class, "prompt_class", emb.shape[0], num_classes)
    missing = (torch.bincount(labels, minlength=num_classes) == 0).nonzero().flatten()
    if len(missing):
        raise InputError(f"classes {missing[:10].tolist()} have no prompt; give every class at least one")
    sums = torch.zeros(num_classes, emb.shape[1]).index_add_(0, labels, F.normalize(emb, dim=-1))
    return F.normalize(sums, dim=-1)  # the mean points the same way as the sum


def class_text_embeddings(model, classes: Sequence[str], prompts: Optional[Mapping] = None) -> torch.Tensor:
    """One unit vector per class: the ensemble of its prompts (`prompts[name]`: a string or a list),
    or of DEFAULT_TEMPLATES filled with the class name, embedded by `model`'s text encoder."""
    texts, owners = [], []
    for index, name in enumerate(classes):
        options = (prompts or {}).get(name) or [t.format(name) for t in DEFAULT_TEMPLATES]
        options = [options] if isinstance(options, str) else list(options)
        texts += options
        owners += [index] * len(options)
    embedded = model.embed({"text": texts})["text"]
    return class_embeddings(embedded, torch.tensor(owners), len(classes))
