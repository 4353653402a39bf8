"""Offline demo: make a synthetic paired world, embed every modality, print cross-modal retrieval.

Needs no sensor and no download. For each pair of modalities it retrieves, for every sample's
row-modality embedding, the nearest column-modality embedding among all samples and reports how
often that is the sample's own (R@1, in %; chance is 100/N). A model that has learned one shared
space scores far above chance everywhere; freshly initialised weights sit near chance.

examples:
  edgebind demo
  edgebind demo --samples 64 --out world/        # keep the generated data set
  edgebind demo --model runs/bind                # a trained checkpoint directory
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from edgebind.cli.common import add_command


def retrieval_table(embeddings: dict) -> str:
    """R@1 (%) of instance retrieval for every ordered pair of modalities, as a text table."""
    import torch

    names = list(embeddings)
    width = max(len(n) for n in names) + 2
    lines = ["query \\ target".ljust(width + 6) + "".join(n.rjust(width) for n in names)]
    for row in names:
        cells = []
        for col in names:
            if col == row:
                cells.append("-".rjust(width))
                continue
            sim = embeddings[row] @ embeddings[col].T
            hits = (sim.argmax(dim=1) == torch.arange(sim.shape[0])).float().mean()
            cells.append(f"{100 * hits:.0f}".rjust(width))
        lines.append(row.ljust(width + 6) + "".join(cells))
    return "\n".join(lines)


def run(args) -> int:
    from edgebind.manifest import read_manifest
    from edgebind.models import create_model
    from edgebind.synthetic import WorldConfig, make_world

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out or tmp)
        manifest = make_world(out, args.samples, WorldConfig(num_classes=args.classes, seed=args.seed))
        samples = read_manifest(manifest)
        model = create_model(args.model)
        inputs = {"text": [s.caption for s in samples]}
        for modality in model.modalities:
            if modality.value != "text":
                inputs[modality.value] = [s.paths[modality.value] for s in samples]
        embeddings = model.embed(inputs)
    trained = Path(args.model).is_dir()
    print(f"model {args.model} ({'trained checkpoint' if trained else 'fresh weights, untrained'}); "
          f"{len(samples)} synthetic samples, {args.classes} classes"
          + (f", written to {out}" if args.out else ""))
    print(f"instance retrieval R@1 (%), chance {100 / len(samples):.1f}:")
    print(retrieval_table(embeddings))
    return 0


def add_parser(sub) -> None:
    parser = add_command(sub, "demo", __doc__, run)
    parser.add_argument("--model", default="edgebind-tiny",
                        help="registered model name or checkpoint directory (default: %(default)s)")
    parser.add_argument("--samples", type=int, default=32, help="samples to generate (default: 32)")
    parser.add_argument("--classes", type=int, default=8, help="scene classes (default: 8)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="keep the generated world in this directory")
