"""`calibrate`: listen to a place with the node's sensors and set its events' thresholds.

The procedure and its rules are described in edgebind.runtime.calibration (the result's format).
Onset windows (the audio onset path) are calibrated on their own, under "audio/onset": each alone
opens an event, so the threshold sits above the highest onset window of the background; where the
place made no onset at all, it stays at the configured threshold.
"""
from __future__ import annotations

import dataclasses
import math
import time
from collections import Counter, defaultdict
from typing import Callable

import numpy as np

from edgebind.errors import ConfigError
from edgebind.runtime.calibration import Calibration, sustained_peaks, thresholds_for
from edgebind.runtime.detector import score_key
from edgebind.runtime.node import Node
from edgebind.runtime.node_config import Embedding, NodeConfig
from edgebind.runtime.queries import make_detector


def calibrate(config: NodeConfig, seconds: float | None, false_alarms_per_hour: float = 1.0,
              progress: Callable[[int], None] | None = None) -> Calibration:
    """Listen to the node's sensors for `seconds` (None: until finite sources end) and calibrate
    its events; `progress(embedded_windows)` is called as it goes."""
    if not false_alarms_per_hour >= 0:
        raise ConfigError(f"false_alarms_per_hour must be >= 0, got {false_alarms_per_hour}")
    streams: dict[tuple[str, str, bool], list[Embedding]] = defaultdict(list)
    with Node(dataclasses.replace(config, events=[], calibration=None)) as node:
        deadline = None if seconds is None else time.monotonic() + seconds
        for item in node:
            streams[(item.source, item.modality, item.onset)].append(item)
            if progress is not None:
                progress(sum(len(v) for v in streams.values()))
            if deadline is not None and time.monotonic() >= deadline:
                break
    if not streams:
        raise ConfigError("calibration heard nothing: no window was embedded; check the sensors")
    items = [e for v in streams.values() for e in v]
    heard = max(e.t_end for e in items) - min(e.t_start for e in items)
    # Every audio stream has onset windows to calibrate when the onset path is on, even if none came.
    onset_paths = {(s, m, True) for s, m, _ in streams if m == "audio" and config.windows.onset}
    streams.update({key: [] for key in onset_paths - set(streams)})
    result = Calibration(node.backend.model_id, seconds=round(heard, 3), false_alarms_per_hour=false_alarms_per_hour,
                         windows={score_key(m, onset): 0 for _, m, onset in streams})
    result.windows.update(Counter(score_key(e.modality, e.onset) for e in items))
    detector = make_detector(node.backend, config)
    if detector is None:
        raise ConfigError("nothing to calibrate: the node has no events (give --detect or events in the profile)")
    allowed = math.floor(false_alarms_per_hour * heard / 3600)
    for i, event in enumerate(detector.events):
        runs: dict[tuple[str, bool], list[np.ndarray]] = defaultdict(list)
        for (_, modality, onset), embedded in streams.items():
            if not event.modalities or modality in event.modalities:
                vectors = np.stack([e.vector for e in embedded]) if embedded else np.zeros((0, node.backend.dim))
                scores = detector.scores(modality, vectors)[:, i]
                runs[(modality, onset)].append(sustained_peaks(scores, 1 if onset else config.detector.enter_windows))
        result.thresholds[event.name] = {
            score_key(m, onset): thresholds_for(np.concatenate(r), detector.threshold(i, m, onset), allowed)
            for (m, onset), r in runs.items()}
    return result
