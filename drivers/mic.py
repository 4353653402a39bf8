"""`mic`: a microphone (any PortAudio input: ALSA, PulseAudio/PipeWire, CoreAudio, WASAPI), read
with sounddevice.

Chunks are `(float32 frames x 1, 16000)`: the device's channels mixed down to mono and its native
rate resampled to `output_rate_hz` by one streaming soxr resampler, so blocks join without clicks.
`sensor_time` is PortAudio's ADC time of a chunk's first sample. PortAudio reports no unplugging:
a watchdog treats a stopped stream, or no audio for `watchdog_s`, as a lost device (a Gap), and the
device is reopened by name every `reconnect_interval_s` after PortAudio has re-scanned its devices.
"""
from __future__ import annotations

import math
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from edgebind.drivers.chunks import Item, SourceInfo, StreamInfo
from edgebind.drivers.source import SOURCES, Source, SourceConfig
from edgebind.errors import ConfigError, DeviceNotConnectedError, MissingDependencyError, require

QUEUE_S = 1.0  # audio the callback may queue for a busy reader thread before blocks are lost

# PortAudio fixes its device list when it is initialised; re-initialising it (to see a re-plugged
# device) stops every stream it has open, so it is done only while no mic source has one open.
_portaudio_lock = threading.Lock()
_open_streams = 0


def load_sounddevice(feature: str) -> Any:
    """sounddevice, or MissingDependencyError saying what to install (the package or PortAudio)."""
    try:
        return require("sounddevice", "sensors", feature)
    except OSError as exc:  # the package is there, the PortAudio library is not
        raise MissingDependencyError(
            f"{feature} needs the PortAudio library ({exc}): apt-get install libportaudio2 "
            "(macOS: brew install portaudio)") from None


@dataclass(kw_only=True)
class MicConfig(SourceConfig):
    """A PortAudio input device, captured at its native rate and streamed as 16 kHz mono."""

    type: str = "mic"
    # a name (case-insensitive substrings of what `edgebind devices` lists) or an index; None: the
    # system default input. Reopened by name after a loss.
    device: str | int | None = None
    rate_hz: float | None = None  # native capture rate; None: the device's default rate
    channels: int | None = None  # mixed to mono; None: 1 where the device offers it, else all it has
    block_s: float = 0.032  # seconds per chunk (512 samples at 16 kHz)
    watchdog_s: float = 1.0  # a stream silent for this long (no callback at all) is a lost device
    output_rate_hz: int = 16000  # the rate chunks carry (the audio models' rate)

    def __post_init__(self) -> None:
        super().__post_init__()
        d = self.device
        if not (d is None or (isinstance(d, str) and d) or (type(d) is int and d >= 0)):
            raise ConfigError(f"mic device must be a name or an index >= 0, got {d!r}")
        if (self.rate_hz is not None and not self.rate_hz > 0) or not self.output_rate_hz > 0:
            raise ConfigError(f"mic rate_hz and output_rate_hz must be > 0, got {self.rate_hz}, {self.output_rate_hz}")
        if self.channels is not None and self.channels < 1:
            raise ConfigError(f"mic channels must be >= 1, got {self.channels}")
        if not 0 < self.block_s < self.watchdog_s:
            raise ConfigError(f"mic needs 0 < block_s < watchdog_s, got block_s={self.block_s}, "
                              f"watchdog_s={self.watchdog_s}")


@SOURCES.register("mic")
class MicSource(Source):
    """Blocks from a PortAudio input stream, mixed to mono and resampled to `output_rate_hz`."""

    config_cls = MicConfig
    config: MicConfig

    def __init__(self, config: MicConfig) -> None:
        super().__init__(config)
        self._stream: Any = None
        self._device_name: str | None = None  # once opened: reopened by this name where `device` is no name
        self._rate = self._channels = 0

    def info(self) -> SourceInfo:
        c = self.config
        device = self._device_name or ("system default input" if c.device is None else str(c.device))
        frames = round(c.block_s * c.output_rate_hz)
        return SourceInfo(self.name, c.type, device,
                          (StreamInfo("audio", float(c.output_rate_hz), (frames, 1), "float32", "full scale [-1, 1]"),),
                          {"native_rate_hz": self._rate or c.rate_hz, "channels": self._channels or c.channels})

    # --- connecting ---------------------------------------------------------------------------
    def _connect(self) -> None:
        global _open_streams
        sd = load_sounddevice("the mic source")
        soxr = require("soxr", "sensors", "the mic source")
        with _portaudio_lock:
            if _open_streams == 0:
                sd._terminate()  # sounddevice's own re-initialisation: a fresh device list
                sd._initialize()
            index, device = self._find_device(sd)
            self._rate = float(self.config.rate_hz or device["default_samplerate"])
            self._channels = self._pick_channels(sd, index, device)
            self._blocks: queue.SimpleQueue = queue.SimpleQueue()
            self._max_blocks = max(4, math.ceil(QUEUE_S / self.config.block_s))
            self._skipped = 0  # blocks the callback could not queue; written by the callback only
            self._last_callback = time.monotonic()
            stream = None
            try:
                stream = sd.InputStream(device=index, samplerate=self._rate, channels=self._channels,
                                        dtype="float32", blocksize=round(self.config.block_s * self._rate),
                                        callback=self._callback)
                stream.start()
            except sd.PortAudioError as exc:
                if stream is not None:
                    stream.close(ignore_errors=True)
                raise DeviceNotConnectedError(f"mic: cannot open {device['name']!r} ({exc})") from None
            self._stream, _open_streams = stream, _open_streams + 1
        self._device_name = device["name"]
        self._resampler = soxr.ResampleStream(self._rate, self.config.output_rate_hz, 1, dtype="float32")
        self._pending = np.zeros(0, np.float32)  # resampled samples not yet in a chunk
        self._in_frames = self._out_frames = 0  # since connecting: native frames fed, output frames emitted
        self._anchor: tuple[int, float | None] = (0, None)  # (native frame index, its ADC time) of the last block

    def _find_device(self, sd: Any) -> tuple[int, dict]:
        """The input device the config names (by the name it had, once opened), or the default."""
        named = isinstance(self.config.device, str) or self._device_name is None
        query = self.config.device if named else self._device_name
        try:
            device = sd.query_devices(query, "input") if query is not None else sd.query_devices(kind="input")
        except (ValueError, sd.PortAudioError) as exc:
            inputs = [d["name"] for d in sd.query_devices() if d["max_input_channels"] > 0]
            what = "no default input device" if query is None else f"no input device {query!r}"
            raise DeviceNotConnectedError(
                f"mic: {what} ({exc}); input devices now: {inputs or 'none'} "
                "(`edgebind devices` lists them with the setting that selects one)") from None
        return device["index"], device

    def _pick_channels(self, sd: Any, index: int, device: dict) -> int:
        """The configured channel count (or 1, else all the device has), checked against the rate."""
        wanted, every = self.config.channels or 1, device["max_input_channels"]
        problem = self._supported(sd, index, wanted)
        if problem is not None and self.config.channels is None and self._supported(sd, index, every) is None:
            return every  # a device (e.g. an ALSA hw one) that captures all its channels or none
        if problem is not None:
            raise ConfigError(
                f"mic: {device['name']!r} cannot capture {wanted} channel(s) at rate_hz={self._rate:g} "
                f"({problem}); it has {device['max_input_channels']} input channel(s) and a default rate "
                f"of {device['default_samplerate']:g} Hz (rate_hz: null uses that)")
        return wanted

    def _supported(self, sd: Any, index: int, channels: int) -> str | None:
        try:
            sd.check_input_settings(device=index, channels=channels, dtype="float32", samplerate=self._rate)
        except (ValueError, sd.PortAudioError) as exc:
            return str(exc)
        return None

    def _disconnect(self) -> None:
        global _open_streams
        if self._stream is None:
            return
        with _portaudio_lock:
            stream, self._stream, _open_streams = self._stream, None, _open_streams - 1
            stream.close(ignore_errors=True)

    # --- capturing ----------------------------------------------------------------------------
    def _callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        """PortAudio's thread: note the time, queue a copy of the block; nothing else."""
        self._last_callback = time.monotonic()
        if self._blocks.qsize() >= self._max_blocks:
            self._skipped += 1
            return
        self._blocks.put((indata.copy(), time_info.inputBufferAdcTime, bool(status.input_overflow), self._skipped))
        self._skipped = 0

    def _read(self) -> Sequence[Item]:
        try:
            data, adc_time, overflowed, skipped = self._blocks.get(timeout=0.1)
        except queue.Empty:
            self._check_alive()
            return []
        items: list[Item] = []
        if overflowed or skipped:  # samples were lost just before this block
            items += self._cut(flush=True)
            items.append(self.overflow("PortAudio input overflow" if overflowed else
                                       f"{skipped} block(s) lost: the reader thread fell behind", skipped))
        self._anchor = (self._in_frames, adc_time or None)  # 0: the host API gives no ADC time
        self._in_frames += len(data)
        mono = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
        self._pending = np.concatenate([self._pending, self._resampler.resample_chunk(mono)])
        return items + self._cut()

    def _check_alive(self) -> None:
        silent = time.monotonic() - self._last_callback
        if not self._stream.active:
            raise DeviceNotConnectedError(
                f"mic: the stream of {self._device_name!r} stopped (device unplugged or audio server gone)")
        if silent > self.config.watchdog_s:
            raise DeviceNotConnectedError(
                f"mic: no audio from {self._device_name!r} for {silent:.1f} s (watchdog_s={self.config.watchdog_s:g})")

    def _cut(self, flush: bool = False) -> list[Item]:
        """Chunks of `block_s` from the resampled samples (and the remainder when `flush`)."""
        n = round(self.config.block_s * self.config.output_rate_hz)
        chunks: list[Item] = []
        now = time.monotonic()
        while len(self._pending) >= n or (flush and len(self._pending)):
            block, self._pending = self._pending[:n], self._pending[n:]
            chunks.append(self.chunk("audio", (block.reshape(-1, 1), self.config.output_rate_hz),
                                     sensor_time=self._adc_time(self._out_frames), host_time=now))
            self._out_frames += len(block)
        return chunks

    def _adc_time(self, out_frame: int) -> float | None:
        """ADC time of output frame `out_frame`: the resampler keeps output aligned with its input."""
        frame, adc_time = self._anchor
        if adc_time is None:
            return None
        return adc_time + (out_frame * self._rate / self.config.output_rate_hz - frame) / self._rate
