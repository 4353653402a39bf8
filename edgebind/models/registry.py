"""Named models: config files in configs/ (fresh weights) and trained checkpoints shipped in
pretrained/, in one registry, and how a model spec resolves to a file: a registered name or an
explicit path, never a guess between the two. Nothing here imports torch (`edgebind models` is fast).
"""
from __future__ import annotations

import os
from pathlib import Path

from edgebind.errors import UnknownModelError
from edgebind.registry import Registry

CONFIG_DIR = Path(__file__).parent / "configs"
PRETRAINED_DIR = Path(__file__).parent / "pretrained"  # trained checkpoints shipped in the wheel
CONFIG_FILE = "config.json"  # a checkpoint directory holds these two files
WEIGHTS_FILE = "model.safetensors"
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


def config_path(name: str) -> Path:
    """The JSON file holding registered model `name`'s config."""
    path = MODELS.get(name)
    return path / CONFIG_FILE if path.is_dir() else path


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


add_model_config(CONFIG_DIR)
for _checkpoint in sorted(PRETRAINED_DIR.glob("*")):
    if (_checkpoint / CONFIG_FILE).is_file():
        MODELS.add(_checkpoint.name, _checkpoint)
