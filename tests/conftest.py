"""Shared fixtures: a tiny model (built once) and a small synthetic world on disk."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="session")
def tiny_model():
    import edgebind

    torch.manual_seed(0)
    return edgebind.create_model("edgebind-tiny")
