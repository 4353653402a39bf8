"""`export_model`: a checkpoint -> a verified export directory, or an error and nothing written.

Every encoder is exported into a staging folder beside `out`, checked statically, gated on parity
against PyTorch and timed; only when every gate passes is the folder (graphs + manifest.json) moved
into place. The manifest carries each encoder's transform config, so preprocessing travels along.
fp16 / int8 variants (edgebind.export.quantize) sit beside each fp32 graph with their own checks,
gates (cosine >= 0.99) and figures; int8 is calibrated on windows of another unseen synthetic world.
"""
from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

import numpy as np
import torch
from torch import nn

import edgebind
from edgebind.config import to_dict
from edgebind.errors import ConfigError, require
from edgebind.export.checks import check_graph
from edgebind.export.fallback import MAX_KEPT, PROBE_SEED, quantize_with_fallback
from edgebind.export.figures import time_ms
from edgebind.export.graph import EXTERNAL_THRESHOLD, ExportError, export_encoder
from edgebind.export.parity import CALIB_SEED, HELDOUT_SEED, MIN_COSINE_REDUCED, Gates, held_out, measure
from edgebind.export.quantize import CALIB_METHODS, PRECISIONS, QUANTIZED_OPS, check_quantized, convert_fp16, \
    quantize_int8, quantized_ops
from edgebind.export.runtime import FORMAT_VERSION, MANIFEST_FILE, OnnxEncoder
from edgebind.fileio import sha256
from edgebind.modality import Modality

TORCHSCRIPT_OPSET, DYNAMO_OPSET = 17, 18  # the dynamo exporter cannot go below 18


@dataclass
class ExportOptions:
    """How to export: exporter and opset, the gates and their held-out data, the external-data size."""

    dynamo: bool = False
    opset: Optional[int] = None  # None: 17 (TorchScript exporter) or 18 (dynamo)
    gates: Gates = field(default_factory=Gates)
    samples: int = 256  # held-out synthetic samples per encoder: one changed prediction is 0.4 points
    classes: int = 8  # classes of the held-out world (edgebind reproduce trains on 8)
    external_threshold: int = EXTERNAL_THRESHOLD
    allow_random_weights: bool = False
    latency_runs: int = 20
    precisions: tuple[str, ...] = ("fp32",)  # fp32 always; fp16 / int8 variants beside it
    reduced_gates: Gates = field(default_factory=lambda: Gates(min_cosine=MIN_COSINE_REDUCED))
    calib: int = 64  # int8 calibration windows per encoder
    calib_method: str = "percentile"
    calib_inputs: Optional[dict] = None  # modality -> preprocessed windows; None: the calibration world's
    int8_fallback: int = MAX_KEPT  # at most this many int8 nodes kept fp32 when parity needs it (0: none)

    def __post_init__(self) -> None:
        unknown = [p for p in self.precisions if p not in PRECISIONS]
        if unknown or self.calib_method not in CALIB_METHODS or self.calib < 1:
            raise ConfigError(f"precisions {', '.join(self.precisions)} / calibration {self.calib_method} x "
                              f"{self.calib}: precisions are {', '.join(PRECISIONS)}, methods "
                              f"{', '.join(CALIB_METHODS)}, and at least 1 calibration window")
        if self.int8_fallback < 0:
            raise ConfigError(f"int8_fallback {self.int8_fallback}: the most int8 nodes to keep fp32 is 0 or more")

    @property
    def exporter(self) -> str:
        return "dynamo" if self.dynamo else "torchscript"

    def target_opset(self) -> int:
        opset = self.opset or (DYNAMO_OPSET if self.dynamo else TORCHSCRIPT_OPSET)
        if opset < 17:
            raise ConfigError(f"--opset {opset}: exports need opset >= 17 (one LayerNormalization op per LayerNorm)")
        if self.dynamo and opset < DYNAMO_OPSET:
            raise ConfigError(f"--opset {opset}: the dynamo exporter writes opset {DYNAMO_OPSET} or later (it cannot "
                              f"convert its graphs down); use --opset {DYNAMO_OPSET} or --no-dynamo")
        return opset



def _source_checkpoint(spec) -> Optional[Path]:
    """The weights file behind a model spec, or None for a config (random weights)."""
    from edgebind.models.registry import WEIGHTS_FILE, resolve_model

    path = resolve_model(spec)
    return path / WEIGHTS_FILE if path.is_dir() else None


def _layer_norms(model, modality: Modality) -> int:
    return sum(isinstance(m, nn.LayerNorm) for part in model.parts(modality) for m in part.modules())


def _latency_ms(encoder: OnnxEncoder, x: torch.Tensor, runs: int) -> dict:
    """onnxruntime p50/p99 milliseconds of `encoder` on one input."""
    one = x[:1].numpy()
    p50, p99 = time_ms(lambda: encoder(one), runs)
    return {"batch": 1, "p50": p50, "p99": p99, "runs": runs, "provider": encoder.session.get_providers()[0]}


def _input_spec(x: torch.Tensor, name: str) -> dict:
    return {"name": name, "shape": ["batch", *x.shape[1:]], "dtype": str(x.dtype).removeprefix("torch.")}


def export_model(model_spec: "str | Path", out: "str | Path", modalities: Optional[Iterable[str]] = None,
                 options: ExportOptions = ExportOptions()) -> Path:
    """Export `model_spec`'s encoders (all, or `modalities`) to `out`; returns `out`. A failing check
    or gate raises ExportError naming the encoder and the figures, and leaves `out` untouched."""
    require("onnx", "export", "edgebind export")
    require("onnxruntime", "export", "edgebind export (parity gates)")
    out = Path(out).expanduser()
    if out.exists() and not (out / MANIFEST_FILE).is_file() and any(out.iterdir()):
        raise ConfigError(f"--out {out} exists and is not an export directory; choose a new or empty folder")
    options.target_opset()  # a bad opset fails before the model is built
    wanted = [Modality.parse(m) for m in modalities] if modalities else None
    # The text tower is built even when not exported: the zero-shot gate classifies with it.
    model = edgebind.create_model(model_spec, wanted and [*wanted, Modality.TEXT])
    exported = [m for m in model.modalities if wanted is None or m in wanted]
    random = sorted(m.value for m in model.random_weights if m in exported)
    if random and not options.allow_random_weights:
        raise ConfigError(f"{model_spec}'s {', '.join(random)} encoder(s) have random, untrained weights (a config, "
                          "not a checkpoint); export a trained checkpoint, or pass --allow-random-weights")
    return export_built(model, str(model_spec), out, exported, options, _source_checkpoint(model_spec))


def export_built(model, model_id: str, out: Path, modalities: list[Modality], options: ExportOptions,
                 checkpoint: Optional[Path] = None) -> Path:
    """Export the encoders `modalities` of the built `model` (text tower included where it has one, for
    the zero-shot gate) to `out` as `export_model` does; the manifest names `model_id`."""
    opset = options.target_opset()
    random = sorted(m.value for m in model.random_weights if m in modalities)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.export-"))
    try:
        with tempfile.TemporaryDirectory(prefix="edgebind-heldout-") as heldout:
            manifest = _export_into(model, modalities, staging, Path(heldout), opset, options)
        manifest.update(model_id=model_id, checkpoint_sha256=sha256(checkpoint) if checkpoint else None,
                        random_weights=random)
        (staging / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1) + "\n")
        _move_into_place(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def _export_into(model, modalities: list[Modality], folder: Path, heldout: Path, opset: int,
                 options: ExportOptions) -> dict:
    data = held_out(model, modalities, options.samples, options.classes, heldout)
    encoders = {}
    for modality in modalities:
        x = data.inputs[modality.value]
        graph = export_encoder(model, modality, x[:2], folder / f"{modality.value}.onnx", opset=opset,
                               dynamo=options.dynamo, external_threshold=options.external_threshold)
        problems = check_graph(graph.path, layer_norms=_layer_norms(model, modality),
                               external_threshold=options.external_threshold)
        if problems:
            raise ExportError(f"{modality.value} encoder ({options.exporter} exporter): the graph fails its static "
                              "checks:\n  " + "\n  ".join(problems))
        encoders[modality.value] = (graph, OnnxEncoder(graph.path), x)
    text = encoders.get("text")
    torch_text = (lambda t: model.embed_tensors("text", t).numpy()) if Modality.TEXT in model.modalities else None
    entries, failures = {}, []
    variants = _variants(model, modalities, encoders, folder, heldout, options) if len(options.precisions) > 1 else {}
    for name, (graph, encoder, x) in encoders.items():
        parity = measure(name, data, lambda t, m=name: model.embed_tensors(m, t).numpy(), encoder,
                         torch_text, text[1] if text else None)
        failures += parity.failures(options.gates)
        scale = model.logit_scale(name)
        entries[name] = {
            "file": graph.path.relative_to(folder).as_posix(),
            "external_data": graph.data.relative_to(folder).as_posix() if graph.data else None,
            "sha256": sha256(graph.path),
            "input": _input_spec(x, encoder.input_name), "output": {"dim": model.embed_dim, "unit_norm": True},
            "precision": "fp32", "opset": opset, "exporter": options.exporter,
            "transform": to_dict(model.config.transform(name)),
            "logit_scale": float(scale.scale.detach()) if scale is not None else None,
            "parity": parity.to_dict(), "latency_ms": _latency_ms(encoder, x, options.latency_runs),
        }
    for (name, precision), (graph, encoder, extra) in variants.items():
        other_text = variants.get(("text", precision))
        parity = measure(name, data, lambda t, m=name: model.embed_tensors(m, t).numpy(), encoder, torch_text,
                         other_text[1] if other_text else (text[1] if text else None))
        parity = dataclasses.replace(parity, modality=f"{name} {precision}")
        failures += parity.failures(options.reduced_gates)
        entries[name].setdefault("variants", {})[precision] = {
            "file": graph.path.relative_to(folder).as_posix(),
            "external_data": graph.data.relative_to(folder).as_posix() if graph.data else None,
            "sha256": sha256(graph.path), "precision": precision, **extra, "parity": parity.to_dict(),
            "latency_ms": _latency_ms(encoder, data.inputs[name], options.latency_runs)}
    if failures:
        raise ExportError("parity gates failed, nothing was written:\n  " + "\n  ".join(failures))
    return {"format_version": FORMAT_VERSION, "config_name": model.config.name, "embed_dim": model.embed_dim,
            "edgebind_version": edgebind.__version__, "torch_version": torch.__version__,
            "precisions": list(options.precisions),
            "gates": {**dataclasses.asdict(options.gates), "heldout_seed": HELDOUT_SEED,
                      "heldout_classes": options.classes, "reduced_precision": dataclasses.asdict(options.reduced_gates)},
            "encoders": entries}


def _calibration(model, modalities: list[Modality], folder: Path, options: ExportOptions) -> dict:
    """Preprocessed int8 calibration windows per modality: the options' own, else the calibration world's."""
    if options.calib_inputs is not None:
        return {m.value: np.asarray(options.calib_inputs[m.value]) for m in modalities}
    data = held_out(model, modalities, options.calib, options.classes, folder, seed=CALIB_SEED)
    return {name: x.numpy() for name, x in data.inputs.items()}


def _variants(model, modalities: list[Modality], encoders: dict, folder: Path, heldout: Path,
              options: ExportOptions) -> dict:
    """(modality, precision) -> (graph, onnxruntime encoder, manifest figures) of each fp16 / int8
    variant; a variant failing its static checks raises ExportError."""
    calib = _calibration(model, modalities, heldout / "calibration", options) if "int8" in options.precisions else {}
    probe = held_out(model, modalities, options.samples, options.classes, heldout / "probe", seed=PROBE_SEED).inputs \
        if "int8" in options.precisions and options.int8_fallback else {}
    made = {}
    for name, (graph, encoder, _) in encoders.items():
        layer_norms = _layer_norms(model, Modality.parse(name))
        for precision in options.precisions[1:]:
            path = folder / f"{name}.{precision}.onnx"
            if precision == "int8":
                if probe:
                    variant, fallback = quantize_with_fallback(
                        graph.path, path, calib[name], probe[name].numpy(), encoder.input_name, options.calib_method,
                        options.external_threshold, max_kept=options.int8_fallback)
                else:
                    variant, fallback = quantize_int8(graph.path, path, calib[name], encoder.input_name,
                                                      options.calib_method, options.external_threshold), None
                extra = {"quantization": {"format": "QDQ", "ops": list(QUANTIZED_OPS), "weights": "int8 per-channel "
                         "symmetric", "activations": "int8 symmetric", "calibration": options.calib_method,
                         "calibration_windows": len(calib[name]),
                         "calibration_seed": None if options.calib_inputs is not None else CALIB_SEED,
                         "quantized_nodes": dict(quantized_ops(variant.path)),
                         "fallback": fallback.to_dict() if fallback else None}}
                problems = check_quantized(variant.path)
            else:
                variant = convert_fp16(graph.path, path, options.external_threshold)
                extra, problems = {"fp32_ops": "LayerNormalization and the L2 normalisation; fp32 inputs/outputs"}, []
            problems += check_graph(variant.path, layer_norms=layer_norms, external_threshold=options.external_threshold)
            if problems:
                raise ExportError(f"{name} encoder, {precision} variant: the graph fails its static checks:\n  "
                                  + "\n  ".join(problems))
            made[name, precision] = (variant, OnnxEncoder(variant.path, precision=precision), extra)
    return made


def _move_into_place(staging: Path, out: Path) -> None:
    """Rename the finished staging folder to `out`, replacing a previous export there."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.replaced-{time.time_ns()}")
        out.rename(old)
    staging.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
