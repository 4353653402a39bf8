"""Events defined by text (or example files), fired by windows of any sensor.

Raw cosine is a poor threshold: scores cluster and drift by prompt. A window's score for an event
is instead a probability: the softmax, at the window modality's trained temperature, over every
event's prompt-ensemble vector plus the background vectors (prompts for "nothing in particular";
the other events compete too, as in CLAP-style zero-shot). A threshold then means the same thing
for every prompt, and `calibrate` can set it per event for a chosen false-alarm rate.

Per event and stream (source + modality) a small state machine turns scores into events: it opens
after `enter_windows` consecutive windows at or above the threshold, or at once on one onset
window (a new sound on its own, edgebind.runtime.windows.OnsetWindower) at or above the onset
threshold, stays open while windows keep scoring above it, closes `hold_s` after the last such
window, and cannot reopen within `cooldown_s` of closing. Onset windows have thresholds of their
own (calibrated under the key "MODALITY/onset"), since a short looped sound scores differently
from a full window. An audio window quieter than `min_level_db` is not scored (silence gate).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from edgebind.errors import ConfigError

EXAMPLE_MODALITIES = ("vision", "audio", "depth", "thermal", "imu")
DEFAULT_BACKGROUND = ("background noise", "nothing in particular", "an empty room", "silence", "a quiet place")


@dataclass(kw_only=True)
class EventConfig:
    """One event to detect: its name, what defines it, and where it may fire."""

    name: str
    prompts: tuple[str, ...] = ()  # text prompts, averaged (default: the name itself)
    examples: tuple[str, ...] = ()  # "MODALITY:FILE" examples defining it, e.g. "audio:bark.wav"
    modalities: tuple[str, ...] = ()  # window modalities that may fire it (empty: all)
    threshold: float | None = None  # score to enter (default: DetectorConfig.threshold)

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ConfigError("an event needs a non-empty name")
        for example in self.examples:
            modality, sep, path = example.partition(":")
            if not sep or modality not in EXAMPLE_MODALITIES or not path:
                raise ConfigError(f"event {self.name!r}: example {example!r} must be MODALITY:FILE with MODALITY "
                                  f"one of {', '.join(EXAMPLE_MODALITIES)}, e.g. audio:bark.wav")
        if self.threshold is not None and not 0 < self.threshold < 1:
            raise ConfigError(f"event {self.name!r}: threshold must lie in (0, 1), got {self.threshold}")


@dataclass(kw_only=True)
class DetectorConfig:
    """How scores become events (see the module docstring); defaults are documented in README."""

    threshold: float = 0.5  # softmax score to enter, unless an event sets its own
    enter_windows: int = 2  # consecutive windows at or above the threshold to open an event
    hold_s: float = 3.0  # an open event closes this long after its last window above threshold
    cooldown_s: float = 10.0  # after closing, the event cannot reopen on that stream for this long
    min_level_db: float | None = None  # audio windows below this RMS level (dBFS) are not scored
    background: tuple[str, ...] = DEFAULT_BACKGROUND  # prompts that compete as "none of the events"

    def __post_init__(self) -> None:
        if not 0 < self.threshold < 1:
            raise ConfigError(f"detector threshold must lie in (0, 1), got {self.threshold}")
        if self.enter_windows < 1 or self.hold_s < 0 or self.cooldown_s < 0:
            raise ConfigError("detector enter_windows must be >= 1, hold_s and cooldown_s >= 0")


@dataclass(frozen=True)
class Detection:
    """An event opening ("start") or closing ("end") on one stream, at host time `t`."""

    kind: str
    event: str
    source: str
    modality: str
    t: float
    score: float  # the score of the window that opened it (start) or the peak while open (end)
    t_open: float
    snapshot: Mapping[str, Any] = field(default_factory=dict)  # stream -> latest window, at start
    meta: Mapping[str, Any] = field(default_factory=dict)  # the opening window's meta (e.g. sim truth)
    onset: bool = False  # a start: an onset window (the new sound alone) opened it


@dataclass
class _Track:
    """One event on one stream."""

    run: int = 0  # consecutive (regular) windows at or above threshold
    open_since: float | None = None
    last_above: float = 0.0
    peak: float = 0.0
    closed_at: float = -np.inf


class Detector:
    """Scores embedded windows against the events and turns the scores into Detections.

    `background` holds the vectors of the background prompts, which compete with the events.
    `thresholds[event][key]` (from a calibration) replaces the configured threshold for that
    event on that key: the modality, or "MODALITY/onset" for onset windows (where it is missing, an
    onset window needs what a regular window of the modality needs).
    """

    def __init__(self, config: DetectorConfig, events: Sequence[EventConfig], event_vectors: np.ndarray,
                 background: np.ndarray, logit_scales: Mapping[str, float],
                 thresholds: Mapping[str, Mapping[str, float]] | None = None) -> None:
        if not events:
            raise ConfigError("the detector needs at least one event")
        self.config, self.events = config, list(events)
        self._candidates = np.concatenate([event_vectors, np.asarray(background).reshape(-1, event_vectors.shape[1])])
        self._thresholds = {e.name: dict((thresholds or {}).get(e.name, {})) for e in self.events}
        self._logit_scales = dict(logit_scales)
        self._tracks: dict[tuple[str, str, str], _Track] = {}

    def threshold(self, index: int, modality: str, onset: bool = False) -> float:
        """The score event `index` must reach on a `modality` window (an onset window) to count as above threshold."""
        event, ours = self.events[index], self._thresholds[self.events[index].name]
        regular = ours.get(modality, event.threshold or self.config.threshold)
        return ours.get(score_key(modality, True), regular) if onset else regular

    def scores(self, modality: str, vectors: np.ndarray) -> np.ndarray:
        """[N, events] softmax scores (float64) of N unit vectors of `modality`."""
        logits = self._logit_scales.get(modality, 100.0) * (np.asarray(vectors, np.float64) @ self._candidates.T)
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        return probs[:, : len(self.events)]

    def update(self, source: str, modality: str, t: float, scores: np.ndarray, level_db: float | None = None,
               snapshot: Mapping[str, Any] | None = None, meta: Mapping[str, Any] | None = None,
               onset: bool = False) -> list[Detection]:
        """Feed one window's scores (at host time `t`, its end; `onset`: an onset window); the
        Detections it causes."""
        if level_db is not None and self.config.min_level_db is not None and level_db < self.config.min_level_db:
            scores = np.zeros_like(scores)  # silence: nothing is above threshold
        c, out = self.config, []
        for i, event in enumerate(self.events):
            if event.modalities and modality not in event.modalities:
                continue
            track = self._tracks.setdefault((event.name, source, modality), _Track())
            score, threshold = float(scores[i]), self.threshold(i, modality, onset)
            if track.open_since is not None:
                if score >= threshold:
                    track.last_above, track.peak = t, max(track.peak, score)
                elif t - track.last_above >= c.hold_s:
                    out.append(Detection("end", event.name, source, modality, t, track.peak, track.open_since))
                    track.open_since, track.closed_at, track.run = None, t, 0
                continue
            if not onset:
                track.run = track.run + 1 if score >= threshold else 0
            entered = score >= threshold if onset else track.run >= c.enter_windows
            if entered and t - track.closed_at >= c.cooldown_s:
                track.open_since, track.last_above, track.peak = t, t, score
                out.append(Detection("start", event.name, source, modality, t, score, t, dict(snapshot or {}),
                                     dict(meta or {}), onset))
        return out

    def close_all(self, t: float) -> list[Detection]:
        """End every open event (at shutdown), so each start has its end."""
        out = []
        for (name, source, modality), track in self._tracks.items():
            if track.open_since is not None:
                out.append(Detection("end", name, source, modality, t, track.peak, track.open_since))
                track.open_since, track.closed_at = None, t
        return out


def score_key(modality: str, onset: bool) -> str:
    """The calibration key of a window's threshold: its modality, or "MODALITY/onset" for onset windows."""
    return f"{modality}/onset" if onset else modality
