"""Device choice, mixed precision and seeding."""

from __future__ import annotations

import contextlib
import random
from typing import ContextManager, Optional

import numpy as np
import torch


class DeviceError(ValueError):
    pass


def pick_device(name: Optional[str] = "auto") -> torch.device:
    """"auto" -> CUDA, then MPS, then CPU. Explicit names are checked so a typo or a missing GPU gives a
    clear error instead of a crash deep inside torch."""
    name = name or "auto"
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise DeviceError(f"unknown device {name!r} (use auto, cpu, cuda, cuda:N or mps)") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError("CUDA was asked for but is not available")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceError(f"{name}: only {torch.cuda.device_count()} CUDA device(s)")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise DeviceError("MPS was asked for but is not available")
    return dev


def autocast(device: torch.device) -> ContextManager:
    """bf16 autocast on CUDA where supported (fp16 otherwise); float32 everywhere else, which keeps CPU
    results exact and deterministic."""
    if device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype)
    return contextlib.nullcontext()


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
