"""CPU share and capture-to-consumer latency of the four sim sources at their default rates.

Runs them together in real time for --seconds, consumed by one merge() loop as the node would;
CPU per source is its reader thread's CPU time (/proc), the consumer's share is reported apart,
latency is consumer arrival minus the chunk's host_time. RSS is sampled at the start and end.

usage: .venv/bin/python benchmarks/drivers_sim.py [--seconds 30] [--out benchmarks/drivers_sim.json]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import threading
import time
from pathlib import Path

import numpy as np

from edgebind.drivers import Chunk, build_source, merge

TICKS = os.sysconf("SC_CLK_TCK")


def _thread_cpu_s(native_id: int) -> float:
    fields = Path(f"/proc/self/task/{native_id}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def _rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--out", default=str(Path(__file__).with_suffix(".json")))
    args = parser.parse_args()
    sources = [build_source({"type": "sim", "modality": m}) for m in ("audio", "depth", "thermal", "imu")]
    latency = {s.name: [] for s in sources}
    stop = threading.Event()
    threading.Timer(args.seconds, stop.set).start()
    for s in sources:
        s.open()
    rss_start, consumer_start = _rss_mb(), time.thread_time()
    for item in merge(sources, stop):
        if isinstance(item, Chunk):
            latency[item.source].append(time.monotonic() - item.host_time)
    threads = {t.name.removeprefix("edgebind-source-"): t.native_id for t in threading.enumerate()}
    per_source = {}
    for s in sources:
        cpu = _thread_cpu_s(threads[s.name])
        lat = np.array(latency[s.name]) * 1000
        per_source[s.name] = {"cpu_percent_of_one_core": round(100 * cpu / args.seconds, 2),
                              "chunks_per_s": round(s.status.chunks / args.seconds, 1), "drops": s.status.drops,
                              "latency_ms_p50": round(float(np.percentile(lat, 50)), 2),
                              "latency_ms_p99": round(float(np.percentile(lat, 99)), 2)}
    consumer = 100 * (time.thread_time() - consumer_start) / args.seconds
    for s in sources:
        s.close()
    report = {"seconds": args.seconds, "cpus": os.cpu_count(), "sources": per_source,
              "all_sources_cpu_percent": round(sum(v["cpu_percent_of_one_core"] for v in per_source.values()), 2),
              "consumer_merge_loop_cpu_percent": round(consumer, 2),
              "rss_mb_start": round(rss_start, 1), "rss_mb_end": round(_rss_mb(), 1),
              "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
