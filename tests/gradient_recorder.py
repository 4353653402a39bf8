"""Records the gradients each optimizer step applies; run as a script, trains under torchrun.

test_distributed.py compares these gradients (after averaging across ranks and clipping,
just before the optimizer uses them) between one process and two. Weights alone cannot show
a wrong gradient scale: AdamW's update does not depend on it.

Usage: torchrun --nproc-per-node N tests/gradient_recorder.py CONFIG.json GRADIENTS.pt
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from edgebind.training.config import TrainConfig
from edgebind.training.trainer import Trainer


def record_gradients(trainer: Trainer) -> list[dict[str, torch.Tensor]]:
    """A list that fills, one {parameter name: gradient} per optimizer step, as `trainer` runs."""
    names = {param: name for name, param in trainer.model.named_parameters()}
    steps: list[dict[str, torch.Tensor]] = []

    def hook(optimizer: torch.optim.Optimizer, args, kwargs) -> None:
        steps.append({names[p]: p.grad.clone() for group in optimizer.param_groups
                      for p in group["params"] if p.grad is not None})

    trainer.optimizer.register_step_pre_hook(hook)
    return steps


if __name__ == "__main__":
    config, target = sys.argv[1:]
    trainer = Trainer(TrainConfig(**json.loads(Path(config).read_text())))
    gradients = record_gradients(trainer)
    trainer.run()
    if trainer.group.main:
        torch.save(gradients, target)
