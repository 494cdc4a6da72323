"""The default denoising autoencoder: a small U-Net (encoder, latent, decoder with additive skips)."""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from denoise.models.blocks import Down, ResBlock, Up, pad_to_multiple
from denoise.models.registry import register


@register("dae")
class DenoisingUNet(nn.Module):
    """Convolutional denoising autoencoder with skip connections.

    The encoder halves the resolution ``depth`` times (doubling the width each time) down to the latent
    map at 1/2**depth of the input size; the decoder mirrors it. Skips are added, not concatenated: they
    let fine detail bypass the bottleneck at half the cost of concatenation, which matters on CPU.

    (B, in_channels, H, W) -> (B, out_channels, H, W), any H, W >= 1 (padded internally to a multiple of
    2**depth and cropped back). The output is a raw map; the domain wrapper decides whether it is a noise
    residual or a mask.
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        width: int = 32,
        depth: int = 2,
        blocks: int = 1,
        latent_blocks: Optional[int] = None,
    ) -> None:
        super().__init__()
        self.depth = depth
        self.size_multiple = 2**depth  # inputs are padded to this; tiling aligns tiles to it
        widths = [width * 2**i for i in range(depth + 1)]
        self.head = nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(inplace=True))
        self.enc = nn.ModuleList(nn.Sequential(*[ResBlock(c) for _ in range(blocks)]) for c in widths[:-1])
        self.down = nn.ModuleList(Down(widths[i], widths[i + 1]) for i in range(depth))
        # the latent runs at 1/4**depth of the pixels but holds most of the weights; latent_blocks lets a
        # deeper net stay small on disk (default: blocks + 1, as the first shipped models were built)
        n_latent = blocks + 1 if latent_blocks is None else latent_blocks
        self.latent = nn.Sequential(*[ResBlock(widths[-1]) for _ in range(n_latent)])
        self.up = nn.ModuleList(Up(widths[i + 1], widths[i]) for i in reversed(range(depth)))
        self.dec = nn.ModuleList(
            nn.Sequential(*[ResBlock(c) for _ in range(blocks)]) for c in reversed(widths[:-1])
        )
        self.tail = nn.Conv2d(width, out_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, (h, w) = pad_to_multiple(x, self.size_multiple)
        y = self.head(x)
        skips = []
        for enc, down in zip(self.enc, self.down):
            y = enc(y)
            skips.append(y)
            y = down(y)
        y = self.latent(y)
        for up, dec, skip in zip(self.up, self.dec, reversed(skips)):
            y = dec(up(y) + skip)
        return self.tail(y)[..., :h, :w]
