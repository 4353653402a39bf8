"""An export directory at run time: its manifest, the transforms it carries, onnxruntime sessions.

`ExportedModel` offers the part of `EdgeBindModel`'s API that inference needs (`transform`,
`embed_tensors`, `modalities`, `embed_dim`), so commands take an export directory wherever they take
a checkpoint. Preprocessing is rebuilt from the manifest's transform configs: no checkpoint needed.
"""
from __future__ import annotations

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
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if precision == "fp16" and providers[0] == "CPUExecutionProvider":
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=list(providers))


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
    inference precision) or int8 (the QDQ graph); the same call as OnnxEncoder."""

    def __init__(self, path: "str | Path", threads: int | None = None, precision: str = "fp32"):
        ov = require("openvino", "openvino", "the openvino backend")
        config: dict = {"INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32"}
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        self.compiled = ov.Core().compile_model(str(path), "CPU", config)
        self.input_dtype = np.int64 if "i64" in str(self.compiled.inputs[0].get_element_type()) else np.float32

    def __call__(self, x: Any, batch_size: int = 32) -> np.ndarray:
        x = np.asarray(x.numpy() if hasattr(x, "numpy") else x, dtype=self.input_dtype)
        chunks = [np.asarray(self.compiled(x[i : i + batch_size])[0]) for i in range(0, len(x), batch_size)]
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


class ExportedModel:
    """The encoders of an export directory (all, or `modalities`) in `precision`, run by onnxruntime
    (`providers`) or by OpenVINO (`engine="openvino"`)."""

    def __init__(self, directory: "str | Path", modalities: Iterable["Modality | str"] | None = None,
                 providers: Sequence[str] = DEFAULT_PROVIDERS, threads: int | None = None, precision: str = "fp32",
                 engine: str = "onnxruntime"):
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
        def load(path: Path):
            if engine == "openvino":
                return OpenVinoEncoder(path, threads, precision)
            return OnnxEncoder(path, providers, threads, precision)

        self._encoders = {m: load(self.directory / graph_file(encoders[m], precision, m)) for m in self._modalities}
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
        return self.embed_tensors(modality, self.transform(modality).batch(list(items)), batch_size)

    def logit_scale(self, modality: "Modality | str") -> float | None:
        return self.encoder(modality).get("logit_scale")
