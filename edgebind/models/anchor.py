"""The frozen OpenCLIP anchor: image and text towers every other modality is bound to.

Architectures are OpenCLIP's own or edgebind's (configs/open_clip/*.json, in OpenCLIP's format).
The model is built from its config directly rather than by `open_clip.create_model`, so nothing
is added to OpenCLIP's registry, nothing is downloaded, and no logger is touched.
"""
from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Optional

import open_clip
from open_clip.model import set_model_preprocess_cfg
from open_clip.transform import PreprocessCfg
from torch import nn

from edgebind.errors import CheckpointError, ConfigError
from edgebind.models.config import AnchorConfig

OPEN_CLIP_CONFIG_DIR = Path(__file__).parent / "configs" / "open_clip"


def clip_config(arch: str) -> dict:
    """The OpenCLIP model config of `arch`: edgebind's own file if there is one, else OpenCLIP's."""
    own = OPEN_CLIP_CONFIG_DIR / f"{arch}.json"
    cfg = json.loads(own.read_text()) if own.is_file() else open_clip.get_model_config(arch)
    if cfg is None:
        raise ConfigError(
            f"unknown OpenCLIP architecture {arch!r}; `python -c \"import open_clip; "
            f"print(open_clip.list_models())\"` lists them"
        )
    return copy.deepcopy(cfg)


def create_anchor(cfg: AnchorConfig, weights: Optional[str] = None) -> nn.Module:
    """Build the OpenCLIP model `cfg.arch` (image tower `.visual`, text tower `.text`), as
    `open_clip.create_model(arch, pretrained=None, force_custom_text=True)` would.

    Weights come from a local file only (`weights`, else `cfg.weights`); nothing is downloaded.
    """
    model_cfg = clip_config(cfg.arch)
    model_cfg.pop("custom_text", None)
    preprocess = {**dataclasses.asdict(PreprocessCfg()), **model_cfg.pop("preprocess_cfg", {})}
    if "timm_model_name" in model_cfg["vision_cfg"]:
        model_cfg["vision_cfg"]["timm_model_pretrained"] = False  # never fetch tower weights
    if "hf_model_name" in model_cfg["text_cfg"]:
        model_cfg["text_cfg"]["hf_model_pretrained"] = False
    model_cls = open_clip.CoCa if "multimodal_cfg" in model_cfg else open_clip.CustomTextCLIP
    clip = model_cls(**model_cfg)
    set_model_preprocess_cfg(clip, {**preprocess, "size": clip.visual.image_size})
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
    text_cfg = clip_config(arch).get("text_cfg", {})
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
