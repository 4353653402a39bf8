"""The joint model, its configs and checkpoints."""
from edgebind.models.checkpoint import save_model
from edgebind.models.config import ModelConfig
from edgebind.models.model import EdgeBindModel
from edgebind.models.registry import add_model_config, create_model, get_model_config, list_models, load_model

__all__ = [
    "EdgeBindModel", "ModelConfig", "add_model_config", "create_model", "get_model_config",
    "list_models", "load_model", "save_model",
]
