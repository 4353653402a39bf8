"""Training throughput of the bind stage with the on-disk caches vs. without them.

Uncached is what a naive loop does every step: read and transform each sample's raw files and
run the frozen image tower. Cached is edgebind's trainer: preprocessed inputs and image
embeddings come from OUT/cache, so a step only runs the trainable encoder. Both time the same
optimizer steps of the same model on the same batches.

usage: .venv/bin/python benchmarks/train_cache.py [--samples 256] [--modality audio]
       [--out benchmarks/train_cache.json]
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from edgebind.synthetic import WorldConfig, make_world
from edgebind.training.config import TrainConfig
from edgebind.training.loss import info_nce
from edgebind.training.trainer import Trainer


def _uncached_rate(trainer: Trainer, modality: str, batch_size: int) -> float:
    """Samples/s of steps that transform raw files and run the image tower every time."""
    model, data = trainer.model, trainer.data
    image_tf, other_tf = model.transform("vision"), model.transform(modality)
    scale = trainer.model.logit_scale(modality).scale
    start, seen = time.perf_counter(), 0
    for batch in trainer._batches(0):
        records = [data[int(i)] for i in batch]
        with torch.no_grad():
            images = model.encode("vision", torch.stack([image_tf(r.raw("vision")) for r in records]))
        inputs = torch.stack([other_tf(r.raw(modality)) for r in records])
        loss = info_nce(images, model.encode(modality, inputs), scale)
        trainer.optimizer.zero_grad()
        loss.backward()
        trainer.optimizer.step()
        seen += len(batch)
    return seen / (time.perf_counter() - start)


def _cached_rate(trainer: Trainer) -> float:
    start, seen = time.perf_counter(), 0
    batches = trainer._batches(0)
    for batch, pairs in zip(batches, trainer.pairs.epoch(batches)):
        loss, _ = trainer._loss(pairs)
        trainer.optimizer.zero_grad()
        loss.backward()
        trainer.optimizer.step()
        seen += len(batch)
    return seen / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--modality", default="audio")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--out", default=str(Path(__file__).with_name("train_cache.json")))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        manifest = make_world(Path(tmp) / "world", args.samples, WorldConfig(), progress=False)
        cfg = TrainConfig(stage="bind", data=str(manifest), out=str(Path(tmp) / "run"), model="edgebind-tiny",
                          modalities=(args.modality,), batch_size=args.batch_size, progress=False)
        start = time.perf_counter()
        trainer = Trainer(cfg)
        fill = time.perf_counter() - start
        uncached = _uncached_rate(trainer, args.modality, args.batch_size)
        cached = _cached_rate(trainer)
    report = {"model": "edgebind-tiny", "modality": args.modality, "samples": args.samples,
              "batch_size": args.batch_size, "threads": torch.get_num_threads(),
              "cache_fill_s": round(fill, 2), "uncached_samples_per_s": round(uncached, 1),
              "cached_samples_per_s": round(cached, 1), "speedup": round(cached / uncached, 2)}
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
