"""The default denoising autoencoder: a small U-Net (encoder, latent, decoder with additive skips)."""

from __future__ import annotations

import copy
from typing import Any, Optional

import torch
from torch import nn

from denoise.models.blocks import Down, ResBlock, Up, pad_to_multiple, require_ints
from denoise.models.registry import register


@register("dae", "U-Net-shaped denoising autoencoder, additive skips around the bottleneck",
          defaults={"image": {"width": 32, "depth": 2, "blocks": 1}, "audio": {"width": 24, "depth": 2, "blocks": 1}},
          residual=True)
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
        require_ints(1, in_channels=in_channels, out_channels=out_channels, width=width)
        require_ints(0, depth=depth, blocks=blocks, latent_blocks=0 if latent_blocks is None else latent_blocks)
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


def deepen(net: DenoisingUNet, args: dict[str, Any], bias: float = 1e-5) -> tuple[DenoisingUNet, dict[str, Any]]:
    """A U-Net one level deeper that computes (almost) the same function as ``net``: a way to grow a trained
    model instead of training the larger one from scratch.

    ``args`` are ``net``'s constructor arguments (its checkpoint's ``model.args``); returns the new network
    and its arguments (``depth`` + 1, ``latent_blocks`` kept at its default of ``blocks`` + 1). Needs
    ``net`` built with ``blocks`` == 1 and two latent blocks, the layout the shipped image models have:
    the old latent's two blocks become the new level's encoder and decoder blocks at the same resolution,
    and the new level's up-sampling conv starts at zero weights, so the new latent at half the resolution
    (random weights from torch's global generator: seed it for a reproducible result) adds nothing until
    training moves it. That conv's bias starts at ``bias`` rather than 0 so the ReLU after it passes
    gradients (at exactly 0 it would stay dead). The output therefore moves by about ``bias`` on inputs
    whose sides are multiples of the new ``size_multiple``; on other sizes the deeper net pads the bottom
    and right edges further, which changes the output near those edges too
    (``scripts/deepen_checkpoint.py`` prints both).
    """
    if len(net.latent) != 2 or any(len(e) != 1 for e in net.enc):
        raise ValueError("deepen needs a U-Net with blocks == 1 and two latent blocks")
    new_args = {k: v for k, v in args.items() if k != "latent_blocks"}
    new_args["depth"] = net.depth + 1
    deeper = DenoisingUNet(in_channels=net.head[0].in_channels, out_channels=net.tail.out_channels, **new_args)
    old = copy.deepcopy(net)
    deeper.head, deeper.tail = old.head, old.tail
    for i in range(net.depth):  # the shared outer levels keep their weights
        deeper.enc[i], deeper.down[i] = old.enc[i], old.down[i]
        deeper.up[i + 1], deeper.dec[i + 1] = old.up[i], old.dec[i]
    level = net.depth  # the new level runs at the old latent's resolution and width
    deeper.enc[level] = nn.Sequential(old.latent[0])
    deeper.dec[0] = nn.Sequential(old.latent[1])
    with torch.no_grad():
        deeper.up[0].conv.weight.zero_()
        deeper.up[0].conv.bias.fill_(bias)
    return deeper, new_args
