"""The stable Python API; the command line is built on the same layers."""

from __future__ import annotations

from functools import lru_cache
from typing import Optional, Union

import numpy as np
from torch import nn

from denoise import checkpoint, io
from denoise.audio import chunks
from denoise.image import arrays
from denoise.device import pick_device

ModelLike = Union[str, nn.Module]


def load_model(name_or_path: str = "default", device: Optional[str] = None, *,
               domain: Optional[str] = None, channels: int = 1) -> nn.Module:
    """Loads a shipped model by name ("image-gray", "image-color", "audio-speech", or "default" with
    ``domain``) or a checkpoint file, on ``device`` ("auto" when None). The returned module can be passed
    as ``model=`` to :func:`denoise_image` and :func:`denoise_audio`; ``model.meta`` holds its metadata and
    ``model.source`` the file it was read from."""
    if name_or_path == "default" and domain is None:
        raise ValueError('load_model("default") needs domain="image" or domain="audio"')
    return _cached(name_or_path, str(pick_device(device)), domain, channels)


@lru_cache(maxsize=8)
def _cached(name_or_path: str, device: str, domain: Optional[str], channels: int) -> nn.Module:
    return checkpoint.load(name_or_path, domain=domain, channels=channels, device=device)


def _resolve(model: ModelLike, device: Optional[str], domain: str, channels: int) -> nn.Module:
    if isinstance(model, nn.Module):
        if getattr(model, "domain", None) != domain:
            raise ValueError(f"model is not an {domain} model")
        if device is not None:
            model = model.to(pick_device(device))
        return model
    return load_model(model, device, domain=domain, channels=channels)


def _check_array(arr: np.ndarray, what: str) -> None:
    """Refuses, with a ValueError that says what to pass instead, arrays that would otherwise give a bare
    IndexError or a silently wrong result: scalars, complex numbers, and floats on a 0..255 scale."""
    if arr.ndim == 0:
        raise ValueError(f"expected {what} array, got a scalar")
    if np.iscomplexobj(arr):
        raise ValueError(f"{what} array is complex: pass real values (e.g. x.real or abs(x))")
    if arr.dtype.kind == "f" and arr.size and what == "an image":
        top = float(np.nanmax(np.where(np.isfinite(arr), arr, 0.0)))
        if top > 2.0:
            raise ValueError(f"float image values up to {top:g}: floats are on the 0..1 scale; divide by 255, "
                             "or pass uint8")


def _integer_scale(arr: np.ndarray, allowed: tuple[type, ...], what: str) -> Optional[float]:
    """Full scale of an integer array (uint8 -> 255, int16 -> 32768, ...), None for floats. Without it an
    8-bit picture from ``np.asarray(Image.open(...))`` would be read as values up to 255, and denoised as
    nonsense."""
    if arr.dtype.kind == "f":
        return None
    if arr.dtype.type not in allowed:
        raise ValueError(f"{what} of dtype {arr.dtype} not understood: pass floats, or "
                         + " / ".join(np.dtype(t).name for t in allowed))
    info = np.iinfo(arr.dtype)
    return float(info.max) if info.min == 0 else float(-info.min)


def _as_integer(out: np.ndarray, scale: float, dtype: np.dtype) -> np.ndarray:
    info = np.iinfo(dtype)
    return np.clip(np.round(out * scale), info.min, info.max).astype(dtype)


def denoise_image(image: np.ndarray, *, model: ModelLike = "default", device: Optional[str] = None,
                  strength: float = 1.0, ensemble: bool = False) -> np.ndarray:
    """Denoises an image (H, W) or (H, W, C), C = 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA): floats
    with values nominally in [0, 1] (noisy values outside are accepted and not clipped; values above 2,
    a 0..255 scale, are refused) give float32 of the same shape; uint8 and uint16 (as
    ``np.asarray(PIL.Image.open(path))`` gives) are read on their full scale and give the same dtype back,
    rounded and clipped. Alpha is passed through untouched. The default model is picked by channel count
    (``checkpoint.default_name``), and a gray picture stored as RGB goes to the gray model.
    ``ensemble`` averages the model over the eight flips and rotations of the image: eight times slower,
    slightly cleaner. NaN or Inf values raise ValueError."""
    arr = np.asarray(image)
    _check_array(arr, "an image")
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 2, 3, 4)) or 0 in arr.shape:
        raise ValueError(f"image has shape {arr.shape}: expected (H, W) or (H, W, C) with C = 1, 2, 3 or 4 "
                         "and H, W > 0")
    scale = _integer_scale(arr, (np.uint8, np.uint16), "an image")
    alpha = arr[:, :, -1:] if arr.ndim == 3 and arr.shape[2] in (2, 4) else None
    color = arr if alpha is None else arr[:, :, :-1]
    x = color.astype(np.float32) / (scale or 1.0)
    data = io.ImageData(x if x.ndim == 3 else x[:, :, None], "RGB", 8)
    choice: arrays.ModelChoice
    if isinstance(model, str) and model == "default":
        choice = lambda ch: load_model("default", device, domain="image", channels=ch)  # noqa: E731
    else:
        choice = _resolve(model, device, "image", int(data.pixels.shape[2]))
    out = arrays.denoise_decoded(choice, data, strength=strength, ensemble=ensemble)
    out = out.reshape(color.shape)
    if scale is not None:
        out = _as_integer(out, scale, arr.dtype)
    return out if alpha is None else np.concatenate([out, alpha.astype(out.dtype)], axis=2)


def denoise_audio(audio: np.ndarray, sample_rate: int, *, model: ModelLike = "default",
                  device: Optional[str] = None, strength: float = 1.0) -> np.ndarray:
    """Denoises audio (T,) or (channels, T) at any ``sample_rate``, each channel separately; the result
    scales with the input level. Floats give float32 of the same shape at the same rate; int16 and int32
    PCM (``soundfile.read(..., dtype="int16")``, transposed) give the same dtype back, rounded and clipped.
    Soundfile's (T, channels) layout must be transposed: an array with more channels than samples raises
    ValueError."""
    arr = np.asarray(audio)
    _check_array(arr, "an audio")
    scale = _integer_scale(arr, (np.int16, np.int32), "audio")
    m = _resolve(model, device, "audio", 1)
    x = arr if scale is None else arr.astype(np.float64) / scale
    out = chunks.denoise_audio_array(m, x, int(sample_rate), strength)
    return out if scale is None else _as_integer(out, scale, arr.dtype)


