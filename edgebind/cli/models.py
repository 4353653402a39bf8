"""List the model configs that --model accepts.

"config" names are architectures (edgebind/models/configs/, fresh weights); "trained" names are
checkpoints shipped with edgebind (edgebind/models/pretrained/). A checkpoint directory
(config.json + model.safetensors) is accepted wherever a name is.

examples:
  edgebind models
"""
from __future__ import annotations

from edgebind.cli.common import add_command


def run(args) -> int:
    from edgebind.models import get_model_config, list_models
    from edgebind.models.registry import is_pretrained

    for name in list_models():
        config = get_model_config(name)
        kind = "trained" if is_pretrained(name) else "config"
        modalities = ",".join(config.modalities)
        print(f"{name:<24} {kind:<8} dim={config.embed_dim:<5} {modalities}\n{'':<33} {config.description}")
    return 0


def add_parser(sub) -> None:
    add_command(sub, "models", __doc__, run)
