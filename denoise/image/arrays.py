"""Pictures as numpy arrays: any size through the tensor layer in blended tiles, and the model chosen
for a decoded file (gray or colour)."""

from __future__ import annotations

import logging
from typing import Any, Callable, Optional, Union

import numpy as np
from torch import nn

from denoise import io
from denoise.image.tiling import TiledImage, as_hwc
from denoise.inference import (blend, check_strength, default_batch_size, denoise_tensor, denoise_tensor_x8,
                               out_of_memory_error, release_memory, torch_out_of_memory)

log = logging.getLogger(__name__)

DEFAULT_TILE = 512  # CPU: one 512² tile took about half the time of nine 256² ones (benchmarks/inference_speed.py)
DEFAULT_OVERLAP = 64
MIN_TILE = 64  # smallest tile an out-of-memory retry goes down to

# A model, or a function that gives the model for an image's channel count (1 or 3): the default models
# are chosen per file, since gray and colour pictures need different ones.
ModelChoice = Union[nn.Module, Callable[[int], nn.Module]]


def denoise_image_array(
    model: nn.Module,
    image: np.ndarray,
    strength: float = 1.0,
    tile: int = DEFAULT_TILE,
    overlap: int = DEFAULT_OVERLAP,
    batch_size: Optional[int] = None,
    ensemble: bool = False,
    progress: Optional[Callable[[float], None]] = None,
) -> np.ndarray:
    """(H, W) or (H, W, C) float -> float32 of the same shape.

    Images larger than ``tile`` are cut into overlapping tiles, run ``batch_size`` at a time (default:
    :func:`default_batch_size`) and blended, so memory is bounded whatever the size. A gray model runs
    each colour channel separately; a colour model sees a gray image repeated three times and its output
    is averaged back. ``ensemble`` runs every tile through :func:`denoise_tensor_x8` (eight times the
    work, a slightly cleaner result).

    Out of device memory even for one tile, the image is redone with tiles half the size (down to
    ``MIN_TILE``); below that an :class:`~denoise.io.InputError` says so in one line.

    ``progress`` gets the megapixels finished, tile batch by tile batch (a 12-megapixel photo is about a
    minute on a CPU); the amounts add up to H·W / 1e6 once, also when a retry redoes the image.
    """
    reported = 0.0

    def report(megapixels_done: float) -> None:  # this attempt's total so far -> the part not yet reported
        nonlocal reported
        if progress is not None and megapixels_done > reported:
            progress(megapixels_done - reported)
            reported = megapixels_done

    while True:
        try:
            return _denoise_image_array(model, image, strength, tile, overlap, batch_size, ensemble, report)
        except RuntimeError as exc:
            if not torch_out_of_memory(exc):
                raise
            release_memory(next(model.parameters()).device)
            if tile // 2 < MIN_TILE:
                raise out_of_memory_error(model, f"even with {tile}-pixel tiles one at a time") from None
            tile //= 2
            overlap = min(overlap, tile // 4)
            log.warning("out of %s memory: retrying this image with %d-pixel tiles",
                        next(model.parameters()).device.type, tile)


def _denoise_image_array(model: nn.Module, image: np.ndarray, strength: float, tile: int, overlap: int,
                         batch_size: Optional[int], ensemble: bool,
                         report: Callable[[float], None]) -> np.ndarray:
    check_strength(strength)
    batch_size = batch_size or default_batch_size(model)
    run = denoise_tensor_x8 if ensemble else denoise_tensor
    arr, squeeze = as_hwc(image)
    tiled = TiledImage(model, arr, tile, overlap)
    for i in range(0, tiled.tiles, batch_size):  # batch_size tiles a pass (a gray model: their channels)
        tiled.add(run(model, tiled.items(i, min(i + batch_size, tiled.tiles))))
        report(tiled.done / tiled.tiles * tiled.h * tiled.w / 1e6)
    out = blend(tiled.result(), arr, strength)
    return out[:, :, 0] if squeeze else out



def is_gray_rgb(pixels: np.ndarray) -> bool:
    """Whether a decoded (H, W, 3) picture is gray stored as colour (R = G = B everywhere), as scans and
    exported gray images often are: the gray model cleans those far better than a colour one."""
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        return False
    sample = pixels[::17, ::13]  # a colour photo differs somewhere in a sparse sample: no full comparison
    if not (np.array_equal(sample[:, :, 0], sample[:, :, 1]) and np.array_equal(sample[:, :, 1], sample[:, :, 2])):
        return False
    return bool(np.array_equal(pixels[:, :, 0], pixels[:, :, 1]) and np.array_equal(pixels[:, :, 1], pixels[:, :, 2]))


def choose_model(model: ModelChoice, data: io.ImageData, name: str = "image") -> tuple[nn.Module, np.ndarray, bool]:
    """(model, pixels to give it, whether to repeat its gray output into three channels) for a decoded
    file: ``model`` itself, or when it is a choice by channel count the model for the picture's channels,
    the gray one for gray stored as RGB (R = G = B everywhere)."""
    pixels = data.pixels
    if isinstance(model, nn.Module):
        return model, pixels, False
    if is_gray_rgb(pixels):
        log.info("%s: gray stored as RGB (R = G = B): denoised with the gray model", name)
        return model(1), pixels[:, :, :1], True
    return model(pixels.shape[2]), pixels, False


def denoise_decoded(model: ModelChoice, data: io.ImageData, name: str = "image", **kw: Any) -> np.ndarray:
    """:func:`denoise_image_array` on a decoded file with the model :func:`choose_model` picks; ``kw`` are
    its options."""
    net, pixels, repeat3 = choose_model(model, data, name)
    out = denoise_image_array(net, pixels, **kw)
    return np.repeat(out, 3, axis=2) if repeat3 else out
