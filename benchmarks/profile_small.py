"""Where batch-1 time goes per backend: per-op-type shares of one encoder's latency, from each runtime's own
profiler (eager torch: torch.profiler; onnxruntime: enable_profiling; OpenVINO: PERF_COUNT per-layer counters).

Runs on an export directory (e.g. the one `edgebind bench --export-out DIR` keeps). Op types are each runtime's
own names (OpenVINO's also carry the kernel it chose, e.g. `FullyConnected/brgemm_avx512_I8`).

usage: .venv/bin/python benchmarks/profile_small.py EXPORT_DIR [--modalities vision,audio] [--runs 10]
       [--out benchmarks/profile_small.json]
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

import edgebind
from edgebind.export.parity import HELDOUT_SEED, held_out
from edgebind.export.runtime import OnnxEncoder, OpenVinoEncoder, graph_file, read_manifest
from edgebind.modality import Modality

TOP = 8  # op types kept per profile (the rest summed as "other")


def _shares(ms: dict[str, float], runs: int) -> dict:
    per_run = {k: v / runs for k, v in ms.items()}
    total = sum(per_run.values())
    top = sorted(per_run.items(), key=lambda kv: -kv[1])[:TOP]
    rest = total - sum(v for _, v in top)
    return {"total_ms": round(total, 2),
            "ops": {k: {"ms": round(v, 2), "share": round(v / total, 3)} for k, v in [*top, ("other", rest)]}}


def torch_profile(model, modality: str, x: torch.Tensor, runs: int) -> dict:
    from torch.profiler import ProfilerActivity, profile

    with torch.inference_mode():
        model.embed_tensors(modality, x)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(runs):
                model.embed_tensors(modality, x)
    ms = {e.key: e.self_cpu_time_total / 1e3 for e in prof.key_averages()}
    return _shares(ms, runs)


def onnxruntime_profile(path: Path, x: np.ndarray, runs: int, precision: str) -> dict:
    encoder = OnnxEncoder(path, precision=precision)
    encoder.session.end_profiling()  # a fresh session with profiling on, the same options otherwise
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.enable_profiling = True
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    with tempfile.TemporaryDirectory() as folder:
        options.profile_file_prefix = str(Path(folder) / "ort")
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        feed = {session.get_inputs()[0].name: x}
        session.run(None, feed)
        start = time.perf_counter()
        for _ in range(runs):
            session.run(None, feed)
        wall = (time.perf_counter() - start) * 1e3 / runs
        events = json.loads(Path(session.end_profiling()).read_text())
    ms: dict[str, float] = defaultdict(float)
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            ms[event["args"]["op_name"]] += event["dur"] / 1e3
    runs_seen = runs + 1  # the warm-up run is profiled too
    return {**_shares(ms, runs_seen), "wall_ms": round(wall, 2)}


def openvino_profile(path: Path, x: np.ndarray, runs: int, precision: str, static: bool) -> dict:
    encoder = OpenVinoEncoder(path, precision=precision, static_batch=1 if static else None, perf_counters=True)
    request = encoder.request(x.shape)
    request.infer([x])
    ms: dict[str, float] = defaultdict(float)
    start = time.perf_counter()
    for _ in range(runs):
        request.infer([x])
        for layer in request.profiling_info:
            if layer.status.name == "EXECUTED":
                ms[f"{layer.node_type}/{layer.exec_type}"] += layer.real_time.total_seconds() * 1e3
    wall = (time.perf_counter() - start) * 1e3 / runs
    return {**_shares(ms, runs), "wall_ms": round(wall, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("export_dir", type=Path)
    parser.add_argument("--modalities", default="vision,audio,text")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    manifest = read_manifest(args.export_dir)
    modalities = args.modalities.split(",")
    model = edgebind.create_model(manifest["model_id"], [*modalities, "text"])
    with tempfile.TemporaryDirectory() as folder:
        data = held_out(model, [Modality.parse(m) for m in modalities], 1, 8, Path(folder), seed=HELDOUT_SEED)
    result = {"export_dir": str(args.export_dir), "runs": args.runs, "load_1min": os.getloadavg()[0],
              "torch_threads": torch.get_num_threads(), "encoders": {}}
    for modality in modalities:
        entry = manifest["encoders"][modality]
        x = data.inputs[modality][:1]
        xn = x.numpy()
        fp32, int8 = (args.export_dir / graph_file(entry, p, modality) for p in ("fp32", "int8"))
        profiles = {"torch fp32": torch_profile(model, modality, x, args.runs),
                    "onnxruntime fp32": onnxruntime_profile(fp32, xn, args.runs, "fp32"),
                    "onnxruntime int8": onnxruntime_profile(int8, xn, args.runs, "int8"),
                    "openvino fp32 dynamic": openvino_profile(fp32, xn, args.runs, "fp32", False),
                    "openvino int8 dynamic": openvino_profile(int8, xn, args.runs, "int8", False),
                    "openvino int8 static": openvino_profile(int8, xn, args.runs, "int8", True)}
        result["encoders"][modality] = profiles
        for name, p in profiles.items():
            top = ", ".join(f"{k} {v['share']:.0%}" for k, v in list(p["ops"].items())[:4])
            print(f"{modality:7s} {name:22s} {p['total_ms']:7.2f} ms  {top}", flush=True)
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
