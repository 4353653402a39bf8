"""The generic data set: a `manifest.jsonl` (edgebind.manifest) read as records of file paths.

A sample whose listed file is missing is skipped and counted (see skip.py); a malformed manifest
(bad JSON, duplicate ids) still raises, since the file itself needs fixing.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Iterator, Optional, Sequence

from edgebind.manifest import MANIFEST_NAME, input_file, read_manifest
from edgebind.modality import Modality

from edgebind.sample import Sample
from .skip import DATASETS, DEFAULT_MAX_SKIP_FRACTION, SkippingDataset


@DATASETS.register("manifest")
class ManifestDataset(SkippingDataset[Sample]):
    """Records straight from a manifest: inputs are the sample's file paths keyed by modality.

    With `modalities`, only those inputs are kept and samples lacking any of them are left out
    (not counted as skipped: they are not broken, just not relevant); "text" means a caption.
    """

    layout = f"a {MANIFEST_NAME} with one JSON object per sample"

    def __init__(
        self,
        path: "str | Path",
        modalities: Optional[Sequence["str | Modality"]] = None,
        max_skip_fraction: float = DEFAULT_MAX_SKIP_FRACTION,
    ) -> None:
        path = Path(path)
        self.root = path / MANIFEST_NAME if path.is_dir() else path
        self.name = self.root.parent.name or "manifest"
        self.modalities = None if modalities is None else tuple(Modality.parse(m) for m in modalities)
        super().__init__(max_skip_fraction)

    def _scan(self) -> Iterator[Sample]:
        for sample in read_manifest(self.root, check_files=False):
            if self.modalities is not None and not all(sample.has(m) for m in self.modalities):
                continue
            paths = {
                key: raw for key, raw in sample.inputs.items()
                if self.modalities is None or Modality(key) in self.modalities
            }
            if all(self._require(input_file(raw), f"missing {key} file") for key, raw in paths.items()):
                yield replace(sample, inputs=paths)

    def _load(self, entry: Sample) -> Sample:
        return replace(entry, inputs=dict(entry.inputs))
