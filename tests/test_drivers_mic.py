"""`mic` over real audio: a private PulseAudio daemon plays a generated 48 kHz chirp into a null
sink whose monitor the source captures through PortAudio's "pulse" device; killing and restarting
the daemon is a lost and re-found device; a suspended sink is a stream gone silent (the watchdog)."""
import re
import shlex
import sys
import time
import wave

import numpy as np
import pytest

from edgebind.cli.main import main
from edgebind.drivers import Chunk, Gap, State, build_source
from edgebind.drivers.sensors import sensor_configs
from edgebind.errors import ConfigError, DeviceNotConnectedError, MissingDependencyError

from pulse_audio import MISSING, RATE, SINK, SKIP_REASON, poll

pytest.importorskip("soxr")
pytestmark = pytest.mark.skipif(MISSING, reason=SKIP_REASON)


def _next(source, kind, timeout: float = 5.0):
    """The next item of `kind`, skipping items of the other kind, within `timeout` s."""
    deadline = time.monotonic() + timeout
    while (item := source.read(max(0.0, deadline - time.monotonic()))) is not None:
        if isinstance(item, kind):
            return item
    raise AssertionError(f"no {kind.__name__} within {timeout} s; status {source.status}")


def _write_chirp(path) -> np.ndarray:
    """A 1 s chirp from 300 Hz to 6 kHz with faded ends, written as 16-bit 48 kHz; the samples as played."""
    t = np.arange(RATE) / RATE
    signal = 0.5 * np.sin(2 * np.pi * (300 * t + (6000 - 300) / 2 * t**2)) * np.minimum(1, np.minimum(t, 1 - t) / 0.05)
    pcm = np.round(signal * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(RATE), w.writeframes(pcm.tobytes())
    return pcm / 32767


def _to_16k(x: np.ndarray) -> np.ndarray:
    """Band-limited resampling by the FFT: a reference independent of the driver's resampler."""
    m = len(x) // 3
    return np.fft.irfft(np.fft.rfft(x)[: m // 2 + 1], m) * (m / len(x))


def _align(captured: np.ndarray, played: np.ndarray) -> tuple[float, int, np.ndarray]:
    """The best normalised correlation of `captured` (16 kHz) with `played` (48 kHz), its lag and
    the reference it was found with: `played` at 16 kHz, delayed by the 48 kHz samples (0 to 2)
    that the capture is late by beyond whole 16 kHz samples."""
    best = (-1.0, 0, played)
    for delay in range(3):
        reference = _to_16k(np.concatenate([np.zeros(delay), played[:len(played) - delay]]))
        energy = np.convolve(captured**2, np.ones(len(reference)), "valid")
        scores = np.correlate(captured, reference, "valid") / np.sqrt(energy * np.sum(reference**2) + 1e-12)
        lag = int(np.argmax(scores))
        best = max(best, (float(scores[lag]), lag, reference), key=lambda b: b[0])
    return best


def test_captures_played_audio_as_16k_mono_with_plausible_times(pulse, tmp_path):
    played = _write_chirp(tmp_path / "chirp.wav")
    with build_source({"type": "mic", "device": "pulse", "rate_hz": RATE}) as mic:
        _next(mic, Chunk)
        started = time.monotonic()
        player = pulse.play(tmp_path / "chirp.wav")
        chunks = []
        while player.poll() is None:
            chunks.append(_next(mic, Chunk, timeout=1.0))
        played_out = time.monotonic()
        while time.monotonic() < played_out + 0.3:  # what is still on its way from the sink
            chunks.append(_next(mic, Chunk, timeout=1.0))
        info, status = mic.info(), mic.status
    assert status.gaps == 0 and status.overflows == 0
    assert info.device == "pulse" and info.extra == {"native_rate_hz": 48000.0, "channels": 1}
    assert info.streams[0].rate_hz == 16000 and info.streams[0].shape == (512, 1)
    assert all(c.data[0].shape == (512, 1) and c.data[0].dtype == np.float32 and c.data[1] == 16000 for c in chunks)

    captured = np.concatenate([c.data[0][:, 0] for c in chunks])
    score, lag, reference = _align(captured, played)
    assert score >= 0.95
    # Sample by sample (gain 1): a click or phase jump at any of the ~30 block joins would show here.
    # (PulseAudio loses the first few ms of a playback stream: compare from 10 ms on.)
    assert np.abs(captured[lag + 160:lag + len(reference)] - reference[160:]).max() < 1e-3

    # Timing: on the host clock the chirp starts just after paplay did; ADC times advance 32 ms a chunk.
    k = lag // 512
    onset = chunks[k].host_time - (512 * (k + 1) - lag) / 16000
    assert started < onset < started + 0.5
    sensor_times = np.array([c.sensor_time for c in chunks])
    assert np.abs(np.diff(sensor_times) - 0.032).max() < 0.005
    assert sensor_times[-1] - sensor_times[0] == pytest.approx(0.032 * (len(chunks) - 1), abs=0.003)


def test_a_killed_audio_server_is_a_gap_then_a_reconnect(pulse):
    config = {"type": "mic", "device": "pulse", "watchdog_s": 2.5, "reconnect_interval_s": 0.1}
    with build_source(config) as mic:
        _next(mic, Chunk)
        pulse.kill()
        gap = _next(mic, Gap, timeout=2.0)  # well before watchdog_s: the stream itself stopped
        assert "device lost: mic: the stream of 'pulse' stopped" in gap.reason
        assert mic.status.state is State.RECONNECTING
        # each retry re-scans PortAudio's devices, which no longer include the server's
        poll(lambda: "no input device 'pulse'" in (mic.status.last_error or ""), "retry that re-scanned the devices")
        pulse.start()
        after = mic.read(5.0)
        assert isinstance(after, Chunk), after
        status = mic.status
        assert (status.state, status.reconnects, status.gaps) == (State.CONNECTED, 1, 1)
        assert mic.info().extra["native_rate_hz"] == 44100  # rate_hz: null, the "pulse" device's default


def test_a_silent_stream_trips_the_watchdog(pulse):
    config = {"type": "mic", "device": "pulse", "watchdog_s": 0.3, "reconnect_interval_s": 0.1}
    with build_source(config) as mic:
        _next(mic, Chunk)
        pulse.pactl("suspend-sink", SINK, "1")
        try:
            gap = _next(mic, Gap, timeout=2.0)
        finally:
            pulse.pactl("suspend-sink", SINK, "0")
        assert re.search(r"device lost: mic: no audio from 'pulse' for 0\.\d s \(watchdog_s=0\.3\)", gap.reason)
        _next(mic, Chunk)
        poll(lambda: mic.status.state is State.CONNECTED, "reconnected state")
        assert mic.status.reconnects >= 1


def test_a_missing_device_is_named_with_the_devices_there(pulse):
    with pytest.raises(DeviceNotConnectedError, match=r"mic: no input device 'no such mic' .*"
                       r"input devices now: \['pulse', 'default'\] \(`edgebind devices` lists them"):
        build_source({"type": "mic", "device": "no such mic"}).open()


def test_an_unsupported_rate_says_what_the_device_offers(pulse):
    with pytest.raises(ConfigError, match=r"mic: 'pulse' cannot capture 1 channel\(s\) at rate_hz=1e\+06 .*"
                       r"a default rate of 44100 Hz"):
        build_source({"type": "mic", "device": "pulse", "rate_hz": 1e6}).open()


def test_edgebind_devices_prints_a_setting_that_selects_the_mic(pulse, capsys):
    assert main(["devices"]) == 0
    [line] = [line for line in capsys.readouterr().out.splitlines() if line.split()[1:2] == ["pulse"]]
    setting = shlex.split(line.split("--set ", 1)[1])[0]
    [config] = sensor_configs(["mic"], [setting])
    assert config.device == "pulse"


@pytest.mark.parametrize("settings, message", [
    ({"devic": "pulse"}, r"unknown key\(s\) \['devic'\] for MicConfig"),
    ({"device": -1}, "mic device must be a name or an index >= 0, got -1"),
    ({"device": ""}, "mic device must be a name or an index >= 0, got ''"),
    ({"device": True}, "mic device must be a name or an index >= 0, got True"),
    ({"rate_hz": 0}, "mic rate_hz and output_rate_hz must be > 0, got 0, 16000"),
    ({"channels": 0}, "mic channels must be >= 1, got 0"),
    ({"block_s": 1.5}, r"mic needs 0 < block_s < watchdog_s, got block_s=1.5, watchdog_s=1.0"),
])
def test_bad_settings_are_config_errors(settings, message):
    with pytest.raises(ConfigError, match=message):
        build_source({"type": "mic", **settings})


def test_a_missing_sounddevice_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # import fails as when not installed
    with pytest.raises(MissingDependencyError, match=r"the mic source needs the 'sounddevice' package: "
                       r"pip install 'edgebind\[sensors\]'"):
        build_source({"type": "mic"}).open()
