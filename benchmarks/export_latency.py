"""Encoder latency: eager torch fp32 vs torch bf16 autocast vs onnxruntime fp32, in one run.

Per encoder of edgebind-tiny-synthetic (trained) and edgebind-small (random weights: latency does not
depend on them), batch 1 and 8: p50/p99 milliseconds and the cosine of each path's embeddings against
eager fp32 on the same inputs. Graphs are exported with the TorchScript exporter, opset 17, as
`edgebind export` does by default (no gates here: random weights have nothing to gate).

  python benchmarks/export_latency.py --out benchmarks/export_latency.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import edgebind
from edgebind.export.graph import export_encoder
from edgebind.export.runtime import OnnxEncoder
from edgebind.modality import Modality


def _inputs(model, modality: Modality, batch: int) -> torch.Tensor:
    """A preprocessed batch: noise of the transform's output shape (token ids of captions for text)."""
    torch.manual_seed(batch)
    if modality is Modality.TEXT:
        return model.transform("text").batch([f"a loud thing number {i}" for i in range(batch)])
    return torch.randn(batch, *_shape(model, modality))


def _shape(model, modality: Modality) -> tuple:
    """One preprocessed input's shape, from the transform applied to a synthetic sample."""
    from edgebind.synthetic import render_sample, sample_scene

    sample = render_sample(sample_scene(0))
    raw = {"vision": sample["image"], "audio": (sample["audio"], 16000), "depth": sample["depth"],
           "thermal": sample["thermal"], "imu": sample["imu"][:, 1:]}[modality.value]  # imu: t, then 6 axes
    return tuple(model.transform(modality)(raw).shape)


def _time(fn, runs: int) -> tuple[float, float]:
    fn()  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return float(np.percentile(times, 50)), float(np.percentile(times, 99))


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(((a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))).min())


def bench_model(name: str, folder: Path, runs: int) -> list[dict]:
    model = edgebind.create_model(name).eval()
    rows = []
    for modality in model.modalities:
        graph = export_encoder(model, modality, _inputs(model, modality, 2), folder / f"{name}-{modality.value}.onnx",
                               opset=17, dynamo=False)
        onnx_encoder = OnnxEncoder(graph.path)
        for batch in (1, 8):
            x = _inputs(model, modality, batch)
            with torch.inference_mode():
                ref = model.embed_tensors(modality, x).numpy()

                def bf16():
                    with torch.autocast("cpu", torch.bfloat16):
                        return model.embed_tensors(modality, x).float().numpy()

                paths = {"torch fp32": lambda: model.embed_tensors(modality, x).numpy(), "torch bf16 autocast": bf16,
                         "onnxruntime fp32": lambda: onnx_encoder(x)}
                for path, fn in paths.items():
                    p50, p99 = _time(fn, runs)
                    rows.append({"model": name, "encoder": modality.value, "batch": batch, "path": path,
                                 "p50_ms": round(p50, 3), "p99_ms": round(p99, 3),
                                 "cosine_vs_fp32": round(_cosine(fn(), ref), 6)})
                    print(f"{name:24s} {modality.value:8s} b{batch} {path:20s} p50 {p50:8.2f} ms  p99 {p99:8.2f} ms  "
                          f"cos {rows[-1]['cosine_vs_fp32']:.6f}", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="benchmarks/export_latency.json")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--models", default="edgebind-tiny-synthetic,edgebind-small")
    args = parser.parse_args()
    import warnings

    warnings.simplefilter("ignore")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name in args.models.split(","):
            rows += bench_model(name, Path(folder), args.runs)
    result = {"benchmark": "export_latency", "runs": args.runs, "torch_threads": torch.get_num_threads(),
              "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"), "cpu": platform.processor() or platform.machine(),
              "torch": torch.__version__, "onnxruntime": __import__("onnxruntime").__version__, "rows": rows}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
