"""Where training pairs come from: every input preprocessed once and held in memory (cached on
disk), or, with `stream`, read and transformed anew each epoch by DataLoader workers for data
sets larger than memory. Frozen image embeddings are always computed once and cached.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Iterator

import torch
from torch.utils.data import DataLoader, Dataset

from edgebind.config import to_dict
from edgebind.errors import InputError
from edgebind.training.cache import Materialized, hash_file, hash_json, hash_tensors, materialize
from edgebind.training.config import TrainConfig


def data_fingerprint(data) -> str:
    """Cache key part for a data set: its own fingerprint plus, for a manifest, the file's hash.

    Files edited in place behind an unchanged manifest are not noticed: delete OUT/cache then.
    """
    root = getattr(data, "root", None)
    content = hash_file(root) if root is not None and Path(root).is_file() else None
    own = data.fingerprint() if hasattr(data, "fingerprint") else None
    return hash_json([data.name, len(data), own, content])


def input_cache_path(cache: Path, key: str, model, modality: str) -> Path:
    """Cache file of a data set's preprocessed `modality` inputs: keyed by the data and the transform."""
    return cache / f"{modality}-{hash_json([key, modality, to_dict(model.config.transform(modality))])}.safetensors"


class _Transformed(Dataset):
    """Sample i -> (i, {modality: tensor}); a sample or modality that cannot be read is left out."""

    def __init__(self, data, transforms: dict):
        self.data, self.transforms = data, transforms

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int):
        try:
            record = self.data[index]
        except InputError:
            return index, {}
        out = {}
        for name, transform in self.transforms.items():
            try:
                tensor = record.tensor(name, transform)
            except InputError:
                continue
            if tensor is not None:
                out[name] = tensor
        return index, out


def _collate(items) -> dict[str, Materialized]:
    rows: dict[str, list] = {}
    for index, tensors in items:
        for name, tensor in tensors.items():
            rows.setdefault(name, []).append((index, tensor))
    return {name: Materialized(torch.tensor([i for i, _ in got]), torch.stack([t for _, t in got]), Counter())
            for name, got in rows.items()}


def _align(left: Materialized, right: Materialized, indices: torch.Tensor):
    """The two sides' tensors for the batch samples both have, in batch order."""
    rows = [int(i) for i in indices if int(i) in left.position and int(i) in right.position]
    return left.tensors[[left.position[r] for r in rows]], right.tensors[[right.position[r] for r in rows]]


class PairData:
    """(left, right) batches per trained pair: anchor (vision inputs, text tokens) or bind
    (frozen image embeddings, modality inputs)."""

    def __init__(self, model, data, cfg: TrainConfig, cache: Path, device: torch.device):
        self.model, self.data, self.cfg, self.device = model, data, cfg, device
        self.anchor = cfg.stage == "anchor"
        self.pairs = ["text"] if self.anchor else list(cfg.modalities)
        names = ["vision", *self.pairs]
        self.transforms = {m: model.transform(m) for m in names}
        self.key = data_fingerprint(data)
        embeddings = None if self.anchor else self._embeddings_path(cache)
        # Bind needs image inputs only to compute the embeddings: skip them once those are cached.
        need_images = self.anchor or not embeddings.is_file()
        kept = [] if cfg.stream else [m for m in names if m != "vision" or need_images]
        caches = {m: input_cache_path(cache, self.key, model, m) for m in kept}
        self.memory = materialize(data.name, len(data), data.__getitem__, self._convert, caches,
                                  cfg.max_skip_fraction, cfg.progress) if kept else {}
        self.streamed = (names if self.anchor else self.pairs) if cfg.stream else []
        if not self.anchor:
            self.images = self._image_embeddings(embeddings)
            self.memory.pop("vision", None)  # the embeddings replace the image inputs

    def _convert(self, record, modality: str):
        return record.tensor(modality, self.transforms[modality])

    def _embeddings_path(self, cache: Path) -> Path:
        """Cache file of the image embeddings: keyed by the data, the transform and the weights."""
        key = hash_json([self.key, hash_tensors(self.model.encoder_tensors("vision")),
                         to_dict(self.model.config.transform("vision"))])
        return cache / f"vision-embeddings-{key}.safetensors"

    @torch.no_grad()
    def _image_embeddings(self, path: Path) -> Materialized:
        """The frozen image tower's embeddings of every sample, computed once and cached."""
        images = self.memory.get("vision")

        def image(index: int):  # the preprocessed image of data-set sample `index`, or None
            if self.cfg.stream:
                return self._convert(self.data[index], "vision")
            return images.tensors[images.position[index]] if index in images.position else None

        def embed(x, _name: str):
            return None if x is None else self.model.encode("vision", x[None].to(self.device))[0].cpu()

        result = materialize("image embeddings", len(self.data), image, embed, {"vision": path},
                             self.cfg.max_skip_fraction, self.cfg.progress)["vision"]
        tensors = result.tensors
        if self.cfg.shuffle_pairs:  # control run: each M meets another sample's image
            order = torch.randperm(len(tensors), generator=torch.Generator().manual_seed(self.cfg.seed))
            tensors = tensors[order]
        return Materialized(result.rows, tensors, result.skipped)

    def epoch(self, batches: list[torch.Tensor]) -> Iterator[dict[str, tuple[torch.Tensor, torch.Tensor]]]:
        """Per batch of sample indices: {pair: (left, right)} over the samples having both."""
        streams = iter(())
        if self.streamed:
            dataset = _Transformed(self.data, {m: self.transforms[m] for m in self.streamed})
            streams = iter(DataLoader(dataset, batch_sampler=[b.tolist() for b in batches],
                                      num_workers=self.cfg.num_workers, collate_fn=_collate))
        for indices in batches:
            batch = {**self.memory, **(next(streams) if self.streamed else {})}
            left = (lambda m: batch["vision"]) if self.anchor else (lambda m: self.images)
            yield {m: _align(left(m), batch[m], indices) for m in self.pairs if m in batch}

    def skipped(self) -> dict[str, int]:
        """Samples skipped per pair while preparing the in-memory inputs (streams skip silently)."""
        return {m: sum(self.memory[m].skipped.values()) if m in self.memory else 0 for m in self.pairs}
