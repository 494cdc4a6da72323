"""torchrun support in the manner of torchvision's references/classification helpers.

``torchrun --nproc-per-node N -m denoise train ...`` sets RANK, WORLD_SIZE and LOCAL_RANK; without them
everything here is a no-op and training runs in one process.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistInfo:
    enabled: bool = False
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0


def init_distributed_mode(device_type: str) -> DistInfo:
    """Joins the process group when launched by torchrun (NCCL on CUDA, Gloo otherwise)."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return DistInfo()
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local = int(os.environ.get("LOCAL_RANK", 0))
    if world <= 1:
        return DistInfo()
    if device_type == "cuda":
        torch.cuda.set_device(local)
    dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    log.info("distributed: rank %d of %d", rank, world)
    return DistInfo(True, rank, world, local)


def is_distributed() -> bool:
    """Whether this process is one rank of several (torchrun)."""
    return dist.is_available() and dist.is_initialized()


def is_main_process() -> bool:
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def all_reduce_mean(value: float, device: torch.device) -> float:
    if not (dist.is_available() and dist.is_initialized()):
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t.item()) / dist.get_world_size()


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
