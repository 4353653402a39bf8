"""One encoder -> one ONNX graph: preprocessed tensor in (dynamic batch), unit-norm embedding out.

Both of `torch.onnx.export`'s exporters are supported and always chosen explicitly (`dynamo=`).
While tracing, MultiheadAttention's fused fast path is switched off (it exports as an op no runtime
has) and OpenCLIP's end-of-text lookup uses `eot_index` instead of an int64 ArgMax. Weights go to an
external data file when the graph is larger than `external_threshold` (protobuf caps a file at 2 GB).
"""
from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from edgebind.errors import EdgeBindError
from edgebind.modality import Modality
from edgebind.models.stems import eot_index

EXTERNAL_THRESHOLD = 1 << 30  # bytes of weights above which they leave the .onnx file (limit: 2 GiB)
INPUT_NAME, OUTPUT_NAME = "input", "unit_embedding"


class ExportError(EdgeBindError):
    """An encoder cannot be exported, or its graph fails a check or a parity gate."""


class EncoderGraph(nn.Module):
    """What is exported for one modality: `model.encode` then the unit norm of `embed_tensors`."""

    def __init__(self, model: nn.Module, modality: Modality):
        super().__init__()
        self.model, self.modality = model, modality

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.model.encode(self.modality, x), dim=-1)


@dataclass(frozen=True)
class GraphFile:
    """An exported graph on disk: the .onnx file and its external data file (None: inside)."""

    path: Path
    data: Path | None
    weight_bytes: int


def _masked_text_pool(original):
    def pool(x, text=None, pool_type="argmax", eos_token_id=None):
        if pool_type == "argmax":
            return x[torch.arange(x.shape[0], device=x.device), eot_index(text)]
        return original(x, text, pool_type=pool_type, eos_token_id=eos_token_id)
    return pool


@contextlib.contextmanager
def exportable() -> Iterator[None]:
    """Trace-time replacements: no fused MHA fast path, OpenCLIP's EOT pooling without int64 ArgMax."""
    import open_clip.transformer as oct

    fastpath = torch.backends.mha.get_fastpath_enabled()
    original = oct.text_global_pool
    torch.backends.mha.set_fastpath_enabled(False)
    oct.text_global_pool = _masked_text_pool(original)
    try:
        yield
    finally:
        oct.text_global_pool = original
        torch.backends.mha.set_fastpath_enabled(fastpath)


def export_encoder(model: nn.Module, modality: Modality, example: torch.Tensor, path: Path, *, opset: int,
                   dynamo: bool, external_threshold: int = EXTERNAL_THRESHOLD) -> GraphFile:
    """Export `modality`'s encoder of `model` to `path` (the example fixes every dim but the batch)."""
    import onnx

    graph = EncoderGraph(model, modality).eval()
    raw = path.with_name(path.stem + ".raw.onnx")
    exporter = "dynamo" if dynamo else "torchscript"
    try:
        with exportable(), torch.no_grad(), warnings.catch_warnings(), \
                contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            if dynamo:
                batch = torch.export.Dim("batch", min=1, max=4096)
                torch.onnx.export(graph, (example,), str(raw), dynamo=True, opset_version=opset,
                                  input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                                  dynamic_shapes={"x": {0: batch}}, external_data=True, verbose=False)
            else:
                torch.onnx.export(graph, (example,), str(raw), dynamo=False, opset_version=opset,
                                  input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                                  dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}})
    except Exception as exc:  # each exporter raises its own zoo of types
        raise ExportError(f"the {exporter} exporter (dynamo={dynamo}) cannot export the {modality.value} "
                          f"encoder: {type(exc).__name__}: {str(exc).strip().splitlines()[0][:400]}; "
                          f"try the other one (--{'no-' if dynamo else ''}dynamo)") from exc
    proto = onnx.load(str(raw))  # pulls in any external data the exporter wrote
    for leftover in [raw, *raw.parent.glob(raw.name + "*.data"), raw.with_suffix(".onnx.data")]:
        leftover.unlink(missing_ok=True)
    return save_graph(proto, path, external_threshold)


def weight_bytes(proto) -> int:
    """Bytes of the initializers held in `proto` (inline or already loaded from external data)."""
    return sum(len(t.raw_data) or t.ByteSize() for t in proto.graph.initializer)


def save_graph(proto, path: Path, external_threshold: int = EXTERNAL_THRESHOLD) -> GraphFile:
    """Write `proto` to `path`, its weights to `path`.data when they exceed `external_threshold`."""
    import onnx
    import onnx.numpy_helper

    size = weight_bytes(proto)
    external = size > external_threshold
    data = path.with_name(path.name + ".data") if external else None
    if data is not None:
        data.unlink(missing_ok=True)  # save appends to an existing data file
        for tensor in proto.graph.initializer:  # only raw_data moves out: convert typed fields
            if not tensor.HasField("raw_data"):
                tensor.CopyFrom(onnx.numpy_helper.from_array(onnx.numpy_helper.to_array(tensor), tensor.name))
    onnx.save_model(proto, str(path), save_as_external_data=external, all_tensors_to_one_file=True,
                    location=data.name if data else None, size_threshold=0)
    return GraphFile(path, data, size)
