"""Checkpoints: a directory with `config.json` (the ModelConfig) and `model.safetensors`."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Iterable, Optional

from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from edgebind.errors import CheckpointError
from edgebind.fileio import atomic_write
from edgebind.models.config import ModelConfig
from edgebind.models.model import EdgeBindModel
from edgebind.modality import Modality

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


def save_model(
    model: EdgeBindModel, directory: "str | Path", state: Optional[dict] = None
) -> Path:
    """Save the loaded modalities' weights (or `state`, e.g. with adapters merged) and the config
    they need; returns the directory."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    loaded = {m.value for m in model.modalities}
    config = dataclasses.replace(
        model.config,
        modalities={k: v for k, v in model.config.modalities.items() if k in loaded},
        transforms={k: v for k, v in model.config.transforms.items() if k in loaded},
    )
    tensors = {k: v.detach().cpu().contiguous() for k, v in (state or model.state_dict()).items()}
    atomic_write(directory / WEIGHTS_FILE, lambda tmp: save_file(tensors, tmp))
    atomic_write(directory / CONFIG_FILE, lambda tmp: Path(tmp).write_text(config.to_json()))
    return directory


def _key_modality(key: str) -> Optional[str]:
    parts = key.split(".")
    return parts[1] if len(parts) > 1 and parts[0].startswith("modality_") else None


def load_state(model: EdgeBindModel, weights: Path) -> None:
    """Copy tensors of the model's loaded modalities from `weights`, checking names and shapes."""
    expected = model.state_dict()
    loaded = {m.value for m in model.modalities}
    try:
        with safe_open(str(weights), framework="pt") as f:
            available = set(f.keys())
            unexpected = sorted(k for k in available - set(expected) if _key_modality(k) in loaded)
            if unexpected:
                raise CheckpointError(
                    f"{weights}: key {unexpected[0]!r} (and {len(unexpected) - 1} more) is not part of "
                    f"this model; the file belongs to a different architecture or config"
                )
            state = {}
            for key, target in expected.items():
                if key not in available:
                    raise CheckpointError(f"{weights}: missing key {key!r}; the file is incomplete")
                tensor = f.get_tensor(key)
                if tensor.shape != target.shape:
                    raise CheckpointError(
                        f"{weights}: key {key!r} has shape {list(tensor.shape)}, the config needs "
                        f"{list(target.shape)}"
                    )
                state[key] = tensor
    except SafetensorError as exc:
        raise CheckpointError(f"{weights} is not a readable safetensors file ({exc}); "
                              "it may be truncated: copy or save it again") from None
    model.load_state_dict(state, strict=True)


def load_model(
    directory: "str | Path", modalities: Optional[Iterable["Modality | str"]] = None
) -> EdgeBindModel:
    """Build the model saved in `directory`, for all or some of its modalities, in eval mode."""
    directory = Path(directory)
    config_path, weights = directory / CONFIG_FILE, directory / WEIGHTS_FILE
    for path in (config_path, weights):
        if not path.is_file():
            raise CheckpointError(f"{path} is missing; a checkpoint directory holds "
                                  f"{CONFIG_FILE} and {WEIGHTS_FILE} (see `edgebind models`)")
    config = ModelConfig.from_json_file(config_path)
    if config.anchor is not None:  # the checkpoint holds the anchor's weights itself
        config = dataclasses.replace(config, anchor=dataclasses.replace(config.anchor, weights=None))
    model = EdgeBindModel(config, modalities)
    load_state(model, weights)
    return model.eval()


def read_config(directory: "str | Path") -> dict:
    """The raw JSON config of a checkpoint directory."""
    return json.loads((Path(directory) / CONFIG_FILE).read_text())
