"""Trainer state (optimizer, scheduler, step, sampler position, RNG) saved beside the model."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from edgebind.errors import CheckpointError
from edgebind.fileio import atomic_write

STATE_FILE = "trainer_state.pt"


@dataclass
class Progress:
    """Where a run is: optimizer steps taken, the epoch and batch the next step starts at, the
    schedule's length once fitted to the time budget (0: not yet), and the best validation score,
    its step and the evaluations since it (see validation.improved)."""

    step: int = 0
    epoch: int = 0
    batch: int = 0
    planned: int = 0
    best: float = -math.inf
    best_step: int = 0
    stale: int = 0


def save_state(directory: Path, progress: Progress, optimizer, scheduler, adapters: dict) -> None:
    """Atomically write everything `--resume` needs besides the model weights (LoRA adapters
    included: the saved model has them merged in)."""
    state = {
        "progress": asdict(progress),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": torch.get_rng_state(),
        "adapters": adapters,
    }
    atomic_write(directory / STATE_FILE, lambda tmp: torch.save(state, tmp))


def load_state(directory: Path, optimizer, scheduler) -> tuple[Progress, dict]:
    """Restore optimizer, scheduler and RNG; return the progress to continue from and the
    LoRA adapters (empty without LoRA)."""
    path = directory / STATE_FILE
    if not path.is_file():
        raise CheckpointError(f"{path} is missing: there is no run to resume in {directory}")
    try:
        state = torch.load(path, weights_only=True)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        return Progress(**state["progress"]), state["adapters"]
    except (RuntimeError, KeyError, ValueError, EOFError) as exc:
        raise CheckpointError(f"{path} is unreadable or from another run ({exc}); "
                              "start again without --resume") from None
