"""Images (files, PIL images, HxWx3 arrays) -> the anchor's CLIP transform -> [3, size, size]."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torchvision.transforms import v2

from edgebind.errors import InputError, UnreadableFileError
from edgebind.modality import Modality
from edgebind.transforms.base import TRANSFORMS, Transform

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


_FLOAT_SLACK = 1e-3  # float images a hair outside [0, 1] (resampling overshoot) are clipped


@dataclass
class ImageConfig:
    """Resize the short side to `size` (bicubic), centre-crop, normalise: OpenCLIP's eval transform."""

    size: int = 224
    mean: tuple = CLIP_MEAN
    std: tuple = CLIP_STD

    @property
    def input_size(self) -> tuple[int, ...]:
        """The tensor size the encoder's stem is built for: [height, width]."""
        return (self.size, self.size)


_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")


def _open(path: Any) -> Image.Image:
    """An image file as RGB; 16-bit greyscale is scaled from 0-65535 (PIL's own conversion would
    clip it to white) and float files go through the [0, 1] check."""
    try:
        with Image.open(path) as image:
            if image.mode in _SIXTEEN_BIT_MODES:
                values = np.asarray(image, dtype=np.float64)
                if values.max() > 65535:
                    raise InputError(f"{path}: integer image values exceed 16 bits; save it as 8- or 16-bit")
                return _from_array(values / 65535.0)
            if image.mode == "F":
                return _from_array(np.asarray(image))
            return image.convert("RGB")
    except (OSError, UnidentifiedImageError) as exc:
        raise UnreadableFileError(f"cannot read image {path}: {exc}") from None


def _from_array(array: np.ndarray) -> Image.Image:
    """H x W (grey), H x W x 3 or 4 arrays: uint8 0-255, or floats in [0, 1] (never clipped silently)."""
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (3, 4) or array.size == 0:
        raise InputError(f"image arrays must be H x W x 3 (RGB), got shape {array.shape}")
    if array.dtype != np.uint8:
        if not np.issubdtype(array.dtype, np.floating) or not np.isfinite(array).all():
            raise InputError(f"image arrays must be uint8 (0-255) or finite floats in [0, 1], got "
                             f"{array.dtype}; scale other data (e.g. 16-bit: / 65535) to floats in [0, 1]")
        low, high = float(array.min()), float(array.max())
        if low < -_FLOAT_SLACK or high > 1 + _FLOAT_SLACK:
            raise InputError(f"float image values span {low:g}..{high:g}, but floats must be in [0, 1]: "
                             "divide 0-255 data by 255, or pass a uint8 array")
        array = (np.clip(array, 0.0, 1.0) * 255.0).round().astype(np.uint8)
    return Image.fromarray(np.ascontiguousarray(array[..., :3]))


def _to_pil(item: Any) -> Image.Image:
    if isinstance(item, Image.Image):
        return item.convert("RGB")
    if isinstance(item, (str, Path)):
        return _open(item)
    return _from_array(np.asarray(item.cpu() if isinstance(item, torch.Tensor) else item))


@TRANSFORMS.register("vision")
class ImageTransform(Transform):
    modality = Modality.VISION
    config_cls = ImageConfig

    def __init__(self, config: Any = None):
        super().__init__(config)
        c = self.config
        # Resize and crop the PIL image itself (PIL's bicubic), as OpenCLIP and ImageBind do.
        self._pipeline = v2.Compose([
            v2.Resize(c.size, interpolation=v2.InterpolationMode.BICUBIC, antialias=True),
            v2.CenterCrop(c.size),
            v2.PILToTensor(),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(mean=list(c.mean), std=list(c.std)),
        ])

    def __call__(self, item: Any) -> torch.Tensor:
        return self._pipeline(_to_pil(item))
