"""Transform base class and registry: raw data (files, arrays, strings) -> model tensors.

The same transform objects run in training, export calibration and the live runtime, built from the
`transforms` section of a model config, so the three can never disagree.
"""
from __future__ import annotations

import os
from typing import Any, ClassVar, Optional, Sequence

import torch

from edgebind.config import from_dict, to_dict
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

    def with_options(self, **options: Any) -> "Transform":
        """This transform with some config fields replaced for one call (e.g. a depth `camera`, the
        thermal `units`); an unknown field raises ConfigError listing the valid ones."""
        if not options:
            return self
        return type(self)({**to_dict(self.config), **options})

    def batch(self, items: Sequence[Any], start: int = 0) -> torch.Tensor:
        """The stacked tensors of `items`; an input error names the failing input: its position
        (counted from `start`) and, for a file, its path."""
        if isinstance(items, (str, bytes)) or not isinstance(items, Sequence):
            raise InputError(f"{self.modality.value}: pass a list of inputs, got {type(items).__name__}")
        if len(items) == 0:
            raise InputError(f"{self.modality.value}: the input list is empty")
        return torch.stack([self.named(item, f"{self.modality.value} input {start + i}")
                            for i, item in enumerate(items)])

    def named(self, item: Any, label: str) -> torch.Tensor:
        """`self(item)`, with an input error naming `label` and the item's file, if it is one."""
        try:
            return self(item)
        except InputError as exc:
            path = None if self.modality is Modality.TEXT else source_path(item)
            raise exc.naming(f"{label} ({path})" if path is not None else label) from None


def source_path(item: Any) -> Optional[str]:
    """The file an input comes from (a path, or a frame type's `path`-like first field), or None."""
    if isinstance(item, (str, os.PathLike)):
        return str(item)
    inner = getattr(item, "data", getattr(item, "depth", None))
    return str(inner) if isinstance(inner, (str, os.PathLike)) else None


def build_transform(modality: "Modality | str", config: Any = None) -> Transform:
    """Create the transform for `modality` from a config dict or dataclass."""
    modality = Modality.parse(modality)
    return TRANSFORMS.get(modality.value)(config)


def transform_config(modality: "Modality | str", config: Any = None) -> Any:
    """Parse `modality`'s transform config (defaults filled in) without building the transform."""
    modality = Modality.parse(modality)
    cls = TRANSFORMS.get(modality.value).config_cls
    return from_dict(cls, config or {}, f"transforms.{modality.value}")
