"""Model configs: JSON data files parsed into dataclasses (unknown keys fail loudly)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from edgebind.config import from_dict, to_dict
from edgebind.errors import ConfigError
from edgebind.modality import Modality
from edgebind.transforms import transform_config


@dataclass
class StemConfig:
    """Turns a modality's tensor into tokens: `patch` (2-D conv), `video_patch` (3-D conv over a
    frame pair), `imu` (unfold + linear) or `text` (token + position embedding).

    `name` is the attribute the stem lives under, kept from ImageBind for checkpoint compatibility.
    """

    type: str
    name: str = "rgbt_stem"
    in_chans: int = 1
    kernel: tuple = (16, 16)
    stride: Optional[tuple] = None
    norm: bool = True
    vocab_size: int = 49408


@dataclass
class TrunkConfig:
    """A pre-norm transformer: `bias_kv` adds ImageBind's learned extra key/value position."""

    width: int
    layers: int
    heads: int
    mlp_ratio: float = 4.0
    bias_kv: bool = False
    pre_norm: bool = False
    drop_path: float = 0.0

    def __post_init__(self):
        if self.width % self.heads:
            raise ConfigError(f"trunk.width {self.width} is not divisible by trunk.heads {self.heads}")


@dataclass
class EncoderConfig:
    """One modality's encoder. `source: anchor` takes the tower from the OpenCLIP anchor instead.

    `logit_scale` multiplies the unit-norm output as ImageBind's postprocessor does (None: no scale);
    `learnable_scale` makes it a trained parameter (text) instead of a fixed buffer.
    """

    source: str = "native"
    stem: Optional[StemConfig] = None
    trunk: Optional[TrunkConfig] = None
    head_dropout: float = 0.0
    logit_scale: Optional[float] = None
    learnable_scale: bool = False

    def __post_init__(self):
        if self.source == "native" and (self.stem is None or self.trunk is None):
            raise ConfigError("a native encoder needs both 'stem' and 'trunk'")


@dataclass
class AnchorConfig:
    """The frozen OpenCLIP image/text model that every other modality is bound to."""

    arch: str
    weights: Optional[str] = None


@dataclass
class ModelConfig:
    """A whole joint model: shared embedding size, one encoder per modality, their transforms.

    `transforms` maps a modality to its typed transform config (edgebind.transforms); a modality
    left out gets the defaults, or for anchor towers the anchor's own settings (see EdgeBindModel).
    """

    name: str
    embed_dim: int
    modalities: dict = field(default_factory=dict)
    transforms: dict = field(default_factory=dict)
    anchor: Optional[AnchorConfig] = None
    description: str = ""

    def __post_init__(self):
        where = f"model config {self.name!r}"
        if not self.modalities:
            raise ConfigError(f"{where}: 'modalities' is empty; list at least one encoder")
        parsed = {}
        for key, value in self.modalities.items():
            modality = Modality.parse(key)
            parsed[modality.value] = from_dict(EncoderConfig, value, f"{where}: modalities.{key}")
            if parsed[modality.value].source == "anchor" and self.anchor is None:
                raise ConfigError(f"{where}: {key} uses source 'anchor' but no 'anchor' is configured")
        self.modalities = parsed
        self.transforms = {
            Modality.parse(key).value: transform_config(key, value) for key, value in self.transforms.items()
        }

    def encoder(self, modality: Modality) -> EncoderConfig:
        return self.modalities[modality.value]

    def transform(self, modality: "Modality | str") -> Any:
        """`modality`'s typed transform config: the configured one, else the defaults."""
        modality = Modality.parse(modality)
        return self.transforms.get(modality.value) or transform_config(modality)

    def to_json(self) -> str:
        return json.dumps(to_dict(self), indent=2)

    @classmethod
    def from_json_file(cls, path: "str | Path") -> "ModelConfig":
        path = Path(path)
        try:
            data: Any = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"cannot read model config {path}: {exc}") from None
        return from_dict(cls, data, str(path))
