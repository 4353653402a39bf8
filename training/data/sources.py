"""Open a data set from a command-line spec: a manifest path, or KIND:ROOT for the paper's sets."""
from __future__ import annotations

from pathlib import Path

from edgebind.training.data.records import PairedDataset


def open_data(spec: str) -> PairedDataset:
    """`runs/world/manifest.jsonl` (or its folder) -> the manifest; `llvip:/data/LLVIP` -> an adapter."""
    from edgebind.training.data.manifest import ManifestDataset
    from edgebind.training.data.registry import DATASETS, open_dataset

    kind, sep, root = spec.partition(":")
    if sep and kind in DATASETS:
        return open_dataset(kind, Path(root))
    return ManifestDataset(Path(spec))
