"""Transform base class and registry: raw data (files, arrays, strings) -> model tensors.

The same transform objects run in training, export calibration and the live runtime, built from the
`transforms` section of a model config, so the three can never disagree.
"""
from __future__ import annotations

from typing import Any, ClassVar, Sequence

import torch

from edgebind.config import from_dict
from edgebind.errors import InputError
from edgebind.modality import Modality
from edgebind.registry import Registry

TRANSFORMS: Registry[type["Transform"]] = Registry("transform")  # modality value -> class


class Transform:
    """Turns one raw sample into a tensor; `batch` stacks many along a new first dim."""

    modality: ClassVar[Modality]
    config_cls: ClassVar[type]

    def __init__(self, config: Any = None):
        self.config = transform_config(self.modality, config)

    def __call__(self, item: Any) -> torch.Tensor:
        raise NotImplementedError

    def batch(self, items: Sequence[Any]) -> torch.Tensor:
        if isinstance(items, (str, bytes)) or not isinstance(items, Sequence):
            raise InputError(f"{self.modality.value}: pass a list of inputs, got {type(items).__name__}")
        if len(items) == 0:
            raise InputError(f"{self.modality.value}: the input list is empty")
        return torch.stack([self(item) for item in items])


def build_transform(modality: "Modality | str", config: Any = None) -> Transform:
    """Create the transform for `modality` from a config dict or dataclass."""
    modality = Modality.parse(modality)
    return TRANSFORMS.get(modality.value)(config)


def transform_config(modality: "Modality | str", config: Any = None) -> Any:
    """Parse `modality`'s transform config (defaults filled in) without building the transform."""
    modality = Modality.parse(modality)
    cls = TRANSFORMS.get(modality.value).config_cls
    return from_dict(cls, config or {}, f"transforms.{modality.value}")
