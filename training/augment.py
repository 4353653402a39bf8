"""Train-time augmentation of preprocessed input batches (`TrainConfig.augment`).

The trainer holds every sample's preprocessed tensor in memory, so augmentation works on those
tensors, per batch, on the inputs of the encoders that train: cheap, drawn from a generator seeded
by (run seed, epoch, batch), so a resumed or streamed run draws the same, and never applied to
validation. Each one keeps what a sample shares with its pair: a steady sound or vibration starting
elsewhere in its window is still the same event.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import torch

from edgebind.config import from_dict
from edgebind.errors import ConfigError
from edgebind.modality import Modality
from edgebind.registry import Registry

Augmentation = Callable[[torch.Tensor, "AugmentConfig", torch.Generator], torch.Tensor]
AUGMENTATIONS: Registry[Augmentation] = Registry("augmentation")

# What `edgebind train` augments by default: the windows of steady signals start anywhere.
DEFAULT_AUGMENT: dict[str, list[dict]] = {"audio": [{"type": "time_shift"}], "imu": [{"type": "time_shift"}]}


@dataclass(frozen=True)
class AugmentConfig:
    """One augmentation: `type` names it (AUGMENTATIONS); `max` is its largest extent as a fraction of
    the axis it acts on (time_shift, time_mask, translate), `p` its probability per axis (flip)."""

    type: str
    max: float = 1.0
    p: float = 0.5

    def __post_init__(self) -> None:
        AUGMENTATIONS.get(self.type)  # an unknown name lists the known ones
        if not 0 < self.max <= 1 or not 0 <= self.p <= 1:
            raise ConfigError(f"augmentation {self.type}: max must be in (0, 1] and p in [0, 1], got max={self.max}, "
                              f"p={self.p}")


def _per_sample(x: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """`values` (one per sample) on x's device, shaped to broadcast over the sample's other axes."""
    return values.to(x.device).view((len(x),) + (1,) * (x.dim() - 1))


def _draw(x: torch.Tensor, generator: torch.Generator, high: float) -> torch.Tensor:
    """One integer per sample, uniform in [0, high), shaped by _per_sample."""
    return _per_sample(x, (torch.rand(len(x), generator=generator) * high).long())


@AUGMENTATIONS.register("time_shift")
def time_shift(x: torch.Tensor, config: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """Each sample circularly shifted along its time axis by up to `max` of its length: the same
    steady signal, its window starting elsewhere."""
    length = x.shape[-1]
    index = (torch.arange(length, device=x.device) + _draw(x, generator, config.max * length)) % length
    return torch.gather(x, -1, index.expand_as(x))


@AUGMENTATIONS.register("time_mask")
def time_mask(x: torch.Tensor, config: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """SpecAugment's time masking: a random span of up to `max` of each sample's time axis set to
    that sample's mean."""
    length = x.shape[-1]
    start = _draw(x, generator, length)
    width = _draw(x, generator, config.max * length)
    position = torch.arange(length, device=x.device)
    masked = (position >= start) & (position < start + width)
    return torch.where(masked, x.mean(dim=tuple(range(1, x.dim())), keepdim=True), x)


@AUGMENTATIONS.register("flip")
def flip(x: torch.Tensor, config: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """Each image mirrored left-right and, independently, upside down, each with probability `p`:
    for scenes whose class and attributes do not depend on orientation (not photos with a sky)."""
    for axis in (-1, -2):
        mirrored = _per_sample(x, torch.rand(len(x), generator=generator) < config.p)
        x = torch.where(mirrored, x.flip(axis), x)
    return x


@AUGMENTATIONS.register("translate")
def translate(x: torch.Tensor, config: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """Each image moved by up to `max` of its size in x and y, the border reflected into the gap:
    where an object sits in the frame is no attribute of it."""
    height, width = x.shape[-2:]
    pad = max(1, round(config.max * min(height, width)))
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad), mode="reflect")
    offsets = torch.randint(0, 2 * pad + 1, (len(x), 2), generator=generator).tolist()
    return torch.stack([padded[i, ..., dy : dy + height, dx : dx + width] for i, (dy, dx) in enumerate(offsets)])


class Augmenter:
    """Per modality, its augmentations in order; `augmenter(modality, batch, generator)` applies them."""

    def __init__(self, plan: Mapping[str, Sequence[AugmentConfig]]):
        self.plan = {m: tuple(configs) for m, configs in plan.items() if configs}

    def __call__(self, modality: str, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        for config in self.plan.get(modality, ()):
            x = AUGMENTATIONS.get(config.type)(x, config, generator)
        return x

    @staticmethod
    def generator(seed: int, epoch: int, batch: int) -> torch.Generator:
        """The draws of one batch: a function of where it is in the run, not of what ran before."""
        return torch.Generator().manual_seed((seed * 1_000_003 + epoch) * 1_000_003 + batch)


def parse_augment(raw: Mapping[str, Sequence]) -> dict[str, tuple[AugmentConfig, ...]]:
    """`TrainConfig.augment` checked: modality -> typed configs, applied whenever that modality's
    encoder trains (vision in the anchor stage, the bound modalities in bind); text tokens never."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"augment must map a modality to a list of augmentations, got {raw!r}")
    plan = {}
    for name, configs in raw.items():
        modality = Modality.parse(name).value
        if modality == "text":
            raise ConfigError("augment: text tokens cannot be augmented; remove augment.text")
        if isinstance(configs, (str, Mapping)) or not isinstance(configs, Sequence):
            raise ConfigError(f"augment.{modality}: expected a list such as [{{\"type\": \"time_shift\"}}], "
                              f"got {configs!r}")
        plan[modality] = tuple(from_dict(AugmentConfig, c, f"augment.{modality}[{i}]") for i, c in enumerate(configs))
    return plan
