"""Preprocessed inputs and frozen image embeddings, computed once and cached on disk.

Keys hash everything the tensors depend on (data file contents, transform config, and for
embeddings the frozen tower's weights), so a stale cache is never reused.
"""
from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from edgebind.errors import InputError
from edgebind.fileio import atomic_write
from edgebind.training.data.skip import check_skip_limit


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


def _load_cached(path: Path) -> Materialized:
    data = load_file(path)
    skipped = Counter(json.loads(data.pop("skipped").numpy().tobytes().decode()))
    return Materialized(data["rows"], data["tensors"], skipped)


def _reason(exc: InputError) -> str:
    """The counting category of an input error: its message without the input's name."""
    return f"{type(exc).__name__}: {exc.reason[:120]}"


def materialize(
    label: str,
    count: int,
    record: Callable[[int], Any],
    convert: Callable[[Any, str], Optional[torch.Tensor]],
    caches: dict[str, Optional[Path]],
    max_skip_fraction: float,
    progress: bool = True,
) -> dict[str, Materialized]:
    """Tensors of every name in `caches` for every sample, read from its cache file when present,
    else computed in ONE pass over the data (each sample read once for all names):
    `record(i)` fetches sample i, `convert(record, name)` makes its tensor (None: absent).

    Unreadable samples (InputError) are skipped and counted; more than `max_skip_fraction`
    of the samples skipped is an error, so a broken data set never silently shrinks.
    """
    done = {n: _load_cached(p) for n, p in caches.items() if p is not None and p.is_file()}
    todo = [n for n in caches if n not in done]
    rows = {n: [] for n in todo}
    tensors = {n: [] for n in todo}
    skipped = {n: Counter() for n in todo}
    examples: dict[str, str] = {}  # reason -> the first full message, which names the input
    for index in tqdm(range(count) if todo else (), desc=f"preparing {label}", disable=not progress,
                      leave=False):
        try:
            item = record(index)
        except InputError as exc:
            examples.setdefault(_reason(exc), str(exc))
            for name in todo:
                skipped[name][_reason(exc)] += 1
            continue
        for name in todo:
            try:
                tensor = convert(item, name)
            except InputError as exc:
                examples.setdefault(_reason(exc), str(exc))
                skipped[name][_reason(exc)] += 1
                continue
            if tensor is not None:
                rows[name].append(index)
                tensors[name].append(tensor)
    for name in todo:
        total = skipped[name].total()
        reasons = "; ".join(f"{reason} x{n} (e.g. {examples[reason]})" for reason, n in skipped[name].most_common(3))
        check_skip_limit(f"{label}/{name}", f"{total} of {count} samples: {reasons}", total, count,
                         max_skip_fraction)
        if not tensors[name]:
            raise InputError(f"{label}: no sample of the data set has {name}")
        done[name] = Materialized(torch.tensor(rows[name]), torch.stack(tensors[name]), skipped[name])
        if caches[name] is not None:
            _save(caches[name], done[name])
    return done


def _save(path: Path, result: Materialized) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    encoded = torch.frombuffer(bytearray(json.dumps(dict(result.skipped)).encode()), dtype=torch.uint8)
    tensors = {"rows": result.rows, "tensors": result.tensors.contiguous(), "skipped": encoded}
    atomic_write(path, lambda tmp: save_file(tensors, tmp))
