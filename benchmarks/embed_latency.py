"""Eager PyTorch embedding latency per modality (p50/p90, batch 1 and 8) on this machine's CPU.

The baseline the export work must beat. Times `model.encode` on preprocessed tensors (what an
exported engine replaces) and, separately, the raw-data transform of one sample.

usage: .venv/bin/python benchmarks/embed_latency.py [--models edgebind-tiny,edgebind-small]
       [--iters 20] [--out benchmarks/embed_latency.json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

import torch

import edgebind
from edgebind.export.figures import time_ms
from edgebind.synthetic import WorldConfig, render_sample, sample_scene


def _time(fn, iters: int, warmup: int = 2) -> dict:
    p50, p90 = time_ms(fn, iters, warmup, percentiles=(50, 90))
    return {"p50_ms": round(p50, 3), "p90_ms": round(p90, 3)}


def _raw_sample() -> dict:
    """One synthetic sample in the raw forms users pass (arrays with their units and rates)."""
    config = WorldConfig()
    data = render_sample(sample_scene(0, config), config)
    return {
        "vision": data["image"], "text": data["caption"], "audio": (data["audio"], config.audio_rate),
        "depth": data["depth"], "thermal": data["thermal"], "imu": (data["imu"][:, 1:], config.imu_rate_hz),
    }


def bench_model(name: str, iters: int) -> dict:
    model = edgebind.create_model(name)
    raw = _raw_sample()
    results = {}
    with torch.inference_mode():
        for modality in model.modalities:
            transform = model.transform(modality)
            one = transform.batch([raw[modality.value]])
            entry = {"transform_one_sample": _time(lambda: transform.batch([raw[modality.value]]), iters)}
            for batch in (1, 8):
                x = one.expand(batch, *one.shape[1:]).contiguous()
                entry[f"encode_batch{batch}"] = _time(lambda: model.encode(modality, x), iters)
            results[modality.value] = entry
            print(f"{name:>15} {modality.value:>8}: " + ", ".join(
                f"{k} p50 {v['p50_ms']:.1f} ms" for k, v in entry.items()))
    return {"params": sum(p.numel() for p in model.parameters()), "modalities": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="edgebind-tiny,edgebind-small")
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--out", default=str(Path(__file__).with_name("embed_latency.json")))
    args = parser.parse_args()
    torch.manual_seed(0)
    report = {
        "backend": "torch eager fp32",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "iters": args.iters,
        "models": {name: bench_model(name, args.iters) for name in args.models.split(",")},
    }
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
