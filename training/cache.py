"""Preprocessed inputs and frozen image embeddings, computed once and cached on disk.

Keys hash everything the tensors depend on (data file contents, transform config, and for
embeddings the frozen tower's weights), so a stale cache is never reused.
"""
from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Callable, Iterable, Optional

import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from edgebind.errors import InputError
from edgebind.fileio import atomic_write


def hash_tensors(tensors: Iterable[torch.Tensor]) -> str:
    digest = hashlib.sha256()
    for tensor in tensors:
        digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def hash_json(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def hash_file(path: "str | Path") -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


class Materialized:
    """One modality's tensors for the samples that have it: `rows[i]` is the data-set index of
    `tensors[i]`; `skipped` counts samples whose input could not be read, by reason."""

    def __init__(self, rows: torch.Tensor, tensors: torch.Tensor, skipped: Counter):
        self.rows, self.tensors, self.skipped = rows, tensors, skipped
        self.position = {int(r): i for i, r in enumerate(rows)}


def materialize(
    name: str,
    count: int,
    load: Callable[[int], Optional[torch.Tensor]],
    cache: Optional[Path],
    max_skip_fraction: float,
    progress: bool = True,
) -> Materialized:
    """Run `load(i)` for every sample (None: the sample lacks it), or read the cached result.

    Unreadable samples (InputError) are skipped and counted; more than `max_skip_fraction`
    of the samples skipped is an error, so a broken data set never silently shrinks.
    """
    if cache is not None and cache.is_file():
        data = load_file(cache)
        skipped = Counter(json.loads(data.pop("skipped").numpy().tobytes().decode()))
        return Materialized(data["rows"], data["tensors"], skipped)
    rows, tensors, skipped = [], [], Counter()
    for index in tqdm(range(count), desc=f"preparing {name}", disable=not progress, leave=False):
        try:
            tensor = load(index)
        except InputError as exc:
            skipped[f"{type(exc).__name__}: {str(exc)[:120]}"] += 1
            continue
        if tensor is not None:
            rows.append(index)
            tensors.append(tensor)
    total = sum(skipped.values())
    if total > max_skip_fraction * count:
        reasons = "; ".join(f"{n} x {r}" for r, n in skipped.most_common(3))
        raise InputError(f"{name}: {total} of {count} samples could not be read (limit "
                         f"{max_skip_fraction:.0%}): {reasons}")
    if not tensors:
        raise InputError(f"{name}: no sample of the data set has this modality")
    result = Materialized(torch.tensor(rows), torch.stack(tensors), skipped)
    if cache is not None:
        _save(cache, result)
    return result


def _save(path: Path, result: Materialized) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    encoded = torch.frombuffer(bytearray(json.dumps(dict(result.skipped)).encode()), dtype=torch.uint8)
    tensors = {"rows": result.rows, "tensors": result.tensors.contiguous(), "skipped": encoded}
    atomic_write(path, lambda tmp: save_file(tensors, tmp))
