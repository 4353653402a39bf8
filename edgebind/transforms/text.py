"""Strings -> CLIP BPE token ids [context_length], via OpenCLIP's tokenizer (vocabulary in its wheel)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import torch
import open_clip
from open_clip.tokenizer import SimpleTokenizer

from edgebind.errors import InputError
from edgebind.modality import Modality
from edgebind.transforms.base import TRANSFORMS, Transform


@dataclass
class TextConfig:
    """CLIP tokenisation: lower-cased, cleaned, truncated with the end token kept at the last slot.

    `tokenizer` names an OpenCLIP architecture whose own tokenizer to use instead (e.g. a SigLIP
    anchor's); None is CLIP's BPE, whose vocabulary ships inside open_clip_torch.
    """

    context_length: int = 77
    tokenizer: Optional[str] = None

    @property
    def input_size(self) -> tuple[int, ...]:
        """The tensor size the encoder's stem is built for: [tokens]."""
        return (self.context_length,)


@TRANSFORMS.register("text")
class TextTransform(Transform):
    modality = Modality.TEXT
    config_cls = TextConfig

    def __init__(self, config: Any = None):
        super().__init__(config)
        c = self.config
        if c.tokenizer is None:
            self._tokenizer = SimpleTokenizer(context_length=c.context_length)
        else:
            self._tokenizer = open_clip.get_tokenizer(c.tokenizer, context_length=c.context_length)

    def __call__(self, item: Any) -> torch.Tensor:
        return self.batch([item])[0]

    def batch(self, items: Sequence[Any], start: int = 0) -> torch.Tensor:
        """Token ids [N, context_length], tokenized together; a non-string names its position."""
        if isinstance(items, str):
            raise InputError("text: pass a list of strings, e.g. ['a dog barking']")
        if len(items) == 0:
            raise InputError("text: the input list is empty")
        for i, item in enumerate(items):
            if not isinstance(item, str):
                raise InputError(f"text input {start + i}: must be a string, got {type(item).__name__}")
        return self._tokenizer(list(items)).long()
