"""Reproduce ImageBind's emergent alignment end to end at laptop scale (about 8 min, 2 cores).

Generates a synthetic paired world, trains a tiny image-text anchor CLIP-style and freezes it,
binds audio, depth, thermal and IMU with (image, M) pairs only, then reports emergent zero-shot
top-1 against text prompts of held-out samples (chance beside it, and a control run whose
image binding is disabled by pairing each sample with another sample's image), retrieval to
images, and retrieval between modalities that were never paired. Writes OUT/report.json; OUT/bind is the trained model (--model OUT/bind).

examples:
  edgebind reproduce --out runs/tiny
  edgebind reproduce --out runs/quick --train-samples 500 --anchor-epochs 3 --bind-epochs 3
"""
from __future__ import annotations

from edgebind.cli.common import add_command


def run(args) -> int:
    from edgebind.training.metrics import format_table
    from edgebind.training.reproduce import ReproduceConfig, reproduce

    cfg = ReproduceConfig(out=args.out, model=args.model, train_samples=args.train_samples,
                          test_samples=args.test_samples, classes=args.classes, seed=args.seed,
                          anchor_epochs=args.anchor_epochs, bind_epochs=args.bind_epochs, progress=not args.quiet)
    report = reproduce(cfg)
    columns = list(dict.fromkeys(k for row in report["rows"] for k in row))
    print(format_table(report["rows"], columns))
    print("times (s): " + ", ".join(f"{k} {v}" for k, v in report["times"].items()))
    print(f"wrote {args.out}/report.json; trained model: {args.out}/bind")
    return 0


def add_parser(sub) -> None:
    parser = add_command(sub, "reproduce", __doc__, run)
    parser.add_argument("--out", default="runs/reproduce", help="run directory (default: %(default)s)")
    parser.add_argument("--model", default="edgebind-tiny-patch",
                        help="model config to train (default: %(default)s, the shipped edgebind-tiny-synthetic's "
                             "architecture; edgebind-tiny has convolutional depth/thermal stems)")
    parser.add_argument("--train-samples", type=int, default=3000)
    parser.add_argument("--test-samples", type=int, default=400)
    parser.add_argument("--classes", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--anchor-epochs", type=int, default=15)
    parser.add_argument("--bind-epochs", type=int, default=20)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
