"""Query latency, insert rate and bytes per embedding of the node's store (edgebind.runtime.store).

Builds a store of N random unit embeddings (dim 64: edgebind-tiny; dim 512: edgebind-small), four
modalities taking turns at 20 embeddings a second of wall-clock time, written through `Store.add`
in batches as the node writes them. Then times k=5 queries: unfiltered, one modality, and one
modality within the last hour (filters applied inside the exact KNN scan). Single-threaded
(OMP_NUM_THREADS=1); the store file lives in a temporary folder and is deleted afterwards.

usage: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/store_query.py [--sizes 64:1000000,512:200000]
       [--queries 50] [--out benchmarks/store_query.json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import sqlean
import sqlite_vec

from edgebind.runtime.node_config import Embedding
from edgebind.runtime.store import Store

MODALITIES = ("audio", "depth", "thermal", "imu")
RATE_HZ = 20.0  # embeddings per second of wall-clock time, all streams together
BATCH = 20_000


def _percentiles(seconds: list[float]) -> dict[str, float]:
    ms = 1000 * np.asarray(seconds)
    return {"p50_ms": round(float(np.percentile(ms, 50)), 2), "p99_ms": round(float(np.percentile(ms, 99)), 2)}


def run(dim: int, n: int, queries: int, folder: Path) -> dict:
    rng = np.random.default_rng(0)
    path = folder / f"store_{dim}.db"
    t0 = 1.7e9
    store = Store(path, dim, "bench")
    start = time.perf_counter()
    for first in range(0, n, BATCH):
        vectors = rng.standard_normal((min(BATCH, n - first), dim), dtype=np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        times = t0 + (first + np.arange(len(vectors))) / RATE_HZ
        store.add([Embedding(f"sim_{MODALITIES[(first + i) % 4]}", MODALITIES[(first + i) % 4], t, t + 2.0, v)
                   for i, (t, v) in enumerate(zip(times.tolist(), vectors))], wall_offset=0.0)
        store.flush()
    insert_s = time.perf_counter() - start
    store.close()  # checkpoints the log into the file
    file_bytes = path.stat().st_size
    store = Store(path, dim, "bench")
    end = t0 + n / RATE_HZ
    cases = {"unfiltered": {}, "modality": {"modalities": ["audio"]},
             "modality_last_hour": {"modalities": ["audio"], "since": end - 3600.0}}
    latency = {}
    for name, filters in cases.items():
        qs = rng.standard_normal((queries + 1, dim), dtype=np.float32)
        seconds = []
        for q in qs:
            tick = time.perf_counter()
            moments = store.query(q, k=5, **filters)
            seconds.append(time.perf_counter() - tick)
            assert len(moments) == 5 and all(m.modality == "audio" for m in moments if filters)
        latency[name] = _percentiles(seconds[1:])  # the first query warms the page cache
    store.close()
    path.unlink()
    return {"dim": dim, "embeddings": n, "insert_per_s": round(n / insert_s), "file_bytes": file_bytes,
            "bytes_per_embedding": round(file_bytes / n, 1), "vector_bytes": 4 * dim, "query_k5": latency}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="64:1000000,512:200000", help="DIM:N pairs, comma-separated")
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--out", default=str(Path(__file__).with_suffix(".json")))
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for pair in args.sizes.split(","):
            dim, n = (int(x) for x in pair.split(":"))
            results.append(run(dim, n, args.queries, Path(folder)))
            print(json.dumps(results[-1]), flush=True)
    report = {"cpus": os.cpu_count(), "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
              "python": platform.python_version(), "sqlite": sqlean.sqlite_version,
              "sqlite_vec": sqlite_vec.__version__, "queries_per_case": args.queries, "stores": results}
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
