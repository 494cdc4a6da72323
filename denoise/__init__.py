"""denoise: remove noise from images and audio with convolutional denoising autoencoders.

The public API is loaded lazily so that ``denoise --help`` starts without importing torch.
"""

from __future__ import annotations

from typing import Any

from denoise.version import __version__

__all__ = ["denoise_image", "denoise_audio", "load_model", "__version__"]


def __getattr__(name: str) -> Any:
    if name in ("denoise_image", "denoise_audio", "load_model"):
        from denoise import api

        return getattr(api, name)
    raise AttributeError(f"module 'denoise' has no attribute {name!r}")
