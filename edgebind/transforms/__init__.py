"""Raw data -> model tensors, one module per modality; identical in training, export and runtime."""
from edgebind.transforms import audio, depth, image, imu, text, thermal  # noqa: F401  (registers)
from edgebind.transforms.base import TRANSFORMS, Transform, build_transform, transform_config

__all__ = ["TRANSFORMS", "Transform", "build_transform", "transform_config"]
