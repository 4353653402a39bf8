"""Static checks on an exported graph, before anything runs it.

Each check guards against a known way an encoder export goes wrong on edge runtimes (see
../shared/EXPORT.md): the fused MultiheadAttention op, an int64 ArgMax (the text tower's end-token
lookup), LayerNorm decomposed into a dozen ops (FP16 overflow on TensorRT), >2 GB of weights
inside the protobuf, and anything `onnx.checker`'s full check rejects.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from edgebind.errors import require

# Op types (lower case) that only PyTorch's fused attention fast path or a fusing optimizer emits.
FUSED_ATTENTION = ("_native_multi_head_attention", "multiheadattention", "attention")
PROTOBUF_LIMIT = 2 << 30  # bytes: one ModelProto cannot be serialised larger than this


def _nodes(graph) -> Iterator:
    """Every node of `graph`, its subgraphs' included."""
    for node in graph.node:
        yield node
        for attr in node.attribute:
            for sub in [attr.g, *attr.graphs]:
                yield from _nodes(sub)


def _all_nodes(model) -> list:
    return [*_nodes(model.graph), *(n for f in model.functions for n in f.node)]


def _op_name(node) -> str:
    """The op a node runs: its type, or for an ATen fallback node the aten operator it wraps."""
    if node.op_type == "ATen":
        return next((a.s.decode() for a in node.attribute if a.name == "operator"), "ATen")
    return node.op_type


def _elem_types(model) -> dict[str, int]:
    """Value name -> ONNX element type, from inputs, initializers and shape inference."""
    import onnx

    inferred = onnx.shape_inference.infer_shapes(model)
    types = {t.name: t.data_type for t in model.graph.initializer}
    for value in [*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output]:
        types[value.name] = value.type.tensor_type.elem_type
    for node in _nodes(model.graph):  # Constant nodes: their tensor's type
        if node.op_type == "Constant" and node.attribute and node.attribute[0].type == onnx.AttributeProto.TENSOR:
            types[node.output[0]] = node.attribute[0].t.data_type
    return types


def _weights(model, folder: Path) -> tuple[int, int, list[str]]:
    """(bytes inside the .onnx, bytes in external files, external files that are missing)."""
    inside = external = 0
    missing = []
    for tensor in model.graph.initializer:
        if tensor.data_location == tensor.EXTERNAL:
            info = {e.key: e.value for e in tensor.external_data}
            external += int(info.get("length", 0))
            if not (folder / info["location"]).is_file() and info["location"] not in missing:
                missing.append(info["location"])
        else:
            inside += tensor.ByteSize()
    return inside, external, missing


def check_graph(path: "str | Path", *, layer_norms: int | None = None,
                external_threshold: int | None = None) -> list[str]:
    """The problems of the ONNX file `path` (empty: it passes): full checker, no fused attention,
    no int64 ArgMax, LayerNormalization nodes for opset >= 17 (at least `layer_norms` of them: one
    per nn.LayerNorm of the source), weights outside the file above `external_threshold` bytes."""
    onnx = require("onnx", "export", "checking exported graphs")
    path = Path(path)
    problems = []
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        problems.append(f"onnx.checker full check fails: {str(exc).strip().splitlines()[0]}")
    model = onnx.load(str(path), load_external_data=False)
    nodes = _all_nodes(model)
    fused = sorted({_op_name(n) for n in nodes if _op_name(n).lower().removeprefix("aten::") in FUSED_ATTENTION})
    if fused:
        problems.append(f"fused attention op(s) {', '.join(fused)} (MultiheadAttention's fast path): export "
                        "with torch.backends.mha.set_fastpath_enabled(False)")
    argmax = [n for n in nodes if n.op_type in ("ArgMax", "ArgMin")]
    if argmax:
        types = _elem_types(model)
        bad = [n.name or n.op_type for n in argmax if types.get(n.input[0]) == onnx.TensorProto.INT64]
        if bad:
            problems.append(f"int64 ArgMax/ArgMin ({', '.join(bad)}): onnxruntime has no kernel for it; "
                            "find the end token with a mask (edgebind.models.stems.eot_index)")
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    found = sum(n.op_type == "LayerNormalization" for n in nodes)
    if opset >= 17 and layer_norms and found < layer_norms:
        problems.append(f"{found} LayerNormalization node(s) for {layer_norms} LayerNorm layer(s) at opset "
                        f"{opset}: the others were decomposed into elementwise ops (FP16 overflow risk)")
    inside, external, missing = _weights(model, path.parent)
    if missing:
        problems.append(f"external data file(s) {', '.join(missing)} missing beside {path.name}")
    threshold = PROTOBUF_LIMIT if external_threshold is None else min(external_threshold, PROTOBUF_LIMIT)
    if inside > threshold:
        problems.append(f"{inside} bytes of weights inside {path.name} (threshold {threshold}): they belong in "
                        "an external data file (onnx.save_model(..., save_as_external_data=True))")
    return problems
