"""Checkpoints: a directory with `config.json` (the ModelConfig) and `model.safetensors`."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable, Iterable, Mapping, Optional, Sequence

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from edgebind.errors import CheckpointError
from edgebind.fileio import atomic_write
from edgebind.models.config import ModelConfig
from edgebind.models.model import EdgeBindModel
from edgebind.modality import Modality
from edgebind.models.registry import CONFIG_FILE, WEIGHTS_FILE



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


def check_layout(
    available: Mapping[str, Sequence[int]], expected: Mapping[str, Sequence[int]], source: Path,
    layout: str, relevant: Callable[[str], bool] = lambda key: True,
) -> None:
    """Raise CheckpointError naming the first unknown, missing or misshapen key of `available`
    (key -> shape, from `source`) against `expected`; keys not `relevant` may be extra."""
    unknown = [k for k in available if k not in expected and relevant(k)]
    missing = [k for k in expected if k not in available]
    if unknown:
        raise CheckpointError(f"{source}: unknown key {unknown[0]!r} ({len(unknown)} in all) is not part "
                              f"of the {layout} layout; the file belongs to another architecture or config")
    if missing:
        raise CheckpointError(f"{source}: missing key {missing[0]!r} ({len(missing)} in all); "
                              "the file is incomplete")
    for key, shape in expected.items():
        if list(available[key]) != list(shape):
            raise CheckpointError(f"{source}: key {key!r} has shape {list(available[key])}, "
                                  f"the {layout} layout needs {list(shape)}")


def load_state(model: EdgeBindModel, weights: Path) -> None:
    """Copy the loaded modalities' tensors from `weights` into the model one at a time (peak memory
    about one copy of the model), after checking every name and shape."""
    expected = model.state_dict()
    loaded = {m.value for m in model.modalities}
    try:
        with safe_open(str(weights), framework="pt") as f:
            available = {k: f.get_slice(k).get_shape() for k in f.keys()}
            check_layout(available, {k: v.shape for k, v in expected.items()}, weights,
                         model.config.name, relevant=lambda key: _key_modality(key) in loaded)
            with torch.no_grad():
                for key, target in expected.items():
                    target.copy_(f.get_tensor(key))
            model.random_weights.clear()
    except SafetensorError as exc:
        raise CheckpointError(f"{weights} is not a readable safetensors file ({exc}); "
                              "it may be truncated: copy or save it again") from None


def _empty_model(config: ModelConfig, modalities) -> EdgeBindModel:
    """The model with uninitialised storage when every tensor comes from the checkpoint (no
    OpenCLIP tower, whose non-persistent buffers a checkpoint cannot restore); else built normally."""
    if config.anchor is None:
        with torch.device("meta"):
            model = EdgeBindModel(config, modalities)
        if {name for name, _ in model.named_buffers()} <= set(model.state_dict()):
            return model.to_empty(device="cpu")
    return EdgeBindModel(config, modalities)


def load_checkpoint(
    directory: "str | Path", modalities: Optional[Iterable["Modality | str"]] = None
) -> EdgeBindModel:
    """Build the model saved in checkpoint `directory`, for all or some of its modalities, in eval
    mode (`edgebind.load_model` also takes the names of shipped checkpoints)."""
    directory = Path(directory)
    config_path, weights = directory / CONFIG_FILE, directory / WEIGHTS_FILE
    for path in (config_path, weights):
        if not path.is_file():
            raise CheckpointError(f"{path} is missing; a checkpoint directory holds "
                                  f"{CONFIG_FILE} and {WEIGHTS_FILE} (see `edgebind models`)")
    config = ModelConfig.from_json_file(config_path)
    if config.anchor is not None:  # the checkpoint holds the anchor's weights itself
        config = dataclasses.replace(config, anchor=dataclasses.replace(config.anchor, weights=None))
    model = _empty_model(config, modalities)
    load_state(model, weights)
    return model.eval()
