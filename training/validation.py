"""Validation during training: a held-out split, the emergent metrics on it, best-checkpoint
tracking and stopping when the score stops improving.

Anchor stage: image zero-shot against class prompts (or image<->text R@1 without labels).
Bind stage: each bound modality's emergent zero-shot against class prompts (it never saw text) and
never-paired instance retrieval between bound modalities (a sound -> its own IMU trace); without
labels or with one bound modality, M -> image R@1. The score is the mean of those figures.
"""
from __future__ import annotations

import itertools
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import torch
import torch.nn.functional as F

from edgebind.errors import ConfigError, InputError
from edgebind.retrieval import retrieval_recall
from edgebind.scoring import class_text_embeddings, zeroshot_scores
from edgebind.training import metrics
from edgebind.training.cache import hash_json, materialize
from edgebind.training.config import TrainConfig
from edgebind.training.data.sources import open_data
from edgebind.training.pairs import data_fingerprint, input_cache_path
from edgebind.training.state import Progress

BATCH = 128


class Subset:
    """Some samples of a data set (one side of a held-out split): the parent's classes, and a
    fingerprint of its own so the trainer's caches tell the splits apart."""

    def __init__(self, data, indices: list[int], part: str):
        self.data, self.indices = data, indices
        self.name = f"{data.name}-{part}"
        self.classes = data.classes
        self.key = hash_json([data_fingerprint(data), part, indices])

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int):
        return self.data[self.indices[index]]

    def fingerprint(self) -> str:
        return self.key


def hold_out(data, fraction: float, seed: int) -> tuple[Subset, Subset]:
    """(train, validation) subsets: a seeded random `fraction` of the samples (at least 2) is held out."""
    count = max(2, round(len(data) * fraction))
    if count >= len(data):
        raise ConfigError(f"{len(data)} samples are too few to hold out {count} for validation; give "
                          "--val-data, or val_fraction=0 to train without validation")
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed)).tolist()
    return Subset(data, sorted(order[count:]), "train"), Subset(data, sorted(order[:count]), "val")


@contextmanager
def evaluating(model) -> Iterator[None]:
    """Eval mode (no dropout draws) and no gradients inside, every module's own mode restored after,
    so validating never changes what training does next."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for module, mode in modes:
            module.train(mode)


class Validator:
    """The stage's emergent metrics on validation samples; inputs are preprocessed once (and
    cached), the frozen towers' embeddings computed once."""

    def __init__(self, model, data, cfg: TrainConfig, cache: Path, device: torch.device):
        self.model, self.device = model, device
        self.anchor = cfg.stage == "anchor"
        self.bound = tuple(cfg.modalities) if not self.anchor else ()
        names = ["vision", "text"] if self.anchor else ["vision", *self.bound]
        key = data_fingerprint(data)
        self.inputs = materialize(data.name, len(data), data.__getitem__,
                                  lambda record, m: record.tensor(m, model.transform(m)),
                                  {m: input_cache_path(cache, key, model, m) for m in names},
                                  cfg.max_skip_fraction, cfg.progress)
        self.classes = list(getattr(data, "classes", ()))
        self.labels, self.prompts = self._labels(data)
        with evaluating(model):
            self.images = None if self.anchor else self._embed("vision")
            self.texts = None if self.anchor or self.labels is None else self._class_texts()

    def _labels(self, data) -> tuple[Optional[dict[int, int]], dict[str, list[str]]]:
        """Row -> class index when every sample has exactly one label (else None: no zero-shot), and
        the class prompts: each class's validation captions (a prompt ensemble in the data's own
        phrasing); classes without captions fall back to evaluate's templates."""
        rows = sorted({int(r) for done in self.inputs.values() for r in done.rows})
        records = {r: data[r] for r in rows}
        if len(self.classes) < 2 or any(len(rec.labels) != 1 for rec in records.values()):
            return None, {}
        prompts: dict[str, list[str]] = {}
        for rec in records.values():
            if rec.caption:
                prompts.setdefault(rec.labels[0], []).append(rec.caption)
        return {r: self.classes.index(rec.labels[0]) for r, rec in records.items()}, prompts

    def _class_texts(self) -> torch.Tensor:
        return class_text_embeddings(self.model, self.classes, self.prompts).float().cpu()

    def _embed(self, modality: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(data-set rows, unit-norm embeddings) of the validation samples that have `modality`."""
        done = self.inputs[modality]
        chunks = [self.model.encode(modality, done.tensors[i : i + BATCH].to(self.device)).float().cpu()
                  for i in range(0, len(done.rows), BATCH)]
        return done.rows, F.normalize(torch.cat(chunks), dim=-1)

    def _zeroshot(self, embedded: tuple[torch.Tensor, torch.Tensor], texts: torch.Tensor) -> float:
        rows, vectors = embedded
        targets = torch.tensor([self.labels[int(r)] for r in rows])
        return metrics.topk_accuracy(zeroshot_scores(vectors, texts), targets, ks=(1,))["top1"]

    @staticmethod
    def _recall(a: tuple[torch.Tensor, torch.Tensor], b: tuple[torch.Tensor, torch.Tensor]) -> float:
        """Instance R@1 between two modalities of the same samples, mean of both directions."""
        common = sorted(set(a[0].tolist()) & set(b[0].tolist()))
        if len(common) < 2:
            raise InputError("fewer than 2 validation samples have both modalities; give a larger "
                             "validation set (--val-data or val_fraction)")
        pick = lambda side: side[1][[side[0].tolist().index(r) for r in common]]  # noqa: E731
        recall = retrieval_recall(pick(a), pick(b), ks=(1,))
        return (recall["a_to_b"]["R@1"] + recall["b_to_a"]["R@1"]) / 2

    def __call__(self) -> dict[str, float]:
        """The metrics, keyed "val/...", and their mean "val/score" (higher is better)."""
        with evaluating(self.model):
            if self.anchor:
                images, texts = self._embed("vision"), self._embed("text")
                if self.labels is not None:
                    scores = {"val/zeroshot/vision": self._zeroshot(images, self._class_texts())}
                else:
                    scores = {"val/R@1/vision<->text": self._recall(images, texts)}
            else:
                embedded = {m: self._embed(m) for m in self.bound}
                scores = {f"val/zeroshot/{m}": self._zeroshot(e, self.texts) for m, e in embedded.items()
                          if self.texts is not None}
                scores.update({f"val/R@1/{a}<->{b}": self._recall(embedded[a], embedded[b])
                               for a, b in itertools.combinations(self.bound, 2)})
                if not scores:
                    scores = {f"val/R@1/{m}<->vision": self._recall(e, self.images) for m, e in embedded.items()}
        return {**scores, "val/score": sum(scores.values()) / len(scores)}


def improved(progress: Progress, score: float, min_delta: float) -> bool:
    """Record a validation score in `progress`: True (a new best) when it beats the best by more
    than `min_delta`, else one more evaluation without improvement."""
    if score > progress.best + min_delta:
        progress.best, progress.best_step, progress.stale = score, progress.step, 0
        return True
    progress.stale += 1
    return False


def split(data, cfg: TrainConfig) -> tuple:
    """(training data, validation data or None): --val-data, else a held-out val_fraction, else none."""
    if cfg.val_data:
        return data, open_data(cfg.val_data, cfg.val_data_options)
    if cfg.val_fraction > 0:
        return hold_out(data, cfg.val_fraction, cfg.seed)
    return data, None
