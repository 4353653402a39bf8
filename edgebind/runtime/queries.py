"""Embedding what a node looks for: events (their prompts and examples, as a Detector) and queries
(texts and "MODALITY:FILE" terms), with the backend's encoders."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from edgebind.errors import ConfigError
from edgebind.runtime.backend import Backend
from edgebind.runtime.calibration import Calibration
from edgebind.runtime.detector import EXAMPLE_MODALITIES, Detector, EventConfig
from edgebind.runtime.node_config import NodeConfig


def make_detector(backend: Backend, config: NodeConfig, calibration: Calibration | None = None) -> Detector | None:
    """The detector of `config.events` (None without events): each event's vector is the unit mean
    of its prompts' (and examples') embeddings; the background prompts compete with them; the
    calibration's thresholds apply."""
    if not config.events:
        return None
    vectors = np.stack([_event_vector(backend, e) for e in config.events])
    background = backend.embed("text", list(config.detector.background)) if config.detector.background \
        else np.zeros((0, backend.dim), np.float32)
    scales = {m: backend.logit_scale(m) for m in backend.modalities if m != "text"}
    return Detector(config.detector, config.events, vectors, background, scales,
                    calibration.thresholds if calibration is not None else None)


def _event_vector(backend: Backend, event: EventConfig) -> np.ndarray:
    return query_vector(backend, [*(event.prompts or (event.name,)), *event.examples])


def query_vector(backend: Backend, terms: Sequence[str]) -> np.ndarray:
    """The unit sum of the terms' embeddings: text, or "MODALITY:FILE" for a file of that modality."""
    if not terms:
        raise ConfigError("a query needs at least one term: a text, or MODALITY:FILE")
    texts = [t for t in terms if term_modality(t) == "text"]
    parts = [backend.embed("text", texts)] if texts else []
    for term in terms:
        if (modality := term_modality(term)) != "text":
            parts.append(backend.embed(modality, [term.partition(":")[2]]))
    total = np.concatenate(parts).sum(axis=0)
    return total / max(float(np.linalg.norm(total)), 1e-12)


def term_modality(term: str) -> str:
    """"audio" for "audio:bark.wav" (a file of that modality), else "text"."""
    modality, sep, path = term.partition(":")
    return modality if sep and path and modality in EXAMPLE_MODALITIES else "text"
