"""The training loop: anchor (image-text, CLIP-style) and bind (image-M, ImageBind) stages."""
from __future__ import annotations

import json
import math
import signal
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Optional

import torch
from tqdm import tqdm

from edgebind.errors import CheckpointError, ConfigError
from edgebind.models import create_model, save_model
from edgebind.models.checkpoint import load_state
from edgebind.models.registry import WEIGHTS_FILE
from edgebind.modality import Modality
from edgebind.training.augment import Augmenter
from edgebind.training.config import TrainConfig
from edgebind.training.data.sources import open_data
from edgebind.training.distributed import pad_rows, setup as setup_distributed
from edgebind.training.finetune import merged_state_dict, trainable_state
from edgebind.training.metrics_log import MetricsLog
from edgebind.training.pairs import PairData
from edgebind.training.loss import info_nce
from edgebind.training.state import Progress, load_state as load_trainer_state, save_state
from edgebind.training.validation import Validator, improved, split as split_validation

BEST = "best"  # OUT/best: the checkpoint with the best validation score
BUDGET_MARGIN = 0.95  # fraction of the time left that the fitted schedule plans to use


def _total_steps(cfg: TrainConfig, batches_per_epoch: int) -> int:
    """The schedule's length in optimizer steps: `epochs` when given, else `max_steps`."""
    if cfg.epochs is None:
        return cfg.max_steps
    return math.ceil(batches_per_epoch * cfg.epochs / cfg.accumulate)


def _schedule(cfg: TrainConfig, total_steps: int):
    """Linear warm-up, then cosine decay to `min_lr_ratio` of the peak."""
    def factor(step: int) -> float:
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        progress = (step - cfg.warmup_steps) / max(1, total_steps - cfg.warmup_steps)
        return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    return factor


def _claim_run_directory(out: Path, resume: bool, overwrite: bool, remove: bool) -> None:
    """Create `out`; a fresh run refuses a directory holding another run (its checkpoint and
    metrics would be mixed with the new ones) unless told to `overwrite` it (the old metrics are
    then removed where `remove`: by one process of a distributed run)."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is an existing file, not a run directory; choose another path")
    previous = [name for name in (WEIGHTS_FILE, "metrics.jsonl") if (out / name).exists()]
    if previous and not resume:
        if not overwrite:
            raise ConfigError(f"--out {out} holds a run already ({', '.join(previous)}): pass --resume to "
                              "continue it, --overwrite to replace it, or choose another --out")
        if remove:
            (out / "metrics.jsonl").unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)


class Trainer:
    """Builds model, data and optimizer from a TrainConfig; `run()` trains and saves to cfg.out."""

    def __init__(self, cfg: TrainConfig, resume: bool = False, overwrite: bool = False):
        self.cfg, self.out = cfg, Path(cfg.out)
        self.group = setup_distributed()
        _claim_run_directory(self.out, resume, overwrite, remove=self.group.main)
        torch.manual_seed(cfg.seed)
        self.device = torch.device(
            ("cuda" if torch.cuda.is_available() else "cpu") if cfg.device == "auto" else cfg.device
        )
        self.model = create_model(cfg.source, anchor_weights=cfg.anchor_weights).to(self.device)
        self.trained = ("vision", "text") if cfg.stage == "anchor" else cfg.modalities
        self.model.set_trainable(self.trained)
        self.model.random_weights -= {Modality.parse(m) for m in self.trained}  # they are what trains
        for name in self.trained:
            stem, trunk, _, _ = self.model.parts(name)
            cfg.finetune_plan.apply(stem, trunk, cfg.lora_rank, cfg.lora_alpha)
            scale = self.model.logit_scale(name)
            if cfg.learn_temperature and scale is not None:
                scale.make_learnable()
        # The run's skip limit reaches the data set too, unless its options set one of their own.
        self.data = open_data(cfg.data, {"max_skip_fraction": cfg.max_skip_fraction, **cfg.data_options})
        cache = Path(cfg.cache_dir) if cfg.cache_dir else self.out / "cache"
        self.data, val_data = split_validation(self.data, cfg)
        if not self.group.main:
            self.group.barrier()  # rank 0 fills the caches first; the others then read them
        self.pairs = PairData(self.model, self.data, cfg, cache, self.device)
        if self.group.main:
            self.group.barrier()
        self.augment = Augmenter(cfg.augment_plan)
        self.optimizer = torch.optim.AdamW(self.model.param_groups(cfg.weight_decay), lr=cfg.lr)
        self.batches_per_epoch = len(self._batches(0))
        self.total_steps = _total_steps(cfg, self.batches_per_epoch)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, _schedule(cfg, self.total_steps))
        # fp16 gradients underflow without loss scaling; bf16 and fp32 need none.
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=cfg.precision == "fp16")
        self.progress = Progress()
        if resume:
            self._resume()
            if self.progress.planned:
                self._plan(self.progress.planned)
        self.validator = (Validator(self.model, val_data, cfg, cache, self.device)
                          if val_data is not None and self.group.main else None)
        self._stop = False

    def _resume(self) -> None:
        weights = self.out / WEIGHTS_FILE
        if not weights.is_file():
            raise CheckpointError(f"{weights} is missing: there is no run to resume in {self.out}")
        self.progress, adapters = load_trainer_state(self.out, self.optimizer, self.scheduler)
        if self.cfg.finetune_plan.mode == "lora":  # base weights come from --init; the run trained adapters
            if set(adapters) != set(trainable_state(self.model)):
                raise CheckpointError(f"{self.out}: the saved LoRA adapters do not fit this run's "
                                      "modalities or rank; start again without --resume")
            self.model.load_state_dict(adapters, strict=False)
        else:
            load_state(self.model, weights)

    def _batches(self, epoch: int) -> list[torch.Tensor]:
        """This epoch's shuffled batches of sample indices; with `drop_last`, a short final batch
        (whose loss would come from a few samples and jump in the log) is left out."""
        generator = torch.Generator().manual_seed(self.cfg.seed * 100_003 + epoch)
        order = torch.randperm(len(self.data), generator=generator)
        batches = list(order.split(self.cfg.batch_size))
        if self.cfg.drop_last and len(batches) > 1 and len(batches[-1]) < self.cfg.batch_size:
            batches.pop()
        return batches

    def _loss(self, pairs: dict) -> tuple[torch.Tensor, dict[str, float]]:
        """Sum over trained pairs of the symmetric InfoNCE loss on this global batch."""
        total, parts = 0.0, {}
        draws = self.augment.generator(self.cfg.seed, self.progress.epoch, self.progress.batch)
        for modality, (a, b) in pairs.items():
            if len(a) < max(2, self.group.world):
                continue
            a, b = a.to(self.device), b.to(self.device)
            if self.cfg.stage == "anchor":
                a = self._encode_shared("vision", self.augment("vision", a, draws))
            b = self._encode_shared(modality, self.augment(modality, b, draws))
            scale = 1.0 / self.cfg.temperature if self.cfg.temperature else self.model.logit_scale(modality).scale
            loss = info_nce(a, b, scale)
            parts[f"loss/{modality}"] = loss.item()
            total = total + loss
        return total, parts

    def _encode_shared(self, modality: str, x: torch.Tensor) -> torch.Tensor:
        """Encode this rank's share of the global batch, then gather all of it (with gradients)."""
        share, size = self.group.shard(len(x))
        local = self.model.encode(modality, pad_rows(x[share], size))
        return self.group.gather(local, len(x))

    def _autocast(self):
        if self.cfg.precision == "fp32":
            return nullcontext()
        dtype = torch.bfloat16 if self.cfg.precision == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    def _checkpoint(self) -> None:
        if self.group.main:
            save_model(self.model, self.out, merged_state_dict(self.model))
            adapters = trainable_state(self.model) if self.cfg.finetune_plan.mode == "lora" else {}
            save_state(self.out, self.progress, self.optimizer, self.scheduler, adapters)
        self.group.barrier()

    def _request_stop(self, signum, frame) -> None:
        self._stop = True

    def _plan(self, total: int) -> None:
        """Set the schedule's length to `total` steps (the cosine decays to its end there)."""
        self.total_steps = self.progress.planned = total
        self.scheduler.lr_lambdas = [_schedule(self.cfg, total) for _ in self.scheduler.lr_lambdas]

    def _fit_to_budget(self, start: float, bar) -> None:
        """Once, at step val_every: shorten the schedule to the steps that fit in max_minutes at the
        speed measured so far (validation included), so the learning rate decays before time is up.
        Not with several ranks: each would time itself and plan its own length."""
        cfg, progress = self.cfg, self.progress
        if (cfg.epochs is not None or cfg.max_minutes is None or progress.planned or progress.step != cfg.val_every
                or self.group.world > 1):
            return
        per_step = (time.perf_counter() - start) / progress.step
        fits = progress.step + int(BUDGET_MARGIN * (60 * cfg.max_minutes - (time.perf_counter() - start)) / per_step)
        self._plan(min(self.total_steps, max(progress.step + 1, fits)))
        bar.total = self.total_steps
        bar.refresh()

    def _stop_reason(self, start: float) -> Optional[str]:
        """Why the run stops now, or None to go on; every rank gets an answer at the same step."""
        cfg, progress = self.cfg, self.progress
        if cfg.epochs is not None and progress.epoch >= cfg.epochs:
            return f"finished epochs={cfg.epochs}"
        if cfg.epochs is None and progress.step >= self.total_steps:
            if self.total_steps < cfg.max_steps:
                return f"reached {self.total_steps} steps, the schedule fitted to max_minutes={cfg.max_minutes}"
            return f"reached max_steps={cfg.max_steps}"
        local = None
        if self._stop:
            local = "interrupted by a signal (--resume continues)"
        elif cfg.max_minutes is not None and time.perf_counter() - start >= 60 * cfg.max_minutes:
            local = f"time budget max_minutes={cfg.max_minutes} spent"
        elif progress.stale >= cfg.patience:
            local = (f"validation plateau: no gain over min_delta={cfg.min_delta} in {cfg.patience} "
                     f"evaluations (patience)")
        if self.group.any(local is not None):
            return local or "another rank stopped"
        return None

    def _validate(self, log: MetricsLog, bar) -> None:
        """Score the held-out data, log it, and keep the checkpoint in OUT/best when it is the best."""
        scores = self.validator()
        progress = self.progress
        if improved(progress, scores["val/score"], self.cfg.min_delta):
            save_model(self.model, self.out / BEST, merged_state_dict(self.model))
            (self.out / BEST / "validation.json").write_text(json.dumps({"step": progress.step, **scores}, indent=1))
        log.write(progress.step, {"epoch": progress.epoch, **scores, "val/best": progress.best})
        bar.set_postfix(val=f"{scores['val/score']:.3f}", best=f"{progress.best:.3f}")
        if self.cfg.progress:
            bar.write(f"step {progress.step}: " + ", ".join(f"{k[4:]} {v:.3f}" for k, v in scores.items()))

    def run(self) -> dict:
        """Train until a stop reason (max_steps or epochs, time budget, validation plateau, SIGINT or
        SIGTERM), checkpoint, say why it stopped, and return a summary."""
        cfg, progress = self.cfg, self.progress
        main = self.group.main
        if main:
            cfg.save(self.out / "train_config.json")
        handlers = {s: signal.signal(s, self._request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
        log = MetricsLog(self.out, enabled=main)
        bar = tqdm(total=self.total_steps, initial=progress.step, desc=f"train {cfg.stage}",
                   disable=not (cfg.progress and main))
        start, seen, parts, reason, last = time.perf_counter(), 0, {}, None, None
        try:
            while (reason := self._stop_reason(start)) is None:
                batches = self._batches(progress.epoch)
                stream = self.pairs.epoch(batches[progress.batch :])
                while progress.batch < len(batches) and (reason := self._stop_reason(start)) is None:
                    self.optimizer.zero_grad(set_to_none=True)
                    loss_value = 0.0
                    for _ in range(cfg.accumulate):
                        if progress.batch >= len(batches):
                            break
                        indices = batches[progress.batch]
                        with self._autocast():
                            loss, parts = self._loss(next(stream))
                        if isinstance(loss, torch.Tensor):
                            self.scaler.scale(loss / cfg.accumulate).backward()
                            loss_value += loss.item() / cfg.accumulate
                        seen += len(indices)
                        progress.batch += 1
                    params = [p for g in self.optimizer.param_groups for p in g["params"]]
                    self.group.average_gradients(params)
                    self.scaler.unscale_(self.optimizer)
                    torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
                    self.scaler.step(self.optimizer)
                    self.scaler.update()
                    self.scheduler.step()
                    progress.step += 1
                    rate = seen / (time.perf_counter() - start)
                    lr = self.scheduler.get_last_lr()[0]
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss_value:.3f}", lr=f"{lr:.2e}", sps=f"{rate:.0f}")
                    last = {"epoch": progress.epoch, "loss": loss_value, **parts, "lr": lr, "samples_per_s": rate}
                    if progress.step % cfg.log_every == 0:
                        log.write(progress.step, last)
                    if self.validator is not None and progress.step % cfg.val_every == 0:
                        self._validate(log, bar)
                    self._fit_to_budget(start, bar)
                    if progress.step % cfg.save_every == 0:
                        self._checkpoint()
                if progress.batch >= len(batches):
                    progress.epoch, progress.batch = progress.epoch + 1, 0
                if reason is not None:
                    break
            if last is not None and progress.step % cfg.log_every:
                log.write(progress.step, last)  # the final step is always in the log
            if self.validator is not None and not self._stop and progress.step % cfg.val_every:
                self._validate(log, bar)  # the final weights are a candidate too
            self._checkpoint()
        finally:
            bar.close()
            log.close()
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
        summary = {"stage": cfg.stage, "out": str(self.out), "steps": progress.step, "stopped": reason,
                   "interrupted": self._stop, "loss": parts, "skipped": self.pairs.skipped()}
        validated = self.validator is not None and math.isfinite(progress.best)
        if validated:
            summary["best"] = {"path": str(self.out / BEST), "step": progress.best_step, "score": progress.best}
        if main:
            best = f"; best validation score {progress.best:.3f} at step {progress.best_step}, in {self.out / BEST}"
            print(f"train {cfg.stage}: stopped at step {progress.step}: {reason}" + (best if validated else ""),
                  file=sys.stderr)
        return summary
