"""edgebind: ImageBind on the edge. One embedding space for image, text, audio, depth, thermal and IMU."""
from edgebind.modality import Modality
from edgebind.models import (
    EdgeBindModel,
    ModelConfig,
    add_model_config,
    create_model,
    list_models,
    load_model,
    save_model,
)
from edgebind.scoring import cosine_similarity, softmax_scores

__version__ = "0.1.0"

__all__ = [
    "EdgeBindModel", "Modality", "ModelConfig", "add_model_config", "cosine_similarity",
    "create_model", "list_models", "load_model", "save_model", "softmax_scores",
]
