"""Time every way of running a model's encoders on this machine, in one run, and pick the default.

Per encoder, backend, precision and batch: p50/p99 latency, throughput, cosine against eager
PyTorch fp32 on the same held-out windows, and achieved GFLOP/s beside this CPU's GEMM rate.
Competitors: eager torch fp32, torch bf16 autocast, onnxruntime fp32 / fp16 / int8 (the export's
variants), OpenVINO fp32 / bf16 / int8 when installed (pip install 'edgebind[openvino]').
--model takes an export directory, or a model that is exported first (fp32 + int8, gated).
--pick writes the fastest backend the node can run that meets the gates into the export's manifest
as `default_backend`; the node's onnxruntime backend then runs that precision.

examples:
  edgebind bench --model exports/tiny --batch 1,8 --out bench.json --pick
  edgebind bench --model edgebind-small --allow-random-weights --modalities audio,imu --out bench.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from edgebind.cli.common import add_command
from edgebind.errors import ConfigError


def run(args) -> int:
    from edgebind.export.bench import BenchOptions, run_bench, write_default_backend

    try:
        batches = tuple(int(b) for b in args.batch.split(","))
    except ValueError:
        raise ConfigError(f"--batch {args.batch}: give comma-separated batch sizes, e.g. 1,8") from None
    modalities = [m.strip() for m in args.modalities.split(",") if m.strip()] if args.modalities else None
    export_out = Path(args.export_out) if args.export_out else None
    if args.pick and export_out is None and not Path(args.model, "manifest.json").is_file():
        raise ConfigError("--pick writes into an export directory: give one as --model, or --export-out DIR")
    result = run_bench(args.model, modalities, BenchOptions(batches=batches, runs=args.runs, openvino=args.openvino),
                       export_out, allow_random_weights=args.allow_random_weights)
    for name, s in result["summary"].items():
        print(f"{name:18s} batch 1, all encoders: {s['batch1_p50_ms_total']:8.2f} ms  "
              f"{s['speedup_vs_eager_fp32']:5.2f}x eager fp32  gates {'met' if s['meets_gates'] else 'FAILED'}")
    choice = result["pick"]
    print(f"fastest the node can run: {choice['type']} {choice['precision']} "
          f"({choice['speedup_vs_eager_fp32']}x eager fp32); fastest overall: {choice['fastest_overall']}")
    for encoder, g in result["goal"].items():
        print(f"goal {encoder:8s} {g['speedup_vs_eager_fp32']:5.2f}x eager fp32 (>= 5x), fastest {g['fastest']}: "
              f"{'met' if g['met'] else 'NOT met'}")
    if args.pick:
        write_default_backend(Path(result["export_dir"]), choice)
        print(f"default_backend of {result['export_dir']}: {choice['type']} {choice['precision']}")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {args.out}")
    return 0


def add_parser(sub) -> None:
    parser = add_command(sub, "bench", __doc__, run)
    parser.add_argument("--model", required=True, help="export directory, registered model name or checkpoint")
    parser.add_argument("--modalities", help="comma-separated encoders (default: all)")
    parser.add_argument("--batch", default="1,8", help="comma-separated batch sizes (default: %(default)s)")
    parser.add_argument("--runs", type=int, default=20, help="timed runs per figure (default: %(default)s)")
    parser.add_argument("--out", help="JSON file to write every figure to")
    parser.add_argument("--pick", action="store_true", help="write the fastest gated backend into the manifest")
    parser.add_argument("--export-out", help="where a model given by name is exported (default: a temporary folder)")
    parser.add_argument("--allow-random-weights", action="store_true",
                        help="bench a config's random weights (latency does not depend on them)")
    parser.add_argument("--openvino", action=argparse.BooleanOptionalAction, default=True,
                        help="include OpenVINO when it is installed (default: yes)")
