"""Few-shot classification on frozen embeddings (ImageBind Figure 3): k labelled examples per class.

For each shot count and seed, `shots` training examples per class are drawn with a seeded
torch.Generator (subsets are nested across shot counts for one seed), a nearest-class-mean or
logistic-regression classifier is fit on the L2-normalised embeddings, and top-1 is measured on
the whole test set. Everything is deterministic given the seed.
"""
from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import torch
import torch.nn.functional as F

from edgebind.errors import ConfigError, InputError
from edgebind.scoring import check_labels, check_matrix, zeroshot_scores
from edgebind.training.metrics import chance_topk, topk_accuracy


def _sample(labels: torch.Tensor, num_classes: int, shots: int, seed: int) -> torch.Tensor:
    """Indices of up to `shots` random examples of each class (all of them when fewer exist)."""
    generator = torch.Generator().manual_seed(seed)
    picks = []
    for c in range(num_classes):
        members = (labels == c).nonzero().flatten()
        picks.append(members[torch.randperm(len(members), generator=generator)[:shots]])
    return torch.cat(picks)


def _ncm_scores(x: torch.Tensor, y: torch.Tensor, num_classes: int, test: torch.Tensor) -> torch.Tensor:
    """Nearest class mean: cosine of each test embedding to each class's mean unit embedding."""
    sums = torch.zeros(num_classes, x.shape[1]).index_add_(0, y, x)
    return zeroshot_scores(test, sums)


def _linear_scores(x: torch.Tensor, y: torch.Tensor, num_classes: int, test: torch.Tensor,
                   steps: int, weight_decay: float) -> torch.Tensor:
    """Logistic-regression probe: full-batch L-BFGS from zero weights with an L2 penalty."""
    weight = torch.zeros(x.shape[1], num_classes, requires_grad=True)
    bias = torch.zeros(num_classes, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=steps, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(x @ weight + bias, y) + 0.5 * weight_decay * weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    return (test @ weight + bias).detach()


def fewshot_eval(train_emb, train_labels, test_emb, test_labels,
                 shots: Sequence[int] = (1, 2, 4, 8), seeds: Sequence[int] = (0, 1, 2),
                 method: str = "linear", steps: int = 100, weight_decay: float = 1e-3) -> dict[int, dict]:
    """Top-1 of a `method` ("linear" or "ncm") classifier fit on `shots` examples per class.

    Returns {shot: {"mean", "std" (population, over seeds), "per_seed", "chance",
    "short_classes" ({label: examples available} for classes with fewer than `shot`)}}.
    """
    train = check_matrix(train_emb, "train_emb")
    test = check_matrix(test_emb, "test_emb")
    if train.shape[1] != test.shape[1]:
        raise InputError(f"train_emb and test_emb sizes differ: {train.shape[1]} vs {test.shape[1]}")
    classes, train_y = torch.unique(check_labels(train_labels, "train_labels", train.shape[0]),
                                    return_inverse=True)
    test_labels = check_labels(test_labels, "test_labels", test.shape[0])
    test_y = torch.searchsorted(classes, test_labels).clamp(max=len(classes) - 1)
    unseen = test_labels[classes[test_y] != test_labels].unique()
    if len(unseen):
        raise InputError(f"test labels {unseen[:10].tolist()} have no training example")
    if not shots or any(not isinstance(k, int) or k < 1 for k in shots) or not seeds:
        raise InputError(f"shots must be positive integers and seeds non-empty, got {shots}, {seeds}")
    fitters = {"ncm": _ncm_scores, "linear": partial(_linear_scores, steps=steps, weight_decay=weight_decay)}
    if method not in fitters:
        raise ConfigError(f"unknown few-shot method {method!r}; use one of {sorted(fitters)}")
    train, test = F.normalize(train, dim=-1), F.normalize(test, dim=-1)
    counts = torch.bincount(train_y, minlength=len(classes))
    results = {}
    for shot in shots:
        per_seed = []
        for seed in seeds:
            picked = _sample(train_y, len(classes), shot, seed)
            scores = fitters[method](train[picked], train_y[picked], len(classes), test)
            per_seed.append(topk_accuracy(scores, test_y, ks=(1,))["top1"])
        values = torch.tensor(per_seed)
        results[shot] = {
            "mean": values.mean().item(),
            "std": values.std(correction=0).item(),
            "per_seed": per_seed,
            "chance": chance_topk(len(classes), 1),
            "short_classes": {int(classes[c]): int(counts[c]) for c in range(len(classes)) if counts[c] < shot},
        }
    return results
