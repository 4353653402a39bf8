"""The six modalities of the shared embedding space."""
from __future__ import annotations

from enum import Enum

from edgebind.errors import ModalityError


class Modality(str, Enum):
    """A modality name; the string value is the key used in inputs, outputs and checkpoints."""

    VISION = "vision"
    TEXT = "text"
    AUDIO = "audio"
    DEPTH = "depth"
    THERMAL = "thermal"
    IMU = "imu"

    @classmethod
    def parse(cls, value: "str | Modality") -> "Modality":
        """Accept a Modality or its name ('image' is an alias of vision)."""
        if isinstance(value, Modality):
            return value
        name = str(value).strip().lower()
        if name == "image":
            name = "vision"
        try:
            return cls(name)
        except ValueError:
            choices = ", ".join(m.value for m in cls)
            raise ModalityError(f"unknown modality {value!r}; choose one of: {choices}") from None

    def __str__(self) -> str:
        return self.value
