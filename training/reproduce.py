"""The paper's core result at laptop scale: bind four modalities to images only, then measure the
text and cross-modal alignment that emerges (ImageBind Table 2 / Figure 3 in miniature).

1. a synthetic paired world (train and held-out test, different seeds);
2. a tiny image-text anchor trained CLIP-style, then frozen (stands in for OpenCLIP);
3. audio, depth, thermal and IMU bound with (image, M) pairs only;
4. emergent zero-shot (M -> text prompts) and retrieval (M -> image, and between modalities
   that were never paired), beside chance and a control run whose image binding is disabled
   (each M paired with another sample's image: same data, same steps, no correspondence).
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from edgebind.models import load_model
from edgebind.synthetic import CLASS_NAMES, WorldConfig, make_world, prompt_ensemble
from edgebind.training import evaluate
from edgebind.training.config import TrainConfig
from edgebind.training.data.manifest import ManifestDataset
from edgebind.training.trainer import Trainer

BOUND = ("audio", "depth", "thermal", "imu")
NEVER_PAIRED = (("audio", "imu"), ("audio", "depth"), ("thermal", "depth"), ("imu", "thermal"))


@dataclass
class ReproduceConfig:
    """Sizes of the end-to-end run; the defaults take about 8 minutes on 2 CPU cores."""

    out: str
    # The architecture of the shipped edgebind-tiny-synthetic (patchify depth/thermal stems), so the
    # run reproduces that checkpoint; "edgebind-tiny" trains today's convolutional stems instead.
    model: str = "edgebind-tiny-patch"
    train_samples: int = 3000
    test_samples: int = 400
    classes: int = 8
    seed: int = 0
    anchor_epochs: int = 15
    bind_epochs: int = 20
    batch_size: int = 128
    lr: float = 2e-3
    progress: bool = True


def _world(cfg: ReproduceConfig, out: Path) -> tuple[Path, Path, Path]:
    train = make_world(out / "world" / "train", cfg.train_samples, WorldConfig(cfg.classes, cfg.seed),
                       cfg.progress)
    test = make_world(out / "world" / "test", cfg.test_samples, WorldConfig(cfg.classes, cfg.seed + 1),
                      cfg.progress)
    prompts = out / "prompts.json"
    prompts.write_text(json.dumps(prompt_ensemble(list(CLASS_NAMES[: cfg.classes])), indent=1))
    return train, test, prompts


# The recipe this table was made with, pinned so that changes to TrainConfig's defaults (a step
# budget, validation, a time limit, augmentation) leave `edgebind reproduce` byte for byte as documented.
PINNED = dict(val_fraction=0.0, max_minutes=None, drop_last=False, augment={})


def _train(cfg: ReproduceConfig, name: str, data: Path, out: Path, **extra) -> None:
    stage = "anchor" if name == "anchor" else "bind"
    Trainer(TrainConfig(stage=stage, data=str(data), out=str(out / name), epochs=extra.pop("epochs"),
                        batch_size=cfg.batch_size, lr=cfg.lr, seed=cfg.seed, progress=cfg.progress,
                        cache_dir=str(out / "cache"), **PINNED, **extra), overwrite=True).run()


def _report(bound, control, test: ManifestDataset, prompts: dict) -> list[dict]:
    """Rows of the table: zero-shot against text per modality, then retrieval per pair."""
    rows = []
    for modality in ("vision",) + BOUND:
        zs = evaluate.zeroshot(bound, test, modality, prompts)
        row = {"query": modality, "target": "text", "top1": zs["top1"], "chance": zs["chance"]}
        if modality != "vision":  # the anchor itself was trained on text; the rest never saw it
            row["control top1"] = evaluate.zeroshot(control, test, modality, prompts)["top1"]
        rows.append(row)
    for a, b in [(m, "vision") for m in BOUND] + list(NEVER_PAIRED):
        ret = evaluate.retrieval(bound, test, a, b)
        rows.append({"query": a, "target": b, "paired in training": b == "vision",
                     "R@1": ret["R@1"], "R@10": ret["R@10"], "chance": ret["chance"]})
    return rows


def reproduce(cfg: ReproduceConfig) -> dict:
    """Run all steps into cfg.out; returns (and writes to report.json) the figures and timings."""
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    times, start = {}, time.perf_counter()
    train, test, prompts = _world(cfg, out)
    times["world_s"] = time.perf_counter() - start
    _train(cfg, "anchor", train, out, model=cfg.model, epochs=cfg.anchor_epochs)
    times["anchor_s"] = time.perf_counter() - start - sum(times.values())
    _train(cfg, "bind", train, out, init=str(out / "anchor"), modalities=BOUND, epochs=cfg.bind_epochs)
    times["bind_s"] = time.perf_counter() - start - sum(times.values())
    _train(cfg, "control", train, out, init=str(out / "anchor"), modalities=BOUND, epochs=cfg.bind_epochs,
           shuffle_pairs=True)
    times["control_s"] = time.perf_counter() - start - sum(times.values())
    rows = _report(load_model(out / "bind"), load_model(out / "control"), ManifestDataset(test),
                   json.loads(prompts.read_text()))
    times["eval_s"] = time.perf_counter() - start - sum(times.values())
    report = {"config": asdict(cfg), "rows": rows, "times": {k: round(v, 1) for k, v in times.items()}}
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report
