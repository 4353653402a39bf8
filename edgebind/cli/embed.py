"""Embed files or strings of one modality into the shared space.

Writes unit-norm float32 vectors [N, dim] to --out (.npy, input order) with a JSON beside it
(OUT.json: which input each row is, and what was skipped and why), or prints them.
Inputs per modality: image PNG/JPEG; text strings; audio WAV (any rate, any channels);
depth 16-bit PNG (millimetres) or .npy (metres); thermal .npy (Kelvin) or 16-bit TIFF
(centikelvin) or 8-bit PNG; imu CSV (t,ax,ay,az,gx,gy,gz) or .npy (T x 6).
Depth needs the camera that took it (--camera, or --baseline-m with --focal-px); thermal values
are read in --units. A bad input stops the run with its name, unless --skip-bad.

examples:
  edgebind embed --modality audio a.wav b.wav --out audio.npy
  edgebind embed --model runs/bind --modality text "a dog barking" "a drill" --out text.npy
  edgebind embed --modality depth frames/*.png --camera realsense_d435 --out depth.npy
  edgebind embed --modality thermal lepton/*.npy --units celsius --skip-bad --out thermal.npy
  edgebind embed --model models/imagebind_huge --modality imu walk.csv
  edgebind embed --model exports/tiny --modality audio a.wav   (an `edgebind export` directory)
"""
from __future__ import annotations

import json

from edgebind.cli.common import add_command, output_file
from edgebind.errors import ConfigError, InputError
from edgebind.modality import Modality

# option -> (the modality it belongs to, the transform setting it replaces)
TRANSFORM_OPTIONS = {"camera": ("depth", "camera"), "baseline_m": ("depth", "baseline_m"),
                     "focal_px": ("depth", "focal_px"), "units": ("thermal", "units")}


def _options(args, modality: Modality) -> dict:
    """The transform settings given on the command line; an option of another modality is an error."""
    given = {key: getattr(args, key) for key in TRANSFORM_OPTIONS if getattr(args, key) is not None}
    for key in given:
        if TRANSFORM_OPTIONS[key][0] != modality.value:
            raise ConfigError(f"--{key.replace('_', '-')} applies to --modality "
                              f"{TRANSFORM_OPTIONS[key][0]}, not {modality.value}")
    if ("baseline_m" in given) != ("focal_px" in given):
        raise ConfigError("--baseline-m and --focal-px go together (the camera's baseline and its fx)")
    return {TRANSFORM_OPTIONS[key][1]: value for key, value in given.items()}


def _transform_all(transform, modality: Modality, items: list, skip_bad: bool):
    """(tensors of the readable inputs, their positions, [(position, error)] of the skipped ones)."""
    tensors, kept, skipped = [], [], []
    for index, item in enumerate(items):
        try:
            tensors.append(transform.named(item, f"{modality.value} input {index}"))
            kept.append(index)
        except InputError as exc:
            if not skip_bad:
                raise
            skipped.append((index, str(exc)))
    return tensors, kept, skipped


def _open_model(args, modality: Modality):
    """The checkpoint or config --model names, or an export directory's onnxruntime encoders."""
    from edgebind.export.runtime import ExportedModel, is_export_dir
    from edgebind.models import create_model

    if is_export_dir(args.model):
        if args.anchor_weights:
            raise ConfigError(f"{args.model} is an export directory: its graphs hold their weights; "
                              "leave out --anchor-weights")
        return ExportedModel(args.model, [modality])
    return create_model(args.model, modalities=[modality], anchor_weights=args.anchor_weights)


def run(args) -> int:
    import numpy as np
    import torch

    modality = Modality.parse(args.modality)
    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {args.batch_size}")
    options = _options(args, modality)
    out = output_file(args.out, "--out", ".npy") if args.out else None
    model = _open_model(args, modality)
    if modality in getattr(model, "random_weights", ()) and not args.allow_random_weights:
        raise ConfigError(f"{args.model}'s {modality.value} encoder has random, untrained weights (a config, "
                          "not a checkpoint); use edgebind-tiny-synthetic, a trained checkpoint directory, or "
                          "pass --allow-random-weights to embed with it anyway")
    items = list(args.inputs)
    transform = model.transform(modality, **options)
    if modality is Modality.TEXT:
        tensors, kept, skipped = [transform.batch(items)], list(range(len(items))), []
    else:
        tensors, kept, skipped = _transform_all(transform, modality, items, args.skip_bad)
    for index, error in skipped:
        print(f"skipped {error}")
    if not kept:
        raise InputError(f"none of the {len(items)} {modality.value} inputs could be read")
    x = torch.cat(tensors) if modality is Modality.TEXT else torch.stack(tensors)
    vectors = model.embed_tensors(modality, x, args.batch_size)
    vectors = np.asarray(vectors.cpu() if isinstance(vectors, torch.Tensor) else vectors, dtype=np.float32)
    if out is None:
        np.set_printoptions(precision=4, suppress=True, linewidth=120)
        for index, vector in zip(kept, vectors):
            print(f"{items[index]}: {vector}")
        return 0
    np.save(out, vectors)
    index = {"model": str(args.model), "modality": modality.value, "options": options,
             "rows": [items[i] for i in kept],
             "skipped": [{"input": items[i], "position": i, "error": e} for i, e in skipped]}
    out.with_suffix(".json").write_text(json.dumps(index, indent=1) + "\n")
    print(f"wrote {vectors.shape[0]} x {vectors.shape[1]} {modality.value} embeddings to {out} "
          f"(rows listed in {out.with_suffix('.json')}" + (f"; {len(skipped)} skipped)" if skipped else ")"))
    return 0


def add_parser(sub) -> None:
    parser = add_command(sub, "embed", __doc__, run)
    parser.add_argument("--model", default="edgebind-tiny-synthetic",
                        help="registered model name, checkpoint directory or export directory (default: %(default)s)")
    parser.add_argument("--modality", required=True, choices=[m.value for m in Modality] + ["image"])
    parser.add_argument("inputs", nargs="+", help="files, or strings for --modality text")
    parser.add_argument("--out", help="write the embeddings to this .npy file (and the row index to OUT.json)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--camera", help="depth: camera preset (kinect_v1, kinect_v2, realsense_d415, "
                        "realsense_d435, realsense_d455, xtion)")
    parser.add_argument("--baseline-m", type=float, help="depth: the camera's stereo baseline, metres")
    parser.add_argument("--focal-px", type=float, help="depth: the camera's fx at the frame's resolution, pixels")
    parser.add_argument("--units", help="thermal: what the values are: kelvin, celsius, centikelvin, uint8 "
                        "or auto (default: from the dtype)")
    parser.add_argument("--skip-bad", action="store_true",
                        help="skip inputs that cannot be read (listed with the reason) instead of stopping")
    parser.add_argument("--allow-random-weights", action="store_true",
                        help="embed even with an untrained config's random weights (for testing only)")
    parser.add_argument("--anchor-weights", help="local OpenCLIP weights file for the image/text anchor")
