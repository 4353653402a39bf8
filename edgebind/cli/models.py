"""List the model configs that --model accepts.

"config" names are architectures (edgebind/models/configs/, fresh weights); "trained" names are
checkpoints shipped with edgebind (edgebind/models/pretrained/). A checkpoint directory
(config.json + model.safetensors) is accepted wherever a name is.

examples:
  edgebind models
"""
from __future__ import annotations

import json

from edgebind.cli.common import add_command


def run(args) -> int:
    from edgebind.models.registry import config_path, is_pretrained, list_models

    for name in list_models():  # read as plain JSON: listing needs no torch
        config = json.loads(config_path(name).read_text())
        kind = "trained" if is_pretrained(name) else "config"
        modalities = ",".join(config["modalities"])
        print(f"{name:<24} {kind:<8} dim={config['embed_dim']:<5} {modalities}\n{'':<33} "
              f"{config.get('description', '')}")
    return 0


def add_parser(sub) -> None:
    add_command(sub, "models", __doc__, run)
