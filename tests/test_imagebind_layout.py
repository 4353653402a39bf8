"""imagebind_huge must have the official checkpoint's exact keys, shapes and order."""
import json
from pathlib import Path

import torch

from edgebind.models import EdgeBindModel, get_model_config

REFERENCE = Path(__file__).parent / "data" / "imagebind_huge_params.json"


def test_imagebind_huge_layout_matches_official_key_for_key():
    reference = json.loads(REFERENCE.read_text())
    with torch.device("meta"):
        model = EdgeBindModel(get_model_config("imagebind_huge"))
    state = model.state_dict()
    expected = {**reference["params"], **reference["buffers"]}
    assert sorted(set(expected) - set(state)) == []
    assert sorted(set(state) - set(expected)) == []
    wrong = {k: (list(state[k].shape), v) for k, v in expected.items() if list(state[k].shape) != v}
    assert wrong == {}
    assert list(state) == reference["state_dict_order"]
    assert {n for n, _ in model.named_parameters()} == set(reference["params"])
    assert sum(p.numel() for p in model.parameters()) == reference["total_params"]


def test_imagebind_huge_builds_one_modality_on_meta():
    with torch.device("meta"):
        model = EdgeBindModel(get_model_config("imagebind_huge"), modalities=["imu"])
    keys = set(model.state_dict())
    assert keys and all(k.split(".")[1] == "imu" for k in keys)
