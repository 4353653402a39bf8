"""Evaluation metrics on embeddings: zero-shot top-k, instance retrieval, mAP, embedding arithmetic.

Ranks (top-k, R@k, median rank) follow edgebind.retrieval's pessimistic tie rule; the retrieval,
scoring and prompt-ensemble helpers themselves live in the core package (edgebind.retrieval,
edgebind.scoring), which the live node uses without the training stack.
Tie rule for average precision: tied scores form one threshold (scikit-learn's rule), i.e. each
positive's precision is taken over every item scoring >= it.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F

from edgebind.errors import InputError
from edgebind.retrieval import check_ks, match_ranks, recall_at
from edgebind.scoring import check_labels, check_matrix, cosine_similarity


def _check_multihot(x, name: str, shape: torch.Size) -> torch.Tensor:
    """Return `x` as a bool tensor of `shape`; raise InputError if it is not 0/1 valued."""
    x = torch.as_tensor(x)
    if x.shape != shape:
        raise InputError(f"{name} must have shape {tuple(shape)} to match the scores, got {tuple(x.shape)}")
    if x.dtype != torch.bool and not ((x == 0) | (x == 1)).all():
        raise InputError(f"{name} must be multi-hot (only 0 and 1), got other values")
    return x.bool()


def topk_accuracy(scores, targets, ks: Sequence[int] = (1, 5)) -> dict[str, float]:
    """Top-k accuracy of [N, C] class scores against [N] labels, keyed "top{k}" (k > C acts as C)."""
    scores = check_matrix(scores, "scores")
    targets = check_labels(targets, "targets", scores.shape[0], scores.shape[1])
    ranks = match_ranks(scores, F.one_hot(targets, scores.shape[1]).bool())
    return {f"top{k}": (ranks <= k).float().mean().item() for k in check_ks(ks)}


def _average_precision(scores: torch.Tensor, positives: torch.Tensor) -> float:
    """AP of validated 1-D scores/positives; each positive's precision counts all items scoring >= it."""
    pos_scores = scores[positives]
    at_or_above = len(scores) - torch.searchsorted(scores.sort().values, pos_scores)
    pos_at_or_above = len(pos_scores) - torch.searchsorted(pos_scores.sort().values, pos_scores)
    return (pos_at_or_above / at_or_above).mean().item()


def average_precision(scores, positives) -> float:
    """Average precision of [N] scores for [N] bool relevance; needs at least one positive."""
    scores = torch.as_tensor(scores)
    if scores.ndim != 1:
        raise InputError(f"scores must be 1-D [N], got shape {tuple(scores.shape)}")
    scores = check_matrix(scores[:, None], "scores")[:, 0]
    positives = _check_multihot(positives, "positives", scores.shape)
    if not positives.any():
        raise InputError("positives has no positive item; average precision is undefined")
    return _average_precision(scores, positives)


def mean_average_precision(scores, targets) -> float:
    """AudioSet-style macro mAP of [N, C] scores over the classes with at least one positive."""
    scores = check_matrix(scores, "scores")
    targets = _check_multihot(targets, "targets", scores.shape)
    present = targets.any(dim=0).nonzero().flatten().tolist()
    if not present:
        raise InputError("targets has no positive label in any class; mAP is undefined")
    return sum(_average_precision(scores[:, c], targets[:, c]) for c in present) / len(present)


def chance_topk(num_classes: int, k: int) -> float:
    """Top-k accuracy of a random guess among `num_classes`: min(k, C) / C."""
    if num_classes < 1 or k < 1:
        raise InputError(f"num_classes and k must be positive, got {num_classes} and {k}")
    return min(k, num_classes) / num_classes


def arithmetic_retrieval(base_emb, add_emb, gallery_emb, targets, ks: Sequence[int] = (1, 5),
                         weights: tuple[float, float] = (1.0, 1.0),
                         gallery_labels=None) -> dict[str, dict[str, float]]:
    """ImageBind embedding arithmetic: rank the gallery by normalise(w1*a + w2*b) (unit a, b).

    `targets` index the gallery, or are class ids when `gallery_labels` [M] is given (any item of
    that class is a hit). R@k is also reported for each part alone ("base_only", "add_only").
    """
    base, add = check_matrix(base_emb, "base_emb"), check_matrix(add_emb, "add_emb")
    gallery = check_matrix(gallery_emb, "gallery_emb")
    if base.shape != add.shape:
        raise InputError(f"base_emb and add_emb must have the same shape, got "
                         f"{tuple(base.shape)} and {tuple(add.shape)}")
    if gallery_labels is None:
        targets = check_labels(targets, "targets", base.shape[0], gallery.shape[0])
        correct = F.one_hot(targets, gallery.shape[0]).bool()
    else:
        labels = check_labels(gallery_labels, "gallery_labels", gallery.shape[0])
        correct = check_labels(targets, "targets", base.shape[0])[:, None] == labels[None, :]
    w_base, w_add = weights
    composed = F.normalize(w_base * F.normalize(base, dim=-1) + w_add * F.normalize(add, dim=-1), dim=-1)
    queries = {"composed": composed, "base_only": base, "add_only": add}
    return {name: recall_at(match_ranks(cosine_similarity(q, gallery), correct), ks) for name, q in queries.items()}


def _cell(value, digits: int) -> str:
    """Text of one table cell: floats with `digits` decimals, anything else via str()."""
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _is_number(value) -> bool:
    """True for ints and floats (not bools): such table columns are right-aligned."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def format_table(rows: Sequence[Mapping], columns: Sequence[str], digits: int = 3) -> str:
    """Plain aligned text table of `rows` (missing keys blank); all-number columns right-aligned."""
    if not columns:
        raise InputError("format_table needs at least one column")
    cells = [[_cell(row.get(c, ""), digits) for c in columns] for row in rows]
    right = [all(_is_number(row[c]) for row in rows if c in row) for c in columns]
    widths = [max([len(c)] + [len(line[i]) for line in cells]) for i, c in enumerate(columns)]

    def join(texts: Sequence[str]) -> str:
        return "  ".join(t.rjust(w) if r else t.ljust(w) for t, w, r in zip(texts, widths, right)).rstrip()

    return "\n".join([join(columns), "  ".join("-" * w for w in widths)] + [join(line) for line in cells])
