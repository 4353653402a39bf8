"""Detections scored against ground truth (the sim's), for tests and benchmarks.

A detection start is a true positive when the window that opened it lies in an event of the same
label (its `meta` says so: the sim puts the truth into every chunk); each truth event counts once
per modality. Latency is from the event's onset to the opening window's end, both on the host clock.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Iterable

import numpy as np

from edgebind.runtime.detector import Detection


def detection_report(detections: Iterable[Detection], truth_events: int) -> dict[str, dict[str, float]]:
    """Per modality: detections, precision, recall (of `truth_events`), onset latency p50/p99 (s)."""
    starts: dict[str, list[Detection]] = defaultdict(list)
    for d in detections:
        if d.kind == "start":
            starts[d.modality].append(d)
    report = {}
    for modality, found in sorted(starts.items()):
        hits = [d for d in found if d.meta.get("event") and d.meta.get("label") == d.event]
        first: dict[int, Detection] = {}
        for d in hits:
            first.setdefault(d.meta["scene"], d)
        latency = [d.t - d.meta["onset_host"] for d in first.values()]
        report[modality] = {
            "detections": len(found), "precision": round(len(hits) / len(found), 4),
            "recall": round(len(first) / truth_events, 4) if truth_events else 0.0,
            "latency_p50_s": round(float(np.percentile(latency, 50)), 3) if latency else None,
            "latency_p99_s": round(float(np.percentile(latency, 99)), 3) if latency else None,
        }
    return report
