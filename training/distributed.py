"""Data parallelism with torch.distributed (launched by torchrun): gloo on CPU, nccl on GPUs.

Each rank encodes its contiguous share of the global batch; embeddings are all-gathered with
gradients so every rank computes the InfoNCE loss over the whole global batch (all negatives),
and gradients are averaged, which makes N ranks step exactly like one process with the same
global batch.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.distributed.nn.functional import all_gather


@dataclass(frozen=True)
class Group:
    """This process's place in the job; world 1 means a plain single-process run."""

    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def shard(self, count: int) -> tuple[slice, int]:
        """This rank's contiguous slice of `count` rows, and the padded per-rank size."""
        sizes = [len(part) for part in torch.arange(count).tensor_split(self.world)]
        start = sum(sizes[: self.rank])
        return slice(start, start + sizes[self.rank]), max(sizes)

    def gather(self, local: torch.Tensor, count: int) -> torch.Tensor:
        """Concatenate every rank's rows (each padded to the same size) back into `count` rows,
        keeping the autograd graph so gradients flow to the rank that computed them."""
        if self.world == 1:
            return local
        sizes = [len(part) for part in torch.arange(count).tensor_split(self.world)]
        parts = all_gather(local)
        return torch.cat([part[:size] for part, size in zip(parts, sizes)])

    def any(self, flag: bool) -> bool:
        """True on every rank if it is true on any (so all ranks stop at the same step)."""
        if self.world == 1:
            return flag
        value = torch.tensor([int(flag)])
        dist.all_reduce(value)
        return bool(value.item())

    def average_gradients(self, params) -> None:
        if self.world == 1:
            return
        for p in params:
            if p.grad is not None:
                dist.all_reduce(p.grad)
                p.grad /= self.world


def setup() -> Group:
    """Join the process group torchrun describes in the environment, if any."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Group()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    return Group(dist.get_rank(), dist.get_world_size())


def pad_rows(x: torch.Tensor, size: int) -> torch.Tensor:
    """Repeat the first row so every rank encodes the same number of rows (extra rows are dropped)."""
    if len(x) == size:
        return x
    return torch.cat([x, x[:1].expand(size - len(x), *x.shape[1:])])
