"""Ranking embeddings against a gallery: nearest neighbours for queries, and the pessimistic ranks
and recall@k that evaluation reports.

Tie rule for ranks: pessimistic. The correct item's rank is 1 + the number of incorrect candidates
scoring >= it, so a tie never favours the correct answer and a collapsed model (all scores equal)
scores at the worst rank, never at 100%.
"""
from __future__ import annotations

from typing import Sequence

import torch

from edgebind.errors import InputError
from edgebind.scoring import check_matrix, cosine_similarity


def top_k(queries, gallery, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The `k` gallery items nearest each query by cosine: (scores [N, k], indices [N, k]), best first."""
    scores = cosine_similarity(check_matrix(queries, "queries"), check_matrix(gallery, "gallery"))
    if k < 1:
        raise InputError(f"k must be >= 1, got {k}")
    return scores.topk(min(k, scores.shape[1]), dim=1)


def check_ks(ks: Sequence[int]) -> tuple[int, ...]:
    """Validate the cut-offs k for top-k / R@k: a non-empty sequence of positive ints."""
    ks = tuple(ks)
    if not ks or any(not isinstance(k, int) or isinstance(k, bool) or k < 1 for k in ks):
        raise InputError(f"ks must be a non-empty sequence of positive integers, got {ks}")
    return ks


def _same_rows(a: torch.Tensor, b: torch.Tensor, names: str) -> None:
    """Raise InputError unless `a` and `b` hold the same number of rows (paired samples)."""
    if a.shape[0] != b.shape[0]:
        raise InputError(f"{names} must be paired row by row, got {a.shape[0]} and {b.shape[0]} rows")


def match_ranks(scores: torch.Tensor, correct: torch.Tensor) -> torch.Tensor:
    """Pessimistic 1-based rank of the best correct candidate per row of [N, M] scores."""
    missing = (~correct.any(dim=1)).nonzero().flatten()
    if len(missing):
        raise InputError(f"rows {missing[:10].tolist()} have no correct candidate; check the targets")
    best = scores.masked_fill(~correct, float("-inf")).amax(dim=1, keepdim=True)
    return 1 + ((scores >= best) & ~correct).sum(dim=1)


def recall_at(ranks: torch.Tensor, ks: Sequence[int]) -> dict[str, float]:
    """Fraction of rows whose rank is within each k, keyed "R@k"."""
    return {f"R@{k}": (ranks <= k).float().mean().item() for k in check_ks(ks)}


def _direction(scores: torch.Tensor, ks: Sequence[int]) -> dict[str, float]:
    """R@k and median rank for [N, N] scores where row i's match is column i."""
    ranks = match_ranks(scores, torch.eye(scores.shape[0], dtype=torch.bool))
    return {**recall_at(ranks, ks), "median_rank": ranks.float().quantile(0.5).item()}


def retrieval_recall(query, gallery, ks: Sequence[int] = (1, 5, 10)) -> dict[str, dict[str, float]]:
    """Paired instance retrieval (query i matches gallery i): R@k and median rank, both directions."""
    query, gallery = check_matrix(query, "query"), check_matrix(gallery, "gallery")
    _same_rows(query, gallery, "query and gallery")
    scores = cosine_similarity(query, gallery)
    return {"a_to_b": _direction(scores, ks), "b_to_a": _direction(scores.T, ks)}


def chance_recall(n: int, k: int) -> float:
    """R@k of a random ranking of a gallery of `n` items with one match: min(k, n) / n."""
    if n < 1 or k < 1:
        raise InputError(f"n and k must be positive, got {n} and {k}")
    return min(k, n) / n
