"""`edgebind bench`: every way of running each encoder, timed in one run on the same real windows.

Per encoder, backend, precision and batch: p50/p99 latency, throughput, the cosine against eager
PyTorch fp32 on the same inputs, and achieved GFLOP/s (FLOPs counted by PyTorch's FlopCounterMode)
beside this project's measured CPU GEMM rate for that precision. Competitors: eager torch fp32,
torch bf16 autocast, onnxruntime per exported precision, OpenVINO fp32/bf16/int8 when it imports.
`pick` writes the fastest runnable backend meeting the gates into the export's manifest.
"""
from __future__ import annotations

import dataclasses
import json
import os
import platform
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

import edgebind
from edgebind.errors import ConfigError
from edgebind.export.figures import cosine_min, time_ms
from edgebind.export.parity import HELDOUT_SEED, MAX_TOP1_POINTS, MIN_COSINE_REDUCED, Gates, held_out
from edgebind.export.runtime import MANIFEST_FILE, OnnxEncoder, OpenVinoEncoder, graph_file, is_export_dir, read_manifest
from edgebind.modality import Modality

# Best GEMM rates measured on the project's 2-core AVX-512 CPU (numpy fp32, torch bf16, torch._int_mm int8).
REFERENCE_GFLOPS = {"fp32": 230.0, "bf16": 820.0, "fp16": 820.0, "int8": 1600.0}
GEMM_SIZE = 2048  # square GEMMs timed by `gemm_rates` (this CPU's own peak per precision, beside the reference)
NODE_BACKENDS = ("onnxruntime", "openvino")  # what the node can run from an export directory (candidates for --pick)


@dataclass
class BenchOptions:
    batches: tuple[int, ...] = (1, 8)
    runs: int = 20
    threads: Optional[int] = None  # None: each runtime's default (one per core)
    openvino: bool = True  # include OpenVINO when it imports


def gemm_rates(n: int = GEMM_SIZE, reps: int = 3) -> dict:
    """GFLOP/s (GOP/s for int8) of one n x n GEMM per precision on this machine, now: fp32 (numpy), bf16
    (torch), int8 (torch._int_mm). Another CPU than the reference's (no AMX / bf16 units) shows here."""
    a = torch.randn(n, n)
    operands = {"fp32": (a.numpy(), lambda m: m @ m), "bf16": (a.bfloat16(), lambda m: m @ m),
                "int8": (a.clamp(-1, 1).mul(127).to(torch.int8), lambda m: torch._int_mm(m, m))}
    rates = {}
    for precision, (m, gemm) in operands.items():
        gemm(m)
        start = time.perf_counter()
        for _ in range(reps):
            gemm(m)
        rates[precision] = round(2 * n**3 * reps / (time.perf_counter() - start) / 1e9, 1)
    return rates


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    return next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")),
                platform.machine())


def _flops(model, modality: str, x: torch.Tensor) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        model.embed_tensors(modality, x)
    return int(counter.get_total_flops())


def _competitors(model, modality: str, export_dir: Path, entry: dict, options: BenchOptions) -> dict:
    """(backend, precision) -> preprocessed batch -> embeddings."""
    def bf16(x):
        with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16):
            return model.embed_tensors(modality, x).float().numpy()

    runs = {("torch", "fp32"): lambda x: model.embed_tensors(modality, x).numpy(), ("torch", "bf16"): bf16}
    precisions = ["fp32", *entry.get("variants", {})]
    for precision in precisions:
        encoder = OnnxEncoder(export_dir / graph_file(entry, precision, modality), threads=options.threads,
                              precision=precision)
        runs["onnxruntime", precision] = lambda x, e=encoder: e(x, batch_size=len(x))
    if options.openvino:
        for precision in ("fp32", "bf16", "int8"):
            if precision in (*precisions, "bf16"):
                encoder = OpenVinoEncoder(export_dir / graph_file(entry, precision, modality), options.threads,
                                          precision)
                runs["openvino", precision] = lambda x, e=encoder: e(x, batch_size=len(x))
    return runs


def bench_export(model, export_dir: Path, modalities: list[str], options: BenchOptions, log=print) -> list[dict]:
    """Rows of figures for `modalities` of `export_dir`, whose graphs were exported from `model`."""
    manifest = read_manifest(export_dir)
    with tempfile.TemporaryDirectory(prefix="edgebind-bench-") as folder:
        data = held_out(model, [Modality.parse(m) for m in modalities], max(options.batches),
                        manifest["gates"]["heldout_classes"], Path(folder), seed=HELDOUT_SEED)
    rows = []
    for modality in modalities:
        entry = manifest["encoders"][modality]
        runs = _competitors(model, modality, export_dir, entry, options)
        for batch in options.batches:
            x = data.inputs[modality][:batch]
            with torch.inference_mode():
                ref = model.embed_tensors(modality, x).numpy()
            flops = _flops(model, modality, x)
            for (backend, precision), fn in runs.items():
                p50, p99 = time_ms(lambda: fn(x), options.runs)
                gflops = flops / p50 / 1e6
                rows.append({"encoder": modality, "backend": backend, "precision": precision, "batch": batch,
                             "p50_ms": round(p50, 3), "p99_ms": round(p99, 3),
                             "throughput_per_s": round(batch * 1e3 / p50, 1),
                             "cosine_vs_eager_fp32": round(cosine_min(fn(x), ref), 6),
                             "gflop": round(flops / 1e9, 4), "achieved_gflops": round(gflops, 1),
                             "reference_gemm_gflops": REFERENCE_GFLOPS[precision],
                             "of_reference": round(gflops / REFERENCE_GFLOPS[precision], 3)})
                r = rows[-1]
                log(f"{modality:8s} b{batch} {backend:12s} {precision:5s} p50 {p50:8.2f} ms  p99 {p99:8.2f} ms  "
                    f"{r['throughput_per_s']:8.1f}/s  cos {r['cosine_vs_eager_fp32']:.5f}  {gflops:7.1f} GFLOP/s")
    return rows


def summarize(rows: list[dict]) -> dict:
    """Per (backend, precision): batch-1 p50 summed over encoders, speed-up over eager fp32, whether every
    encoder meets the cosine gate, and whether the node can run it from an export directory."""
    ones = [r for r in rows if r["batch"] == 1]
    eager = sum(r["p50_ms"] for r in ones if (r["backend"], r["precision"]) == ("torch", "fp32"))
    summary = {}
    for key in dict.fromkeys((r["backend"], r["precision"]) for r in ones):
        mine = [r for r in ones if (r["backend"], r["precision"]) == key]
        total = sum(r["p50_ms"] for r in mine)
        summary[f"{key[0]} {key[1]}"] = {
            "backend": key[0], "precision": key[1], "batch1_p50_ms_total": round(total, 3),
            "speedup_vs_eager_fp32": round(eager / total, 2),
            "meets_gates": all(r["cosine_vs_eager_fp32"] >= MIN_COSINE_REDUCED for r in mine),
            "node_backend": key[0] in NODE_BACKENDS}
    return summary


def pick(summary: dict) -> dict:
    """The fastest (batch 1) backend the node can run from an export directory that meets the gates."""
    fit = [s for s in summary.values() if s["meets_gates"] and s["node_backend"]]
    if not fit:
        raise ConfigError("no backend the node can run meets the gates; nothing to pick")
    best = min(fit, key=lambda s: s["batch1_p50_ms_total"])
    return {"type": best["backend"], "precision": best["precision"],
            "batch1_p50_ms_total": best["batch1_p50_ms_total"], "speedup_vs_eager_fp32": best["speedup_vs_eager_fp32"],
            "fastest_overall": min(summary, key=lambda k: summary[k]["batch1_p50_ms_total"]),
            "measured_on": platform.node(), "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


GOAL_SPEEDUP = 5.0  # issue 13: the default backend >= 5x eager fp32 at batch 1, per encoder


def goal(rows: list[dict], choice: dict) -> dict:
    """Per encoder at batch 1: the picked backend's speed-up over eager fp32, the fastest competitor meeting
    the cosine gate, and whether the goal (>= GOAL_SPEEDUP and no slower than that competitor) is met."""
    figures = {}
    for encoder in dict.fromkeys(r["encoder"] for r in rows if r["batch"] == 1):
        mine = {(r["backend"], r["precision"]): r for r in rows if r["batch"] == 1 and r["encoder"] == encoder}
        picked, eager = mine[choice["type"], choice["precision"]], mine["torch", "fp32"]
        fastest = min((r for r in mine.values() if r["cosine_vs_eager_fp32"] >= MIN_COSINE_REDUCED),
                      key=lambda r: r["p50_ms"])
        speedup = eager["p50_ms"] / picked["p50_ms"]
        figures[encoder] = {"picked_p50_ms": picked["p50_ms"], "eager_fp32_p50_ms": eager["p50_ms"],
                            "speedup_vs_eager_fp32": round(speedup, 2),
                            "fastest": f"{fastest['backend']} {fastest['precision']}",
                            "fastest_p50_ms": fastest["p50_ms"], "cosine": picked["cosine_vs_eager_fp32"],
                            "met": speedup >= GOAL_SPEEDUP and picked["p50_ms"] <= fastest["p50_ms"]}
    return figures


def write_default_backend(export_dir: Path, choice: dict) -> None:
    """Record `choice` as the export's `default_backend` (the onnxruntime backend then runs its precision)."""
    manifest = read_manifest(export_dir)
    manifest["default_backend"] = choice
    (export_dir / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1) + "\n")


def _model_for(export_dir: Path, modalities: list[str]):
    manifest = read_manifest(export_dir)
    if manifest.get("random_weights"):
        raise ConfigError(f"{export_dir} was exported from random weights ({manifest['model_id']} is a config): "
                          "eager PyTorch cannot rebuild them to compare against; bench the model name instead "
                          f"(`edgebind bench --model {manifest['model_id']} --allow-random-weights`)")
    return edgebind.create_model(manifest["model_id"], [*modalities, "text"])


def run_bench(model_spec: str, modalities: Optional[list[str]], options: BenchOptions,
              export_out: Optional[Path] = None, precisions: tuple[str, ...] = ("fp32", "int8"),
              allow_random_weights: bool = False, log=print) -> dict:
    """Bench an export directory, or a model (exported first, with `precisions`, into `export_out` or a
    temporary folder): every competitor's figures, a summary and the pick."""
    from edgebind.export.pipeline import ExportOptions, export_built

    with tempfile.TemporaryDirectory(prefix="edgebind-bench-export-") as scratch:
        if is_export_dir(model_spec):
            export_dir = Path(model_spec)
            modalities = modalities or list(read_manifest(export_dir)["encoders"])
            model = _model_for(export_dir, modalities)
        else:
            model = edgebind.create_model(model_spec, modalities and [*modalities, "text"])
            modalities = modalities or [m.value for m in model.modalities]
            if model.random_weights and not allow_random_weights:
                raise ConfigError(f"{model_spec} has random, untrained weights (a config); bench a checkpoint, or "
                                  "pass --allow-random-weights (latency does not depend on the weights)")
            export_dir = export_out or Path(scratch) / "export"
            log(f"exporting {model_spec} ({', '.join(modalities)}; {', '.join(precisions)}) to {export_dir}")
            # Random weights classify at chance, where near-ties flip: only the cosine gates mean anything.
            top1 = 100.0 if model.random_weights else MAX_TOP1_POINTS
            export_built(model, model_spec, export_dir, [Modality.parse(m) for m in modalities],
                         ExportOptions(precisions=precisions, allow_random_weights=allow_random_weights,
                                       gates=Gates(max_top1_points=top1),
                                       reduced_gates=Gates(MIN_COSINE_REDUCED, max_top1_points=top1)))
        if options.openvino and _version("openvino") is None:
            log("OpenVINO is not installed (pip install 'edgebind[openvino]'): its fp32/bf16/int8 are skipped")
            options = dataclasses.replace(options, openvino=False)
        load_before = os.getloadavg()[0]  # the machine may be shared: the figures are only as quiet as it was
        rows = bench_export(model, export_dir, modalities, options, log)
        summary = summarize(rows)
        return {"benchmark": "edgebind bench", "model": str(model_spec), "export_dir": str(export_dir),
                "batches": list(options.batches), "runs": options.runs, "torch_threads": torch.get_num_threads(),
                "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"), "cpu": _cpu_model(), "cpu_count": os.cpu_count(),
                "load_1min": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
                "gemm_gflops_measured": gemm_rates(),
                "torch": torch.__version__, "onnxruntime": __import__("onnxruntime").__version__,
                "openvino": _version("openvino") if options.openvino else None,
                "rows": rows, "summary": summary, "pick": (choice := pick(summary)), "goal": goal(rows, choice)}


def _version(module: str) -> Optional[str]:
    try:
        return __import__(module).__version__
    except ImportError:
        return None
