"""The stable Python API; the command line is built on the same layers."""

from __future__ import annotations

from functools import lru_cache
from typing import Optional, Union

import numpy as np
from torch import nn

from denoise import checkpoint, inference
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


def denoise_image(image: np.ndarray, *, model: ModelLike = "default", device: Optional[str] = None,
                  strength: float = 1.0, ensemble: bool = False) -> np.ndarray:
    """Denoises a float image (H, W) or (H, W, C) with values nominally in [0, 1] (noisy values outside
    are accepted and not clipped). Returns float32 of the same shape. The default model is picked by
    channel count: gray for C = 1, colour for C = 3. ``ensemble`` averages the model over the eight flips
    and rotations of the image: eight times slower, slightly cleaner."""
    arr = np.asarray(image)
    channels = 1 if arr.ndim == 2 else int(arr.shape[-1])
    m = _resolve(model, device, "image", channels)
    return inference.denoise_image_array(m, arr, strength, ensemble=ensemble)


def denoise_audio(audio: np.ndarray, sample_rate: int, *, model: ModelLike = "default",
                  device: Optional[str] = None, strength: float = 1.0) -> np.ndarray:
    """Denoises float audio (T,) or (channels, T) at any ``sample_rate``; each channel separately. Returns
    float32 of the same shape at the same rate; the result scales with the input level."""
    m = _resolve(model, device, "audio", 1)
    return inference.denoise_audio_array(m, audio, int(sample_rate), strength)


