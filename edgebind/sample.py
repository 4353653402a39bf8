"""The one sample type of edgebind: a manifest row, a data-set record and a recorded moment alike."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional, Protocol

from edgebind.modality import Modality

if TYPE_CHECKING:
    from edgebind.transforms import Transform


@dataclass
class Sample:
    """One sample: `inputs` maps a modality value ("vision", "audio", ...) to a raw input that the
    modality's transform accepts (a path, an array, an (array, rate) tuple, a depth frame).

    `labels` holds one label for single-label sets and several for multi-label ones (AudioSet);
    `extra` keeps whatever else a manifest row carries (e.g. the synthetic world's attributes).
    """

    id: str
    labels: tuple[str, ...] = ()
    caption: Optional[str] = None
    inputs: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> Optional[str]:
        """The label of a single-label sample (None when it has none)."""
        return self.labels[0] if self.labels else None

    def has(self, modality: "Modality | str") -> bool:
        """Whether this sample has data for `modality` (text means a caption)."""
        return self.raw(Modality.parse(modality).value) is not None

    def raw(self, modality: str) -> Any:
        """The raw input of `modality` (the caption for text), or None when the sample lacks it."""
        return self.caption if modality == "text" else self.inputs.get(modality)

    def tensor(self, modality: str, transform: "Transform") -> Any:
        """`transform` applied to the raw input of `modality`, or None when the sample lacks it;
        an input error names this sample and the file."""
        raw = self.raw(modality)
        return None if raw is None else transform.named(raw, f"sample {self.id!r} {modality}")


class PairedDataset(Protocol):
    """What training and evaluation read: indexable samples plus the class names, if any."""

    name: str
    classes: tuple[str, ...]

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Sample: ...
