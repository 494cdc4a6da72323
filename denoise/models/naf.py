"""A light image denoising autoencoder built from NAFNet-style blocks, for photos on a CPU.

The U-Net shape is kept (encoder, latent, decoder with additive skips), but each block is cheap: per pixel
it costs about 6·C² multiply-adds (1x1 convolutions and one depthwise 3x3) where a 3x3 residual block costs
18·C². The blocks follow Chen et al., "Simple Baselines for Image Restoration" (2022): layer norm over the
channels, a gate that multiplies two halves of the channels instead of a nonlinearity, and a cheap channel
attention from the global mean. Most blocks sit at low resolution, where they are cheap.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from denoise.models.blocks import pad_to_multiple, require_ints
from denoise.models.registry import register


class ChannelNorm(nn.Module):
    """Layer norm over the channels of each pixel: (B, C, H, W) -> (B, C, H, W).

    Computed as ``F.layer_norm`` over a channels-last view: one fused pass instead of the seven elementwise
    passes of writing out the mean and variance (the same numbers to float rounding)."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.channels, self.eps = channels, eps  # a plain int: the ONNX export needs the norm's shape static

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.channels
        y = F.layer_norm(x.permute(0, 2, 3, 1), (c,), self.weight.view(c), self.bias.view(c), self.eps)
        return y.permute(0, 3, 1, 2)


class Pointwise(nn.Conv2d):
    """A 1x1 convolution, (B, C_in, H, W) -> (B, C_out, H, W), computed as one matrix product over the
    channels of each pixel. Its weights and state-dict keys are nn.Conv2d's (checkpoints load either way);
    PyTorch's CPU convolution sends 1x1 kernels down its generic im2col path; with this and ``ChannelNorm``'s
    fused norm a float32 training step of the naf is about a quarter faster (``benchmarks/naf_kernels.py``)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.view(self.out_channels, self.in_channels)
        return F.linear(x.permute(0, 2, 3, 1), w, self.bias).permute(0, 3, 1, 2)


def simple_gate(x: torch.Tensor) -> torch.Tensor:
    """(B, 2C, H, W) -> (B, C, H, W): one half of the channels times the other."""
    a, b = x.chunk(2, dim=1)
    return a * b


def scaled_residual(x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                    scale: torch.Tensor) -> torch.Tensor:
    """``x + scale · (weight · y + bias)`` at every pixel: x (B, C, H, W), y (B, K, H, W), weight (C, K) or
    one per item (B, C, K), bias and scale (C,) -> (B, C, H, W), channels-last in memory.

    The same numbers (to float rounding) as a 1x1 convolution, a multiplication by the scale and an
    addition, but with the scale folded into the weight (C·K multiplications per item, not C per pixel)
    and the product accumulated straight into ``x + scale · bias``: one elementwise pass over the pixels
    besides the matrix product instead of three (four with the attention folded in too). On a CPU the
    naf's elementwise passes cost about as much as its matrix products."""
    b, c, h, w = x.shape
    xf = x.permute(0, 2, 3, 1).reshape(b, h * w, c)  # views when x and y are channels-last, as here
    yf = y.permute(0, 2, 3, 1).reshape(b, h * w, y.shape[1])
    wt = (scale.view(c, 1) * weight).expand(b, c, y.shape[1]).transpose(1, 2)
    out = xf + scale * bias  # float32 under autocast too (scale is), as in the written-out sum
    return out.baddbmm_(yf.to(out.dtype), wt.to(out.dtype)).view(b, h, w, c).permute(0, 3, 1, 2)


class NAFBlock(nn.Module):
    """Keeps (B, C, H, W). A spatial half (1x1 expand, depthwise 3x3, gate, channel attention, 1x1) and a
    channel half (1x1 expand, gate, 1x1), each added back with a learnt per-channel scale that starts at 0,
    so that a fresh block is the identity and deep stacks train from the start."""

    fold = True  # at inference, fold the attention and scales into the weights (False: as in training)

    def __init__(self, c: int) -> None:
        super().__init__()
        self.norm1, self.norm2 = ChannelNorm(c), ChannelNorm(c)
        self.expand = Pointwise(c, 2 * c)
        self.depthwise = nn.Conv2d(2 * c, 2 * c, 3, padding=1, groups=2 * c)
        self.attention = Pointwise(c, c)
        self.project = Pointwise(c, c)
        self.ffn_in = Pointwise(c, 2 * c)
        self.ffn_out = Pointwise(c, c)
        self.beta = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(1, c, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = simple_gate(self.depthwise(self.expand(self.norm1(x))))
        attention = self.attention(y.mean((2, 3), keepdim=True))  # (B, C, 1, 1): scales y's channels
        if torch.is_grad_enabled() or not self.fold:  # training: the written-out form
            x = x + self.beta * self.project(y * attention)
            return x + self.gamma * self.ffn_out(simple_gate(self.ffn_in(self.norm2(x))))
        # inference: the same sums with the attention and scales folded into the weights, 1.1-1.2 times as
        c = x.shape[1]  # fast on a CPU (benchmarks/naf_kernels.py measures both forms)
        x = scaled_residual(x, y, self.project.weight.view(c, c) * attention.view(-1, 1, c), self.project.bias,
                            self.beta.view(c))
        y = simple_gate(self.ffn_in(self.norm2(x)))
        return scaled_residual(x, y, self.ffn_out.weight.view(c, c), self.ffn_out.bias, self.gamma.view(c))


def _stack(c: int, n: int) -> nn.Sequential:
    return nn.Sequential(*[NAFBlock(c) for _ in range(n)])


class Refine(nn.Module):
    """A small full-resolution stage after the U-Net: (B, 2·C, H, W) (the input beside the U-Net's output)
    -> (B, C, H, W), a correction added to that output. Three 3x3 convolutions of ``width`` channels,
    9·width·(width + 3·C) multiply-adds per pixel; the last starts at zero, so a fresh stage changes nothing
    and a trained U-Net can be given one. The U-Net works at half resolution and below; this works on the
    full-resolution pixels, where light noise and fine texture differ."""

    def __init__(self, channels: int, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(2 * channels, width, 3, padding=1), nn.ReLU(inplace=True),
                                  nn.Conv2d(width, width, 3, padding=1), nn.ReLU(inplace=True),
                                  nn.Conv2d(width, channels, 3, padding=1))
        nn.init.zeros_(self.body[-1].weight)
        nn.init.zeros_(self.body[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


@register("naf", "light U-Net denoising autoencoder of NAFNet-style blocks (gated, depthwise; cheap on a CPU)",
          defaults={"image": {"width": 32, "depth": 3, "blocks": 1, "latent_blocks": 6, "shuffle": 2}},
          residual=True, domains=("image",))
class NAFUNet(nn.Module):
    """(B, in_channels, H, W) -> (B, out_channels, H, W), any H, W >= 1 (padded to a multiple of
    shuffle·2**depth and cropped back).

    The picture is first folded into ``shuffle``² times the channels at 1/shuffle of the resolution (pixel
    unshuffle, lossless) and unfolded at the end: on a CPU, elementwise work at full resolution costs more
    than the convolutions, and this cuts it by shuffle². Level i then works at 1/(shuffle·2**i) of the
    resolution with width·2**i channels; ``blocks`` per level on each side, ``latent_blocks`` at the
    bottom. Down: 2x2 stride-2 convolution; up: 1x1 convolution and pixel shuffle (no checkerboard).
    ``refine`` > 0 adds a full-resolution stage of that width (``Refine``) after the U-Net; 0 leaves it out."""

    def __init__(self, in_channels: int = 3, out_channels: int = 3, width: int = 32, depth: int = 3,
                 blocks: int = 1, latent_blocks: int = 6, shuffle: int = 2, refine: int = 0) -> None:
        super().__init__()
        require_ints(1, in_channels=in_channels, out_channels=out_channels, width=width, shuffle=shuffle)
        require_ints(0, depth=depth, blocks=blocks, latent_blocks=latent_blocks, refine=refine)
        if refine and in_channels != out_channels:
            raise ValueError(f"refine={refine} needs in_channels == out_channels (got {in_channels}, {out_channels})")
        self.size_multiple = shuffle * 2**depth
        widths = [width * 2**i for i in range(depth + 1)]
        s2 = shuffle * shuffle
        self.head = nn.Sequential(nn.PixelUnshuffle(shuffle), nn.Conv2d(in_channels * s2, width, 3, padding=1))
        self.enc = nn.ModuleList(_stack(c, blocks) for c in widths[:-1])
        self.down = nn.ModuleList(nn.Conv2d(c, 2 * c, 2, stride=2) for c in widths[:-1])
        self.latent = _stack(widths[-1], latent_blocks)
        self.up = nn.ModuleList(nn.Sequential(Pointwise(2 * c, 4 * c), nn.PixelShuffle(2))
                                for c in reversed(widths[:-1]))
        self.dec = nn.ModuleList(_stack(c, blocks) for c in reversed(widths[:-1]))
        self.tail = nn.Sequential(nn.Conv2d(width, out_channels * s2, 3, padding=1), nn.PixelShuffle(shuffle))
        self.refine = Refine(out_channels, refine) if refine else None

    def forward(self, inp: torch.Tensor) -> torch.Tensor:
        x, (h, w) = pad_to_multiple(inp, self.size_multiple)
        x = self.head(x)
        skips = []
        for enc, down in zip(self.enc, self.down):
            x = enc(x)
            skips.append(x)
            x = down(x)
        x = self.latent(x)
        for up, dec, skip in zip(self.up, self.dec, reversed(skips)):
            x = dec(up(x) + skip)
        y = self.tail(x)[..., :h, :w]
        return y if self.refine is None else y + self.refine(torch.cat([inp, y], 1))
