"""edgebind: ImageBind on the edge. One embedding space for image, text, audio, depth, thermal and IMU.

The public names below are imported on first use, so that `import edgebind.errors` or
`edgebind --help` does not pay for torch and OpenCLIP.
"""
from __future__ import annotations

from edgebind.lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    "EdgeBindModel": "edgebind.models.model",
    "Modality": "edgebind.modality",
    "ModelConfig": "edgebind.models.config",
    "add_model_config": "edgebind.models.registry",
    "cosine_similarity": "edgebind.scoring",
    "create_model": "edgebind.models.factory",
    "list_models": "edgebind.models.registry",
    "load_model": "edgebind.models.factory",
    "save_model": "edgebind.models.checkpoint",
    "softmax_scores": "edgebind.scoring",
}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(globals(), _EXPORTS)


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
