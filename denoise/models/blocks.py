"""Convolutional building blocks. Shapes are (B, C, H, W) throughout; for audio H is frequency and W time."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def require_ints(minimum: int, **values: Any) -> None:
    """Raises ValueError unless every value is a whole number >= ``minimum``. Constructor arguments come
    from users' JSON (``--arch-args``), where -3 or 32.5 would otherwise fail deep inside torch, or, for
    a size of 0 or a negative block count, build a network that silently does nothing."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"{name} must be a whole number >= {minimum}, got {value!r}")


class ResBlock(nn.Module):
    """conv3x3 -> ReLU -> conv3x3, added to the input. Keeps (B, C, H, W)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.act(self.conv1(x)))


class Down(nn.Module):
    """Halves H and W with a strided conv: (B, C_in, H, W) -> (B, C_out, H/2, W/2)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 2, stride=2)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(x))


class Up(nn.Module):
    """Doubles H and W with a transposed conv: (B, C_in, H, W) -> (B, C_out, 2H, 2W)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.ConvTranspose2d(in_channels, out_channels, 2, stride=2)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(x))


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pads the last two dims of (B, C, H, W) up to a multiple of ``multiple`` so every down/up pair
    restores the size exactly. Reflect padding where the input is large enough (no artificial edge),
    replicate otherwise (reflect needs pad < size). Returns the padded tensor and the original (H, W).

    Done by gathering rows and columns at computed indices rather than by ``pad``'s modes, so that the
    choice between the two is arithmetic on the sizes: an exported ONNX graph makes it for each input,
    where a traced ``if`` would keep the branch of the example it was traced with (reflect, which fails in
    onnxruntime on sides under 5 pixels)."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if isinstance(ph, int) and not (ph or pw):
        return x, (h, w)
    reflect = torch.logical_and(torch.as_tensor(ph < h), torch.as_tensor(pw < w))
    x = x.index_select(-2, _pad_index(h, ph, reflect)).index_select(-1, _pad_index(w, pw, reflect))
    return x, (h, w)


def _pad_index(n: Any, pad: Any, reflect: torch.Tensor) -> torch.Tensor:
    """Indices 0..n-1 followed by ``pad`` more: mirrored at the last one (reflect) or repeating it."""
    j = torch.arange(n + pad)
    last = torch.as_tensor(n) - 1
    mirrored = torch.where(j < n, j, 2 * last - j).clamp_min(0)
    return torch.where(reflect, mirrored, j.clamp_max(last))
