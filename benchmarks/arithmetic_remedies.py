"""Embedding arithmetic (image + audio, image + text): which remedy stops the image dominating?

On the shipped `edgebind-tiny-synthetic` and a held-out default world (or --model on a drawn
world), scores `evaluate.arithmetic` as ImageBind does it (the sum of unit embeddings) against
the known remedies: weighing the added modality up, and centring each modality (subtracting its
mean embedding, i.e. removing the modality gap) before normalising and summing.

    python benchmarks/arithmetic_remedies.py     # writes benchmarks/arithmetic_remedies.json
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from edgebind.models import create_model
from edgebind.synthetic import WorldConfig, make_world
from edgebind.training import evaluate
from edgebind.training.metrics import format_table

WEIGHTS = (1.0, 1.5, 2.0, 3.0, 4.0)  # weight of the added modality; the image's is 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="edgebind-tiny-synthetic")
    parser.add_argument("--classes", type=int, default=8)
    parser.add_argument("--signature-seed", type=int, help="the drawn world --model was trained on")
    parser.add_argument("--samples", type=int, default=400)
    parser.add_argument("--json", default=str(Path(__file__).with_suffix(".json")))
    args = parser.parse_args()
    model = create_model(args.model).eval()
    world = WorldConfig(args.classes, seed=1, signature_seed=args.signature_seed)  # seed 1: held out
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        manifest = make_world(tmp, args.samples, world, progress=False)
        for add in ("audio", "text"):
            for center in (False, True):
                for weight in WEIGHTS:
                    found = evaluate.arithmetic(model, manifest, add=add, weights=(1.0, weight), center=center)
                    rows.append({"sum": f"image + {add}", "centred": center, "add weight": weight,
                                 **{k: found[k] for k in ("composed R@1", "composed R@5", "base_only R@1",
                                                          "add_only R@1", "chance")}})
    print(format_table(rows, list(rows[0])))
    report = {"model": args.model, "world": {"classes": args.classes, "signature_seed": args.signature_seed,
                                             "samples": args.samples, "seed": 1}, "rows": rows}
    Path(args.json).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
