"""Convert the official ImageBind checkpoint (`imagebind_huge.pth`) into an edgebind checkpoint.

The file is opened memory-mapped with `weights_only=True` (no code from the file runs), every key
and shape is checked against the target config before anything is written, and tensors go
straight from the mapping to safetensors, so peak memory stays near one copy of the model.
"""
from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import torch
from safetensors.torch import save_file

from edgebind.errors import CheckpointError
from edgebind.fileio import atomic_write
from edgebind.models.checkpoint import check_layout
from edgebind.models.config import ModelConfig
from edgebind.models.model import EdgeBindModel
from edgebind.models.factory import get_model_config
from edgebind.models.registry import CONFIG_FILE, WEIGHTS_FILE

WRAPPER_KEYS = ("model", "state_dict", "module")  # training scripts often nest the state dict


def expected_layout(config: ModelConfig) -> dict[str, torch.Size]:
    """Key -> shape of the model `config` describes, built on the meta device (no memory)."""
    with torch.device("meta"):
        model = EdgeBindModel(config)
    return {k: v.shape for k, v in model.state_dict().items()}


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A PyTorch checkpoint's tensors, memory-mapped; clear errors for anything else."""
    if not path.is_file():
        raise CheckpointError(f"{path} does not exist; pass the path of the downloaded checkpoint")
    try:
        state = torch.load(path, map_location="cpu", mmap=True, weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, zipfile.BadZipFile, ValueError) as exc:
        raise CheckpointError(f"{path} is not a readable PyTorch checkpoint ({str(exc)[:200]}); "
                              "it may be truncated: download it again") from None
    if isinstance(state, dict) and not any(isinstance(v, torch.Tensor) for v in state.values()):
        state = next((state[k] for k in WRAPPER_KEYS if isinstance(state.get(k), dict)), state)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path} holds no state dict of tensors; is it a model checkpoint?")
    return {k.removeprefix("module."): v for k, v in state.items()}


def convert_imagebind(source: "str | Path", out_dir: "str | Path", model: str = "imagebind_huge") -> Path:
    """Check `source` against the `model` config and write OUT_DIR/config.json + model.safetensors."""
    source, out_dir = Path(source), Path(out_dir)
    config = get_model_config(model)
    state = read_state_dict(source)
    check_layout({k: v.shape for k, v in state.items()}, expected_layout(config), source, model)
    out_dir.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.contiguous() for k, v in state.items()}
    atomic_write(out_dir / WEIGHTS_FILE, lambda tmp: save_file(tensors, tmp, metadata={"source": source.name}))
    atomic_write(out_dir / CONFIG_FILE, lambda tmp: Path(tmp).write_text(config.to_json()))
    return out_dir
