"""Train: the image-text anchor (--stage anchor) or bind modalities to frozen images (--stage bind).

The bind stage uses (image, M) pairs only, never (M, text): text alignment of audio, depth,
thermal and IMU emerges through the shared image space. Frozen image embeddings and
preprocessed inputs are cached under OUT/cache, so later epochs and runs skip that work.
Options override a JSON --config; --set KEY=VALUE overrides any TrainConfig field.
The run lasts --max-steps optimizer steps (or --epochs), at most --max-minutes, and stops early
when the validation score (emergent zero-shot and never-paired retrieval on --val-data, or on a
held-out val_fraction of --data) stops improving; it prints why it stopped, and keeps the best
checkpoint in OUT/best (pass that to the next stage's --init).
SIGINT/SIGTERM saves a checkpoint and exits; --resume continues exactly where it stopped.

examples:
  edgebind train --stage anchor --model edgebind-tiny --data world/manifest.jsonl --out runs/anchor
  edgebind train --stage bind --init runs/anchor/best --data world/manifest.jsonl \\
      --modalities audio,depth,thermal,imu --out runs/bind
  edgebind train --stage bind --init edgebind-small --anchor-weights ViT-B-32.safetensors \\
      --data llvip:/data/LLVIP --data-option split=train --modalities thermal --out runs/llvip \\
      --set precision=bf16
  edgebind train --config train.json --out runs/bind --resume
"""
from __future__ import annotations

import json

from edgebind.cli.common import add_command


def run(args) -> int:
    from edgebind.training.config import load_train_config
    from edgebind.training.data.sources import parse_options
    from edgebind.training.trainer import Trainer

    overrides = {
        "stage": args.stage, "data": args.data, "out": args.out, "model": args.model, "init": args.init,
        "anchor_weights": args.anchor_weights, "epochs": args.epochs, "max_steps": args.max_steps,
        "max_minutes": args.max_minutes, "val_data": args.val_data, "batch_size": args.batch_size,
        "lr": args.lr, "seed": args.seed,
        "modalities": args.modalities.split(",") if args.modalities else None,
        "data_options": parse_options(args.data_option) or None,
    }
    cfg = load_train_config(args.config, overrides, args.set or ())
    summary = Trainer(cfg, resume=args.resume, overwrite=args.overwrite).run()
    print(json.dumps(summary))
    return 130 if summary["interrupted"] else 0


def add_parser(sub) -> None:
    parser = add_command(sub, "train", __doc__, run)
    parser.add_argument("--config", help="JSON file of TrainConfig fields")
    parser.add_argument("--stage", choices=["anchor", "bind"])
    parser.add_argument("--data", help="manifest.jsonl (or its folder), or KIND:ROOT (audioset, llvip, ...)")
    parser.add_argument("--out", help="run directory: checkpoint, metrics.jsonl, cache/")
    parser.add_argument("--model", help="anchor stage: model name or config to start from")
    parser.add_argument("--init", help="bind stage: trained anchor checkpoint directory or model name")
    parser.add_argument("--anchor-weights", help="local OpenCLIP weights file for the anchor")
    parser.add_argument("--data-option", action="append", metavar="KEY=VALUE",
                        help="option for a KIND:ROOT data set, e.g. split=train (repeatable)")
    parser.add_argument("--modalities", help="bind stage: comma-separated, e.g. audio,depth,thermal,imu")
    parser.add_argument("--val-data", help="validation data (as --data); default: a held-out val_fraction of --data")
    parser.add_argument("--max-steps", type=int, help="optimizer steps (the schedule's length)")
    parser.add_argument("--max-minutes", type=float, help="wall-time budget of the training loop")
    parser.add_argument("--epochs", type=int, help="train this many epochs instead of --max-steps")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", help="override any config field")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out exactly")
    parser.add_argument("--overwrite", action="store_true",
                        help="start afresh in an --out that holds a run (its checkpoint and metrics are replaced)")
