"""The perception node: sensors -> windows -> embeddings -> detections, on two threads.

The capture thread merges the sources' items and cuts them into windows (edgebind.runtime.windows);
a bounded queue hands the windows to the inference thread, which embeds them in batches per
modality with the backend, scores them for the detector, and hands `Embedding`s and `Detection`s
to the library user (iteration, callbacks). A slow model never stalls capture: when the window
queue is full its oldest windows are dropped and counted, unless every source is offline (replay,
a sim at speed 0), where the node waits instead and loses nothing. The node imports no training
code.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from collections import defaultdict
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np

from edgebind.config import from_dict
from edgebind.drivers import Gap, Source
from edgebind.errors import ConfigError
from edgebind.runtime.backend import Backend, build_backend
from edgebind.runtime.calibration import Calibration
from edgebind.runtime.detector import Detection, Detector, EventConfig
from edgebind.queues import BoundedQueue
from edgebind.runtime.node_config import Embedding, NodeConfig, StreamStats
from edgebind.runtime.queries import make_detector, query_vector
from edgebind.runtime.store import Store
from edgebind.runtime.store_tables import Moment
from edgebind.runtime.supervisor import SupervisedSources
from edgebind.runtime.windows import BlockWindower, FrameWindower, OnsetWindower, Window

log = logging.getLogger(__name__)
BLOCK_MODALITIES = ("audio", "imu")


class Node:
    """`with Node(config) as node: for item in node: ...` yields Embeddings and Detections.

    `on_event(name, fn)` calls `fn(detection)` from the inference thread; `stats()` reports
    per-stream counters, latency and queue depth. Every thread it starts, `close()` stops.
    """

    def __init__(self, config: "NodeConfig | Mapping[str, Any] | None" = None, *,
                 backend: Backend | None = None) -> None:
        self.config = config if isinstance(config, NodeConfig) else from_dict(NodeConfig, dict(config or {}), "node")
        self._supervised = SupervisedSources(self.config.sensors, self.config.restart_interval_s)
        self._backend = backend
        self._detector: Detector | None = None
        self._calibration: Calibration | None = None
        self._next_detector: list[Detector | None] = []  # set_events hands the inference thread a new one
        self._callbacks: dict[str, list[Callable[[Detection], None]]] = defaultdict(list)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._error: BaseException | None = None
        self._stats: dict[tuple[str, str], StreamStats] = defaultdict(StreamStats)
        self._latest: dict[str, Window] = {}  # stream -> latest window (the snapshot of a detection)
        self._windows: BoundedQueue[Window] | None = None
        self._outputs: BoundedQueue[Embedding | Detection] | None = None
        self._exit = contextlib.ExitStack()
        self.store: Store | None = None
        self._opened_at = time.monotonic()

    @property
    def sources(self) -> list[Source]:
        """The sources as they are now (a failed source is replaced by a fresh one when it restarts)."""
        return self._supervised.sources

    # --- set-up ---------------------------------------------------------------------------------
    @property
    def backend(self) -> Backend:
        """The encoders, loaded on first use for the modalities the sources say they stream."""
        if self._backend is None:
            streams = [{st.modality for st in source.info().streams} for source in self.sources]
            needed = None if not all(streams) else sorted(set().union(*streams) | {"text"})
            self._backend = build_backend(self.config.backend, needed)
        return self._backend

    def _windowers(self, modality: str) -> "list[BlockWindower | FrameWindower | OnsetWindower]":
        c = self.config.windows
        if modality not in BLOCK_MODALITIES:
            return [FrameWindower(c.frame_rate_hz)]
        model_s = self.backend.window_s(modality)
        length = c.audio_s if modality == "audio" and c.audio_s is not None else model_s
        windowers: list = [BlockWindower(length, c.hop_s, fill_s=model_s)]
        if modality == "audio" and c.onset:
            windowers.append(OnsetWindower(model_s, c.onset_hop_s, c.onset_max_s, c.onset_rise_db))
        return windowers

    # --- life cycle -----------------------------------------------------------------------------
    def open(self) -> "Node":
        if self._threads:
            raise ConfigError("this node is already running; create a new Node to run again")
        self._calibration = None if self.config.calibration is None else \
            Calibration.load(self.config.calibration, self.backend.model_id)
        self._detector = make_detector(self.backend, self.config, self._calibration)
        lossless = self._supervised.lossless
        self._windows = BoundedQueue(self.config.queue_size, lossless, self._dropped)
        self._outputs = BoundedQueue(self.config.output_size, lossless)
        with self._exit as opened:  # a store or source that cannot open closes what did
            if self.config.store is not None:
                settings = dataclasses.asdict(self.config.store)
                self.store = opened.enter_context(Store(settings.pop("path"), self.backend.dim,
                                                        self.backend.model_id, **settings))
            self._supervised.open()
            opened.callback(self._supervised.close)
            self._exit = opened.pop_all()
        self._opened_at = time.monotonic()
        self._threads = [threading.Thread(target=self._guard(self._capture), name="edgebind-node-capture", daemon=True),
                         threading.Thread(target=self._guard(self._infer), name="edgebind-node-infer", daemon=True)]
        for thread in self._threads:
            thread.start()
        return self

    def close(self) -> None:
        """Stop the sources, embed what was already captured, stop both threads and close the
        store (committing what it holds). Idempotent."""
        self._stop.set()
        for thread in self._threads:
            thread.join(10)
        self._exit.close()
        if self._outputs is not None:
            self._outputs.close()

    def __enter__(self) -> "Node":
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def on_event(self, name: str, callback: Callable[[Detection], None]) -> None:
        """Call `callback(detection)` for every start and end of event `name` ("*": every event)."""
        known = {e.name for e in self.config.events}
        if name != "*" and name not in known:
            raise ConfigError(f"no event named {name!r}; the node detects: {', '.join(sorted(known)) or 'nothing'}")
        self._callbacks[name].append(callback)

    def set_events(self, events: Sequence["EventConfig | Mapping[str, Any]"]) -> None:
        """Detect `events` from now on, without a restart (open events of the old set end). The
        calibration's thresholds still apply to events it knows by name."""
        config = dataclasses.replace(self.config, events=list(events))  # checks them as a config would
        detector = make_detector(self.backend, config, self._calibration)
        self.config.events = config.events
        self._next_detector[:] = [detector]

    def event_thresholds(self) -> dict[str, dict[str, float]]:
        """Per event (the newest set), the score each window modality must reach (calibrated or configured)."""
        pending = list(self._next_detector)  # the inference thread may take it up meanwhile
        detector = pending[0] if pending else self._detector
        if detector is None:
            return {}
        modalities = [m for m in self.backend.modalities if m != "text"]
        return {e.name: {m: detector.threshold(i, m) for m in modalities} for i, e in enumerate(detector.events)}

    def latest_windows(self) -> dict[str, Window]:
        """The newest embedded window of each stream ("source/modality" -> Window), e.g. for previews."""
        return dict(self._latest)

    def read(self, timeout: float | None = None) -> "Embedding | Detection | None":
        """The next output; None after `timeout` s without one, or when the node has stopped."""
        items = self._outputs.get_many(1, timeout) if self._outputs is not None else []
        if not items and self._error is not None:
            raise self._error
        return items[0] if items else None

    def __iter__(self) -> Iterator["Embedding | Detection"]:
        while not (self._outputs.closed_and_empty and self._stop.is_set()):
            item = self.read(0.2)
            if item is not None:
                yield item
            elif self.finished:
                return

    @property
    def finished(self) -> bool:
        """True when every source has ended (or the node stopped) and everything was handed over."""
        return self._outputs is not None and self._outputs.closed_and_empty

    def query(self, *terms: str, k: int = 5, last_s: float | None = None,
              modalities: Sequence[str] | None = None) -> list[Moment]:
        """The stored moments most like `terms`: text, or "MODALITY:FILE" (a WAV, an image, ...);
        several terms are added (embedding arithmetic, e.g. an image plus a text)."""
        if self.store is None:
            raise ConfigError("this node keeps no memory to query: give it a store (--store PATH)")
        return self.store.query(query_vector(self.backend, terms), k, last_s=last_s, modalities=modalities)

    def stats(self) -> dict[str, Any]:
        """Per stream: windows cut, embedded, dropped, embedded per second, the model's CPU share
        (% of one core), latency p50/p99 (ms); the window queue's depth and drops; sources."""
        streams, elapsed = {}, max(time.monotonic() - self._opened_at, 1e-9)
        for (source, modality), s in sorted(dict(self._stats).items()):
            lat = np.array(s.latency_ms) if s.latency_ms else np.zeros(1)
            streams[f"{source}/{modality}"] = {
                "windows": s.windows, "embedded": s.embedded, "dropped": s.dropped,
                "windows_per_s": round(s.embedded / elapsed, 2), "cpu_percent": round(100 * s.cpu_s / elapsed, 2),
                "latency_p50_ms": round(float(np.percentile(lat, 50)), 2),
                "latency_p99_ms": round(float(np.percentile(lat, 99)), 2)}
        return {"streams": streams, "queue": len(self._windows) if self._windows is not None else 0,
                "window_drops": self._windows.drops if self._windows is not None else 0,
                "sources": {s.name: s.status for s in self.sources},
                "source_failures": dict(self._supervised.failures)}

    def _dropped(self, window: Window) -> None:
        self._stats[(window.source, window.modality)].dropped += 1

    # --- the two threads ------------------------------------------------------------------------
    def _guard(self, target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            except BaseException as exc:  # noqa: BLE001  (handed to the user, who re-raises it)
                log.error("node: %s stopped: %s", target.__name__, exc)
                self._error = exc
                self._stop.set()
                self._windows.close()
                self._outputs.close()
        return run

    def _capture(self) -> None:
        windowers: dict[tuple[str, str], Any] = {}
        try:
            for item in self._supervised.items(self._stop):
                if isinstance(item, Gap):
                    for (source, _), stream in windowers.items():
                        for windower in stream if source == item.source else ():
                            windower.reset()
                    continue
                key = (item.source, item.modality)
                if key not in windowers:
                    windowers[key] = self._windowers(item.modality)
                for window in [w for windower in windowers[key] for w in windower.push(item)]:
                    self._stats[key].windows += 1
                    self._windows.put(window)
        finally:
            self._windows.close()

    def _infer(self) -> None:
        batch_size = self.config.backend.batch_size
        while True:
            windows = self._windows.get_many(batch_size * 4, timeout=0.2)
            self._swap_detector()
            if not windows:
                if self._windows.closed_and_empty:
                    break
                continue
            by_modality: dict[str, list[Window]] = defaultdict(list)
            for window in windows:
                by_modality[window.modality].append(window)
            for modality, group in by_modality.items():
                self._embed(modality, group)
        self._end_open_events()
        self._outputs.close()

    def _end_open_events(self) -> None:
        """Close every open event, at the latest time seen (a sim at speed 0 runs ahead of the clock)."""
        if self._detector is not None:
            latest = max((w.t_end for w in self._latest.values()), default=0.0)
            for detection in self._detector.close_all(max(time.monotonic(), latest)):
                self._emit(detection)

    def _swap_detector(self) -> None:
        """In the inference thread: take up the detector `set_events` made, ending the old one's events."""
        if self._next_detector:
            self._end_open_events()
            self._detector = self._next_detector.pop()

    def _embed(self, modality: str, windows: Sequence[Window]) -> None:
        cpu = time.thread_time()
        vectors = self.backend.embed(modality, [w.data for w in windows])
        cpu = (time.thread_time() - cpu) / len(windows)
        scores = self._detector.scores(modality, vectors) if self._detector is not None else None
        done = time.monotonic()
        embedded = []
        for i, window in enumerate(windows):
            stats = self._stats[(window.source, modality)]
            stats.embedded += 1
            stats.cpu_s += cpu
            if done >= window.t_end:  # a sim at speed 0 runs ahead of the clock: no latency to speak of
                stats.latency_ms = (stats.latency_ms + [1000 * (done - window.t_end)])[-1000:]
            named = {} if scores is None else {e.name: float(s) for e, s in zip(self._detector.events, scores[i])}
            embedded.append(Embedding(window.source, modality, window.t_start, window.t_end, vectors[i], named,
                                      window.meta, window.onset))
            self._outputs.put(embedded[-1])
            stream = f"{window.source}/{modality}"
            if not window.onset:  # an onset window holds a looped fragment: snapshots keep the regular ones
                self._latest[stream] = window
            # An event an onset window opens gets the stream as recorded up to that window's end.
            snapshot = self._latest if window.context is None else {**self._latest, stream: window.context}
            if scores is not None:
                for detection in self._detector.update(window.source, modality, window.t_end, scores[i],
                                                       window.level_db, snapshot, window.meta, window.onset):
                    self._emit(detection)
        if self.store is not None:
            self.store.add(embedded)

    def _emit(self, detection: Detection) -> None:
        self._outputs.put(detection)
        if self.store is not None:
            self.store.add_event(detection)
        for callback in self._callbacks.get(detection.event, []) + self._callbacks.get("*", []):
            try:
                callback(detection)
            except Exception as exc:  # noqa: BLE001  (a user's callback must not stop the node)
                log.error("node: callback for %s failed: %s", detection.event, exc)
