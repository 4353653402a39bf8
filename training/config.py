"""Training configuration: a dataclass, read from a JSON file and overridden from the command line."""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import Any, Optional, Sequence

from edgebind.config import from_dict, to_dict
from edgebind.errors import ConfigError
from edgebind.modality import Modality
from edgebind.training.augment import DEFAULT_AUGMENT, AugmentConfig, parse_augment
from edgebind.training.data.skip import DEFAULT_MAX_SKIP_FRACTION
from edgebind.training.finetune import Finetune

STAGES = ("anchor", "bind")
PRECISIONS = ("fp32", "bf16", "fp16")


@dataclass
class TrainConfig:
    """One training run. `anchor` trains the image/text anchor CLIP-style on (image, caption) pairs;
    `bind` trains `modalities` against the frozen image tower with (image, M) pairs only."""

    stage: str
    data: str
    out: str
    model: str = "edgebind-tiny"
    init: Optional[str] = None
    anchor_weights: Optional[str] = None
    data_options: dict = field(default_factory=dict)  # adapter options, e.g. {"split": "train"}
    modalities: tuple = ("audio", "depth", "thermal", "imu")
    # How long: max_steps optimizer steps (the cosine schedule's length), unless `epochs` is given;
    # either way stopping early at max_minutes of training or when validation plateaus.
    max_steps: int = 3000
    epochs: Optional[int] = None
    max_minutes: Optional[float] = 4.0
    # Validation: --val-data, else a held-out val_fraction of --data (0: none); evaluated every
    # val_every steps; the run stops after `patience` evaluations without a gain over min_delta.
    val_data: Optional[str] = None
    val_data_options: dict = field(default_factory=dict)
    val_fraction: float = 0.1
    val_every: int = 100
    patience: int = 5
    min_delta: float = 0.002
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup_steps: int = 20
    min_lr_ratio: float = 0.01
    grad_clip: float = 1.0
    accumulate: int = 1
    precision: str = "fp32"
    device: str = "auto"  # auto: cuda when available, else cpu
    temperature: Optional[float] = None
    learn_temperature: bool = False
    seed: int = 0
    save_every: int = 200
    log_every: int = 10
    cache_dir: Optional[str] = None
    max_skip_fraction: float = DEFAULT_MAX_SKIP_FRACTION
    stream: bool = False  # transform samples anew each epoch (DataLoader workers), not all in memory
    num_workers: int = 0
    finetune: str = "full"  # full | last:N (only the last N trunk blocks) | lora
    lora_rank: int = 8
    lora_alpha: float = 16.0
    drop_last: bool = True  # leave out each epoch's short final batch (a loss from a few samples)
    # modality -> augmentations of its inputs while its encoder trains (training/augment.py); {}: none
    augment: dict = field(default_factory=lambda: copy.deepcopy(DEFAULT_AUGMENT))
    shuffle_pairs: bool = False  # control run: each M meets another sample's image (no binding)
    progress: bool = True

    def __post_init__(self):
        if self.stage not in STAGES:
            raise ConfigError(f"stage {self.stage!r} must be one of {STAGES}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision {self.precision!r} must be one of {PRECISIONS}")
        self.modalities = tuple(Modality.parse(m).value for m in self.modalities)
        if self.stage == "bind":
            bad = {"vision", "text"} & set(self.modalities)
            if bad:
                raise ConfigError(f"bind trains modalities against images; {sorted(bad)} cannot be bound "
                                  "(vision and text are the anchor: use --stage anchor)")
        self.finetune_plan  # parse (and check) the finetune string and the augmentations once
        self.augment_plan
        for name in ("max_steps", "epochs", "val_every", "patience", "batch_size", "accumulate", "save_every",
                     "log_every", "lora_rank"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.val_fraction < 1 or self.min_delta < 0:
            raise ConfigError(f"val_fraction must be in [0, 1) and min_delta >= 0, got {self.val_fraction} "
                              f"and {self.min_delta}")
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise ConfigError(f"max_minutes must be > 0 (or null for no time limit), got {self.max_minutes}")
        if self.lr <= 0 or self.temperature is not None and self.temperature <= 0:
            raise ConfigError("lr and temperature must be > 0")

    @cached_property
    def finetune_plan(self) -> Finetune:
        """`finetune` parsed: what trains inside each trained encoder."""
        return Finetune.parse(self.finetune)

    @cached_property
    def augment_plan(self) -> dict[str, tuple[AugmentConfig, ...]]:
        """`augment` parsed: modality -> its typed augmentations."""
        return parse_augment(self.augment)

    @property
    def source(self) -> str:
        """What the run starts from: --init for bind (a trained anchor), else --model."""
        return self.init or self.model

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(to_dict(self), indent=2))


def _coerce(raw: str, current: Any) -> Any:
    """A command-line string in the type of the field's current value."""
    if isinstance(current, bool):
        return raw.lower() in {"1", "true", "yes", "on"}
    if isinstance(current, tuple):
        return tuple(v for v in raw.split(",") if v)
    for kind in (int, float):
        if isinstance(current, kind):
            return kind(raw)
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def load_train_config(
    path: Optional[str], overrides: dict[str, Any], sets: Sequence[str] = ()
) -> TrainConfig:
    """File values, then `overrides` (options given on the command line), then `--set key=value`."""
    data: dict[str, Any] = {}
    if path:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"cannot read training config {path}: {exc}") from None
    data.update({k: v for k, v in overrides.items() if v is not None})
    defaults = {f.name: f.default for f in fields(TrainConfig)}
    defaults["data_options"] = defaults["val_data_options"] = defaults["augment"] = {}
    for item in sets:
        key, sep, raw = item.partition("=")
        if not sep or key not in defaults:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE with KEY one of {sorted(defaults)}")
        try:
            data[key] = _coerce(raw, data.get(key, defaults[key]))
        except ValueError:
            kind = type(data.get(key, defaults[key])).__name__
            raise ConfigError(f"--set {item!r}: {key} takes a {kind} value, got {raw!r}") from None
    return from_dict(TrainConfig, data, path or "training options")
