"""Building models by name or path: `create_model`, `load_model`, `get_model_config`."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Optional

from edgebind.errors import CheckpointError, ConfigError, UnknownModelError
from edgebind.models.checkpoint import load_checkpoint
from edgebind.models.config import ModelConfig
from edgebind.models.model import EdgeBindModel
from edgebind.models.registry import MODELS, config_path, list_models, resolve_model
from edgebind.modality import Modality


def get_model_config(name: str) -> ModelConfig:
    """The parsed config of a registered model name."""
    if name not in MODELS:
        raise UnknownModelError(f"unknown model {name!r}; registered names: {', '.join(list_models())}")
    return ModelConfig.from_json_file(config_path(name))


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
