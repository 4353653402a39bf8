"""Build TensorRT engines for an export directory's encoders, on the GPU that will run them.

`edgebind engine build DIR` parses each encoder's graph of the chosen precision (fp32:
<modality>.onnx; fp16 / int8: the variants `edgebind export --precision` made; int8 is explicit QDQ
quantization, no calibrator) and writes DIR/<modality>.<precision>.engine with a sidecar
<modality>.<precision>.engine.json (TensorRT version, GPU name and compute capability, batch profile,
precision, the graph's sha256, build time), then lists the engines in DIR/manifest.json. One
optimization profile covers batch 1..--max-batch; a timing cache (DIR/tensorrt.timing-cache unless
--timing-cache) makes later builds on the same GPU faster. Needs the tensorrt package
(pip install 'edgebind[tensorrt]'; on a Jetson, JetPack's TensorRT) and an NVIDIA GPU: without
them, or with a precision the export lacks, it fails before writing anything.

An engine runs only where it was built (same GPU model and TensorRT version) and from the graph
it was built from: the `tensorrt` backend checks the sidecar before loading and, on any mismatch,
fails with the command that rebuilds it. Run it on the target machine after copying DIR there.

examples:
  edgebind export --model runs/bind --precision fp32,fp16,int8 --out exports/bind
  edgebind engine build exports/bind --precision fp16,int8
  edgebind engine build exports/bind --precision fp16 --modalities audio --max-batch 16 --opt-batch 16
  edgebind run --profile node.yaml      # backend: {type: tensorrt, model: exports/bind, precision: fp16}
"""
from __future__ import annotations

from pathlib import Path

from edgebind.cli.common import add_command


def run(args) -> int:
    from edgebind.export.engines import build_engines
    from edgebind.export.quantize import parse_precisions
    from edgebind.export.tensorrt import BuildOptions

    names = [p.strip() for p in args.precision.split(",") if p.strip()]
    precisions = [p for p in parse_precisions(names) if p in names]  # known names, in fp32, fp16, int8 order
    options = BuildOptions(precision=precisions[0], max_batch=args.max_batch, opt_batch=args.opt_batch,
                           workspace_mb=args.workspace_mb, device=args.device,
                           timing_cache=Path(args.timing_cache) if args.timing_cache else None)
    modalities = [m.strip() for m in args.modalities.split(",") if m.strip()] if args.modalities else None
    built = build_engines(args.export_dir, options, precisions, modalities)
    for (modality, precision), info in built.items():
        print(f"{modality:8s} {precision}: {modality}.{precision}.engine ({info['engine_bytes'] / 2**20:.1f} MiB, "
              f"{info['build_seconds']:.1f} s)")
    info = next(iter(built.values()))
    print(f"built {len(built)} engine(s) in {args.export_dir} for {info['gpu']} (compute capability "
          f"{info['compute_capability']}, TensorRT {info['tensorrt']})")
    return 0


def add_parser(sub) -> None:
    parser = add_command(sub, "engine", __doc__, run)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    build = actions.add_parser("build", help="build engines for an export directory's encoders",
                               description=parser.description, formatter_class=parser.formatter_class)
    build.add_argument("export_dir", metavar="EXPORT_DIR", help="export directory (made by `edgebind export`)")
    build.add_argument("--precision", default="fp16",
                       help="comma-separated: fp32, fp16, int8; fp16 / int8 need that variant in the export "
                            "(default: %(default)s)")
    build.add_argument("--modalities", help="comma-separated encoders (default: all of the export's)")
    build.add_argument("--max-batch", type=int, default=8, help="largest batch the engine takes (default: %(default)s)")
    build.add_argument("--opt-batch", type=int, default=1,
                       help="batch the kernels are tuned for: 1 for latency, --max-batch for throughput "
                            "(default: %(default)s)")
    build.add_argument("--workspace-mb", type=int, default=2048,
                       help="TensorRT workspace memory-pool limit in MiB (default: %(default)s)")
    build.add_argument("--timing-cache", help="timing cache file to reuse (default: EXPORT_DIR/tensorrt.timing-cache)")
    build.add_argument("--device", default="cuda:0", help="GPU to build for (default: %(default)s)")
