"""Open a data set from a command-line spec: a manifest path, or KIND:ROOT for the paper's sets."""
from __future__ import annotations

from pathlib import Path

from edgebind.sample import PairedDataset


def parse_options(items) -> dict:
    """["split=test", "window_seconds=5"] -> {"split": "test", "window_seconds": 5.0} (JSON values
    where they parse, strings otherwise)."""
    import json

    from edgebind.errors import ConfigError

    options = {}
    for item in items or ():
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--data-option {item!r}: expected KEY=VALUE, e.g. split=test")
        try:
            options[key] = json.loads(raw)
        except json.JSONDecodeError:
            options[key] = raw
    return options


def open_data(spec: str, options: dict | None = None) -> PairedDataset:
    """`runs/world/manifest.jsonl` (or its folder) -> the manifest; `llvip:/data/LLVIP` -> an adapter.
    `options` go to the adapter's constructor (e.g. split, max_skip_fraction)."""
    from edgebind.training.data.registry import DATASETS, open_dataset

    kind, sep, root = spec.partition(":")
    if sep and (kind in DATASETS or kind.isidentifier() and not Path(spec).exists()):
        return open_dataset(kind, Path(root), **(options or {}))  # an unknown kind lists the known ones
    return open_dataset("manifest", Path(spec), **(options or {}))
