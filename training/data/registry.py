"""Data-set kinds by name, so configs and the command line can say `llvip:/data/LLVIP`."""
from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from edgebind.errors import ConfigError

from .audioset import AudioSet, VGGSound
from .ego4d import Ego4D
from .llvip import LLVIP
from .manifest import ManifestDataset
from edgebind.sample import PairedDataset
from .skip import SkippingDataset
from .sunrgbd import SUNRGBD, NYUDepthV2

DATASETS: dict[str, type[SkippingDataset]] = {
    "manifest": ManifestDataset,
    "audioset": AudioSet,
    "vggsound": VGGSound,
    "sunrgbd": SUNRGBD,
    "nyuv2": NYUDepthV2,
    "llvip": LLVIP,
    "ego4d": Ego4D,
}


def open_dataset(kind: str, root: "str | Path", **options: Any) -> PairedDataset:
    """Open data set `kind` at `root`; unknown kinds and options raise ConfigError listing the valid ones."""
    cls = DATASETS.get(kind.strip().lower())
    if cls is None:
        raise ConfigError(f"unknown data set kind {kind!r}; choose one of {', '.join(DATASETS)}")
    try:
        inspect.signature(cls).bind(root, **options)
    except TypeError as exc:
        names = [p for p in inspect.signature(cls).parameters][1:]
        raise ConfigError(f"{kind}: {exc}; its options are {', '.join(names)}") from None
    return cls(root, **options)
