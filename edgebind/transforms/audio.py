"""Audio transform: a waveform -> ImageBind log-mel clips [clips_per_sample, 1, num_mel_bins, target_length].

The recipe is ImageBind's: resample to 16 kHz, cut `clips_per_sample` evenly spaced clips of
`clip_duration` seconds, per clip subtract its mean, take a Kaldi-compatible 128-bin log-mel
filterbank (25 ms Hann window, 10 ms hop, no dither), zero-pad or crop to 204 frames, then
normalise with (x - mean) / std. A 2 s clip gives 198 real frames and 6 zero-padded ones.

Policies:
- Multi-channel audio is downmixed by averaging the channels (ImageBind itself reads mono files
  and would keep only channel 0 of a multi-channel one).
- Audio shorter than one clip: every clip is the whole waveform, so the clips are identical and
  the filterbank is zero-padded to `target_length` frames (as ImageBind does).
- A clip shorter than one filterbank window (400 samples = 25 ms at 16 kHz, which the Kaldi
  filterbank cannot frame) is zero-padded to one window first.
- Empty, NaN/inf, >16-channel or non-PCM audio, and sample rates <= 0 raise InputError.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from fractions import Fraction
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import torchaudio.compliance.kaldi
import torchaudio.functional

from edgebind.errors import ConfigError, InputError
from edgebind.modality import Modality
from edgebind.transforms.base import TRANSFORMS, Transform
from edgebind.transforms.io import check_finite, check_rate, is_path, read_wav, to_numpy

MAX_CHANNELS = 16
_INT_SCALE = {np.dtype(np.int16): 1 / 32768, np.dtype(np.int32): 1 / 2**31}


@dataclass
class AudioConfig:
    """Audio preprocessing settings; the defaults are ImageBind's."""

    sample_rate: int = 16000
    num_mel_bins: int = 128
    target_length: int = 204
    clip_duration: float = 2.0
    clips_per_sample: int = 3
    mean: float = -4.268
    std: float = 9.138
    frame_length_ms: float = 25.0
    frame_shift_ms: float = 10.0

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name != "mean" and not getattr(self, f.name) > 0:
                raise ConfigError(f"transforms.audio.{f.name} must be > 0, got {getattr(self, f.name)}")

    @property
    def input_size(self) -> tuple[int, ...]:
        """The tensor size the encoder's stem is built for: [mel bins, frames] of one clip."""
        return (self.num_mel_bins, self.target_length)


def to_mono(data: Any, what: str = "audio") -> np.ndarray:
    """A float32 mono waveform from [frames] or [frames, channels] float, int16 or int32 data."""
    arr = to_numpy(data, what)
    if arr.ndim not in (1, 2):
        raise InputError(f"{what}: expected [frames] or [frames, channels], got shape {tuple(arr.shape)}")
    if arr.ndim == 2 and arr.shape[1] > MAX_CHANNELS:
        raise InputError(
            f"{what}: expected [frames, channels] with at most {MAX_CHANNELS} channels, got shape "
            f"{tuple(arr.shape)}; if your array is [channels, frames], pass its transpose (arr.T)"
        )
    if arr.dtype.kind == "f":
        check_finite(arr, what)
        arr = arr.astype(np.float64)
    elif arr.dtype in _INT_SCALE:
        arr = arr * _INT_SCALE[arr.dtype]
    else:
        raise InputError(
            f"{what}: integer dtype {arr.dtype} is not PCM audio; pass float in [-1, 1], int16 or int32"
        )
    mono = arr.mean(axis=1) if arr.ndim == 2 else arr
    return mono.astype(np.float32)


@TRANSFORMS.register("audio")
class AudioTransform(Transform):
    """WAV path, array at `sample_rate`, or (array, sample_rate) -> [clips, 1, mel_bins, frames] float32."""

    modality = Modality.AUDIO
    config_cls = AudioConfig

    def __call__(self, item: Any) -> torch.Tensor:
        wave = self.waveform(item)
        clips = [self.melspec(wave[start:end]) for start, end in self.clip_bounds(wave.numel())]
        return torch.stack(clips)

    def waveform(self, item: Any) -> torch.Tensor:
        """The mono waveform of `item` at the configured sample rate, as a 1-D float32 tensor."""
        cfg = self.config
        if is_path(item):
            data, rate = read_wav(item)
        elif isinstance(item, tuple):
            if len(item) != 2:
                raise InputError(f"audio: a tuple input must be (array, sample_rate), got {len(item)} items")
            data, rate = item
        else:
            data, rate = item, cfg.sample_rate
        rate = check_rate(rate, "audio")
        if not rate.is_integer():
            raise InputError(f"audio: sample rate must be a whole number of Hz, got {rate}")
        wave = torch.from_numpy(to_mono(data))
        if int(rate) != cfg.sample_rate:
            wave = torchaudio.functional.resample(wave, int(rate), cfg.sample_rate)
        return wave

    def clip_bounds(self, num_samples: int) -> list[tuple[int, int]]:
        """[start, end) sample indices of the evenly spaced clips, computed in exact fractions."""
        cfg = self.config
        clip = Fraction(cfg.clip_duration)
        # Subtract in floats first, then go exact: the official sampler's rounding, bit for bit.
        latest_start = Fraction(max(num_samples / cfg.sample_rate - cfg.clip_duration, 0))
        step = latest_start / max(cfg.clips_per_sample - 1, 1)
        starts = [i * step for i in range(cfg.clips_per_sample)]
        rate = cfg.sample_rate
        return [(int(s * rate), min(int((s + clip) * rate), num_samples)) for s in starts]

    def melspec(self, clip: torch.Tensor) -> torch.Tensor:
        """One clip -> normalised log-mel filterbank [1, num_mel_bins, target_length]."""
        cfg = self.config
        window = int(round(cfg.sample_rate * cfg.frame_length_ms / 1000))
        if clip.numel() < window:
            clip = F.pad(clip, (0, window - clip.numel()))
        clip = clip - clip.mean()
        fbank = torchaudio.compliance.kaldi.fbank(
            clip[None],
            htk_compat=True,
            sample_frequency=cfg.sample_rate,
            use_energy=False,
            window_type="hanning",
            num_mel_bins=cfg.num_mel_bins,
            dither=0.0,
            frame_length=cfg.frame_length_ms,
            frame_shift=cfg.frame_shift_ms,
        ).T
        missing = cfg.target_length - fbank.shape[1]
        fbank = F.pad(fbank, (0, missing)) if missing > 0 else fbank[:, : cfg.target_length]
        return ((fbank - cfg.mean) / cfg.std)[None]
