"""Sharded inference under torchrun: ``torchrun --nnodes 2 --nproc-per-node 8 -m denoise image in/ -o out/``.

Every rank plans the same job list (from the same files), checks that it is the same as everyone's, and
takes a deterministic share balanced by size (largest first, each to the least loaded rank); it writes
only the outputs of its share. At the end the counts are gathered: rank 0 prints the merged summary and
every rank exits 1 if a file failed on any rank. A killed job resumes with ``--skip-existing`` on any
number of ranks, since finished outputs are left out of every rank's plan.

The process group is Gloo whatever the device: only small Python objects travel, never tensors. Without
torchrun's variables (RANK, WORLD_SIZE) everything here is a no-op.
"""

from __future__ import annotations

import datetime
import hashlib
import heapq
import logging
import os
from dataclasses import dataclass
from typing import Any, Sequence, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")

# How long a rank that has finished waits for the slowest one at the end. torchrun stops every rank when
# one dies, so this only matters to process groups started by hand.
GATHER_TIMEOUT = datetime.timedelta(hours=24)


@dataclass(frozen=True)
class Shard:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def from_environment() -> Shard:
    """The rank and world of this process, as torchrun sets them (a single process without them)."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return Shard()
    return Shard(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", 0)))


def join(shard: Shard) -> None:
    """Joins the Gloo process group (a rendezvous: returns once every rank has arrived)."""
    import torch.distributed as dist

    if shard.enabled and not dist.is_initialized():
        dist.init_process_group("gloo", timeout=GATHER_TIMEOUT)
        log.info("sharded: rank %d of %d", shard.rank, shard.world_size)


def device_for(shard: Shard, device: str) -> str:
    """A rank's device: ``auto`` or ``cuda`` become ``cuda:LOCAL_RANK`` where CUDA is present, so that the
    ranks of one machine use one GPU each; anything explicit is kept."""
    if not shard.enabled or device not in ("auto", "cuda"):
        return device
    import torch

    return f"cuda:{shard.local_rank}" if torch.cuda.is_available() else device


def share(items: Sequence[T], sizes: Sequence[float], shard: Shard) -> list[T]:
    """This rank's part of ``items``, in their order: largest first, each to the rank with the least work so
    far (ties to the lower rank), so that every rank computes the same split without talking."""
    if not shard.enabled:
        return list(items)
    loads = [(0.0, r) for r in range(shard.world_size)]
    mine = set()
    for i in sorted(range(len(items)), key=lambda i: (-sizes[i], i)):
        load, rank = heapq.heappop(loads)
        if rank == shard.rank:
            mine.add(i)
        heapq.heappush(loads, (load + max(sizes[i], 1e-9), rank))
    return [item for i, item in enumerate(items) if i in mine]


def same_plan_everywhere(shard: Shard, fingerprint: Sequence[str]) -> bool:
    """Whether every rank planned the same list (a file written or removed by something else while the
    ranks planned would make their splits disagree)."""
    if not shard.enabled:
        return True
    digest = hashlib.sha256("\n".join(fingerprint).encode()).hexdigest()
    return len(set(gather(shard, digest))) == 1


def gather(shard: Shard, value: Any) -> list[Any]:
    """Every rank's ``value``, in rank order, on every rank."""
    if not shard.enabled:
        return [value]
    import torch.distributed as dist

    out: list[Any] = [None] * shard.world_size
    dist.all_gather_object(out, value)
    return out


def merged_counts(shard: Shard, counts: dict[str, int]) -> dict[str, int]:
    """The counts of all ranks added up (the same result on every rank)."""
    every = gather(shard, counts)
    return {k: sum(c.get(k, 0) for c in every) for k in counts}


def leave(shard: Shard) -> None:
    if not shard.enabled:
        return  # no torch import for a run that had nothing to do
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()
