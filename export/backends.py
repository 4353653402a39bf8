"""The `onnxruntime` backend: an export directory's graphs run by onnxruntime for the node.

Registered in edgebind.runtime.backend's BACKENDS when imported (the registry imports this module
on the first lookup of `onnxruntime`). The CPU provider is the default; CUDA and TensorRT execution
providers are chosen with `providers`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from edgebind.config import check_choice
from edgebind.errors import ConfigError
from edgebind.export.quantize import PRECISIONS
from edgebind.export.runtime import DEFAULT_PROVIDERS, ExportedModel, is_export_dir, read_manifest
from edgebind.runtime.backend import BACKENDS, Backend, BackendConfig

DEFAULT_LOGIT_SCALE = 100.0  # for an encoder without a trained scale (the vision tower), as TorchBackend


@dataclass(kw_only=True)
class OnnxRuntimeConfig(BackendConfig):
    type: str = "onnxruntime"
    providers: list = field(default_factory=lambda: list(DEFAULT_PROVIDERS))  # e.g. CUDAExecutionProvider
    threads: int | None = None  # intra-op threads (None: onnxruntime's default, one per core)
    precision: str | None = None  # fp32, fp16, int8: the export's variant (None: its default_backend's, else fp32)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.precision is not None:
            check_choice(self.precision, PRECISIONS, "onnxruntime backend precision")
        if not is_export_dir(self.model):
            raise ConfigError(f"onnxruntime backend: model {self.model!r} is not an export directory (a folder "
                              "with manifest.json); make one with `edgebind export --model ... --out DIR`")


@BACKENDS.register("onnxruntime")
class OnnxRuntimeBackend(Backend):
    """The exported encoders, preprocessed by the transforms their manifest describes."""

    config_cls = OnnxRuntimeConfig

    def __init__(self, config: OnnxRuntimeConfig, modalities: Sequence[str] | None = None) -> None:
        self.config = config
        precision = config.precision or read_manifest(config.model).get("default_backend", {}).get("precision", "fp32")
        self.model = ExportedModel(config.model, modalities, config.providers, config.threads, precision)

    @property
    def modalities(self) -> tuple[str, ...]:
        return self.model.modalities

    @property
    def dim(self) -> int:
        return self.model.embed_dim

    @property
    def model_id(self) -> str:
        return self.model.model_id

    def embed(self, modality: str, items: Sequence[Any]) -> np.ndarray:
        return self.model.embed(modality, items, self.config.batch_size)

    def window_s(self, modality: str) -> float:
        config = self.model.transform(modality).config
        return config.clip_duration if modality == "audio" else config.length / config.rate_hz

    def logit_scale(self, modality: str) -> float:
        scale = self.model.logit_scale(modality)
        return DEFAULT_LOGIT_SCALE if scale is None else float(scale)

    def describe(self) -> str:
        return (f"onnxruntime {','.join(self.config.providers)} {self.model.precision} {self.config.model} "
                f"(from {self.model_id})")
