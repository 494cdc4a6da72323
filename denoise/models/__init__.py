"""Model registry and construction from a :class:`~denoise.config.ModelConfig`.

Importing this package registers the built-in architectures.
"""

from __future__ import annotations

from typing import Any, Optional

from torch import nn

from denoise.config import ModelConfig
from denoise.models import autoencoders as _autoencoders  # noqa: F401  (registers "ae", "sparse", "vae")
from denoise.models import crn as _crn  # noqa: F401  (registers "crn")
from denoise.models import naf as _naf  # noqa: F401  (registers "naf")
from denoise.models import unet as _unet  # noqa: F401  (registers "dae")
from denoise.models.denoisers import Denoiser, ImageDenoiser, SpectralMaskDenoiser, is_causal
from denoise.models.registry import (available, build_net, check_domain, default_arch_args, describe, domains,
                                     is_residual, register, registered_defaults, spectrum_args)

__all__ = ["Denoiser", "ImageDenoiser", "SpectralMaskDenoiser", "available", "is_causal", "build_model", "build_net",
           "default_arch_args", "describe", "domains", "is_residual", "register", "registered_defaults",
           "spectrum_args"]


def build_model(config: ModelConfig, meta: Optional[dict[str, Any]] = None) -> nn.Module:
    """Builds the domain wrapper around the registered network named by ``config.arch``.

    Image nets map C -> C channels; audio nets map one log-spectrogram channel to one mask channel.
    """
    check_domain(config.arch, config.domain)
    if config.domain == "image":
        net = build_net(config.arch, in_channels=config.channels, out_channels=config.channels, **config.args)
        return ImageDenoiser(net, config, meta)
    net = build_net(config.arch, in_channels=1, out_channels=1, **config.args)
    return SpectralMaskDenoiser(net, config, meta)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
