"""Named models: config files in configs/ (fresh weights) and trained checkpoints shipped in
pretrained/, in one registry; `create_model` builds from a name or from a path, never guessing
between the two.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Optional

from edgebind.errors import ConfigError, UnknownModelError
from edgebind.errors import CheckpointError
from edgebind.models.checkpoint import CONFIG_FILE, load_checkpoint
from edgebind.models.config import ModelConfig
from edgebind.models.model import EdgeBindModel
from edgebind.modality import Modality
from edgebind.registry import Registry

CONFIG_DIR = Path(__file__).parent / "configs"
PRETRAINED_DIR = Path(__file__).parent / "pretrained"  # trained checkpoints shipped in the wheel
# name -> a config JSON file, or a checkpoint directory (config.json + model.safetensors)
MODELS: Registry[Path] = Registry("model")


def add_model_config(path: "str | Path") -> None:
    """Register one config file, or every *.json in a directory, under its file name; a name that
    is already registered raises ConfigError."""
    path = Path(path)
    for file in sorted(path.glob("*.json")) if path.is_dir() else [path]:
        MODELS.add(file.stem, file)


def list_models() -> list[str]:
    """Names accepted by create_model: configs (fresh weights) and shipped trained checkpoints."""
    return MODELS.names()


def is_pretrained(name: str) -> bool:
    """Whether `name` is a trained checkpoint shipped with edgebind (else a config)."""
    return name in MODELS and MODELS.get(name).is_dir()


def get_model_config(name: str) -> ModelConfig:
    """The parsed config of a registered model name."""
    if name not in MODELS:
        raise UnknownModelError(f"unknown model {name!r}; registered names: {', '.join(list_models())}")
    path = MODELS.get(name)
    return ModelConfig.from_json_file(path / CONFIG_FILE if path.is_dir() else path)


def _is_path_spec(spec: str) -> bool:
    """A string names a path when it says so: a separator, a leading '.' or '~', or a .json suffix."""
    return os.sep in spec or "/" in spec or spec.startswith((".", "~")) or spec.endswith(".json")


def resolve_model(name_or_path: "str | Path") -> Path:
    """The file or directory a model spec stands for: a registered name, or an explicit path (a
    `Path`, or a string with a separator such as `runs/bind` or `./mine`)."""
    if not isinstance(name_or_path, Path) and name_or_path in MODELS:
        return MODELS.get(name_or_path)
    if isinstance(name_or_path, Path) or _is_path_spec(name_or_path):
        path = Path(name_or_path).expanduser()
        if path.is_dir() or path.suffix == ".json" and path.is_file():
            return path
        raise UnknownModelError(f"{path} is neither a checkpoint directory (with {CONFIG_FILE}) "
                                "nor a model config .json file")
    hint = (f"; ./{name_or_path} is a local path: pass it as ./{name_or_path} to load it"
            if Path(name_or_path).exists() else "")
    raise UnknownModelError(f"unknown model {name_or_path!r}; registered names: "
                            f"{', '.join(list_models())}{hint}")


def create_model(
    name_or_path: "str | Path",
    modalities: Optional[Iterable["Modality | str"]] = None,
    anchor_weights: Optional[str] = None,
) -> EdgeBindModel:
    """A model in eval mode from a registered name (a config: fresh weights, anchor from
    `anchor_weights` if given; or a shipped trained checkpoint), or from an explicit path to a
    checkpoint directory or a config .json file. A registered name always means the registered
    model, even where a local folder has the same name.

    `modalities` limits what is built, so a microphone-only node never holds the vision tower.
    """
    path = resolve_model(name_or_path)
    if path.is_dir():
        if anchor_weights:
            raise ConfigError(f"anchor weights apply to a model config; the checkpoint {path} holds its "
                              "own anchor weights already: leave out anchor_weights / --anchor-weights")
        return load_checkpoint(path, modalities)
    return EdgeBindModel(ModelConfig.from_json_file(path), modalities, anchor_weights).eval()


def load_model(
    directory: "str | Path", modalities: Optional[Iterable["Modality | str"]] = None
) -> EdgeBindModel:
    """A trained model: a checkpoint directory, or the registered name of a shipped checkpoint."""
    if not isinstance(directory, Path) and directory in MODELS:
        directory = MODELS.get(directory)
        if not directory.is_dir():
            raise CheckpointError(f"{directory.stem!r} is a model config, not a trained checkpoint; "
                                  "build it with create_model (random weights) or load a checkpoint directory")
    return load_checkpoint(directory, modalities)


add_model_config(CONFIG_DIR)
for _checkpoint in sorted(PRETRAINED_DIR.glob("*")):
    if (_checkpoint / CONFIG_FILE).is_file():
        MODELS.add(_checkpoint.name, _checkpoint)
