"""Evaluation tasks on a model and a data set: zero-shot, retrieval, arithmetic, few-shot.

Every task embeds what it needs through the model's own transforms (samples that cannot be read
are skipped and counted, as in training) and returns a flat dict ready for JSON and a table.
"""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from typing import Optional, Sequence

import torch
import torch.nn.functional as F

from edgebind.errors import InputError
from edgebind.retrieval import chance_recall, retrieval_recall
from edgebind.scoring import class_text_embeddings, zeroshot_scores
from edgebind.training import metrics
from edgebind.training.cache import materialize
from edgebind.sample import PairedDataset
from edgebind.training.data.skip import DEFAULT_MAX_SKIP_FRACTION
from edgebind.training.fewshot import fewshot_eval

_log = logging.getLogger(__name__)


@dataclass
class Embedded:
    """Unit-norm embeddings of the samples (data-set indices `rows`) that have the modality."""

    vectors: torch.Tensor
    rows: list[int]
    skipped: int


@torch.no_grad()
def embed_data(model, data: PairedDataset, modality: str, batch_size: int = 64,
               max_skip_fraction: float = DEFAULT_MAX_SKIP_FRACTION, progress: bool = False) -> Embedded:
    transform = model.transform(modality)
    done = materialize(data.name, len(data), data.__getitem__, lambda r, _: r.tensor(modality, transform),
                       {modality: None}, max_skip_fraction, progress)[modality]
    chunks = [model.encode(modality, done.tensors[i : i + batch_size])
              for i in range(0, len(done.rows), batch_size)]
    return Embedded(F.normalize(torch.cat(chunks), dim=-1), done.rows.tolist(), sum(done.skipped.values()))


def _labels(data: PairedDataset, rows: Sequence[int]) -> list[tuple[str, ...]]:
    return [data[i].labels for i in rows]


def zeroshot(model, data: PairedDataset, modality: str, prompts: Optional[dict] = None) -> dict:
    """Classify `modality` samples against text prompts of the class names; top-1/top-5 (single
    label) or mAP (multi-label), with chance beside them."""
    classes = list(data.classes)
    if not classes:
        raise InputError(f"{data.name} has no class labels: zero-shot needs labelled samples")
    emb = embed_data(model, data, modality)
    scores = zeroshot_scores(emb.vectors, class_text_embeddings(model, classes, prompts))
    labels = _labels(data, emb.rows)
    result = {"task": "zeroshot", "modality": modality, "n": len(emb.rows), "classes": len(classes),
              "skipped": emb.skipped}
    if any(len(l) > 1 for l in labels):
        targets = torch.zeros(len(labels), len(classes))
        for i, names in enumerate(labels):
            targets[i, [classes.index(n) for n in names]] = 1
        chance = float(targets.sum(0).div(len(labels)).mean())
        return {**result, "mAP": metrics.mean_average_precision(scores, targets), "chance": chance}
    targets = torch.tensor([classes.index(l[0]) for l in labels])
    accuracy = metrics.topk_accuracy(scores, targets, ks=(1, 5))
    return {**result, **accuracy, "chance": metrics.chance_topk(len(classes), 1),
            "chance_top5": metrics.chance_topk(len(classes), 5)}


def retrieval(model, data: PairedDataset, modality: str, target: str = "vision") -> dict:
    """Instance retrieval between two modalities of the same samples, both directions, R@1/5/10."""
    query, gallery = embed_data(model, data, modality), embed_data(model, data, target)
    common = sorted(set(query.rows) & set(gallery.rows))
    if len(common) < 2:
        raise InputError(f"fewer than 2 samples have both {modality} and {target}")
    qi = {r: i for i, r in enumerate(query.rows)}
    gi = {r: i for i, r in enumerate(gallery.rows)}
    q = query.vectors[[qi[r] for r in common]]
    g = gallery.vectors[[gi[r] for r in common]]
    recall = retrieval_recall(q, g, ks=(1, 5, 10))
    flat = {f"{modality}->{target} {k}": v for k, v in recall["a_to_b"].items()}
    flat.update({f"{target}->{modality} {k}": v for k, v in recall["b_to_a"].items()})
    return {"task": "retrieval", "modality": modality, "target": target, "n": len(common),
            "R@1": recall["a_to_b"]["R@1"], "R@10": recall["a_to_b"]["R@10"],
            "chance": chance_recall(len(common), 1), **flat}


def fewshot(model, data: PairedDataset, modality: str, shots: Sequence[int], seeds: Sequence[int] = (0, 1, 2),
            method: str = "linear") -> dict:
    """The paper's few-shot probe: every other sample of each class as the pool, the rest as test."""
    classes = list(data.classes)
    emb = embed_data(model, data, modality)
    labels = torch.tensor([classes.index(l[0]) for l in _labels(data, emb.rows)])
    rank_in_class, counts = [], Counter()
    for y in labels.tolist():
        rank_in_class.append(counts[y])
        counts[y] += 1
    pool = torch.tensor([k % 2 == 0 for k in rank_in_class])  # every other sample of each class
    result = fewshot_eval(emb.vectors[pool], labels[pool], emb.vectors[~pool], labels[~pool],
                          shots=tuple(shots), seeds=tuple(seeds), method=method)
    flat = {"task": "fewshot", "modality": modality, "n": len(emb.rows), "method": method,
            "chance": metrics.chance_topk(len(classes), 1)}
    for shot, entry in result.items():
        flat[f"{shot}-shot top1"] = entry["mean"]
        flat[f"{shot}-shot std"] = entry["std"]
        if entry["short_classes"]:  # the probe saw fewer examples than the column says
            short = entry["short_classes"]
            flat[f"{shot}-shot short classes"] = len(short)
            _log.warning("%s-shot: %d of %d classes have fewer than %d pool examples (as few as %d); "
                         "they used all they have, so this is not a true %s-shot figure",
                         shot, len(short), len(classes), shot, min(short.values()), shot)
    return flat


def arithmetic(model, manifest, add: str = "audio", attribute: str = "temperature",
               weights: tuple[float, float] = (1.0, 1.0), center: bool = False) -> dict:
    """Embedding arithmetic on the synthetic world: image_i + X -> images that combine both.

    add=audio: X is the sound of a sample j of another class; a hit is an image of j's class with
    i's `attribute` (which the sound does not carry). add=text: X names the opposite `attribute`
    value ("something hot"); a hit is an image of i's class with that value. Each part alone is
    scored too, so the table shows whether the composition beats both. `weights` (image, X) weigh
    the unit parts of the sum; `center` first subtracts each modality's mean embedding over the
    samples (removing the modality gap, the offset every image or every X shares).
    """
    from edgebind.manifest import read_manifest
    from edgebind.synthetic import ATTRIBUTES

    samples = read_manifest(manifest)
    if attribute not in ATTRIBUTES or any("attributes" not in s.extra for s in samples):
        raise InputError(f"arithmetic needs a synthetic world (manifest rows with 'attributes') and "
                         f"an attribute among {sorted(ATTRIBUTES)}")
    low, high = ATTRIBUTES[attribute]
    classes = sorted({s.label for s in samples})
    cls = torch.tensor([classes.index(s.label) for s in samples])
    level = torch.tensor([s.extra["attributes"][attribute] == high for s in samples]).long()
    images = model.embed({"vision": [s.inputs["vision"] for s in samples]})["vision"]
    if add == "audio":
        partner = torch.tensor([next(j for j in range(i + 1, i + len(samples))
                                     if cls[j % len(samples)] != cls[i]) % len(samples)
                                for i in range(len(samples))])
        add_emb = model.embed({"audio": [samples[int(j)].inputs["audio"] for j in partner]})["audio"]
        targets = cls[partner] * 2 + level
    elif add == "text":
        words = model.embed({"text": [f"something {low}", f"something {high}"]})["text"]
        add_emb = words[1 - level]
        targets = cls * 2 + (1 - level)
    else:
        raise InputError(f"arithmetic adds audio or text, not {add!r}")
    if center:
        images, add_emb = images - images.mean(dim=0), add_emb - add_emb.mean(dim=0)
    result = metrics.arithmetic_retrieval(images, add_emb, images, targets, ks=(1, 5), weights=weights,
                                          gallery_labels=cls * 2 + level)
    chance = (cls * 2 + level).bincount().float().mean().item() / len(samples)
    flat = {"task": "arithmetic", "modality": f"vision+{add}", "attribute": attribute, "weights": list(weights),
            "center": center, "n": len(samples), "chance": chance}
    for name, recalls in result.items():
        flat.update({f"{name} {k}": v for k, v in recalls.items()})
    return flat
