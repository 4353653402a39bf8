"""Build one modality's encoder parts: stem -> trunk -> head -> postprocessor."""
from __future__ import annotations

from typing import NamedTuple, Optional

from torch import nn

from edgebind.models.config import EncoderConfig, ModelConfig
from edgebind.models.heads import PassthroughHead, TextHead, TokenHead, postprocessor
from edgebind.models.layers import Transformer, init_weights
from edgebind.models.stems import ImuStem, Passthrough, PatchStem, TextStem
from edgebind.modality import Modality
from edgebind.transforms import transform_config


class EncoderParts(NamedTuple):
    preprocessor: nn.Module
    trunk: nn.Module
    head: nn.Module
    postprocessor: nn.Module


def input_size(modality: Modality, transform_config) -> tuple:
    """The tensor size a stem is built for, read off the modality's transform config."""
    if modality is Modality.AUDIO:
        return (transform_config.num_mel_bins, transform_config.target_length)
    if modality is Modality.IMU:
        return (transform_config.length,)
    if modality is Modality.TEXT:
        return (transform_config.context_length,)
    return (transform_config.size, transform_config.size)


def _native_stem(modality: Modality, enc: EncoderConfig, size: tuple) -> nn.Module:
    width = enc.trunk.width
    if enc.stem.type == "text":
        return TextStem(enc.stem, width, size[0])
    if enc.stem.type == "imu":
        return ImuStem(enc.stem, width, size[0])
    return PatchStem(enc.stem, width, size)


def build_encoder(
    modality: Modality, config: ModelConfig, anchor: Optional[nn.Module] = None
) -> EncoderParts:
    """The four parts of `modality`'s encoder; anchor towers come from the OpenCLIP model."""
    enc = config.encoder(modality)
    if enc.source == "anchor":
        scale = enc.logit_scale
        if modality is Modality.TEXT and scale is not None and enc.learnable_scale:
            scale = float(anchor.logit_scale.detach().exp())  # the anchor's own trained temperature
        post = postprocessor(scale, enc.learnable_scale)
        tower = anchor.visual if modality is Modality.VISION else anchor.text
        tower.requires_grad_(False)  # the anchor stays frozen; only the bound encoders train
        return EncoderParts(Passthrough(), tower, PassthroughHead(), post)
    post = postprocessor(enc.logit_scale, enc.learnable_scale)
    size = input_size(modality, transform_config(modality, config.transforms.get(modality.value)))
    trunk = Transformer(enc.trunk)
    trunk.apply(init_weights)
    if modality is Modality.TEXT:
        head: nn.Module = TextHead(enc.trunk.width, config.embed_dim)
    else:
        head = TokenHead(enc.trunk.width, config.embed_dim, enc.head_dropout)
    head.apply(init_weights)
    return EncoderParts(_native_stem(modality, enc, size), trunk, head, post)
