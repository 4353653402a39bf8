"""Named model configs (JSON files in configs/) and the factory that builds models from them."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Optional

from edgebind.errors import UnknownModelError
from edgebind.models.checkpoint import CONFIG_FILE, load_model
from edgebind.models.config import ModelConfig
from edgebind.models.model import EdgeBindModel
from edgebind.modality import Modality

CONFIG_DIR = Path(__file__).parent / "configs"
PRETRAINED_DIR = Path(__file__).parent / "pretrained"  # trained checkpoints shipped in the wheel
_CONFIG_PATHS: dict[str, Path] = {}
_PRETRAINED: dict[str, Path] = {
    d.name: d for d in sorted(PRETRAINED_DIR.glob("*")) if (d / CONFIG_FILE).is_file()
}


def add_model_config(path: "str | Path") -> None:
    """Register one config file, or every *.json in a directory, under its file name."""
    path = Path(path)
    for file in sorted(path.glob("*.json")) if path.is_dir() else [path]:
        _CONFIG_PATHS[file.stem] = file


def list_models() -> list[str]:
    """Names accepted by create_model: configs (fresh weights) and shipped trained checkpoints."""
    return sorted({*_CONFIG_PATHS, *_PRETRAINED})


def is_pretrained(name: str) -> bool:
    """Whether `name` is a trained checkpoint shipped with edgebind (else a config)."""
    return name in _PRETRAINED


def get_model_config(name: str) -> ModelConfig:
    """The parsed config of a registered model name."""
    if name in _PRETRAINED:
        return ModelConfig.from_json_file(_PRETRAINED[name] / CONFIG_FILE)
    if name not in _CONFIG_PATHS:
        raise UnknownModelError(
            f"unknown model {name!r}: not a registered name ({', '.join(list_models())}) "
            f"nor a checkpoint directory with {CONFIG_FILE}"
        )
    return ModelConfig.from_json_file(_CONFIG_PATHS[name])


def create_model(
    name_or_path: "str | Path",
    modalities: Optional[Iterable["Modality | str"]] = None,
    anchor_weights: Optional[str] = None,
) -> EdgeBindModel:
    """A model in eval mode from a registered config name (fresh weights, anchor from
    `anchor_weights` if given), a shipped trained checkpoint name, a config JSON file, or a
    checkpoint directory.

    `modalities` limits what is built, so a microphone-only node never holds the vision tower.
    """
    path = _PRETRAINED.get(str(name_or_path), Path(name_or_path))
    if path.is_dir():
        return load_model(path, modalities)
    if path.suffix == ".json" and path.is_file():
        config = ModelConfig.from_json_file(path)
    else:
        config = get_model_config(str(name_or_path))
    return EdgeBindModel(config, modalities, anchor_weights).eval()


add_model_config(CONFIG_DIR)
