"""Training metrics: one JSON object per line in OUT/metrics.jsonl, and TensorBoard if installed."""
from __future__ import annotations

import json
from pathlib import Path


class MetricsLog:
    """Appends metrics; a disabled log (non-main ranks) writes nothing."""

    def __init__(self, out: Path, enabled: bool = True):
        self._file = open(out / "metrics.jsonl", "a") if enabled else None
        self._board = None
        if enabled:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard is optional
                pass
            else:
                self._board = SummaryWriter(str(out / "tensorboard"))

    def write(self, step: int, values: dict) -> None:
        if self._file is None:
            return
        self._file.write(json.dumps({"step": step, **values}) + "\n")
        self._file.flush()
        if self._board is not None:
            for key, value in values.items():
                if isinstance(value, (int, float)):
                    self._board.add_scalar(key, value, step)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        if self._board is not None:
            self._board.close()
