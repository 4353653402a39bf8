"""TensorRT engines from ONNX graphs: build one, describe it in a sidecar, load it only where it fits.

An engine runs only on the GPU model and TensorRT version that built it, and deserialising a foreign
or damaged one gives None after a log line. So each engine gets a JSON sidecar (TensorRT version,
GPU name and compute capability, profile shapes, precision, the ONNX file's sha256, build time),
checked before the engine file is read; any mismatch is an EngineError carrying the rebuild command.
TensorRT >= 9 builds strongly typed networks (in 11 always): an engine's precision is its graph's
(fp32, the fp16 variant, the int8 QDQ variant: explicit quantization, no calibrator); an older
TensorRT (JetPack 5) gets the FP16 / INT8 builder flags instead. `tensorrt` is imported in functions only.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from edgebind.config import check_choice
from edgebind.errors import ConfigError, EngineError, MissingDependencyError, require
from edgebind.fileio import sha256

ENGINE_PRECISIONS = ("fp32", "fp16", "int8")
SIDECAR_FORMAT = 1
NEEDS = "needs tensorrt and an NVIDIA GPU"


@dataclass(frozen=True)
class Target:
    """What an engine is bound to: the TensorRT version and the GPU."""

    tensorrt: str
    gpu: str
    compute_capability: str  # "9.0"


@dataclass
class BuildOptions:
    """How to build: precision (picks the graph), batch profile 1..max_batch, workspace, timing cache."""

    precision: str = "fp16"
    max_batch: int = 8
    opt_batch: int = 1  # the batch TensorRT tunes kernels for: 1 (latency) or max_batch (throughput)
    workspace_mb: int = 2048
    timing_cache: Optional[Path] = None  # read before and written after each build (None: no cache)
    device: str = "cuda:0"

    def __post_init__(self) -> None:
        check_choice(self.precision, ENGINE_PRECISIONS, "TensorRT precision")
        if not 1 <= self.opt_batch <= self.max_batch or self.workspace_mb < 1:
            raise ConfigError(f"--max-batch {self.max_batch} / --opt-batch {self.opt_batch} / --workspace-mb "
                              f"{self.workspace_mb}: need 1 <= opt-batch <= max-batch and a positive workspace")



def sidecar_path(engine: Path) -> Path:
    return engine.with_name(engine.name + ".json")


def device_index(device: str) -> int:
    """The GPU index of "cuda" / "cuda:N"; anything else is a ConfigError."""
    if device == "cuda" or (device.startswith("cuda:") and device[5:].isdigit()):
        return int(device[5:] or 0)
    raise ConfigError(f"TensorRT device {device!r}: give cuda or cuda:N")


def preflight(what: str, device: str = "cuda:0") -> tuple[Any, Target]:
    """The `tensorrt` module and this machine's Target, or one MissingDependencyError naming all
    that is missing (the package, a GPU torch can see)."""
    import torch

    index, missing, trt = device_index(device), [], None
    try:
        trt = require("tensorrt", "tensorrt", what)
    except MissingDependencyError:
        missing.append("the tensorrt package (pip install 'edgebind[tensorrt]'; on a Jetson, JetPack's TensorRT)")
    if not torch.cuda.is_available() or index >= torch.cuda.device_count():
        missing.append(f"an NVIDIA GPU for {device} (torch sees {torch.cuda.device_count()} CUDA device(s))")
    if missing:
        raise MissingDependencyError(f"{what} {NEEDS}; missing here: {' and '.join(missing)}")
    major, minor = torch.cuda.get_device_capability(index)
    return trt, Target(trt.__version__, torch.cuda.get_device_name(index), f"{major}.{minor}")


def _network_flags(trt, config, precision: str) -> int:
    """Network creation flags: strongly typed where TensorRT has it (the graph's types are the
    engine's); else explicit batch, with the builder flag of the reduced precision."""
    flags = trt.NetworkDefinitionCreationFlag
    if hasattr(flags, "STRONGLY_TYPED"):
        return 1 << int(flags.STRONGLY_TYPED)
    if precision != "fp32":
        config.set_flag(getattr(trt.BuilderFlag, precision.upper()))
    return 1 << int(flags.EXPLICIT_BATCH)


def _parse_error(error) -> str:
    node = getattr(error, "node_name", lambda: "")() or f"#{error.node()}"
    operator = getattr(error, "node_operator", lambda: "")()
    return f"node {node}{f' ({operator})' if operator else ''}: {error.desc()}"


def _profile(builder, network, options: BuildOptions) -> tuple[Any, dict]:
    """One optimization profile over the batch axis (min 1, opt, max) for every input."""
    profile, shapes = builder.create_optimization_profile(), {}
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        dims = list(tensor.shape)
        if any(d < 0 for d in dims[1:]):
            raise EngineError(f"input {tensor.name} has shape {dims}: only the batch axis may be dynamic")
        shape = {key: [batch, *dims[1:]] for key, batch in
                 (("min", 1), ("opt", options.opt_batch), ("max", options.max_batch))}
        profile.set_shape(tensor.name, shape["min"], shape["opt"], shape["max"])
        shapes[tensor.name] = shape
    return profile, shapes


def _timing_cache(config, path: Optional[Path], log) -> Any:
    """The builder's timing cache, seeded from `path` when it holds one this TensorRT and GPU accept."""
    cache = config.create_timing_cache(path.read_bytes() if path and path.is_file() else b"")
    if not config.set_timing_cache(cache, False):
        log(f"timing cache {path} is from another GPU or TensorRT version; starting a new one")
        cache = config.create_timing_cache(b"")
        config.set_timing_cache(cache, False)
    return cache


def build_engine(onnx_path: Path, out: Path, options: BuildOptions, rebuild: str, log=print) -> dict:
    """Build the engine of graph `onnx_path` into `out` with its sidecar beside it; returns the sidecar.
    A graph TensorRT cannot parse or build raises EngineError naming the nodes and TensorRT's messages."""
    trt, target = preflight("building a TensorRT engine", options.device)
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    config = builder.create_builder_config()
    network = builder.create_network(_network_flags(trt, config, options.precision))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = [_parse_error(parser.get_error(i)) for i in range(parser.num_errors)]
        raise EngineError(f"TensorRT {target.tensorrt} cannot parse {onnx_path}:\n  " + "\n  ".join(errors))
    if options.precision == "fp32" and hasattr(trt.BuilderFlag, "TF32"):
        config.clear_flag(trt.BuilderFlag.TF32)  # fp32 means fp32 matmuls: the gates were measured so
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, options.workspace_mb << 20)
    profile, shapes = _profile(builder, network, options)
    config.add_optimization_profile(profile)
    cache = _timing_cache(config, options.timing_cache, log)
    start = time.perf_counter()
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise EngineError(f"TensorRT {target.tensorrt} could not build an engine from {onnx_path} "
                          f"({options.precision}, batch 1..{options.max_batch}); its log above says why")
    seconds = time.perf_counter() - start
    if options.timing_cache:
        options.timing_cache.write_bytes(memoryview(cache.serialize()))
    out.write_bytes(memoryview(plan))
    return write_sidecar(out, onnx_path, target, options, shapes, seconds, rebuild)


def write_sidecar(engine: Path, onnx_path: Path, target: Target, options: BuildOptions, profile: dict,
                  seconds: float, rebuild: str) -> dict:
    """Write (and return) the sidecar of the freshly built `engine`: what `check_engine` compares."""
    info = {"format": SIDECAR_FORMAT, **asdict(target), "precision": options.precision, "profile": profile,
            "onnx_file": onnx_path.name, "onnx_sha256": sha256(onnx_path), "engine_bytes": engine.stat().st_size,
            "workspace_mb": options.workspace_mb, "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "build_seconds": round(seconds, 2), "rebuild": rebuild}
    sidecar_path(engine).write_text(json.dumps(info, indent=1) + "\n")
    return info


def read_sidecar(engine: Path, rebuild: str) -> dict:
    """The sidecar of `engine`; a missing engine or sidecar, or one unreadable, raises EngineError."""
    side = sidecar_path(engine)
    if not engine.is_file():
        raise EngineError(f"TensorRT engine {engine} is missing; build it: {rebuild}")
    try:
        info = json.loads(side.read_text())
    except FileNotFoundError:
        raise EngineError(f"TensorRT engine {engine} has no sidecar {side.name} (written by the build, it says "
                          f"which GPU and TensorRT the engine is for); rebuild it: {rebuild}") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise EngineError(f"cannot read the sidecar {side} ({exc}); rebuild the engine: {rebuild}") from None
    if info.get("format") != SIDECAR_FORMAT:
        raise EngineError(f"sidecar {side} has format {info.get('format')!r}, this edgebind reads "
                          f"{SIDECAR_FORMAT}; rebuild the engine: {rebuild}")
    return info


def check_engine(engine: Path, onnx_path: Path, target: Target, rebuild: str) -> dict:
    """The sidecar of `engine`, checked against `target` and the graph it was built from: another
    TensorRT version, GPU or compute capability, a changed graph or a truncated engine raise
    EngineError listing every mismatch and the rebuild command."""
    info = read_sidecar(engine, rebuild)
    problems = []
    if info["tensorrt"] != target.tensorrt:
        problems.append(f"built with TensorRT {info['tensorrt']}, this machine has {target.tensorrt}")
    if info["gpu"] != target.gpu:
        problems.append(f"built on a {info['gpu']}, this GPU is a {target.gpu}")
    if info["compute_capability"] != target.compute_capability:
        problems.append(f"built for compute capability {info['compute_capability']}, this GPU has "
                        f"{target.compute_capability}")
    if not onnx_path.is_file():
        problems.append(f"its graph {onnx_path} is gone")
    elif sha256(onnx_path) != info["onnx_sha256"]:
        problems.append(f"{onnx_path.name} changed since the build (sha256 {info['onnx_sha256'][:12]}... then, "
                        f"{sha256(onnx_path)[:12]}... now)")
    if engine.stat().st_size != info["engine_bytes"]:
        problems.append(f"the engine file has {engine.stat().st_size} bytes, the build wrote {info['engine_bytes']} "
                        "(truncated or replaced)")
    if problems:
        raise EngineError(f"TensorRT engine {engine} does not fit here: {'; '.join(problems)}. "
                          f"Rebuild it on this machine: {rebuild}")
    return info


def load_engine(trt, engine: Path, onnx_path: Path, target: Target, rebuild: str):
    """The deserialised engine, after `check_engine`; a file TensorRT rejects raises EngineError."""
    info = check_engine(engine, onnx_path, target, rebuild)
    runtime = trt.Runtime(trt.Logger(trt.Logger.ERROR))
    loaded = runtime.deserialize_cuda_engine(engine.read_bytes())
    if loaded is None:
        raise EngineError(f"TensorRT {target.tensorrt} could not deserialize {engine} although its sidecar "
                          f"matches (a corrupt file, {info['engine_bytes']} bytes); rebuild it: {rebuild}")
    return loaded


class TensorRtEncoder:
    """One engine on one GPU: preprocessed batches in, unit-norm float32 embeddings out (the call of
    OnnxEncoder). Buffers are torch CUDA tensors; batches above the profile's max run in chunks."""

    def __init__(self, engine: Path, onnx_path: Path, rebuild: str, device: str = "cuda:0"):
        import torch

        trt, target = preflight("running a TensorRT engine", device)
        self.torch, self.device = torch, torch.device(device)
        with torch.cuda.device(self.device):
            self.engine = load_engine(trt, engine, onnx_path, target, rebuild)
            self.context = self.engine.create_execution_context()
            self.stream = torch.cuda.Stream(self.device)
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if n not in inputs]
        if len(inputs) != 1 or len(outputs) != 1:
            raise EngineError(f"{engine} has inputs {inputs} and outputs {outputs}: an encoder has one of each")
        self.input, self.output = inputs[0], outputs[0]
        dtypes = {getattr(trt, name): getattr(torch, name) for name in ("float32", "float16", "int32", "int64")
                  if hasattr(trt, name)}  # TensorRT 8 has no int64: its parser casts token ids to int32
        self.input_dtype = dtypes[self.engine.get_tensor_dtype(self.input)]
        self.output_dtype = dtypes[self.engine.get_tensor_dtype(self.output)]
        self.max_batch = int(self.engine.get_tensor_profile_shape(self.input, 0)[2][0])

    def _run(self, x) -> np.ndarray:
        torch = self.torch
        with torch.cuda.device(self.device), torch.cuda.stream(self.stream):
            source = torch.as_tensor(x).to(self.device, self.input_dtype, non_blocking=True).contiguous()
            self.context.set_input_shape(self.input, tuple(source.shape))
            out = torch.empty(tuple(self.context.get_tensor_shape(self.output)), dtype=self.output_dtype,
                              device=self.device)
            self.context.set_tensor_address(self.input, source.data_ptr())
            self.context.set_tensor_address(self.output, out.data_ptr())
            if not self.context.execute_async_v3(self.stream.cuda_stream):
                raise EngineError(f"TensorRT could not run the engine on a batch of shape {tuple(source.shape)}")
            result = out.float().cpu()  # waits for the stream
        return result.numpy()

    def __call__(self, x: Any, batch_size: int = 32) -> np.ndarray:
        x = np.asarray(x.numpy() if hasattr(x, "numpy") else x)
        step = min(batch_size, self.max_batch)
        return np.concatenate([self._run(x[i : i + step]) for i in range(0, len(x), step)])
