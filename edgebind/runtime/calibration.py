"""Calibrating the detector to a place: thresholds for a chosen false-alarm rate.

`calibrate` listens to the place while nothing of interest happens (live sensors, or a recording
through `replay`), embeds every window and scores it for every event. Per event and modality, the
threshold is then set just above the score the background sustained over `enter_windows`
consecutive windows: the calibration run itself would have raised no event, or, where the run is
long enough for the target rate (`false_alarms_per_hour`) to allow k false alarms, above the
(k+1)-th highest such score. A threshold is never below the configured one; an event whose
background already scores at the ceiling cannot be detected on that modality here, and the
calibration says so. The result is a JSON file the node loads (`calibration:` / `--calibration`).
(Adding the place's own background embeddings as competitors was measured and rejected: the
modality gap lets any same-modality vector outscore every text prompt, swallowing the events.)
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgebind.errors import ConfigError
from edgebind.fileio import atomic_write

FORMAT = "edgebind.calibration/1"
MARGIN = 0.01  # a threshold sits this far above the highest background score it must not reach
MAX_THRESHOLD = 1 - 1e-6  # scores are float64 softmax probabilities


@dataclass
class Calibration:
    """Thresholds per event and modality, for one model's space."""

    model: str
    thresholds: dict[str, dict[str, float]] = field(default_factory=dict)  # event -> modality -> score
    seconds: float = 0.0  # of background listened to
    false_alarms_per_hour: float = 1.0
    windows: dict[str, int] = field(default_factory=dict)  # modality -> background windows seen

    def save(self, path: "str | Path") -> Path:
        data = {"format": FORMAT, "model": self.model, "seconds": self.seconds,
                "false_alarms_per_hour": self.false_alarms_per_hour, "windows": self.windows,
                "thresholds": self.thresholds}
        return atomic_write(Path(path), lambda tmp: Path(tmp).write_text(json.dumps(data, indent=1) + "\n"))

    @classmethod
    def load(cls, path: "str | Path", model: str | None = None) -> "Calibration":
        """A saved calibration; with `model`, one made for another model is an error naming both."""
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read calibration {path}: {exc}; run `edgebind calibrate` to make one") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ConfigError(f"{path} is not an edgebind calibration ({FORMAT}); run `edgebind calibrate`")
        if model is not None and data["model"] != model:
            raise ConfigError(f"calibration {path} was made for model {data['model']!r}, not {model!r}; "
                              "calibrate again with this model")
        return cls(data["model"], data["thresholds"], data["seconds"], data["false_alarms_per_hour"],
                   data.get("windows", {}))

    def undetectable(self) -> list[tuple[str, str]]:
        """(event, modality) pairs whose background already reached the ceiling score."""
        return [(e, m) for e, per in self.thresholds.items() for m, t in per.items() if t >= MAX_THRESHOLD]


def sustained_peaks(scores: np.ndarray, windows: int) -> np.ndarray:
    """The score held for `windows` consecutive windows at each position (a rolling minimum)."""
    if len(scores) < windows:
        return np.zeros(0)
    return np.lib.stride_tricks.sliding_window_view(scores, windows).min(axis=1)


def thresholds_for(sustained: np.ndarray, floor: float, allowed: int) -> float:
    """Just above the (allowed+1)-th highest sustained background score, and at least `floor`."""
    ranked = np.sort(sustained)[::-1]
    level = ranked[allowed] + MARGIN if allowed < len(ranked) else 0.0
    return float(min(max(floor, level), MAX_THRESHOLD))
