"""Run the perception node: live sensors -> shared-space embeddings -> events defined by text.

With no arguments it runs on its embedded default: the simulated audio, depth, thermal and IMU
sensors and the shipped model, detecting the sim world's classes, with a live view of the
streams and the latest events. --sensors and --set choose real sensors (see `edgebind devices`);
--detect defines events by text (several allowed; "a|b" is a prompt ensemble); --profile reads a
launch profile (launch/*.yaml) whose values the other options replace. Ctrl-C or SIGTERM stops the
sensors, embeds what was captured, closes open events, flushes --out and exits 0.

Scores are probabilities: the softmax of a window against every event and the background
prompts. Calibrate thresholds to a place with `edgebind calibrate` (README, "The live node").

examples:
  edgebind run
  edgebind run --sensors mic --detect "glass breaking" --detect "a dog barking|dog barks" --out events.jsonl
  edgebind run --store memory.db --keep 7d          # remember; then: edgebind query "a dog" --store memory.db
  edgebind run --sensors mic,imu --set imu.port=/dev/ttyUSB0 --calibration place.json
  edgebind run --profile launch/cpu.yaml --duration 60 --no-live
  edgebind run --sensors replay --set replay.path=field.mcap --set replay.speed=0 --out - --no-live
  edgebind run --store memory.db --serve 127.0.0.1:8765   # then: edgebind query "a dog" --url http://127.0.0.1:8765
                                                          # or open http://127.0.0.1:8765/ (the web view)
  EDGEBIND_API_TOKEN=... edgebind run --serve 0.0.0.0:8765  # beyond this machine: a token is required
"""
from __future__ import annotations

import argparse
import contextlib
import os
import signal
import threading
import time

from edgebind.cli.common import add_command
from edgebind.config import parse_duration
from edgebind.errors import ConfigError


def build_config(args):
    """The NodeConfig the options describe (profile first, options on top)."""
    from edgebind.drivers.sensors import sensor_configs
    from edgebind.runtime.profile import load_profile, node_config

    profile = load_profile(args.profile) if args.profile else {}
    sensors = None
    if args.sensors is not None or args.set or "sensors" not in profile:
        sensors = sensor_configs(args.sensors or "sim", args.set)
    backend = {k: v for k, v in (("model", args.model), ("precision", args.precision)) if v is not None}
    detector = {"threshold": args.threshold} if args.threshold is not None else None
    windows = {k: v for k, v in (("hop_s", args.hop), ("onset", args.onset)) if v is not None}
    store = {"path": args.store} if getattr(args, "store", None) else {}
    if getattr(args, "keep", None):
        store["max_age_s"] = parse_duration(args.keep, "--keep")
    return node_config(profile, sensors=sensors, backend=backend, detect=args.detect,
                       calibration=getattr(args, "calibration", None), windows=windows, detector=detector,
                       store=store, where=args.profile or "node")


def run(args) -> int:
    from edgebind.runtime.node import Node
    from edgebind.runtime.sinks import JsonlSink

    config = build_config(args)
    api = _api_server(args)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    outputs = contextlib.ExitStack()  # everything the node's outputs go to, closed last
    try:
        sink = outputs.enter_context(contextlib.closing(JsonlSink(args.out, args.embeddings))) if args.out else None
        with Node(config) as node:
            consumers = [c.write for c in (sink,) if c is not None]
            if args.ros2:
                from edgebind.runtime.ros2 import Ros2Bridge

                consumers.append(outputs.enter_context(contextlib.closing(
                    Ros2Bridge(node, wall_offset=time.time() - time.monotonic()))).publish)
            if api is not None:
                server = api(node).start()
                outputs.callback(server.stop)
                consumers.append(server.publish)
                print(f"serving the API on {server.url} (endpoints: {server.url}/openapi.json)", flush=True)
            if args.duration is not None:  # counted from when the sensors are open
                timer = threading.Timer(args.duration, stop.set)
                timer.daemon = True
                timer.start()
            view = _LiveView(node) if not args.no_live else None
            try:
                _serve(node, stop, consumers, view)
                node.close()  # stop the sensors; what was captured is embedded, open events end
                _serve(node, threading.Event(), consumers, view)
            finally:
                if view is not None:
                    view.close()
        summary = node.stats()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        outputs.close()
    for stream, s in summary["streams"].items():
        print(f"{stream:<22} windows={s['windows']} embedded={s['embedded']} "
              f"latency p50={s['latency_p50_ms']:.0f} ms p99={s['latency_p99_ms']:.0f} ms")
    print(f"dropped windows: {summary['window_drops']}")
    return 0


def _api_server(args):
    """A function making the --serve ApiServer for a node (checked now, before any sensor opens), or None."""
    if not args.serve:
        if args.token:
            raise ConfigError("--token goes with --serve HOST:PORT")
        return None
    from edgebind.errors import require
    from edgebind.runtime.api import ApiServer
    from edgebind.runtime.api_access import check_access, parse_address

    for module in ("fastapi", "uvicorn"):
        require(module, "serve", "--serve")
    host, port = parse_address(args.serve)
    token = args.token or os.environ.get("EDGEBIND_API_TOKEN") or None
    check_access(host, token)
    return lambda node: ApiServer(node, host, port, token)


def _serve(node, stop: threading.Event, consumers, view) -> None:
    """Hand every output to the consumers (sink, API clients, ROS 2) and the view until the node
    ends or `stop` is set."""
    from edgebind.runtime.detector import Detection

    while not stop.is_set():
        item = node.read(0.1)
        if item is None:
            if node.finished:
                return
        else:
            for consume in consumers:
                consume(item)
            if isinstance(item, Detection) and view is None:
                print(f"{item.kind:<5} {item.event:<24} {item.source}/{item.modality} score={item.score:.3f}",
                      flush=True)
        if view is not None:
            view.update(item)


class _LiveView:
    """A rich table of streams (windows/s, drops, CPU, latency) and the latest events, twice a second."""

    def __init__(self, node) -> None:
        from rich.live import Live

        self.node, self.events, self._last = node, [], 0.0
        self._live = Live(self._render(), refresh_per_second=4, transient=False)
        self._live.start()

    def update(self, item) -> None:
        from edgebind.runtime.detector import Detection

        if isinstance(item, Detection):
            self.events = (self.events + [item])[-8:]
        if time.monotonic() - self._last >= 0.5:
            self._last = time.monotonic()
            self._live.update(self._render())

    def _render(self):
        from rich.console import Group
        from rich.table import Table

        streams = Table(title="edgebind run: streams", expand=False)
        streams.add_column("stream", no_wrap=True)
        for column in ("win/s", "embedded", "dropped", "cpu %", "p50 ms", "p99 ms"):
            streams.add_column(column, justify="right")
        for name, s in self.node.stats()["streams"].items():
            streams.add_row(name, f"{s['windows_per_s']:.1f}", str(s["embedded"]), str(s["dropped"]),
                            f"{s['cpu_percent']:.1f}", f"{s['latency_p50_ms']:.0f}", f"{s['latency_p99_ms']:.0f}")
        events = Table(title="latest events")
        for column in ("", "event", "stream", "score"):
            events.add_column(column)
        for d in reversed(self.events):
            events.add_row(d.kind, d.event, f"{d.source}/{d.modality}", f"{d.score:.3f}")
        return Group(streams, events)

    def close(self) -> None:
        self._live.update(self._render())
        self._live.stop()
        self._live.console.print()


def add_node_options(parser) -> None:
    """The options that describe a node, shared by `run` and `calibrate`."""
    parser.add_argument("--sensors", help="comma-separated sensors (default: sim, or the profile's)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME.KEY=VALUE",
                        help="set a sensor config key (repeatable)")
    parser.add_argument("--model", help="registered model name or checkpoint directory "
                                        "(default edgebind-tiny-synthetic)")
    parser.add_argument("--precision", choices=("fp32", "bf16", "fp16", "int8"),
                        help="torch: fp32 (default), bf16, fp16 (GPU); an export directory: the variant to "
                             "run (default: the one `edgebind bench --pick` chose, else fp32)")
    parser.add_argument("--profile", metavar="FILE.yaml", help="a launch profile (see launch/)")
    parser.add_argument("--detect", action="append", default=[], metavar="TEXT",
                        help='an event defined by text; "a|b" is a prompt ensemble (repeatable)')
    parser.add_argument("--threshold", type=float, help="score to enter an event, where not calibrated (default 0.5)")
    parser.add_argument("--hop", type=float, metavar="S", help="seconds between audio/IMU windows (default 0.5)")
    parser.add_argument("--onset", action=argparse.BooleanOptionalAction, default=None,
                        help="audio onset windows: an event a sound starts opens within ~0.1 s (default: on)")
    parser.add_argument("--duration", type=float, metavar="S", help="stop after S seconds (default: until stopped)")


def add_parser(sub) -> None:
    parser = add_command(sub, "run", __doc__, run)
    add_node_options(parser)
    parser.add_argument("--calibration", metavar="FILE.json", help="thresholds from `edgebind calibrate`")
    parser.add_argument("--store", metavar="FILE.db",
                        help="keep embeddings and events in this store (for `edgebind query`)")
    parser.add_argument("--keep", metavar="AGE", help="with --store: delete what is older than AGE (e.g. 7d, 12h)")
    parser.add_argument("--out", metavar="FILE.jsonl", help='append events as JSON lines to FILE ("-": stdout)')
    parser.add_argument("--embeddings", action="store_true", help="with --out: write every embedding too")
    parser.add_argument("--no-live", action="store_true", help="print events as lines instead of the live view")
    parser.add_argument("--ros2", action="store_true",
                        help="publish embeddings and events to ROS 2 and serve ~/query (needs rclpy, edgebind_msgs)")
    parser.add_argument("--serve", metavar="HOST:PORT", help="serve the HTTP + WebSocket API (README, 'Network API') and the "
                        "web view at / (README, 'Web view'), e.g. 127.0.0.1:8765; needs the serve extra")
    parser.add_argument("--token", help="with --serve: the token clients must send (required beyond loopback; "
                        "default: $EDGEBIND_API_TOKEN)")
