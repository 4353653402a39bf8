"""Open data sets by kind, so configs and the command line can say `llvip:/data/LLVIP`.

Each adapter module registers its classes in `DATASETS` (training/data/skip.py); importing them
here is what makes every kind available.
"""
from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from edgebind.errors import ConfigError
from edgebind.sample import PairedDataset

from . import audioset, ego4d, llvip, manifest, sunrgbd  # noqa: F401  (register their kinds)
from .skip import DATASETS


def open_dataset(kind: str, root: "str | Path", **options: Any) -> PairedDataset:
    """Open data set `kind` at `root`; unknown kinds and options raise ConfigError listing the valid ones."""
    cls = DATASETS.get(kind.strip().lower())
    try:
        inspect.signature(cls).bind(root, **options)
    except TypeError as exc:
        names = [p for p in inspect.signature(cls).parameters][1:]
        raise ConfigError(f"{kind}: {exc}; its options are {', '.join(names)}") from None
    return cls(root, **options)
