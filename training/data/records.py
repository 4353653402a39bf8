"""A data-set record: raw inputs per modality, as the model's transforms read them."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Protocol


@dataclass
class Record:
    """One sample: `inputs` maps a modality value ("vision", "audio", ...) to a raw input that the
    modality's transform accepts (a path, an array, or an (array, rate) tuple).

    `labels` holds one label for single-label sets and several for multi-label ones (AudioSet).
    """

    id: str
    labels: tuple[str, ...] = ()
    caption: Optional[str] = None
    inputs: dict[str, Any] = field(default_factory=dict)

    def raw(self, modality: str) -> Any:
        """The raw input of `modality` (the caption for text), or None when the record lacks it."""
        return self.caption if modality == "text" else self.inputs.get(modality)

    def tensor(self, modality: str, transform: Callable[[Any], Any]) -> Any:
        """`transform` applied to the raw input of `modality`, or None when the record lacks it."""
        raw = self.raw(modality)
        return None if raw is None else transform(raw)


class PairedDataset(Protocol):
    """What training and evaluation read: indexable records plus the class names, if any."""

    name: str
    classes: tuple[str, ...]

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Record: ...
