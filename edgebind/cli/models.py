"""List the model configs that --model accepts.

Each name is a JSON config shipped with edgebind (edgebind/models/configs/); a checkpoint
directory (config.json + model.safetensors) is accepted wherever a name is.

examples:
  edgebind models
"""
from __future__ import annotations

from edgebind.cli.common import add_command


def run(args) -> int:
    from edgebind.models import get_model_config, list_models

    for name in list_models():
        config = get_model_config(name)
        modalities = ",".join(config.modalities)
        print(f"{name:<18} dim={config.embed_dim:<5} {modalities}\n{'':<18} {config.description}")
    return 0


def add_parser(sub) -> None:
    add_command(sub, "models", __doc__, run)
