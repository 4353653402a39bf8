"""Encoder backends: raw inputs of a modality -> unit vectors in the shared space.

One interface (`Backend`) for every way of running the encoders; the node only ever calls
`embed`. PyTorch is the first implementation (fp32, or bf16 autocast where the CPU has bf16
units; on a GPU fp16 too); exported ONNX / TensorRT engines plug in through the same BACKENDS registry. Every
backend applies the model's own transforms, so preprocessing is the training one.
"""
from __future__ import annotations

import abc
import importlib
from dataclasses import dataclass
from typing import Any, ClassVar, Sequence

import numpy as np

from edgebind.config import check_choice, from_dict
from edgebind.errors import ConfigError
from edgebind.registry import Registry

BACKENDS: Registry[type["Backend"]] = Registry("backend")
DEFAULT_MODEL = "edgebind-tiny-synthetic"  # the shipped, trained model: runs with no download


@dataclass(kw_only=True)
class BackendConfig:
    """Which model to run and how; each backend adds its own keys."""

    type: str = "torch"
    model: str = DEFAULT_MODEL  # a registered model name or a checkpoint directory
    batch_size: int = 16  # windows embedded together (per modality)

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ConfigError(f"backend batch_size must be >= 1, got {self.batch_size}")


# Backends living outside this package, imported on their first lookup (optional dependencies).
PLUGIN_BACKENDS = {name: "edgebind.export.backends" for name in ("onnxruntime", "openvino", "tensorrt")}


def backend_class(name: str) -> type["Backend"]:
    """The backend class registered as `name`, importing its module first where it is a plugin."""
    if name not in BACKENDS and name in PLUGIN_BACKENDS:
        importlib.import_module(PLUGIN_BACKENDS[name])
    return BACKENDS.get(name)


def default_type(model: Any) -> str:
    """The backend a model spec implies: for an export directory the one `edgebind bench --pick` wrote
    into its manifest, else onnxruntime; torch for anything else."""
    from edgebind.export.runtime import is_export_dir, read_manifest

    if not (isinstance(model, str) and is_export_dir(model)):
        return "torch"
    return read_manifest(model).get("default_backend", {}).get("type", "onnxruntime")


def source_model(model: Any) -> Any:
    """The model a spec's vectors come from: an export directory's source model (its manifest's
    model_id), else the spec itself. An export of a model shares that model's space and calibrations."""
    from edgebind.export.runtime import is_export_dir, read_manifest

    return read_manifest(model).get("model_id", model) if isinstance(model, str) and is_export_dir(model) else model


def backend_config(data: "dict[str, Any] | BackendConfig", where: str = "backend") -> BackendConfig:
    """A typed backend config from a dict whose `type` picks the backend (default: onnxruntime for
    an export directory, torch for anything else)."""
    if isinstance(data, BackendConfig):
        return data
    data = dict(data or {})
    data = {"type": default_type(data.get("model", DEFAULT_MODEL)), **data}
    return from_dict(backend_class(data["type"]).config_cls, data, where)


def build_backend(config: "dict[str, Any] | BackendConfig", modalities: Sequence[str] | None = None) -> "Backend":
    """The backend the config's `type` names, holding encoders for `modalities` (None: all)."""
    config = backend_config(config)
    return backend_class(config.type)(config, modalities)


def window_seconds(modality: str, transform: Any) -> float:
    """The seconds of signal one input of `transform` holds: the audio clip or the IMU window."""
    config = transform.config
    return config.clip_duration if modality == "audio" else config.length / config.rate_hz


class Backend(abc.ABC):
    """Embeds batches of raw inputs; `logit_scale(m)` is the temperature its scores use."""

    config_cls: ClassVar[type[BackendConfig]] = BackendConfig
    config: BackendConfig

    @property
    @abc.abstractmethod
    def modalities(self) -> tuple[str, ...]:
        """The modalities it can embed (text included where the text tower is loaded)."""

    @property
    @abc.abstractmethod
    def dim(self) -> int:
        """The shared space's dimension."""

    @abc.abstractmethod
    def embed(self, modality: str, items: Sequence[Any]) -> np.ndarray:
        """float32 [len(items), dim] unit vectors."""

    @abc.abstractmethod
    def window_s(self, modality: str) -> float:
        """Seconds of signal one input of a sampled modality (audio, IMU) holds: the window length."""

    @abc.abstractmethod
    def logit_scale(self, modality: str) -> float:
        """The inverse temperature of `modality`'s similarities, as trained (for softmax scores)."""

    @property
    def model_id(self) -> str:
        """Which model's space the vectors are in (a calibration or store made for another is refused)."""
        return self.config.model

    def describe(self) -> str:
        return type(self).__name__


@dataclass(kw_only=True)
class TorchConfig(BackendConfig):
    type: str = "torch"
    precision: str = "fp32"  # fp32, bf16 (autocast: fast where the CPU has AVX512-BF16/AMX), fp16 (GPU only)
    device: str = "auto"  # auto (cuda when torch sees a GPU, else cpu), cpu, cuda, cuda:N
    threads: int | None = None  # torch intra-op threads (None: torch's default, one per core)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.precision == "int8":
            raise ConfigError(f"int8 runs from an export directory, not from the torch model {self.model!r}: "
                              "`edgebind export --model ... --precision fp32,int8 --out DIR`, then --model DIR")
        check_choice(self.precision, ("fp32", "bf16", "fp16"), "torch backend precision")
        if not (self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:")):
            raise ConfigError(f"torch backend device must be auto, cpu, cuda or cuda:N, got {self.device!r}")


@BACKENDS.register("torch")
class TorchBackend(Backend):
    """The model in PyTorch eager mode, under inference_mode."""

    config_cls = TorchConfig

    def __init__(self, config: TorchConfig, modalities: Sequence[str] | None = None) -> None:
        import torch

        from edgebind.models import create_model

        self.config, self._torch = config, torch
        if config.threads:
            torch.set_num_threads(config.threads)
        device = ("cuda" if torch.cuda.is_available() else "cpu") if config.device == "auto" else config.device
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(f"torch backend device {device!r}: torch sees no CUDA GPU here; use device: cpu")
        if config.precision == "fp16" and not device.startswith("cuda"):
            raise ConfigError("torch backend precision fp16 needs a GPU; on a CPU use bf16 or fp32")
        self.device = torch.device(device)
        self.model = create_model(config.model, modalities).to(self.device)
        self._modalities = tuple(m.value for m in self.model.modalities)

    @property
    def modalities(self) -> tuple[str, ...]:
        return self._modalities

    @property
    def dim(self) -> int:
        return self.model.embed_dim

    def embed(self, modality: str, items: Sequence[Any]) -> np.ndarray:
        torch = self._torch
        low = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.config.precision)
        with torch.inference_mode(), torch.autocast(self.device.type, low or torch.float32, enabled=low is not None):
            vectors = self.model.embed({modality: list(items)}, self.config.batch_size)[modality]
        return vectors.float().cpu().numpy()

    def window_s(self, modality: str) -> float:
        return window_seconds(modality, self.model.transform(modality))

    def logit_scale(self, modality: str) -> float:
        scale = self.model.logit_scale(modality)
        return float(scale.scale) if scale is not None else 100.0

    def describe(self) -> str:
        return f"torch {self.config.precision} on {self.device} {self.config.model}"
