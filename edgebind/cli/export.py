"""Export a model's encoders to ONNX, verified against PyTorch before anything is written.

Writes OUT/<modality>.onnx per encoder (input: the transform's preprocessed tensor, dynamic batch;
output: the unit-norm embedding) and OUT/manifest.json (source model and checkpoint hash, each
encoder's input, opset, exporter, transform config, logit scale, parity and onnxruntime latency).
Every graph passes static checks and the parity gates (cosine >= 0.9999 against PyTorch on held-out
synthetic inputs, zero-shot top-1 at most 1 point below) or the export fails and writes nothing.
--precision adds fp16 / int8 variants beside each graph (OUT/<modality>.int8.onnx: explicit QDQ,
MatMul/Gemm/Conv only, symmetric, calibrated on --calib windows of another unseen synthetic world),
gated at cosine >= 0.99 and zero-shot at most 1 point below. An int8 graph whose worst cosine on
probe windows (a third unseen world) is below 0.995 keeps, one round at a time, the node whose fp32
copy helps most (up to --int8-fallback nodes; the manifest lists them).
OUT then works wherever --model takes a model: `edgebind run`, `edgebind embed`.

examples:
  edgebind export --model edgebind-tiny-synthetic --out exports/tiny
  edgebind export --model runs/bind --modalities audio,imu --out exports/bind-audio-imu
  edgebind export --model models/imagebind_huge --dynamo --out exports/huge
  edgebind export --model runs/bind --precision fp32,fp16,int8 --calib 128 --out exports/bind-q
  edgebind run --model exports/tiny
"""
from __future__ import annotations

import argparse

from edgebind.cli.common import add_command


def run(args) -> int:
    from edgebind.export.pipeline import ExportOptions, export_model
    from edgebind.export.quantize import parse_precisions
    from edgebind.export.runtime import read_manifest

    options = ExportOptions(dynamo=args.dynamo, opset=args.opset, samples=args.samples,
                            allow_random_weights=args.allow_random_weights, precisions=parse_precisions(args.precision),
                            calib=args.calib, calib_method=args.calib_method, int8_fallback=args.int8_fallback)
    modalities = [m.strip() for m in args.modalities.split(",") if m.strip()] if args.modalities else None
    out = export_model(args.model, args.out, modalities, options)
    manifest = read_manifest(out)
    for name, entry in manifest["encoders"].items():
        parity, latency = entry["parity"], entry["latency_ms"]
        zeroshot = (f", zero-shot top-1 {parity['zeroshot_top1_export']:.1f}% (torch "
                    f"{parity['zeroshot_top1_torch']:.1f}%)" if "zeroshot_top1_torch" in parity else "")
        print(f"{name:8s} {entry['file']}: cosine min {parity['cosine_min']:.6f}{zeroshot}, "
              f"onnxruntime {latency['p50']:.2f} ms at batch 1")
        for precision, variant in entry.get("variants", {}).items():
            print(f"{'':8s} {variant['file']}: cosine min {variant['parity']['cosine_min']:.6f}, "
                  f"onnxruntime {variant['latency_ms']['p50']:.2f} ms at batch 1")
    print(f"exported {len(manifest['encoders'])} encoder(s) of {args.model} to {out} "
          f"({entry['exporter']} exporter, opset {entry['opset']})")
    return 0


def add_parser(sub) -> None:
    parser = add_command(sub, "export", __doc__, run)
    parser.add_argument("--model", default="edgebind-tiny-synthetic",
                        help="registered model name or checkpoint directory (default: %(default)s)")
    parser.add_argument("--modalities", help="comma-separated encoders to export (default: all of the model's)")
    parser.add_argument("--out", required=True, help="export directory to write (replaced if it holds an export)")
    parser.add_argument("--opset", type=int, help="ONNX opset (default: 17, or 18 with --dynamo)")
    parser.add_argument("--dynamo", action=argparse.BooleanOptionalAction, default=False,
                        help="use torch.onnx's dynamo exporter instead of the TorchScript one (default: no)")
    parser.add_argument("--samples", type=int, default=256,
                        help="held-out synthetic samples for the parity gates (default: 256, so one changed "
                             "prediction moves top-1 by 0.4 points)")
    parser.add_argument("--precision", default="fp32",
                        help="comma-separated precisions: fp32 (always), fp16, int8 (default: %(default)s)")
    parser.add_argument("--calib", type=int, default=64, help="int8 calibration windows per encoder (default: %(default)s)")
    parser.add_argument("--calib-method", default="percentile", choices=("percentile", "entropy", "minmax"),
                        help="int8 activation range calibration (default: %(default)s)")
    parser.add_argument("--int8-fallback", type=int, default=3, metavar="N",
                        help="most int8 nodes kept fp32 when parity needs it; 0: none (default: %(default)s)")
    parser.add_argument("--allow-random-weights", action="store_true",
                        help="export a config's random weights (for benchmarks and tests only)")
