"""TensorRT on a GPU machine: build engines of an export directory, compare them with onnxruntime
outputs saved on the CPU machine, and time them; writes benchmarks/tensorrt_gpu.json.

Two steps, on two machines (the GPU one needs only tensorrt, numpy, torch with CUDA and this
repository on PYTHONPATH: no onnx, no onnxruntime, no network):

  # here, with the export extra: fixed inputs and onnxruntime's outputs -> EXPORT_DIR/reference.npz
  .venv/bin/python benchmarks/tensorrt_gpu.py exports/tiny --save-reference
  # on the GPU machine, with the export directory copied there:
  PYTHONPATH=. python benchmarks/tensorrt_gpu.py exports/tiny --precisions fp16,int8

The reference holds, per encoder, 8 preprocessed windows of an unseen synthetic world (through the
manifest's transforms) and onnxruntime's CPU outputs for the fp32 graph and each variant. The GPU
step builds the engines with `edgebind.export.engines.build_engines` (recorded in the manifest),
runs them on those inputs (cosine against onnxruntime fp32 and against onnxruntime's same-precision
graph) and times p50/p99 at batch 1 and 8, host arrays in and out (what the node sees).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

REFERENCE = "reference.npz"
WINDOWS, SEED, CLASSES = 8, 4242, 8
BATCHES = (1, 8)


def save_reference(export_dir: Path) -> Path:
    """Inputs and onnxruntime outputs (fp32 graph and every variant) of each encoder, as .npz."""
    import tempfile

    from edgebind.export.runtime import ExportedModel, read_manifest
    from edgebind.manifest import read_manifest as read_world
    from edgebind.synthetic import WorldConfig, make_world

    encoders = read_manifest(export_dir)["encoders"]
    arrays = {}
    with tempfile.TemporaryDirectory(prefix="edgebind-trt-ref-") as folder:
        world = make_world(Path(folder), WINDOWS, WorldConfig(num_classes=CLASSES, seed=SEED), progress=False)
        rows = read_world(world)
        fp32 = ExportedModel(export_dir)
        for name, entry in encoders.items():
            x = fp32.transform(name).batch([r.raw(name) for r in rows])
            arrays[f"{name}/input"] = np.asarray(x.numpy() if hasattr(x, "numpy") else x)
            for precision in ("fp32", *entry.get("variants", {})):
                model = fp32 if precision == "fp32" else ExportedModel(export_dir, [name], precision=precision)
                arrays[f"{name}/onnxruntime_{precision}"] = model.embed_tensors(name, arrays[f"{name}/input"])
    out = export_dir / REFERENCE
    np.savez(out, **arrays)
    return out


def run_gpu(export_dir: Path, precisions: list[str], runs: int, device: str) -> dict:
    """Build, compare and time every encoder's engine in each of `precisions`."""
    import torch

    from edgebind.export.engines import build_engines
    from edgebind.export.figures import cosine_min, time_ms
    from edgebind.export.runtime import read_manifest, tensorrt_encoder
    from edgebind.export.tensorrt import BuildOptions, preflight

    _, target = preflight("benchmarks/tensorrt_gpu.py", device)
    reference = np.load(export_dir / REFERENCE)
    options = BuildOptions(max_batch=max(BATCHES), device=device)
    built = build_engines(export_dir, options, precisions)
    encoders = read_manifest(export_dir)["encoders"]
    rows = []
    for (name, precision), info in built.items():
        encoder = tensorrt_encoder(export_dir, encoders[name], name, precision, device)
        x = reference[f"{name}/input"]
        y = encoder(x, batch_size=len(x))
        same = reference.get(f"{name}/onnxruntime_{precision}")
        for batch in BATCHES:
            xb = x[:batch]
            p50, p99 = time_ms(lambda: encoder(xb, batch_size=batch), runs, warmup=3)
            rows.append({"encoder": name, "precision": precision, "batch": batch, "p50_ms": round(p50, 3),
                         "p99_ms": round(p99, 3), "throughput_per_s": round(batch * 1e3 / p50, 1),
                         "cosine_min_vs_onnxruntime_fp32": cosine_min(y, reference[f"{name}/onnxruntime_fp32"]),
                         "cosine_min_vs_onnxruntime_same_precision": None if same is None else cosine_min(y, same),
                         "engine_mib": round(info["engine_bytes"] / 2**20, 2), "build_seconds": info["build_seconds"]})
            print(f"{name:8s} {precision} batch {batch}: p50 {p50:.3f} ms, p99 {p99:.3f} ms, cosine vs onnxruntime "
                  f"fp32 {rows[-1]['cosine_min_vs_onnxruntime_fp32']:.5f}")
    return {"benchmark": "benchmarks/tensorrt_gpu.py", "export_dir": str(export_dir), "gpu": target.gpu,
            "compute_capability": target.compute_capability, "tensorrt": target.tensorrt, "torch": torch.__version__,
            "timing": "host numpy in -> host float32 out, per call (copies and sync included)", "runs": runs,
            "reference": {"windows": WINDOWS, "world_seed": SEED, "made_by": "onnxruntime CPU, --save-reference"},
            "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("export_dir", type=Path)
    parser.add_argument("--save-reference", action="store_true", help="write EXPORT_DIR/reference.npz (CPU machine)")
    parser.add_argument("--precisions", default="fp16,int8", help="engines to build and time (default: %(default)s)")
    parser.add_argument("--runs", type=int, default=200, help="timed calls per figure (default: %(default)s)")
    parser.add_argument("--device", default="cuda:0")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("tensorrt_gpu.json"))
    args = parser.parse_args()
    if args.save_reference:
        print(f"wrote {save_reference(args.export_dir)}")
        return
    from edgebind.errors import EdgeBindError

    try:
        result = run_gpu(args.export_dir, [p.strip() for p in args.precisions.split(",")], args.runs, args.device)
    except EdgeBindError as exc:
        raise SystemExit(f"tensorrt_gpu.py: error: {exc}") from None
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
