"""What does each embedding carry of a sample's class and attributes? (issue 9) Measured on the
world and the bound model that `fresh_world_recipe.py` leaves behind:

1. Per modality (the frozen image tower included), a linear probe per factor (the class; size,
   temperature, speed, distance) trained on the training world's embeddings and scored on the test
   world. Never-paired instance retrieval can only use a factor that both modalities' embeddings
   carry, and every bound modality learns its factors from the image embeddings it is paired with.
2. The text tower: the mean cosine between two captions that differ in one attribute only (1.0: the
   text tower does not tell them apart), beside two captions that differ in the class only.
3. How visible speed (a horizontal motion blur) is in the images themselves: the test accuracy of a
   threshold, fitted on the training world, on the ratio of horizontal to vertical gradient energy.

    python benchmarks/fresh_world_recipe.py && python benchmarks/embedding_factors.py
"""
from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F

from edgebind.models import load_model
from edgebind.synthetic.world import ATTRIBUTES, caption_for
from edgebind.training.data.manifest import ManifestDataset
from edgebind.training.evaluate import embed_data
from edgebind.training.metrics import format_table

MODALITIES = ("vision", "audio", "depth", "thermal", "imu")
PROBE_STEPS = 300


def factors(rows: list[dict], classes: list[str]) -> dict[str, torch.Tensor]:
    """Per factor, each sample's target: its class index, or 1 for an attribute's "high" value."""
    targets = {"class": torch.tensor([classes.index(r["label"]) for r in rows])}
    for name, (_, high) in ATTRIBUTES.items():
        targets[name] = torch.tensor([int(r["attributes"][name] == high) for r in rows])
    return targets


def probe(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor) -> float:
    """Test accuracy of a linear classifier fitted (full batch, Adam) on the training embeddings."""
    torch.manual_seed(0)
    linear = torch.nn.Linear(train_x.shape[1], int(train_y.max()) + 1)
    optimizer = torch.optim.Adam(linear.parameters(), lr=0.05)
    for _ in range(PROBE_STEPS):
        optimizer.zero_grad()
        F.cross_entropy(linear(10 * train_x), train_y).backward()
        optimizer.step()
    return float((linear(10 * test_x).argmax(1) == test_y).float().mean())


def caption_cosines(model, classes: list[str]) -> dict[str, float]:
    """Mean cosine between the text embeddings of captions that differ in one factor only."""
    combos = list(itertools.product(*ATTRIBUTES.values()))  # attribute values, in ATTRIBUTES order
    keys = [(name, values) for name in classes for values in combos]
    with torch.no_grad():
        captions = [caption_for(name, dict(zip(ATTRIBUTES, values))) for name, values in keys]
        vectors = F.normalize(model.embed({"text": captions})["text"], dim=-1)
    index = {key: i for i, key in enumerate(keys)}
    result = {}
    for k, (name, (low, high)) in enumerate(ATTRIBUTES.items()):
        pairs = [(i, index[(n, v[:k] + (high,) + v[k + 1:])]) for (n, v), i in index.items() if v[k] == low]
        result[name] = sum(float(vectors[i] @ vectors[j]) for i, j in pairs) / len(pairs)
    pairs = [(index[(a, v)], index[(b, v)]) for a, b in zip(classes, classes[1:]) for v in combos]
    result["class"] = sum(float(vectors[i] @ vectors[j]) for i, j in pairs) / len(pairs)
    return result


def blur_ratio(image_path: Path) -> float:
    """Horizontal over vertical gradient energy of an image: lower when it is blurred sideways."""
    grey = np.asarray(Image.open(image_path), dtype=np.float32).mean(axis=2)
    return float(np.abs(np.diff(grey, axis=1)).sum() / np.abs(np.diff(grey, axis=0)).sum())


def speed_visibility(worlds: dict[str, Path], rows: dict[str, list[dict]]) -> float:
    """Test accuracy of the best training-world threshold on blur_ratio (fast: below it)."""
    ratios = {split: np.array([blur_ratio(worlds[split].parent / r["image"]) for r in rows[split]]) for split in rows}
    fast = {split: np.array([r["attributes"]["speed"] == ATTRIBUTES["speed"][1] for r in rows[split]]) for split in rows}
    best = max(np.unique(ratios["train"]), key=lambda t: ((ratios["train"] < t) == fast["train"]).mean())
    return float(((ratios["test"] < best) == fast["test"]).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", default="/tmp/edgebind-fresh-world", help="fresh_world_recipe.py's --out")
    parser.add_argument("--json", default=str(Path(__file__).with_suffix(".json")))
    args = parser.parse_args()
    run, start = Path(args.run), time.perf_counter()
    model = load_model(run / "bind" / "best")
    worlds = {split: run / split / "manifest.jsonl" for split in ("train", "test")}
    rows = {split: [json.loads(line) for line in path.read_text().splitlines()] for split, path in worlds.items()}
    classes = sorted({r["label"] for r in rows["train"]})
    targets = {split: factors(rows[split], classes) for split in worlds}
    table = []
    for modality in MODALITIES:
        with torch.no_grad():
            embedded = {split: embed_data(model, ManifestDataset(path), modality) for split, path in worlds.items()}
        assert all(e.rows == list(range(len(rows[s]))) for s, e in embedded.items()), "skipped samples"
        table.append({"embedding": modality, **{
            name: round(probe(embedded["train"].vectors, targets["train"][name], embedded["test"].vectors,
                              targets["test"][name]), 3) for name in targets["train"]}})
    chance = {name: round(float(torch.bincount(y).max() / len(y)), 3) for name, y in targets["test"].items()}
    table.append({"embedding": "chance (majority)", **chance})
    cosines = {k: round(v, 4) for k, v in caption_cosines(model, classes).items()}
    table.append({"embedding": "text: caption cosine, one factor changed", **cosines})
    visible = round(speed_visibility(worlds, rows), 3)
    print(format_table(table, ["embedding", "class", *ATTRIBUTES]))
    print(f"speed from the images' blur (gradient-energy threshold): {visible} test accuracy")
    report = {"run": str(run), "train_samples": len(rows["train"]), "test_samples": len(rows["test"]),
              "probe": f"linear, {PROBE_STEPS} full-batch Adam steps on the training world's embeddings",
              "rows": table, "speed_from_image_blur_accuracy": visible,
              "seconds": round(time.perf_counter() - start, 1)}
    Path(args.json).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
