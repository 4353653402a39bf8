"""Embed files or strings of one modality into the shared space.

Writes unit-norm float32 vectors [N, dim] to --out (.npy), in input order, or prints them.
Inputs per modality: image PNG/JPEG; text strings; audio WAV (any rate, any channels);
depth 16-bit PNG (millimetres) or .npy (metres); thermal .npy (Kelvin) or 16-bit TIFF
(centikelvin) or 8-bit PNG; imu CSV (t,ax,ay,az,gx,gy,gz) or .npy (T x 6).

examples:
  edgebind embed --modality audio a.wav b.wav --out audio.npy
  edgebind embed --model runs/bind --modality text "a dog barking" "a drill" --out text.npy
  edgebind embed --model models/imagebind_huge --modality imu walk.csv
"""
from __future__ import annotations

from pathlib import Path

from edgebind.cli.common import add_command
from edgebind.modality import Modality


def run(args) -> int:
    import numpy as np

    from edgebind.models import create_model

    modality = Modality.parse(args.modality)
    model = create_model(args.model, modalities=[modality], anchor_weights=args.anchor_weights)
    embeddings = model.embed({modality.value: list(args.inputs)}, batch_size=args.batch_size)
    vectors = embeddings[modality.value].cpu().numpy().astype(np.float32)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        np.save(out, vectors)
        print(f"wrote {vectors.shape[0]} x {vectors.shape[1]} {modality.value} embeddings to {out}")
    else:
        np.set_printoptions(precision=4, suppress=True, linewidth=120)
        for name, vector in zip(args.inputs, vectors):
            print(f"{name}: {vector}")
    return 0


def add_parser(sub) -> None:
    parser = add_command(sub, "embed", __doc__, run)
    parser.add_argument("--model", default="edgebind-tiny-synthetic",
                        help="registered model name or checkpoint directory (default: %(default)s)")
    parser.add_argument("--modality", required=True, choices=[m.value for m in Modality] + ["image"])
    parser.add_argument("inputs", nargs="+", help="files, or strings for --modality text")
    parser.add_argument("--out", help="write the embeddings to this .npy file")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--anchor-weights", help="local OpenCLIP weights file for the image/text anchor")
