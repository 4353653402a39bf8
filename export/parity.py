"""Parity gates at export time: an exported encoder must embed held-out inputs as PyTorch does.

Held-out inputs come from a synthetic world drawn with a seed no training run uses, read through the
model's own transforms. Two gates per encoder: the cosine of every held-out embedding against
PyTorch's (fp32: >= 0.9999), and zero-shot top-1 against the class prompts at most 1 point below
PyTorch's (text embedded by the exported text tower when it is exported too). The gate is one-sided:
quantization noise flips a few held-out predictions either way, and a gain is no regression.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from edgebind.scoring import class_embeddings, zeroshot_scores
from edgebind.synthetic import WorldConfig, make_world, prompt_ensemble

HELDOUT_SEED = 7919  # training worlds use seeds 0 and 1 (edgebind reproduce); this one is unseen
CALIB_SEED = 104729  # int8 calibration windows: another unseen world, so the gates never see them
MIN_COSINE = 0.9999  # fp32
MIN_COSINE_REDUCED = 0.99  # fp16 / int8 variants
MAX_TOP1_POINTS = 1.0  # zero-shot top-1 may fall below PyTorch's by at most this many points

Embedder = Callable[[torch.Tensor], np.ndarray]  # preprocessed batch -> unit-norm embeddings


@dataclass(frozen=True)
class Gates:
    min_cosine: float = MIN_COSINE
    max_top1_points: float = MAX_TOP1_POINTS


@dataclass
class Parity:
    """One encoder's figures against PyTorch on the held-out inputs."""

    modality: str
    samples: int
    cosine_min: float
    cosine_mean: float
    top1_torch: float | None = None  # percent; None for text (it is the classifier)
    top1_export: float | None = None

    def failures(self, gates: Gates) -> list[str]:
        """What fails `gates`, each naming the encoder and the figures."""
        found = []
        if not self.cosine_min >= gates.min_cosine:
            found.append(f"{self.modality}: cosine vs PyTorch min {self.cosine_min:.6f} (mean {self.cosine_mean:.6f}) "
                         f"over {self.samples} held-out inputs is below the gate {gates.min_cosine}")
        # 1e-6: percentages of a few samples are not exact in floating point (72.0 - 71.0 > 1.0)
        if self.top1_torch is not None and not self.top1_torch - self.top1_export <= gates.max_top1_points + 1e-6:
            found.append(f"{self.modality}: zero-shot top-1 {self.top1_export:.1f}% vs PyTorch {self.top1_torch:.1f}% "
                         f"is more than {gates.max_top1_points} point(s) below it over {self.samples} held-out inputs")
        return found

    def to_dict(self) -> dict:
        figures = {"samples": self.samples, "cosine_min": self.cosine_min, "cosine_mean": self.cosine_mean}
        if self.top1_torch is not None:
            figures.update(zeroshot_top1_torch=self.top1_torch, zeroshot_top1_export=self.top1_export)
        return figures


@dataclass
class HeldOut:
    """Held-out preprocessed inputs per modality, their labels, and the class prompts' tokens."""

    inputs: dict[str, torch.Tensor]
    labels: torch.Tensor
    prompt_tokens: torch.Tensor
    prompt_class: torch.Tensor
    num_classes: int


def held_out(model, modalities, samples: int, classes: int, folder: Path, seed: int = HELDOUT_SEED) -> HeldOut:
    """Render `samples` held-out synthetic samples (world `seed`) into `folder` and preprocess them for
    `modalities` with `model`'s transforms (files, as in training); the text inputs are the captions."""
    from edgebind.manifest import read_manifest

    config = WorldConfig(num_classes=classes, seed=seed)
    rows = read_manifest(make_world(folder, samples, config, progress=False))
    names = list(config.class_names)
    inputs = {m.value: model.transform(m).batch([r.raw(m.value) for r in rows]) for m in modalities}
    prompts = prompt_ensemble(names)
    texts = [t for name in names for t in prompts[name]]
    owners = [names.index(name) for name in names for _ in prompts[name]]
    text = model.transform("text") if "text" in {m.value for m in model.modalities} else None
    return HeldOut(inputs, torch.tensor([names.index(r.labels[0]) for r in rows]),
                   text.batch(texts) if text is not None else torch.empty(0), torch.tensor(owners), len(names))


def top1(vectors: np.ndarray, class_vectors: torch.Tensor, labels: torch.Tensor) -> float:
    """Zero-shot top-1 accuracy, percent."""
    scores = zeroshot_scores(torch.from_numpy(np.asarray(vectors)), class_vectors)
    return 100.0 * float((scores.argmax(dim=1) == labels).float().mean())


def measure(modality: str, data: HeldOut, torch_embed: Embedder, export_embed: Embedder,
            torch_text: Embedder | None, export_text: Embedder | None) -> Parity:
    """The parity of one encoder; zero-shot when a text tower is there (`export_text`: the exported
    one, else PyTorch's for both sides)."""
    x = data.inputs[modality]
    ref, got = torch_embed(x), export_embed(x)
    cos = (ref * got).sum(axis=1) / (np.linalg.norm(ref, axis=1) * np.linalg.norm(got, axis=1))
    parity = Parity(modality, len(x), float(cos.min()), float(cos.mean()))
    if modality != "text" and torch_text is not None:
        classes = {side: class_embeddings(torch.from_numpy(embed(data.prompt_tokens)), data.prompt_class,
                                          data.num_classes)
                   for side, embed in (("torch", torch_text), ("export", export_text or torch_text))}
        parity.top1_torch = top1(ref, classes["torch"], data.labels)
        parity.top1_export = top1(got, classes["export"], data.labels)
    return parity
