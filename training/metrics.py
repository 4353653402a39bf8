"""Evaluation metrics on embeddings: zero-shot top-k, instance retrieval, mAP, embedding arithmetic.

Tie rule for ranks (top-k, R@k, median rank): pessimistic. The correct item's rank is
1 + the number of incorrect candidates scoring >= it, so a tie never favours the correct answer
and a collapsed model (all scores equal) scores at the worst rank, never at 100%.
Tie rule for average precision: tied scores form one threshold (scikit-learn's rule), i.e. each
positive's precision is taken over every item scoring >= it.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F

from edgebind.errors import InputError
from edgebind.scoring import cosine_similarity


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


def _check_multihot(x, name: str, shape: torch.Size) -> torch.Tensor:
    """Return `x` as a bool tensor of `shape`; raise InputError if it is not 0/1 valued."""
    x = torch.as_tensor(x)
    if x.shape != shape:
        raise InputError(f"{name} must have shape {tuple(shape)} to match the scores, got {tuple(x.shape)}")
    if x.dtype != torch.bool and not ((x == 0) | (x == 1)).all():
        raise InputError(f"{name} must be multi-hot (only 0 and 1), got other values")
    return x.bool()


def _check_ks(ks: Sequence[int]) -> tuple[int, ...]:
    """Validate the cut-offs k for top-k / R@k: a non-empty sequence of positive ints."""
    ks = tuple(ks)
    if not ks or any(not isinstance(k, int) or isinstance(k, bool) or k < 1 for k in ks):
        raise InputError(f"ks must be a non-empty sequence of positive integers, got {ks}")
    return ks


def _same_rows(a: torch.Tensor, b: torch.Tensor, names: str) -> None:
    """Raise InputError unless `a` and `b` hold the same number of rows (paired samples)."""
    if a.shape[0] != b.shape[0]:
        raise InputError(f"{names} must be paired row by row, got {a.shape[0]} and {b.shape[0]} rows")


def _ranks(scores: torch.Tensor, correct: torch.Tensor) -> torch.Tensor:
    """Pessimistic 1-based rank of the best correct candidate per row of [N, M] scores."""
    missing = (~correct.any(dim=1)).nonzero().flatten()
    if len(missing):
        raise InputError(f"rows {missing[:10].tolist()} have no correct candidate; check the targets")
    best = scores.masked_fill(~correct, float("-inf")).amax(dim=1, keepdim=True)
    return 1 + ((scores >= best) & ~correct).sum(dim=1)


def _recalls(ranks: torch.Tensor, ks: Sequence[int]) -> dict[str, float]:
    """Fraction of rows whose rank is within each k, keyed "R@k"."""
    return {f"R@{k}": (ranks <= k).float().mean().item() for k in _check_ks(ks)}


def topk_accuracy(scores, targets, ks: Sequence[int] = (1, 5)) -> dict[str, float]:
    """Top-k accuracy of [N, C] class scores against [N] labels, keyed "top{k}" (k > C acts as C)."""
    scores = check_matrix(scores, "scores")
    targets = check_labels(targets, "targets", scores.shape[0], scores.shape[1])
    ranks = _ranks(scores, F.one_hot(targets, scores.shape[1]).bool())
    return {f"top{k}": (ranks <= k).float().mean().item() for k in _check_ks(ks)}


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


def _direction(scores: torch.Tensor, ks: Sequence[int]) -> dict[str, float]:
    """R@k and median rank for [N, N] scores where row i's match is column i."""
    ranks = _ranks(scores, torch.eye(scores.shape[0], dtype=torch.bool))
    return {**_recalls(ranks, ks), "median_rank": ranks.float().quantile(0.5).item()}


def retrieval_recall(query, gallery, ks: Sequence[int] = (1, 5, 10)) -> dict[str, dict[str, float]]:
    """Paired instance retrieval (query i matches gallery i): R@k and median rank, both directions."""
    query, gallery = check_matrix(query, "query"), check_matrix(gallery, "gallery")
    _same_rows(query, gallery, "query and gallery")
    scores = cosine_similarity(query, gallery)
    return {"a_to_b": _direction(scores, ks), "b_to_a": _direction(scores.T, ks)}


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


def chance_recall(n: int, k: int) -> float:
    """R@k of a random ranking of a gallery of `n` items with one match: min(k, n) / n."""
    return chance_topk(n, k)


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
    return {name: _recalls(_ranks(cosine_similarity(q, gallery), correct), ks) for name, q in queries.items()}


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
