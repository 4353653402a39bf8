"""The live node over the sim sensors: detection quality, real-time headroom, rates that keep up, soak.

Parts (each writes its key of the JSON; run them one at a time, the machine has 2 cores):
- detection: a long offline run (sim at speed 0, nothing dropped) of the default node (the sim
  world's classes as text events, the shipped calibration), scored against the sim's ground
  truth: precision, recall and onset-to-event latency (sim clock) per modality; `onset_path`
  says how many audio events the onset path opened (`--no-onset`: without it, as before it existed).
- realtime: all four sim sensors at their default rates in real time for --seconds: windows
  embedded and dropped, window-end-to-embedding latency, onset-to-event latency per modality on the wall
  clock, CPU share of the node's threads and of the whole process.
- rates: the sim played --speeds times faster than real time, per model of --models (a name, a
  checkpoint or an export directory, which runs the backend `edgebind bench --pick` chose): the
  highest speed with no dropped window (the real-time factor the node can sustain), and the CPU time
  per window.
detection and realtime run the shipped model, or --model (e.g. its export directory: the key then
ends in "_model-<folder name>" and the result names the backend).
- soak: real time for --seconds: RSS and window-queue depth sampled every 10 s.

usage: .venv/bin/python benchmarks/node_sim.py detection|realtime|rates|soak [--seconds S] [--model M]
       [--models A,B] [--no-onset]
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from edgebind.runtime import Detection, Node
from edgebind.runtime.calibrate import calibrate
from edgebind.runtime.profile import node_config
from edgebind.runtime.scoring import detection_report

OUT = Path(__file__).with_suffix(".json")
SIM = ("audio", "depth", "thermal", "imu")
TICKS = os.sysconf("SC_CLK_TCK")


def _sim(speed: float, seconds: float | None) -> list[dict]:
    return [{"type": "sim", "modality": m, "name": f"sim_{m}", "speed": speed, "duration_s": seconds} for m in SIM]


def _cpu_s(native_id: int | None = None) -> float:
    path = f"/proc/self/task/{native_id}/stat" if native_id else "/proc/self/stat"
    fields = Path(path).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def _rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def _drain(node: Node, seconds: float | None, on_item=None) -> None:
    deadline = None if seconds is None else time.monotonic() + seconds
    while deadline is None or time.monotonic() < deadline:
        item = node.read(0.1)
        if item is None and node.finished:
            return
        if item is not None and on_item is not None:
            on_item(item)


def _model(args) -> dict:
    """node_config's backend argument for --model (none: the node's default model)."""
    return {"backend": {"model": args.model}} if args.model else {}


def detection(args) -> dict:
    """With --enter-windows/--hop other than the defaults, the thresholds are calibrated anew for
    them, as the shipped calibration was made: 120 s of background-only sim, seed 5."""
    start = time.monotonic()
    settings = {"detector": {"enter_windows": args.enter_windows},
                "windows": {"hop_s": args.hop, "audio_s": args.audio_s, "onset": args.onset}}
    calibration = None
    if (args.enter_windows, args.hop, args.audio_s) != (2, 0.5, None):
        background = [{**s, "events": False, "seed": 5} for s in _sim(0, 120.0)]
        calibration = str(Path(__file__).with_name(".node_sim_calibration.json"))
        calibrate(node_config(sensors=background, **settings), None).save(calibration)
    with Node(node_config(sensors=_sim(0, args.seconds), calibration=calibration, **settings, **_model(args))) as node:
        detections = [i for i in node if isinstance(i, Detection)]
        scenes = len(node.sources[0].schedule.events(args.seconds))
        backend = node.backend.describe()
    starts = [d for d in detections if d.kind == "start"]
    return {"backend": backend, "sim_seconds": args.seconds, "enter_windows": args.enter_windows, "hop_s": args.hop,
            "audio_window_s": args.audio_s, "onset_path": args.onset, "scenes": scenes,
            "wall_s": round(time.monotonic() - start, 1),
            "per_modality": detection_report(detections, scenes),
            "audio_starts_by_onset_windows": sum(d.onset for d in starts)}


def realtime(args) -> dict:
    onset_latency: dict[str, list[float]] = {}  # modality -> onset-to-event seconds (wall clock)

    def on_item(item) -> None:
        if isinstance(item, Detection) and item.kind == "start" and item.meta.get("label") == item.event:
            onset_latency.setdefault(item.modality, []).append(time.monotonic() - item.meta["onset_host"])

    with Node(node_config(sensors=_sim(1, None), **_model(args))) as node:
        node.backend  # loaded before the clock starts
        cpu0, wall0 = _cpu_s(), time.monotonic()
        _drain(node, args.seconds, on_item)
        threads = {t.name: t.native_id for t in node._threads}
        cpu = {name: round(100 * _cpu_s(tid) / args.seconds, 2) for name, tid in threads.items()}
        process = 100 * (_cpu_s() - cpu0) / (time.monotonic() - wall0)
        stats = node.stats()
        backend = node.backend.describe()
    return {"backend": backend, "seconds": args.seconds, "streams": stats["streams"], "window_drops": stats["window_drops"],
            "node_threads_cpu_percent_of_one_core": cpu, "process_cpu_percent_of_one_core": round(process, 1),
            "onset_to_event_wall_s": {m: {"n": len(lat), "p50": round(float(np.percentile(lat, 50)), 3),
                                          "p99": round(float(np.percentile(lat, 99)), 3)}
                                      for m, lat in sorted(onset_latency.items())}}


def rates(args) -> dict:
    result = {}
    for model in args.models.split(","):
        per_speed, backend = {}, None
        for speed in args.speeds:
            config = node_config(sensors=_sim(speed, None), backend={"model": model})
            with Node(config) as node:
                node.backend  # loaded before the clock starts
                cpu0 = _cpu_s(None)
                _drain(node, args.seconds)
                infer = {t.name: t.native_id for t in node._threads}["edgebind-node-infer"]
                infer_cpu = _cpu_s(infer)
                stats = node.stats()
                backend = node.backend.describe()
            windows = sum(s["embedded"] for s in stats["streams"].values())
            per_speed[speed] = {"windows": windows, "dropped": stats["window_drops"],
                                "infer_cpu_ms_per_window": round(1000 * infer_cpu / max(windows, 1), 2),
                                "process_cpu_percent": round(100 * (_cpu_s(None) - cpu0) / args.seconds, 1)}
            if stats["window_drops"]:
                break
        kept_up = [s for s, r in per_speed.items() if r["dropped"] == 0]
        result[backend] = {"per_speed": per_speed, "highest_speed_without_drops": max(kept_up, default=None)}
    return result


def soak(args) -> dict:
    samples = []
    with Node(node_config(sensors=_sim(1, None))) as node:
        start = time.monotonic()
        while time.monotonic() - start < args.seconds:
            _drain(node, 10.0)
            samples.append({"t_s": round(time.monotonic() - start), "rss_mb": round(_rss_mb(), 1),
                            "queue": node.stats()["queue"]})
        drops = node.stats()["window_drops"]
    first, last = samples[1]["rss_mb"], samples[-1]["rss_mb"]  # after the first 10 s of warm-up
    return {"seconds": args.seconds, "window_drops": drops,
            "rss_growth_percent": round(100 * (last - first) / first, 2),
            "max_queue": max(s["queue"] for s in samples), "samples": samples}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("part", choices=("detection", "realtime", "rates", "soak"))
    parser.add_argument("--seconds", type=float)
    parser.add_argument("--model", help="detection/realtime: the node's model (default: the shipped one)")
    parser.add_argument("--models", default="edgebind-tiny-synthetic,edgebind-small")
    parser.add_argument("--speeds", type=float, nargs="+", default=[1, 2, 4, 8, 16, 32])
    parser.add_argument("--enter-windows", type=int, default=2, help="detection: windows to open an event")
    parser.add_argument("--hop", type=float, default=0.5, help="detection: seconds between windows")
    parser.add_argument("--audio-s", type=float, help="detection: audio window seconds (default: the model's)")
    parser.add_argument("--no-onset", dest="onset", action="store_false", help="detection: without the onset path")
    args = parser.parse_args()
    defaults = {"detection": 1800.0, "realtime": 60.0, "rates": 15.0, "soak": 600.0}
    args.seconds = args.seconds or defaults[args.part]
    data = json.loads(OUT.read_text()) if OUT.exists() else {}
    defaults_used = (args.enter_windows, args.hop, args.audio_s) == (2, 0.5, None)
    key = args.part if defaults_used else \
        f"{args.part}_enter{args.enter_windows}_hop{args.hop}" + (f"_audio{args.audio_s}" if args.audio_s else "")
    key += "" if args.onset else "_no_onset"
    key += f"_model-{Path(args.model).name}" if args.model and args.part in ("detection", "realtime") else ""
    data[key] = {"measured": time.strftime("%Y-%m-%d"), "cpu_count": os.cpu_count(),
                       **globals()[args.part](args)}
    OUT.write_text(json.dumps(data, indent=1) + "\n")
    print(json.dumps(data[key], indent=1)[:3000])


if __name__ == "__main__":
    main()
