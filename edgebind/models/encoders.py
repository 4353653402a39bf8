"""Build one modality's encoder parts: stem -> trunk -> head -> postprocessor.

`ENCODERS` maps an encoder config's `source` to its builder: `native` builds edgebind's own
transformer encoder, `anchor` takes the tower from the frozen OpenCLIP model.
"""
from __future__ import annotations

from typing import Callable, NamedTuple, Optional

from torch import nn

from edgebind.errors import ConfigError
from edgebind.models.config import ModelConfig
from edgebind.models.heads import HEADS, PassthroughHead, postprocessor
from edgebind.models.layers import Transformer, init_weights
from edgebind.models.stems import STEMS, Passthrough
from edgebind.modality import Modality
from edgebind.registry import Registry


class EncoderParts(NamedTuple):
    preprocessor: nn.Module
    trunk: nn.Module
    head: nn.Module
    postprocessor: nn.Module


Builder = Callable[[Modality, ModelConfig, Optional[nn.Module]], EncoderParts]
ENCODERS: Registry[Builder] = Registry("encoder source")


@ENCODERS.register("anchor")
def _anchor_encoder(modality: Modality, config: ModelConfig, anchor: Optional[nn.Module]) -> EncoderParts:
    """The OpenCLIP tower of `modality`, frozen, with the configured postprocessor."""
    enc = config.encoder(modality)
    scale = enc.logit_scale
    if modality is Modality.TEXT and scale is not None and enc.learnable_scale:
        scale = float(anchor.logit_scale.detach().exp())  # the anchor's own trained temperature
    tower = anchor.visual if modality is Modality.VISION else anchor.text
    tower.requires_grad_(False)  # the anchor stays frozen; only the bound encoders train
    return EncoderParts(Passthrough(), tower, PassthroughHead(), postprocessor(scale, enc.learnable_scale))


@ENCODERS.register("native")
def _native_encoder(modality: Modality, config: ModelConfig, anchor: Optional[nn.Module]) -> EncoderParts:
    """Stem (by `stem.type`), transformer trunk, the head the stem asks for, postprocessor.

    Trunk and head are initialised before the stem: the order fixes which random draws each gets,
    so a seeded run (the shipped tiny model's) stays reproducible.
    """
    enc = config.encoder(modality)
    stem_cls = STEMS.get(enc.stem.type)
    trunk = Transformer(enc.trunk)
    trunk.apply(init_weights)
    head = HEADS.get(stem_cls.head)(enc.trunk.width, config.embed_dim, enc.head_dropout)
    head.apply(init_weights)
    stem = stem_cls(enc.stem, enc.trunk.width, config.transform(modality).input_size)
    return EncoderParts(stem, trunk, head, postprocessor(enc.logit_scale, enc.learnable_scale))


def build_encoder(modality: Modality, config: ModelConfig, anchor: Optional[nn.Module] = None) -> EncoderParts:
    """The four parts of `modality`'s encoder, built as its config's `source` says; an unknown
    source, stem or head type names the place in the config."""
    enc = config.encoder(modality)
    try:
        builder = ENCODERS.get(enc.source)
        if enc.stem is not None:
            HEADS.get(STEMS.get(enc.stem.type).head)
    except ConfigError as exc:
        raise ConfigError(f"model config {config.name!r}: modalities.{modality.value}: {exc}") from None
    return builder(modality, config, anchor)
