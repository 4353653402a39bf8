"""Offline demo: embed a fresh synthetic world with the shipped tiny model and show the shared space.

Needs no sensor and no download. The default model, edgebind-tiny-synthetic, was trained by
`edgebind reproduce`: its audio, depth, thermal and IMU encoders only ever saw images. The demo
generates held-out scenes (a seed training never used) and prints:
  - zero-shot top-1 of every modality against text prompts of the class names (the emergent
    text alignment), with chance beside it;
  - instance retrieval R@1 (%) between every pair of modalities: how often a sample's own
    embedding in the column modality is the nearest to its row-modality embedding;
  - a text query ranked over the sounds, depth maps and IMU traces.

examples:
  edgebind demo
  edgebind demo --samples 64 --out world/        # keep the generated data set
  edgebind demo --model runs/tiny/bind           # a checkpoint of your own
  edgebind demo --query "a hot drill"
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from edgebind.cli.common import add_command, output_dir

DEMO_SEED = 1234  # held out: reproduce trains on seed 0 and tests on seed 1


def retrieval_table(embeddings: dict) -> str:
    """R@1 (%) of instance retrieval for every ordered pair of modalities, as a text table."""
    from edgebind.retrieval import retrieval_recall

    names = list(embeddings)
    width = max(len(n) for n in names) + 2
    lines = ["query \\ target".ljust(width + 6) + "".join(n.rjust(width) for n in names)]
    for row in names:
        cells = []
        for col in names:
            if col == row:
                cells.append("-".rjust(width))
                continue
            hits = retrieval_recall(embeddings[row], embeddings[col], ks=(1,))["a_to_b"]["R@1"]
            cells.append(f"{100 * hits:.0f}".rjust(width))
        lines.append(row.ljust(width + 6) + "".join(cells))
    return "\n".join(lines)


def run(args) -> int:
    import torch

    from edgebind.manifest import read_manifest
    from edgebind.models import create_model
    from edgebind.scoring import class_text_embeddings, zeroshot_scores
    from edgebind.synthetic import WorldConfig, make_world, prompt_ensemble

    kept = output_dir(args.out, "--out") if args.out else None  # checked before the model loads
    model = create_model(args.model)
    with tempfile.TemporaryDirectory() as tmp:
        out = kept or Path(tmp)
        records = read_manifest(make_world(out, args.samples, WorldConfig(num_classes=args.classes,
                                                                          seed=args.seed), progress=False))
        classes = sorted({r.label for r in records})
        labels = torch.tensor([classes.index(r.label) for r in records])
        inputs = {m.value: [r.raw(m.value) for r in records] for m in model.modalities}
        embeddings = model.embed(inputs)
        prompts = class_text_embeddings(model, classes, prompt_ensemble(classes))
        print(f"model {args.model}; {len(records)} held-out synthetic samples, {len(classes)} classes"
              + (f", written to {out}" if args.out else ""))
        print(f"\nzero-shot top-1 against text prompts (chance {100 / len(classes):.1f}%):")
        for modality, vectors in embeddings.items():
            if modality != "text":
                top1 = (zeroshot_scores(vectors, prompts).argmax(dim=1) == labels).float().mean()
                print(f"  {modality:<8} {100 * top1:5.1f}%")
        print(f"\ninstance retrieval R@1 (%), chance {100 / len(records):.1f}:")
        print(retrieval_table(embeddings))
        query = model.embed({"text": [args.query]})["text"]
        print(f'\ntext query "{args.query}": best match per modality')
        for modality in ("audio", "depth", "thermal", "imu"):
            if modality in embeddings:
                best = int((embeddings[modality] @ query.T).argmax())
                print(f"  {modality:<8} sample {records[best].id}: {records[best].caption}")
    return 0


def add_parser(sub) -> None:
    parser = add_command(sub, "demo", __doc__, run)
    parser.add_argument("--model", default="edgebind-tiny-synthetic",
                        help="model name or checkpoint directory (default: %(default)s)")
    parser.add_argument("--samples", type=int, default=64, help="samples to generate (default: 64)")
    parser.add_argument("--classes", type=int, default=8, help="scene classes (default: 8)")
    parser.add_argument("--seed", type=int, default=DEMO_SEED)
    parser.add_argument("--query", default="a large hot drone", help="text to search the sensors with")
    parser.add_argument("--out", help="keep the generated world in this directory")
