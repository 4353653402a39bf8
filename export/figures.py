"""Latency percentiles and cosine agreement, measured one way by the export's manifest, `edgebind
bench` and the TensorRT GPU benchmark, so their figures compare."""
from __future__ import annotations

import time
from typing import Callable

import numpy as np


def time_ms(fn: Callable[[], object], runs: int, warmup: int = 1,
            percentiles: tuple[float, ...] = (50, 99)) -> tuple[float, ...]:
    """Wall milliseconds of `fn()` at `percentiles` (p50, p99) over `runs` calls, after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return tuple(float(np.percentile(times, q)) for q in percentiles)


def cosine_min(a: np.ndarray, b: np.ndarray) -> float:
    """The lowest cosine between matching rows of `a` and `b`, in float64."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(((a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))).min())
