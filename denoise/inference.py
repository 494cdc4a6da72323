"""The tensor layer of inference: a batch on the model's device and back, shared by every domain.

Inference runs in layers, each adding one thing and calling the one below:

- here, ``denoise_tensor`` (a batch on the device, split in halves when memory runs out;
  ``denoise_tensor_x8`` averages it over the eight flips and rotations), and the one rule for
  ``strength`` (:func:`blend`);
- :mod:`denoise.image` and :mod:`denoise.audio`: numpy arrays of any size, tiling and chunking, channel and
  rate adaptation;
- :mod:`denoise.runner`: many files, decoded and written in the background, one result per file.
"""

from __future__ import annotations

import logging
from typing import Optional

import numpy as np
import torch
from torch import nn

from denoise import io
from denoise.device import autocast, is_out_of_memory, threads_for, use_cpu_threads

log = logging.getLogger(__name__)


def torch_out_of_memory(exc: BaseException) -> bool:
    """Torch running out of memory on any device: CUDA's ``OutOfMemoryError`` and the RuntimeErrors of the
    CPU and MPS allocators, which a smaller batch or tile can avoid. numpy's ``MemoryError`` is not one of
    them: it comes from whole-image or whole-file arrays, which smaller tiles would not shrink."""
    return isinstance(exc, RuntimeError) and is_out_of_memory(exc)


def out_of_memory_error(model: nn.Module, what: str) -> io.InputError:
    """The one-line error once retrying is over: which memory ran out, on ``what``, and on a GPU the way out."""
    device = next(model.parameters()).device.type
    if device == "cpu":
        return io.InputError(f"out of memory {what}")
    return io.InputError(f"out of {device} memory {what}; try device='cpu'")


def default_batch_size(model: nn.Module) -> int:
    """Image tiles or audio chunks per forward pass when the caller gives none: 1 on the CPU, where larger
    batches were no faster (the convolutions already use every thread) and only raised peak memory
    (``benchmarks/inference_speed.py``), and 8 tiles / 4 chunks on a GPU, which batches fill."""
    if next(model.parameters()).device.type == "cpu":
        return 1
    return 8 if model.domain == "image" else 4


def release_memory(device: torch.device) -> None:
    """Hands cached GPU memory back after an out-of-memory error, so that a smaller retry can have it."""
    if device.type == "cuda":
        torch.cuda.empty_cache()


def denoise_tensor(model: nn.Module, x: torch.Tensor, level: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Runs ``model`` on a batch already shaped for it: images (B, C, H, W), audio (B, T) at the model's
    rate. The batch is moved to the model's device, run under inference mode (autocast on CUDA), and the
    result comes back as float32 on the CPU. ``level`` (B, 1), audio only: the level each item is to be
    normalised by instead of its own RMS (see ``SpectralMaskDenoiser.features``).

    When the device runs out of memory, the batch is split in halves and each half retried, down to one
    item; only a single item that does not fit raises (the callers then shrink tiles or give up)."""
    device = next(model.parameters()).device
    try:
        return _run_batch(model, x, device, level)
    except RuntimeError as exc:
        if not torch_out_of_memory(exc):
            raise
        release_memory(device)
        if x.shape[0] <= 1:
            raise
        half = x.shape[0] // 2
        log.info("out of %s memory with a batch of %d: retrying as %d + %d", device.type, x.shape[0], half,
                 x.shape[0] - half)
        parts = [(x[:half], None if level is None else level[:half]), (x[half:], None if level is None else level[half:])]
        return torch.cat([denoise_tensor(model, xs, ls) for xs, ls in parts])


def _run_batch(model: nn.Module, x: torch.Tensor, device: torch.device,
               level: Optional[torch.Tensor] = None) -> torch.Tensor:
    if device.type == "cpu":  # small work on one thread, large on the free cores (device.threads_for)
        use_cpu_threads(threads_for(int(x[0].numel()) if x.shape[0] else 0))
    with torch.inference_mode(), autocast(device):
        xin = x.to(device, non_blocking=True).float()
        y = (model(xin) if level is None else model(xin, level=level.to(device).float())).float()
    if not torch.isfinite(y.sum()):  # one pass, no mask: the sum of finite outputs in [0, 1] is finite
        raise io.InputError("the model produced NaN or Inf values; nothing was written")
    return y.cpu()


# The eight flips and rotations of the square: k quarter turns, then a left-right flip or not.
DIHEDRAL = tuple((k, flip) for k in range(4) for flip in (False, True))


def denoise_tensor_x8(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, H, W) float32 on the CPU: the mean of :func:`denoise_tensor` over the eight
    flips and rotations of the batch, each undone on the output (the "x8 self-ensemble" of the DnCNN and
    KAIR test scripts).

    A trained conv net is not exactly equivariant to these transforms, so its errors on the eight views
    are partly independent and their mean is closer to the clean image; the cost is eight forward passes.
    They run one after another, so peak memory stays that of a single pass."""
    acc = torch.zeros(x.shape, dtype=torch.float32)
    for k, flip in DIHEDRAL:
        view = torch.rot90(x, k, dims=(-2, -1))
        y = denoise_tensor(model, view.flip(-1) if flip else view)
        acc += torch.rot90(y.flip(-1) if flip else y, -k, dims=(-2, -1))
    return acc / len(DIHEDRAL)


def blend(wet: np.ndarray, dry: np.ndarray, strength: float) -> np.ndarray:
    """The one place ``strength`` acts: ``strength`` of the denoised signal, the rest the input's own values
    (a dry/wet mix); the input itself at 0."""
    return wet if strength == 1.0 else strength * wet + (1.0 - strength) * dry


def check_strength(strength: float) -> None:
    """Raises ValueError unless ``strength`` is in [0, 1]."""
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be in [0, 1], got {strength}")
