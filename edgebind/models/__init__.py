"""The joint model, its configs and checkpoints; names are imported on first use, so that the
torch-free parts (the registry of names) load without torch."""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "EdgeBindModel": "edgebind.models.model",
    "ModelConfig": "edgebind.models.config",
    "add_model_config": "edgebind.models.registry",
    "create_model": "edgebind.models.factory",
    "get_model_config": "edgebind.models.factory",
    "list_models": "edgebind.models.registry",
    "load_model": "edgebind.models.factory",
    "save_model": "edgebind.models.checkpoint",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'edgebind.models' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value
