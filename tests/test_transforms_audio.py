"""Audio transform: ImageBind log-mel recipe, short-audio policy, file reading and input errors."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
import torchaudio.compliance.kaldi
from safetensors.torch import load_file

from edgebind.errors import ConfigError, InputError, UnreadableFileError
from edgebind.transforms.audio import AudioConfig, AudioTransform

SR = 16000
SHAPE = (3, 1, 128, 204)
REFERENCE = Path(__file__).parent / "data" / "imagebind_audio_reference"
NOTE = json.loads(REFERENCE.with_suffix(".json").read_text())
# imagebind/data.py waveform2melspec, keyword for keyword.
OFFICIAL_FBANK = dict(htk_compat=True, sample_frequency=SR, use_energy=False, window_type="hanning",
                      num_mel_bins=128, dither=0.0, frame_length=25, frame_shift=10)


def tones(rate: int, seconds: float) -> np.ndarray:
    """A deterministic multi-tone test signal in [-1, 1]."""
    t = np.arange(int(seconds * rate)) / rate
    return sum(0.1 * np.sin(2 * np.pi * f * t) for f in (200, 450, 1000, 2300, 3100, 5000, 6500))


def sweep(seconds: float) -> np.ndarray:
    """A linear sine sweep from 100 Hz to 6 kHz."""
    t = np.arange(int(seconds * SR)) / SR
    return 0.5 * np.sin(2 * np.pi * (100 * t + (6000 - 100) / (2 * seconds) * t**2))


def reference_waveform(name: str) -> np.ndarray:
    """The float32 recording `name` of the reference note, rebuilt from its recipe."""
    recording = NOTE["recordings"][name]
    t = np.arange(round(recording["seconds"] * SR)) / SR
    x = NOTE["dc_offset"] + sum(a * np.sin(2 * np.pi * f * t) for f, a in NOTE["tones"])
    x = x + NOTE["noise_std"] * np.random.default_rng(recording["seed"]).standard_normal(len(t))
    return x.astype(np.float32)


@pytest.fixture(scope="module")
def tf() -> AudioTransform:
    return AudioTransform()


@pytest.mark.parametrize("name", ["long", "short"])
def test_matches_the_official_preprocessing(tf, name):
    """The official code's output, stored in tests/data (how: the .json beside it): every
    output-changing step (clip sampling, window, mel bins, frames, padding, normalisation) is
    pinned to within float32 rounding, which stays below 2e-5 against a float64 computation."""
    expected = load_file(REFERENCE.with_suffix(".safetensors"))[name]
    torch.testing.assert_close(tf(reference_waveform(name)), expected, atol=5e-5, rtol=0)


def test_fbank_is_called_as_imagebind_calls_it(tf, monkeypatch):
    """Kaldi's fbank removes each frame's DC offset, and htk_compat only moves the energy column,
    which use_energy=False leaves out: ImageBind's waveform-mean subtraction and htk_compat=True
    change the output by float rounding at most, so no output comparison can pin them. They are
    pinned at the call, which is what keeps edgebind bit-identical to the official code."""
    calls = []
    fbank = torchaudio.compliance.kaldi.fbank

    def spy(waveform: torch.Tensor, **kwargs) -> torch.Tensor:
        calls.append((waveform.mean().item(), kwargs))
        return fbank(waveform, **kwargs)

    monkeypatch.setattr(torchaudio.compliance.kaldi, "fbank", spy)
    tf(reference_waveform("long"))  # its 0.05 DC offset must be gone from every clip
    assert [kwargs for _, kwargs in calls] == [OFFICIAL_FBANK] * 3
    assert all(abs(mean) < 1e-6 for mean, _ in calls), calls


def test_defaults_are_imagebind():
    cfg = AudioConfig()
    assert (cfg.sample_rate, cfg.num_mel_bins, cfg.target_length) == (16000, 128, 204)
    assert (cfg.clip_duration, cfg.clips_per_sample, cfg.mean, cfg.std) == (2.0, 3, -4.268, 9.138)


@pytest.mark.parametrize("samples", [SR, 2 * SR, 10 * SR, 399, 1])
def test_output_shape_and_dtype(tf, samples):
    out = tf(tones(SR, samples / SR).astype(np.float32) if samples > 1 else np.array([0.3], np.float32))
    assert out.shape == SHAPE and out.dtype == torch.float32
    assert torch.isfinite(out).all()


def test_two_second_clip_has_198_frames_and_6_padding(tf):
    out = tf(tones(SR, 2.0))
    pad_value = torch.tensor((0 - -4.268) / 9.138)
    assert torch.allclose(out[..., 198:], pad_value.expand_as(out[..., 198:]))
    assert not torch.allclose(out[..., 197], pad_value.expand_as(out[..., 197]))


def test_short_audio_gives_identical_clips_padded(tf):
    out = tf(tones(SR, 1.0))  # 1 s < one clip: every clip is the whole waveform, 98 frames
    assert torch.equal(out[0], out[1]) and torch.equal(out[0], out[2])
    pad_value = torch.tensor(4.268 / 9.138)
    assert torch.allclose(out[..., 98:], pad_value.expand_as(out[..., 98:]))


@pytest.mark.parametrize("samples", [399, 1])
def test_shorter_than_one_window_is_zero_padded_to_one_frame(tf, samples):
    """The official code fails below one 400-sample window; edgebind zero-pads to one window."""
    x = tones(SR, 1.0)[:samples].astype(np.float32) + 0.3
    out = tf(x)
    assert torch.equal(out, tf(np.pad(x, (0, 400 - samples))))
    pad_value = torch.tensor(4.268 / 9.138)
    assert torch.allclose(out[..., 1:], pad_value.expand_as(out[..., 1:]))
    assert not torch.allclose(out[..., 0], pad_value.expand_as(out[..., 0]))


def test_ten_second_sweep_gives_different_clips(tf):
    out = tf(sweep(10.0))
    assert tf.clip_bounds(10 * SR) == [(0, 2 * SR), (4 * SR, 6 * SR), (8 * SR, 10 * SR)]
    assert (out[0] - out[2]).abs().mean() > 0.1


def test_stereo_44k_wav_matches_mono_16k(tf, tmp_path):
    s = tones(44100, 3.0)
    path = tmp_path / "stereo.wav"
    soundfile.write(path, np.stack([1.2 * s, 0.8 * s], axis=1), 44100, subtype="FLOAT")
    from_file = tf(path)
    assert from_file.shape == SHAPE
    assert torch.allclose(from_file, tf(tones(SR, 3.0)), atol=0.05)
    assert torch.equal(from_file, tf(str(path)))


def test_tuple_with_rate_matches_file(tf, tmp_path):
    data = tones(22050, 2.5).astype(np.float32)
    path = tmp_path / "mono.wav"
    soundfile.write(path, data, 22050, subtype="FLOAT")
    assert torch.equal(tf(path), tf((data, 22050)))


def test_int16_and_int32_are_scaled(tf):
    x = tones(SR, 2.0)
    pcm16 = np.round(x * 32767).astype(np.int16)
    assert torch.allclose(tf(pcm16), tf(pcm16.astype(np.float32) / 32768), atol=1e-5)
    pcm32 = pcm16.astype(np.int32) * 65536
    assert torch.allclose(tf(pcm32), tf(pcm16), atol=1e-5)


def test_torch_tensor_input_matches_numpy(tf):
    x = tones(SR, 1.5).astype(np.float32)
    assert torch.equal(tf(torch.from_numpy(x)), tf(x))


def test_batch_matches_single(tf):
    items = [tones(SR, 3.0), sweep(4.0), tones(SR, 0.5)]
    batch = tf.batch(items)
    assert batch.shape == (3, *SHAPE)
    for i, item in enumerate(items):
        assert torch.equal(batch[i], tf(item))


@pytest.mark.parametrize(
    "item, message",
    [
        (np.zeros(0, np.float32), "empty"),
        (np.array([0.1, np.nan, 0.2]), "NaN"),
        (np.array([0.1, np.inf, 0.2]), "NaN or inf"),
        ((np.ones(100), 0), "> 0"),
        ((np.ones(100), -8000), "> 0"),
        ((np.ones(100), 44100.5), "whole number"),
        ((np.ones(100),), "(array, sample_rate)"),
        (np.ones((2, SR), np.float32), "transpose"),
        (np.ones((4, 4, 4)), "shape"),
        (np.ones(100, dtype=np.complex64), "dtype"),
        (np.ones(100, dtype=bool), "dtype"),
        (np.array(["a", "b"]), "dtype"),
        (np.array([object(), object()]), "dtype"),
        (np.ones(100, dtype=np.uint8), "PCM"),
        ([0.1, 0.2], "numpy/torch array"),
        (None, "numpy/torch array"),
    ],
)
def test_bad_inputs_raise_input_error(tf, item, message):
    with pytest.raises(InputError, match=message):
        tf(item)


def test_garbled_missing_and_unsupported_files(tf, tmp_path):
    garbled = tmp_path / "garbled.wav"
    garbled.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk" + bytes(range(256)))
    (tmp_path / "clip.mp3").write_bytes(b"ID3")
    for name, message in [("garbled.wav", "audio: cannot decode {path} ("),
                          ("missing.wav", "audio: file not found: {path}; check the path"),
                          ("clip.mp3", "audio: unsupported file type '.mp3' for {path}")]:
        path = tmp_path / name
        with pytest.raises(UnreadableFileError, match=re.escape(message.format(path=path))):
            tf(path)


def test_empty_wav_file_raises(tf, tmp_path):
    path = tmp_path / "empty.wav"
    soundfile.write(path, np.zeros((0, 1), np.float32), SR)
    with pytest.raises(InputError, match="empty"):
        tf(path)


def test_bad_config_raises():
    with pytest.raises(ConfigError):
        AudioTransform({"sample_rate": 0})
    with pytest.raises(ConfigError, match="unknown key"):
        AudioTransform({"rate": 16000})


def test_clip_starts_round_like_the_official_sampler():
    """pytorchvideo@6cdc929 (ImageBind's pin) spaces 3 clips over a 5.3 s recording at
    Fraction(5.3 - 2.0) / 2 s, subtracting in floats first: starts at samples 0, 26399, 52799."""
    from edgebind.transforms.audio import AudioTransform

    bounds = AudioTransform().clip_bounds(int(5.3 * 16000))
    assert bounds == [(0, 32000), (26399, 58399), (52799, 84799)]
