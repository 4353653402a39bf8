"""An export directory at run time: its manifest, the transforms it carries, onnxruntime sessions.

`ExportedModel` offers the part of `EdgeBindModel`'s API that inference needs (`transform`,
`embed_tensors`, `modalities`, `embed_dim`), so commands take an export directory wherever they take
a checkpoint. Preprocessing is rebuilt from the manifest's transform configs: no checkpoint needed.
"""
from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import numpy as np

from edgebind.errors import CheckpointError, ConfigError, ModalityError, require
from edgebind.modality import Modality

if TYPE_CHECKING:
    from edgebind.transforms import Transform

MANIFEST_FILE = "manifest.json"
FORMAT_VERSION = 1
DEFAULT_PROVIDERS = ("CPUExecutionProvider",)


def is_export_dir(spec: Any) -> bool:
    """Whether a model spec (name or path) is an export directory: a folder with a manifest.json."""
    try:
        return Path(spec).expanduser().joinpath(MANIFEST_FILE).is_file()
    except TypeError:
        return False


def read_manifest(directory: "str | Path") -> dict:
    """The manifest of export `directory`, checked for its format version."""
    path = Path(directory).expanduser() / MANIFEST_FILE
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"cannot read {path}: {exc}; export the model again with `edgebind export`") from None
    if manifest.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path} has format version {manifest.get('format_version')!r}; this edgebind "
                              f"reads version {FORMAT_VERSION}: export the model again with this version")
    return manifest


def session(path: "str | Path", providers: Sequence[str] = DEFAULT_PROVIDERS, threads: int | None = None,
            precision: str = "fp32"):
    """An onnxruntime InferenceSession on `path` (all graph optimisations on; for an fp16 graph on the
    CPU provider all but the layout ones: onnxruntime 1.32 crashes building those for fp16). Its
    threads sleep between runs instead of spinning: a node embeds in bursts, and spinning cost it
    ~25% of a core at idle on the sim sensors (benchmarks/node_sim.json, "rates")."""
    ort = require("onnxruntime", "export", "running exported models")
    check_providers(providers, ort.get_available_providers(), ort.__version__)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if precision == "fp16" and providers[0] == "CPUExecutionProvider":
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    if threads:
        options.intra_op_num_threads = threads
    made = ort.InferenceSession(str(path), options, providers=list(providers))
    if providers[0] not in made.get_providers():  # onnxruntime-gpu falls back to the CPU when CUDA fails
        raise ConfigError(f"onnxruntime could not start {providers[0]} for {path} (it fell back to "
                          f"{made.get_providers()[0]}): {PROVIDER_NEEDS.get(providers[0], 'see its log above')}")
    return made


PROVIDER_NEEDS = {
    "CUDAExecutionProvider": "onnxruntime-gpu in place of onnxruntime (pip uninstall onnxruntime; "
                             "pip install onnxruntime-gpu), an NVIDIA GPU and its CUDA / cuDNN libraries",
    "TensorrtExecutionProvider": "onnxruntime-gpu in place of onnxruntime, an NVIDIA GPU and TensorRT's "
                                 "libraries (pip install 'edgebind[tensorrt]')",
}


def check_providers(providers: Sequence[str], available: Sequence[str], version: str = "") -> None:
    """ConfigError unless `providers` is a non-empty list of execution providers this onnxruntime has;
    the message names what each missing one needs."""
    missing = [p for p in providers if p not in available]
    if not providers or missing:
        needs = "; ".join(f"{p} needs {PROVIDER_NEEDS.get(p, 'a known name (onnxruntime.get_available_providers())')}"
                          for p in missing) or "give at least one, e.g. CPUExecutionProvider"
        raise ConfigError(f"onnxruntime backend providers {list(providers)}: {', '.join(missing) or 'none given'} "
                          f"not available in this onnxruntime {version} (it has: {', '.join(available)}); {needs}")


class OnnxEncoder:
    """One exported encoder: preprocessed batches in, unit-norm float32 embeddings out."""

    def __init__(self, path: "str | Path", providers: Sequence[str] = DEFAULT_PROVIDERS, threads: int | None = None,
                 precision: str = "fp32"):
        self.session = session(path, providers, threads, precision)
        spec = self.session.get_inputs()[0]
        self.input_name = spec.name
        self.input_dtype = np.int64 if "int64" in spec.type else np.float32

    def __call__(self, x: Any, batch_size: int = 32) -> np.ndarray:
        x = np.asarray(x.numpy() if hasattr(x, "numpy") else x, dtype=self.input_dtype)
        chunks = [self.session.run(None, {self.input_name: x[i : i + batch_size]})[0]
                  for i in range(0, len(x), batch_size)]
        return np.concatenate(chunks).astype(np.float32, copy=False)


class OpenVinoEncoder:
    """One exported encoder compiled by OpenVINO for the CPU: fp32, bf16 (the fp32 graph with bf16
    inference precision) or int8 (the QDQ graph); the same call as OnnxEncoder. Compiled with the
    LATENCY hint, and for `static_batch` inputs (the node's batch 1) from a copy reshaped to that fixed
    batch: a static shape lets the CPU plugin pick its kernels ahead (int8 encoders 1.1-1.3x faster at batch
    1, benchmarks/profile_small.json); other batch sizes run the dynamic graph, compiled up front too."""

    def __init__(self, path: "str | Path", threads: int | None = None, precision: str = "fp32",
                 static_batch: int | None = 1, perf_counters: bool = False):
        ov = require("openvino", "openvino", "the openvino backend")
        self.core, self.static_batch = ov.Core(), static_batch
        self.config: dict = {"INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32",
                             "PERFORMANCE_HINT": "LATENCY", "PERF_COUNT": perf_counters}
        if threads:
            self.config["INFERENCE_NUM_THREADS"] = threads
        self.graph = self.core.read_model(str(path))
        self.input_dtype = np.int64 if "i64" in str(self.graph.inputs[0].get_element_type()) else np.float32
        self._compiled: dict = {}  # batch size (None: dynamic) -> compiled model
        if static_batch:
            self._compile(static_batch)
        self._compile(None)  # now, not on the first other batch size: compiling takes ~150 ms (a p99 spike in the node)

    def _compile(self, batch: int | None):
        if batch not in self._compiled:
            graph = self.graph
            if batch is not None:
                graph = graph.clone()
                shape = graph.inputs[0].get_partial_shape()
                shape[0] = batch
                graph.reshape({graph.inputs[0]: shape})
            self._compiled[batch] = self.core.compile_model(graph, "CPU", self.config)
        return self._compiled[batch]

    def compiled(self, batch: int):
        """The compiled model that runs a batch of `batch` inputs."""
        return self._compile(batch if batch == self.static_batch else None)

    def request(self, shape: Sequence[int]):
        """A new infer request for inputs of `shape` (its `profiling_info` holds per-layer counters)."""
        return self.compiled(shape[0]).create_infer_request()

    def __call__(self, x: Any, batch_size: int = 32) -> np.ndarray:
        x = np.asarray(x.numpy() if hasattr(x, "numpy") else x, dtype=self.input_dtype)
        chunks = [np.asarray(self.compiled(len(c))(c)[0]) for c in (x[i : i + batch_size]
                                                                    for i in range(0, len(x), batch_size))]
        return np.concatenate(chunks).astype(np.float32, copy=False)


def graph_file(entry: dict, precision: str, name: str = "") -> str:
    """The file of encoder `name`'s manifest `entry` in `precision` (fp32, and bf16 which runtimes
    derive from it: the graph; else its variant)."""
    if precision in ("bf16", entry.get("precision", "fp32")):
        return entry["file"]
    variants = entry.get("variants", {})
    if precision not in variants:
        raise ConfigError(f"this export has no {precision} variant of the {name} encoder (it has: "
                          f"{', '.join(['fp32', *variants])}); export it with --precision fp32,{precision}")
    return variants[precision]["file"]


def tensorrt_encoder(directory: Path, entry: dict, modality: str, precision: str, device: str):
    """The TensorRT engine of `modality` in `precision` listed in its manifest `entry`, checked and loaded."""
    from edgebind.export.engines import engine_paths, rebuild_command
    from edgebind.export.tensorrt import TensorRtEncoder

    engine, graph = engine_paths(directory, entry, modality, precision)
    return TensorRtEncoder(engine, graph, rebuild_command(directory, precision, modality), device)


@contextlib.contextmanager
def _one_torch_thread():
    """Preprocess (the fbank, resizing: torch ops of a millisecond) on the calling thread alone. torch's
    thread pool, idle between a node's windows, costs more to wake than the work: in the node over the
    sim sensors the audio fbank took 10.5 ms p50 on 2 threads and 2.4 ms on one (alone: 1 ms)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class ExportedModel:
    """The encoders of an export directory (all, or `modalities`) in `precision`, run by onnxruntime
    (`providers`), by OpenVINO (`engine="openvino"`) or as TensorRT engines on `device` (`engine="tensorrt"`)."""

    def __init__(self, directory: "str | Path", modalities: Iterable["Modality | str"] | None = None,
                 providers: Sequence[str] = DEFAULT_PROVIDERS, threads: int | None = None, precision: str = "fp32",
                 engine: str = "onnxruntime", device: str = "cuda:0"):
        self.directory = Path(directory).expanduser()
        self.manifest = read_manifest(self.directory)
        encoders = self.manifest["encoders"]
        wanted = [Modality.parse(m).value for m in (modalities or encoders)]
        missing = [m for m in wanted if m not in encoders]
        if missing:
            raise ModalityError(f"export {self.directory} has no {', '.join(missing)} encoder; it has: "
                                f"{', '.join(encoders)} (export it with --modalities)")
        self._modalities = tuple(m.value for m in Modality if m.value in wanted)
        self.precision = precision
        def load(modality: str):
            if engine == "tensorrt":
                return tensorrt_encoder(self.directory, encoders[modality], modality, precision, device)
            path = self.directory / graph_file(encoders[modality], precision, modality)
            if engine == "openvino":
                return OpenVinoEncoder(path, threads, precision)
            return OnnxEncoder(path, providers, threads, precision)

        self._encoders = {m: load(m) for m in self._modalities}
        self._transforms: dict[str, "Transform"] = {}

    @property
    def modalities(self) -> tuple[str, ...]:
        return self._modalities

    @property
    def embed_dim(self) -> int:
        return int(self.manifest["embed_dim"])

    @property
    def model_id(self) -> str:
        """The model the graphs were exported from: its vectors share that model's space."""
        return self.manifest["model_id"]

    def encoder(self, modality: "Modality | str") -> dict:
        """`modality`'s manifest entry."""
        return self.manifest["encoders"][self._check(modality)]

    def _check(self, modality: "Modality | str") -> str:
        name = Modality.parse(modality).value
        if name not in self._modalities:
            raise ModalityError(f"this export was opened without {name} (loaded: {', '.join(self._modalities)})")
        return name

    def transform(self, modality: "Modality | str", **options: Any) -> "Transform":
        """`modality`'s raw-data transform, from the manifest's transform config."""
        from edgebind.transforms import build_transform

        name = self._check(modality)
        if name not in self._transforms:
            self._transforms[name] = build_transform(name, self.manifest["encoders"][name]["transform"])
        return self._transforms[name].with_options(**options)

    def embed_tensors(self, modality: "Modality | str", x: Any, batch_size: int = 32) -> np.ndarray:
        """Preprocessed tensors [N, ...] -> unit-norm float32 embeddings [N, embed_dim]."""
        return self._encoders[self._check(modality)](x, batch_size)

    def embed(self, modality: "Modality | str", items: Sequence[Any], batch_size: int = 32) -> np.ndarray:
        """Raw inputs of one modality (what its transform reads) -> unit-norm embeddings."""
        with _one_torch_thread():
            x = self.transform(modality).batch(list(items))
        return self.embed_tensors(modality, x, batch_size)

    def logit_scale(self, modality: "Modality | str") -> float | None:
        return self.encoder(modality).get("logit_scale")
