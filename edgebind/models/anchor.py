"""The frozen OpenCLIP anchor: image and text towers every other modality is bound to."""
from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import open_clip
from torch import nn

from edgebind.errors import CheckpointError, ConfigError
from edgebind.models.config import AnchorConfig

OPEN_CLIP_CONFIG_DIR = Path(__file__).parent / "configs" / "open_clip"
open_clip.add_model_config(OPEN_CLIP_CONFIG_DIR)


@contextmanager
def _quiet_open_clip():
    """open_clip logs a warning for every randomly initialised model; that is expected here."""
    logger = logging.getLogger()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def create_anchor(cfg: AnchorConfig, weights: Optional[str] = None) -> nn.Module:
    """Build the OpenCLIP model `cfg.arch` (image tower `.visual`, text tower `.text`).

    Weights come from a local file only (`weights`, else `cfg.weights`); nothing is downloaded.
    """
    if cfg.arch not in open_clip.list_models():
        raise ConfigError(
            f"unknown OpenCLIP architecture {cfg.arch!r}; `python -c \"import open_clip; "
            f"print(open_clip.list_models())\"` lists them"
        )
    with _quiet_open_clip():
        clip = open_clip.create_model(cfg.arch, pretrained=None, force_custom_text=True)
    path = weights or cfg.weights
    if path:
        load_anchor_weights(clip, Path(path))
    return clip


def anchor_transforms(clip: nn.Module, arch: str) -> dict:
    """Vision and text transform configs that match the OpenCLIP model `clip` (architecture
    `arch`): its image size and normalisation, its tokenizer and context length."""
    pre = clip.visual.preprocess_cfg
    size = pre["size"]
    vision = {"size": size if isinstance(size, int) else size[0], "mean": tuple(pre["mean"]),
              "std": tuple(pre["std"])}
    text_cfg = (open_clip.get_model_config(arch) or {}).get("text_cfg", {})
    tokenizer = arch if text_cfg.get("hf_tokenizer_name") else None  # else CLIP's BPE
    return {"vision": vision, "text": {"context_length": clip.text.context_length, "tokenizer": tokenizer}}


def load_anchor_weights(clip: nn.Module, path: Path) -> None:
    """Load an OpenCLIP checkpoint (.pt/.bin/.safetensors) from disk into `clip`, strictly."""
    if not path.is_file():
        raise CheckpointError(f"anchor weights {path} do not exist; pass the path of a local file")
    try:
        open_clip.load_checkpoint(clip, str(path), strict=True)
    except Exception as exc:  # open_clip raises RuntimeError, KeyError, pickle and zip errors alike
        raise CheckpointError(
            f"cannot load OpenCLIP weights from {path} into this architecture: {exc}"
        ) from None
