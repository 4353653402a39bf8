"""Lower-precision variants of an exported fp32 graph: INT8 (explicit QDQ) and FP16.

INT8: onnxruntime's `quantize_static` in QDQ format after `quant_pre_process`, restricted to the
MatMul/Gemm/Conv nodes with a weight (attention's activation x activation MatMuls stay fp32: symmetric
int8 halves the resolution of softmax's [0, 1] output, cosine 0.988 on the tiny model), per-channel symmetric int8 weights and symmetric int8 activations (every zero point
0: TensorRT rejects others), calibrated on real preprocessed windows. LayerNorm, softmax, GELU,
residual adds and the final L2 normalisation are not in the op list, so they stay fp32.
FP16: every op in fp16 but LayerNorm and the normalisation tail (fp32, they overflow in fp16), with
fp32 inputs and outputs, for TensorRT / GPU execution providers.
"""
from __future__ import annotations

import contextlib
import io
import tempfile
from collections import Counter
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from edgebind.errors import ConfigError, require
from edgebind.export.graph import EXTERNAL_THRESHOLD, GraphFile, save_graph, weight_bytes

PRECISIONS = ("fp32", "fp16", "int8")
QUANTIZED_OPS = ("MatMul", "Gemm", "Conv")
CALIB_METHODS = ("percentile", "entropy", "minmax")
CALIB_PERCENTILE = 99.999
SHAPE_ONLY = ("Shape",)  # reads a tensor's shape, never its values: may share a quantized input
FP16_KEEP_FP32 = ("LayerNormalization", "ReduceL2", "ReduceSum", "ReduceMean", "Pow", "Sqrt")


def parse_precisions(text: "str | tuple | list") -> tuple[str, ...]:
    """'fp32,int8' -> ('fp32', 'int8'): known names, fp32 first (the variants are made from it)."""
    names = [p.strip() for p in text.split(",")] if isinstance(text, str) else list(text)
    unknown = [p for p in names if p not in PRECISIONS]
    if unknown or not names:
        raise ConfigError(f"--precision {','.join(names)}: choose from {', '.join(PRECISIONS)} (comma-separated)")
    return tuple(p for p in PRECISIONS if p in names or p == "fp32")


def _batches(windows: np.ndarray, input_name: str, batch: int = 8) -> Iterator[dict]:
    for start in range(0, len(windows), batch):
        yield {input_name: windows[start : start + batch]}


def quantize_int8(fp32: Path, out: Path, windows: np.ndarray, input_name: str, method: str = "percentile",
                  external_threshold: int = EXTERNAL_THRESHOLD, keep_fp32: Sequence[str] = ()) -> GraphFile:
    """The QDQ int8 variant of graph `fp32`, calibrated on the preprocessed `windows`, written to `out`;
    the MatMul/Gemm/Conv nodes named in `keep_fp32` stay fp32 (see `quantizable_nodes`)."""
    import onnx

    require("onnxruntime", "export", "int8 quantization")
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, \
        quantize_static

    if method not in CALIB_METHODS:
        raise ConfigError(f"--calib-method {method}: choose from {', '.join(CALIB_METHODS)}")

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = _batches(windows, input_name)

        def get_next(self):
            return next(self.batches, None)

    large = weight_bytes(onnx.load(str(fp32))) > external_threshold
    with tempfile.TemporaryDirectory(prefix="edgebind-quant-", dir=out.parent) as work, \
            contextlib.redirect_stdout(io.StringIO()):  # the calibrators print their progress
        pre, qdq = Path(work) / "pre.onnx", Path(work) / "qdq.onnx"
        prepared = _prepare(fp32, pre, large, external_threshold)
        nodes = [n for n in _weighted(prepared.graph) if n not in keep_fp32]
        if not nodes:  # an empty list would tell the quantizer to quantize every node
            raise ConfigError(f"{fp32.name}: keep_fp32 leaves no node to quantize; export fp32 only")
        quantize_static(
            str(pre), str(qdq), Reader(), quant_format=QuantFormat.QDQ, op_types_to_quantize=list(QUANTIZED_OPS),
            nodes_to_quantize=nodes,
            per_channel=True, reduce_range=False, activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
            calibrate_method={"percentile": CalibrationMethod.Percentile, "entropy": CalibrationMethod.Entropy,
                              "minmax": CalibrationMethod.MinMax}[method],
            use_external_data_format=large,
            extra_options={"ActivationSymmetric": True, "WeightSymmetric": True,
                           "CalibPercentile": CALIB_PERCENTILE, "CalibTensorRangeSymmetric": True,
                           # int8 inputs only: their outputs stay fp32 for the adds, softmax and norms after them
                           "OpTypesToExcludeOutputQuantization": list(QUANTIZED_OPS)})
        quantized = onnx.load(str(qdq))
        _unshare_dequantized(quantized.graph)
        return save_graph(quantized, out, external_threshold)


def _prepare(fp32: Path, pre: Path, large: bool, external_threshold: int):
    """Graph `fp32` as the quantizer takes it, saved to `pre`: onnxruntime's pre-processing, every node
    named (nodes_to_quantize goes by name), no weight shared between a quantized node and another."""
    import onnx
    from onnxruntime.quantization.shape_inference import quant_pre_process

    quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True, save_as_external_data=large,
                      all_tensors_to_one_file=True)
    prepared = onnx.load(str(pre))
    _name_nodes(prepared.graph)
    _unshare_weights(prepared.graph)
    save_graph(prepared, pre, external_threshold)
    return prepared


def quantizable_nodes(fp32: Path, external_threshold: int = EXTERNAL_THRESHOLD) -> list[str]:
    """Names of the nodes of graph `fp32` that `quantize_int8` runs in int8, in graph order (the names
    its `keep_fp32` takes)."""
    import onnx

    require("onnxruntime", "export", "int8 quantization")
    large = weight_bytes(onnx.load(str(fp32))) > external_threshold
    with tempfile.TemporaryDirectory(prefix="edgebind-quant-", dir=fp32.parent) as work:
        return _weighted(_prepare(fp32, Path(work) / "pre.onnx", large, external_threshold).graph)


def _unshare_dequantized(graph) -> None:
    """Point each Shape node that reads a DequantizeLinear output at the fp32 tensor its QuantizeLinear
    read (the same shape): onnxruntime fuses Q/DQ + MatMul into an int8 kernel only when the DQ has one
    reader, else it dequantizes the weight on every run (DequantizeLinear was 55% of int8 vision's time)."""
    made = {o: n for n in graph.node for o in n.output}
    for node in graph.node:
        dq = made.get(node.input[0]) if node.op_type in SHAPE_ONLY else None
        q = made.get(dq.input[0]) if dq is not None and dq.op_type == "DequantizeLinear" else None
        if q is not None and q.op_type == "QuantizeLinear":
            node.input[0] = q.input[0]


def _name_nodes(graph) -> None:
    """Give every unnamed node of `graph` a unique name (onnxruntime's tools select nodes by name)."""
    for i, node in enumerate(graph.node):
        node.name = node.name or f"{node.op_type}_{i}"


def _unshare_weights(graph) -> None:
    """Give each MatMul/Gemm/Conv its own copy of an initializer other nodes read too (the exporter
    merges equal tensors, e.g. the zero biases of a fresh model; the quantizer would hand LayerNorm
    its int8 copy)."""
    readers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    for tensor in list(graph.initializer):
        nodes = readers.get(tensor.name, [])
        if len(nodes) > 1 and any(n.op_type not in QUANTIZED_OPS for n in nodes):
            for k, node in enumerate(n for n in nodes if n.op_type in QUANTIZED_OPS):
                copy = graph.initializer.add()
                copy.CopyFrom(tensor)
                copy.name = f"{tensor.name}.{node.op_type}{k}"
                node.input[:] = [copy.name if i == tensor.name else i for i in node.input]


def _weighted(graph) -> list[str]:
    """Names of the MatMul/Gemm/Conv nodes of `graph` that read a weight (an initializer), whose
    activation is read by nothing else but such nodes (the quantizer would hand its int8 copy to all),
    and whose bias, if any, is a weight (`quant_pre_process` fuses a residual Add into a Gemm's bias)."""
    weights = {t.name for t in graph.initializer}
    readers: dict[str, set[str]] = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, set()).add(node.op_type)
    return [n.name for n in graph.node if n.op_type in QUANTIZED_OPS and any(i in weights for i in n.input)
            and all(readers[i] <= {*QUANTIZED_OPS, *SHAPE_ONLY} for i in n.input if i and i not in weights)
            and all(i in weights for i in n.input[2:] if i)]  # a bias that is an activation: a fused residual


def _tail(graph, heavy: tuple[str, ...] = QUANTIZED_OPS) -> list[str]:
    """Names of the nodes after the last MatMul/Gemm/Conv in graph order: the normalisation tail."""
    last = max((i for i, n in enumerate(graph.node) if n.op_type in heavy), default=-1)
    return [n.name for n in graph.node[last + 1 :]]


def convert_fp16(fp32: Path, out: Path, external_threshold: int = EXTERNAL_THRESHOLD) -> GraphFile:
    """The fp16 variant of graph `fp32` (fp32 inputs/outputs, LayerNorm and the L2 tail in fp32)."""
    import onnx

    require("onnxruntime", "export", "fp16 conversion")
    from onnxruntime.transformers.float16 import convert_float_to_float16
    from onnxruntime.transformers.onnx_model import OnnxModel

    proto = onnx.load(str(fp32))
    _name_nodes(proto.graph)  # the block list goes by node name
    half = convert_float_to_float16(proto, keep_io_types=True, op_block_list=list(FP16_KEEP_FP32),
                                    node_block_list=_tail(proto.graph))
    graph = OnnxModel(half)
    graph.topological_sort()  # the converter appends its input casts after their readers
    return save_graph(graph.model, out, external_threshold)


def _int_values(model, name: str, folder: Path) -> "np.ndarray | None":
    import onnx.numpy_helper

    for tensor in model.graph.initializer:
        if tensor.name == name:
            return onnx.numpy_helper.to_array(tensor, base_dir=str(folder))
    for node in model.graph.node:
        if node.op_type == "Constant" and node.output[0] == name:
            return onnx.numpy_helper.to_array(node.attribute[0].t)
    return None


def quantized_ops(path: "str | Path") -> Counter:
    """How many nodes of each op type read a DequantizeLinear output (run in int8)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    dequantized = {o for n in model.graph.node if n.op_type == "DequantizeLinear" for o in n.output}
    return Counter(n.op_type for n in model.graph.node if n.op_type != "QuantizeLinear"
                   and any(i in dequantized for i in n.input))


def check_quantized(path: "str | Path", allowed: tuple[str, ...] = QUANTIZED_OPS) -> list[str]:
    """The problems of a QDQ graph (empty: it passes): every zero point is 0, only `allowed` op types
    read dequantized values (LayerNorm, softmax, GELU, adds, the normalisation stay fp32), and at
    least one node is quantized."""
    import onnx

    path = Path(path)
    model = onnx.load(str(path))
    problems = []
    for node in model.graph.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear") and len(node.input) > 2 and node.input[2]:
            values = _int_values(model, node.input[2], path.parent)
            if values is None or np.any(values != 0):
                problems.append(f"{node.op_type} {node.name or node.output[0]}: zero point "
                                f"{'not a constant' if values is None else 'not 0'} (TensorRT needs symmetric "
                                "quantization: ActivationSymmetric and WeightSymmetric)")
    counts = quantized_ops(path)
    stray = sorted(op for op in counts if op not in (*allowed, *SHAPE_ONLY))
    if stray:
        problems.append(f"quantized op type(s) {', '.join(stray)} outside {', '.join(allowed)}: they must stay fp32")
    if not any(counts[op] for op in allowed):
        problems.append(f"no {'/'.join(allowed)} node reads a quantized value: nothing was quantized")
    return problems
