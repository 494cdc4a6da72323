"""The classic autoencoder family without skip connections: ``ae``, ``sparse`` (k-sparse) and ``vae``.

All three share one encoder/decoder pair, so a comparison between them measures the bottleneck and
nothing else:

    (B, C, H, W) --encoder--> (B, W*2**depth, H/2**depth, W/2**depth) --1x1--> latent (B, L, h, w)
    latent --1x1--> (B, W*2**depth, h, w) --decoder--> (B, C_out, H, W)

There are no skips, so everything the decoder sees has passed through the latent map: its size
(``latent_channels`` x H/2**depth x W/2**depth values) is the capacity of the code. The nets are fully
convolutional, so the latent is a map rather than a vector and any input size works (inputs are padded to
a multiple of 2**depth and cropped back, as in the U-Net).
"""

from __future__ import annotations

import torch
from torch import nn

from denoise.models.blocks import Down, ResBlock, Up, pad_to_multiple, require_ints
from denoise.models.registry import register


class ConvEncoder(nn.Module):
    """(B, in_channels, H, W) -> (B, width * 2**depth, H / 2**depth, W / 2**depth); H, W multiples of
    2**depth."""

    def __init__(self, in_channels: int, width: int, depth: int, blocks: int) -> None:
        super().__init__()
        widths = [width * 2**i for i in range(depth + 1)]
        layers: list[nn.Module] = [nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(inplace=True)]
        for i in range(depth):
            layers += [ResBlock(widths[i]) for _ in range(blocks)]
            layers.append(Down(widths[i], widths[i + 1]))
        layers += [ResBlock(widths[-1]) for _ in range(blocks)]
        self.layers = nn.Sequential(*layers)
        self.out_channels = widths[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class ConvDecoder(nn.Module):
    """Mirror of :class:`ConvEncoder`: (B, width * 2**depth, h, w) -> (B, out_channels, h * 2**depth,
    w * 2**depth)."""

    def __init__(self, out_channels: int, width: int, depth: int, blocks: int) -> None:
        super().__init__()
        widths = [width * 2**i for i in range(depth + 1)]
        layers: list[nn.Module] = [ResBlock(widths[-1]) for _ in range(blocks)]
        for i in reversed(range(depth)):
            layers.append(Up(widths[i + 1], widths[i]))
            layers += [ResBlock(widths[i]) for _ in range(blocks)]
        layers.append(nn.Conv2d(width, out_channels, 3, padding=1))
        self.layers = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.layers(z)


class _Bottlenecked(nn.Module):
    """Encoder -> ``encode_latent`` -> decoder, with the padding every member needs."""

    def __init__(self, in_channels: int, out_channels: int, width: int, depth: int, blocks: int,
                 latent_channels: int, code_channels: int) -> None:
        super().__init__()
        require_ints(1, in_channels=in_channels, out_channels=out_channels, width=width,
                     latent_channels=latent_channels)
        require_ints(0, depth=depth, blocks=blocks)
        self.size_multiple = 2**depth
        self.latent_channels = latent_channels
        self.encoder = ConvEncoder(in_channels, width, depth, blocks)
        self.to_latent = nn.Conv2d(self.encoder.out_channels, code_channels, 1)
        self.from_latent = nn.Conv2d(latent_channels, self.encoder.out_channels, 1)
        self.decoder = ConvDecoder(out_channels, width, depth, blocks)

    def latent(self, h: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, (h, w) = pad_to_multiple(x, self.size_multiple)
        z = self.latent(self.to_latent(self.encoder(x)))
        return self.decoder(torch.relu(self.from_latent(z)))[..., :h, :w]


@register("ae", "plain convolutional autoencoder: everything passes through a linear latent, no skips",
          defaults={"image": {"width": 32, "depth": 2, "blocks": 1, "latent_channels": 64},
                    "audio": {"width": 24, "depth": 2, "blocks": 1, "latent_channels": 64}})
class ConvAutoencoder(_Bottlenecked):
    """Plain convolutional autoencoder: the latent is a linear projection of the encoder output, of
    ``latent_channels`` per 2**depth x 2**depth block of input. (B, C_in, H, W) -> (B, C_out, H, W)."""

    def __init__(self, in_channels: int = 1, out_channels: int = 1, width: int = 32, depth: int = 3,
                 blocks: int = 1, latent_channels: int = 32) -> None:
        super().__init__(in_channels, out_channels, width, depth, blocks, latent_channels, latent_channels)

    def latent(self, h: torch.Tensor) -> torch.Tensor:
        return h


@register("sparse", "k-sparse autoencoder: only the k largest latent channels kept at each position",
          defaults={"image": {"width": 32, "depth": 2, "blocks": 1, "latent_channels": 128, "k": 32},
                    "audio": {"width": 24, "depth": 2, "blocks": 1, "latent_channels": 128, "k": 32}})
class KSparseAutoencoder(_Bottlenecked):
    """k-sparse autoencoder (Makhzani & Frey, 2013), made convolutional: at every latent *position*, only
    the ``k`` largest of the ``latent_channels`` activations are kept and the rest set to zero, in
    training and inference alike. Per position rather than per sample, so the sparsity does not depend on
    the image size and tiles are denoised the same as whole images. Gradients flow through the kept
    units only. (B, C_in, H, W) -> (B, C_out, H, W)."""

    def __init__(self, in_channels: int = 1, out_channels: int = 1, width: int = 32, depth: int = 3,
                 blocks: int = 1, latent_channels: int = 64, k: int = 8) -> None:
        require_ints(1, k=k, latent_channels=latent_channels)
        if k > latent_channels:
            raise ValueError(f"k must be in 1..latent_channels ({latent_channels}), got {k}")
        super().__init__(in_channels, out_channels, width, depth, blocks, latent_channels, latent_channels)
        self.k = k

    def latent(self, h: torch.Tensor) -> torch.Tensor:
        if self.k == self.latent_channels:
            return h
        top = h.topk(self.k, dim=1).indices  # (B, k, h, w)
        keep = torch.zeros_like(h, dtype=torch.bool).scatter_(1, top, True)
        return h * keep


@register("vae", "variational autoencoder: sampled latent (reparameterisation) and a KL term weighted by beta",
          defaults={"image": {"width": 32, "depth": 2, "blocks": 1, "latent_channels": 64, "beta": 1e-3},
                    "audio": {"width": 24, "depth": 2, "blocks": 1, "latent_channels": 64, "beta": 1e-3}})
class ConvVAE(_Bottlenecked):
    """Variational autoencoder with a latent map. The encoder gives a mean and a log-variance per latent
    value; training samples ``z = mean + exp(logvar / 2) * eps`` (the reparameterisation trick, so the
    sample stays differentiable) and :meth:`aux_loss` returns ``beta`` times the KL divergence from
    N(0, I). Inference (``eval()``) uses the mean, so outputs are deterministic.

    The KL is summed over the latent and divided by the number of input values (C*H*W), the same
    normalisation as the per-pixel reconstruction loss, so ``beta`` does not depend on the patch size.
    (B, C_in, H, W) -> (B, C_out, H, W)."""

    def __init__(self, in_channels: int = 1, out_channels: int = 1, width: int = 32, depth: int = 3,
                 blocks: int = 1, latent_channels: int = 32, beta: float = 1e-3) -> None:
        if not (isinstance(beta, (int, float)) and 0 <= beta < float("inf")):
            raise ValueError(f"beta must be a number >= 0, got {beta!r}")
        super().__init__(in_channels, out_channels, width, depth, blocks, latent_channels, 2 * latent_channels)
        self.beta = beta
        self._kl: torch.Tensor | None = None
        self._values_per_item = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._values_per_item = x[0].numel()
        return super().forward(x)

    def latent(self, h: torch.Tensor) -> torch.Tensor:
        mean, logvar = h.float().chunk(2, dim=1)
        logvar = logvar.clamp(-30.0, 20.0)
        if not self.training:
            self._kl = None
            return mean.to(h.dtype)
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar)  # (B, L, h, w), KL per latent value
        self._kl = kl.flatten(1).sum(1).mean() / self._values_per_item
        z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
        return z.to(h.dtype)

    def aux_loss(self) -> torch.Tensor:
        """beta * KL of the last training forward pass (a scalar tensor in the autograd graph)."""
        if self._kl is None:
            raise RuntimeError("aux_loss() needs a forward pass in training mode first")
        return self.beta * self._kl
