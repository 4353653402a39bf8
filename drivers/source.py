"""The Source base class, its config base and the one SOURCES registry.

A Source owns one background reader thread that calls the driver's `_read()` and hands items to a
bounded ChunkBuffer; device loss (DeviceNotConnectedError from `_read`) becomes a Gap in the stream
and a reconnect loop calling `_connect()` again. Drivers implement only `_connect`, `_read`,
`_disconnect` and `info`; buffering, counters, reconnecting and shutdown live here once.
"""
from __future__ import annotations

import abc
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, ClassVar, Iterator, Sequence

from edgebind.config import from_dict
from edgebind.drivers.buffer import ChunkBuffer
from edgebind.drivers.chunks import Chunk, Gap, Item, SourceInfo, SourceStatus, State
from edgebind.errors import ConfigError, DeviceError, DeviceNotConnectedError
from edgebind.registry import Registry

log = logging.getLogger(__name__)

SOURCES: Registry[type["Source"]] = Registry("source")


@dataclass(kw_only=True)
class SourceConfig:
    """Settings every source has; each driver's config adds its own and sets `type`'s default."""

    type: str
    name: str = ""  # the source's id in chunks, recordings and logs; default: the driver's choice
    queue_size: int = 64  # chunks held for a slow consumer before the oldest are dropped
    reconnect: bool = True  # on device loss: mark a gap and reopen (False: stop with the error)
    reconnect_interval_s: float = 1.0

    def __post_init__(self) -> None:
        if self.queue_size < 1:
            raise ConfigError(f"queue_size must be >= 1, got {self.queue_size}")
        if not self.reconnect_interval_s > 0:
            raise ConfigError(f"reconnect_interval_s must be > 0, got {self.reconnect_interval_s}")


def source_config(data: "dict[str, Any] | SourceConfig", where: str = "source") -> SourceConfig:
    """A typed config from a dict whose `type` picks the driver; unknown keys are errors naming them."""
    if isinstance(data, SourceConfig):
        return data
    if not isinstance(data, dict) or "type" not in data:
        raise ConfigError(f"{where}: a source config needs a 'type' key; choose one of: {', '.join(SOURCES)}")
    return from_dict(SOURCES.get(data["type"]).config_cls, data, where)


def build_source(config: "dict[str, Any] | SourceConfig") -> "Source":
    """The Source that the config's `type` names (not opened yet)."""
    return SOURCES.build(source_config(config))


class Source(abc.ABC):
    """A sensor stream: `with source: for item in source: ...` yields Chunks and Gaps.

    `open()` connects (raising DeviceError when the device is not there) and starts the reader
    thread; `close()` stops it and is idempotent. `read(timeout)` is the polling form of iteration.
    """

    config_cls: ClassVar[type[SourceConfig]] = SourceConfig
    join_timeout_s: ClassVar[float] = 5.0

    def __init__(self, config: SourceConfig) -> None:
        self.config = config
        self.name = config.name or self.default_name()
        self._state = State.IDLE
        self._stop = threading.Event()
        self._buffer = ChunkBuffer(self.name, config.queue_size, self.lossless())
        self._thread: threading.Thread | None = None
        self._seq = self._chunks = self._gaps = self._overflows = self._reconnects = 0
        self._last_error: str | None = None

    # --- what a driver implements -------------------------------------------------------------
    def default_name(self) -> str:
        return self.config.type

    def lossless(self) -> bool:
        """True for sources with no real-time device (replay, fast sim): wait for the consumer."""
        return False

    @abc.abstractmethod
    def info(self) -> SourceInfo:
        """Name, type, device id and streams (modality, rate, shape, dtype, units)."""

    @abc.abstractmethod
    def _connect(self) -> None:
        """Open the device; raise DeviceNotConnectedError (saying what to check) when it is not there."""

    @abc.abstractmethod
    def _read(self) -> Sequence[Item] | None:
        """Wait (briefly: at most ~0.2 s, so close() is prompt) for the next items; [] when none
        came; None at the end of a finite source; DeviceNotConnectedError when the device is lost."""

    def _disconnect(self) -> None:
        """Release the device; must not raise when it is already gone."""

    # --- helpers for drivers ------------------------------------------------------------------
    def chunk(self, modality: str, data: Any, sensor_time: float | None = None,
              host_time: float | None = None, meta: dict | None = None) -> Chunk:
        """A Chunk of this source with the next sequence number (host_time: now, unless given)."""
        self._seq += 1
        return Chunk(self.name, modality, data, time.monotonic() if host_time is None else host_time,
                     sensor_time, self._seq - 1, meta or {})

    def overflow(self, reason: str, dropped: int = 0) -> Gap:
        """A Gap for an overrun the device reported (counted in `overflows`)."""
        self._overflows += 1
        return Gap(self.name, f"device overflow: {reason}", time.monotonic(), dropped)

    def wait_until(self, deadline: float) -> bool:
        """Sleep until monotonic `deadline`; False when the source is closing meanwhile."""
        return not self._stop.wait(max(0.0, deadline - time.monotonic()))

    # --- life cycle ---------------------------------------------------------------------------
    def open(self) -> "Source":
        if self._state is not State.IDLE:
            raise DeviceError(f"source {self.name!r} was already opened; create a new Source to open it again")
        self._connect()
        self._state = State.CONNECTED
        self._thread = threading.Thread(target=self._run, name=f"edgebind-source-{self.name}", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop reading and release the device; items not yet read are discarded. Idempotent."""
        if self._state is State.CLOSED:
            return
        self._stop.set()
        self._buffer.close()
        if self._thread is not None:
            self._thread.join(self.join_timeout_s)
            if self._thread.is_alive():
                log.warning("source %s: reader thread did not stop within %.0f s", self.name, self.join_timeout_s)
        self._state = State.CLOSED

    def __enter__(self) -> "Source":
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read(self, timeout: float | None = None) -> Item | None:
        """The next Chunk or Gap; None after `timeout` s without one or at the end of the stream
        (see `finished`). A driver error that stopped the source is raised here."""
        if self._state is State.IDLE:
            raise DeviceNotConnectedError(f"source {self.name!r} is not open; use `with source:` or source.open()")
        return self._buffer.get(timeout)

    def __iter__(self) -> Iterator[Item]:
        while (item := self.read()) is not None:
            yield item

    @property
    def finished(self) -> bool:
        """True when the stream has ended (finite source, failure or close) and all of it was read."""
        return self._buffer.exhausted

    @property
    def status(self) -> SourceStatus:
        return SourceStatus(self._state, self._chunks, self._buffer.drops, self._overflows, self._gaps,
                            self._reconnects, self._last_error)

    # --- the reader thread --------------------------------------------------------------------
    def _run(self) -> None:
        error: BaseException | None = None
        try:
            while not self._stop.is_set():
                try:
                    items = self._read()
                except DeviceNotConnectedError as exc:
                    if not self.config.reconnect:
                        raise
                    if not self._recover(exc):
                        break
                    continue
                if items is None:
                    self._state = State.FINISHED
                    break
                for item in items:
                    self._emit(item)
        except Exception as exc:  # noqa: BLE001  (handed to the consumer, who re-raises it)
            error, self._state, self._last_error = exc, State.FAILED, str(exc)
            log.error("source %s failed: %s", self.name, exc)
        finally:
            self._safe_disconnect()
            self._buffer.close(error)

    def _emit(self, item: Item) -> None:
        if isinstance(item, Gap):
            self._gaps += 1
        else:
            self._chunks += 1
        self._buffer.put(item)

    def _recover(self, exc: DeviceNotConnectedError) -> bool:
        """Mark the gap, then reconnect every `reconnect_interval_s` until it works or we close."""
        log.warning("source %s: %s; reconnecting", self.name, exc)
        self._state, self._last_error = State.RECONNECTING, str(exc)
        self._emit(Gap(self.name, f"device lost: {exc}", time.monotonic()))
        self._safe_disconnect()
        while not self._stop.wait(self.config.reconnect_interval_s):
            try:
                self._connect()
            except DeviceError as retry_exc:
                self._last_error = str(retry_exc)
                continue
            self._reconnects += 1
            self._state = State.CONNECTED
            log.info("source %s: reconnected", self.name)
            return True
        return False

    def _safe_disconnect(self) -> None:
        try:
            self._disconnect()
        except Exception as exc:  # noqa: BLE001  (a device already gone may fail to close)
            log.debug("source %s: error while disconnecting: %s", self.name, exc)
