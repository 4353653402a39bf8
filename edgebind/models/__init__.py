"""The joint model, its configs and checkpoints; names are imported on first use, so that the
torch-free parts (the registry of names) load without torch."""
from __future__ import annotations

from edgebind.lazy import lazy_exports

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

__getattr__ = lazy_exports(globals(), _EXPORTS)
