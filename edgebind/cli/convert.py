"""Convert the official ImageBind checkpoint into an edgebind checkpoint directory.

Reads imagebind_huge.pth (memory-mapped, weights only: nothing in the file is executed), checks
every key and shape against the imagebind_huge config, and writes OUT_DIR/config.json and
OUT_DIR/model.safetensors, usable wherever --model takes a directory. The official weights are
CC-BY-NC 4.0: bring your own copy; edgebind never downloads them.

examples:
  edgebind convert ~/.checkpoints/imagebind_huge.pth models/imagebind_huge
  edgebind embed --model models/imagebind_huge --modality audio dog.wav
"""
from __future__ import annotations

import time

from edgebind.cli.common import add_command


def run(args) -> int:
    from edgebind.models.convert import convert_imagebind

    start = time.perf_counter()
    out = convert_imagebind(args.checkpoint, args.out_dir, model=args.model)
    print(f"converted {args.checkpoint} -> {out} in {time.perf_counter() - start:.1f} s")
    return 0


def add_parser(sub) -> None:
    parser = add_command(sub, "convert", __doc__, run)
    parser.add_argument("checkpoint", help="the official .pth file")
    parser.add_argument("out_dir", help="directory to write the edgebind checkpoint to")
    parser.add_argument("--model", default="imagebind_huge", help="target config (default: %(default)s)")
