"""Skip-and-count for long runs: a missing or corrupt sample is reported and skipped, never fatal,
until more than `max_skip_fraction` of a data set is bad, which raises InputError saying why.

Two moments a sample can be skipped:
- index time (constructor): cheap checks (file exists, metadata row parses) drop the sample;
- load time (`__getitem__`): a decode failure raises SkipSample, which callers catch and skip
  (`iter_records`, `get_or_none`). Each index is counted once, however often it is retried.

Counts live in the dataset object, so with DataLoader worker processes each worker counts (and
enforces the limit on) its own share only.
"""
from __future__ import annotations

import hashlib
import logging
from abc import ABC, abstractmethod
from collections import Counter
from pathlib import Path
from typing import Generic, Iterator, Optional, TypeVar

from edgebind.errors import ConfigError, InputError
from edgebind.registry import Registry

from edgebind.sample import PairedDataset, Sample

DEFAULT_MAX_SKIP_FRACTION = 0.05
_log = logging.getLogger(__name__)
E = TypeVar("E")
# data-set kind (the KIND of `KIND:ROOT` on the command line) -> adapter class
DATASETS: Registry[type["SkippingDataset"]] = Registry("data set kind")
_NOT_IDENTITY = ("skipped", "skip_examples", "max_skip_fraction")  # no effect on what records hold


class SkipSample(InputError):
    """One sample cannot be read; `reason` is a short category (e.g. "missing clip") used for counting."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self._reason = reason
        self.detail = detail

    def __reduce__(self):  # picklable across worker processes despite the two-argument __init__
        return type(self), (self.reason, self.detail)


class SkippingDataset(ABC, Generic[E]):
    """Base of the data-set adapters: an index of entries scanned once, records decoded on demand.

    Subclasses set `self.root` and their options, then call `super().__init__`, which runs
    `_scan()` (yield valid entries, call `_skip` for bad ones). Entries carry a `labels` tuple;
    `classes` defaults to their sorted unique labels. `_load(entry)` decodes one Sample.
    """

    name: str = "dataset"
    layout: str = ""  # the expected files in a few words, for the "found nothing" message
    root: Path

    def __init__(self, max_skip_fraction: float = DEFAULT_MAX_SKIP_FRACTION) -> None:
        if not 0.0 <= max_skip_fraction <= 1.0:
            raise ConfigError(f"max_skip_fraction must be in [0, 1], got {max_skip_fraction}")
        self.max_skip_fraction = max_skip_fraction
        self.skipped: Counter[str] = Counter()
        self.skip_examples: dict[str, str] = {}
        self._failed: set[int] = set()
        self._entries: list[E] = list(self._scan())
        self._total = len(self._entries) + self.skipped.total()
        if not self._total:
            raise InputError(f"{self.name}: found no samples under {self.root}; expected {self.layout}")
        if self.skipped:
            _log.warning("%s: skipped %s while indexing %s", self.name, self.skip_summary(), self.root)
        self._check_limit()
        self.classes: tuple[str, ...] = tuple(sorted({label for e in self._entries for label in e.labels}))

    @abstractmethod
    def _scan(self) -> Iterator[E]:
        """Yield one entry per valid sample; report invalid ones with `_skip`."""

    @abstractmethod
    def _load(self, entry: E) -> Sample:
        """Decode one entry into a Sample; raise SkipSample (or InputError/OSError) when it is bad."""

    def __len__(self) -> int:
        return len(self._entries)

    def __getitem__(self, index: int) -> Sample:
        entry = self._entries[index]
        try:
            return self._load(entry)
        except SkipSample as exc:
            self._fail(index, exc)
            raise
        except (InputError, OSError, ValueError) as exc:
            skip = SkipSample("unreadable sample", f"{getattr(entry, 'id', index)}: {exc}")
            self._fail(index, skip)
            raise skip from exc

    def fingerprint(self) -> str:
        """A hash of the class, its public options and the indexed entries: the trainer's cache key."""
        options = {k: v for k, v in vars(self).items() if not k.startswith("_") and k not in _NOT_IDENTITY}
        text = repr((type(self).__name__, sorted(options.items()), self._entries))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def skip_summary(self) -> str:
        """'N of M samples: reason xK (e.g. detail); ...' for logs and error messages."""
        reasons = "; ".join(
            f"{reason} x{count} (e.g. {self.skip_examples[reason]})"
            for reason, count in self.skipped.most_common()
        )
        return f"{self.skipped.total()} of {self._total} samples: {reasons}"

    def _skip(self, reason: str, detail: str, count: int = 1) -> None:
        """Count `count` bad samples under `reason`, keeping the first `detail` per reason as an example."""
        self.skipped[reason] += count
        self.skip_examples.setdefault(reason, detail)
        _log.debug("%s: skipping sample, %s: %s", self.name, reason, detail)

    def _require(self, path: Path, reason: str) -> bool:
        """True if `path` is a file; otherwise count a skip under `reason` and return False."""
        if path.is_file():
            return True
        self._skip(reason, str(path))
        return False

    def _fail(self, index: int, exc: SkipSample) -> None:
        """Count a load-time failure once per index, warn, and enforce the skip limit."""
        if index in self._failed:
            return
        self._failed.add(index)
        self._skip(exc.reason, exc.detail)
        _log.warning("%s: skipping sample %d, %s", self.name, index, exc)
        self._check_limit()

    def _check_limit(self) -> None:
        check_skip_limit(self.name, self.skip_summary(), self.skipped.total(), self._total,
                         self.max_skip_fraction, where=f" of {self.root}")


def check_skip_limit(what: str, summary: str, skipped: int, total: int, limit: float, where: str = "") -> None:
    """The one skip rule of training, evaluation and caches: raise InputError (with `summary` of
    the reasons) when more than `limit` of `total` samples were skipped."""
    if skipped > limit * total:
        raise InputError(
            f"{what}: skipped {summary}; that is more than max_skip_fraction={limit:g}{where}. "
            "Fix or re-download the data, or, if this loss is expected, raise the limit (e.g. "
            "`--set max_skip_fraction=0.2` for train, `--data-option max_skip_fraction=0.2` for eval)"
        )


def get_or_none(dataset: PairedDataset, index: int) -> Optional[Sample]:
    """`dataset[index]`, or None when the sample is skipped (for a collate that drops Nones)."""
    try:
        return dataset[index]
    except SkipSample:
        return None


def iter_records(dataset: PairedDataset) -> Iterator[Sample]:
    """Every readable record in index order; skipped ones are counted by the dataset, not yielded."""
    for index in range(len(dataset)):
        record = get_or_none(dataset, index)
        if record is not None:
            yield record
