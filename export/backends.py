"""The `onnxruntime`, `openvino` and `tensorrt` backends: an export directory's graphs run for the node.

Registered in edgebind.runtime.backend's BACKENDS when imported (the registry imports this module
on the first lookup of any). onnxruntime: the CPU provider is the default; CUDA and TensorRT
execution providers are chosen with `providers`. openvino: the CPU plugin, fp32 / bf16 / int8.
tensorrt: the engines `edgebind engine build` put into the export directory, on `device`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Sequence

import numpy as np

from edgebind.config import check_choice
from edgebind.errors import ConfigError
from edgebind.export.quantize import PRECISIONS
from edgebind.export.runtime import DEFAULT_PROVIDERS, ExportedModel, is_export_dir, read_manifest
from edgebind.export.tensorrt import ENGINE_PRECISIONS, device_index
from edgebind.runtime.backend import BACKENDS, Backend, BackendConfig, window_seconds

OPENVINO_PRECISIONS = ("fp32", "bf16", "int8")
DEFAULT_LOGIT_SCALE = 100.0  # for an encoder without a trained scale (the vision tower), as TorchBackend


@dataclass(kw_only=True)
class OnnxRuntimeConfig(BackendConfig):
    type: str = "onnxruntime"
    providers: list = field(default_factory=lambda: list(DEFAULT_PROVIDERS))  # e.g. CUDAExecutionProvider
    threads: int | None = None  # intra-op threads (None: onnxruntime's default, one per core)
    precision: str | None = None  # fp32, fp16, int8: the export's variant (None: its default_backend's, else fp32)

    precisions: ClassVar[tuple[str, ...]] = PRECISIONS  # the variants this backend runs
    fallback_precision: ClassVar[str] = "fp32"  # when neither the config nor the manifest names one

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.precision is not None:
            check_choice(self.precision, self.precisions, f"{self.type} backend precision")
        if not is_export_dir(self.model):
            raise ConfigError(f"{self.type} backend: model {self.model!r} is not an export directory (a folder "
                              "with manifest.json); make one with `edgebind export --model ... --out DIR`")


@BACKENDS.register("onnxruntime")
class OnnxRuntimeBackend(Backend):
    """The exported encoders, preprocessed by the transforms their manifest describes."""

    config_cls = OnnxRuntimeConfig

    def __init__(self, config: OnnxRuntimeConfig, modalities: Sequence[str] | None = None) -> None:
        self.config = config
        self.model = ExportedModel(config.model, modalities, config.providers, config.threads,
                                   config.precision or _default_precision(config), engine=config.type,
                                   device=getattr(config, "device", "cuda:0"))

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
        return window_seconds(modality, self.model.transform(modality))

    def logit_scale(self, modality: str) -> float:
        scale = self.model.logit_scale(modality)
        return DEFAULT_LOGIT_SCALE if scale is None else float(scale)

    def describe(self) -> str:
        where = {"onnxruntime": ",".join(self.config.providers), "openvino": "CPU"}.get(
            self.config.type, getattr(self.config, "device", ""))
        return f"{self.config.type} {where} {self.model.precision} {self.config.model} (from {self.model_id})"


def _default_precision(config: OnnxRuntimeConfig) -> str:
    """The precision `edgebind bench --pick` chose for this backend type, else fp32."""
    choice = read_manifest(config.model).get("default_backend", {})
    return choice.get("precision", config.fallback_precision) if choice.get("type") == config.type \
        else config.fallback_precision


@dataclass(kw_only=True)
class OpenVinoConfig(OnnxRuntimeConfig):
    type: str = "openvino"
    precision: str | None = None  # fp32, bf16 (the fp32 graph), int8 (the QDQ variant); None: as picked, else fp32
    precisions: ClassVar[tuple[str, ...]] = OPENVINO_PRECISIONS


@BACKENDS.register("openvino")
class OpenVinoBackend(OnnxRuntimeBackend):
    """The exported encoders compiled by OpenVINO's CPU plugin (optional: pip install 'edgebind[openvino]')."""

    config_cls = OpenVinoConfig


@dataclass(kw_only=True)
class TensorRtConfig(OnnxRuntimeConfig):
    type: str = "tensorrt"
    precision: str | None = None  # fp32, fp16, int8: engines `edgebind engine build` made; None: as picked, else fp16
    device: str = "cuda:0"  # the GPU the engines were built for
    precisions: ClassVar[tuple[str, ...]] = ENGINE_PRECISIONS
    fallback_precision: ClassVar[str] = "fp16"

    def __post_init__(self) -> None:
        super().__post_init__()
        device_index(self.device)


@BACKENDS.register("tensorrt")
class TensorRtBackend(OnnxRuntimeBackend):
    """The export's TensorRT engines on an NVIDIA GPU, each checked against its sidecar before loading
    (optional: pip install 'edgebind[tensorrt]'; build them with `edgebind engine build`)."""

    config_cls = TensorRtConfig
